//! The BatchGetItem / BatchWriteItem retry paths over the real DynamoDB JSON wire protocol,
//! against a scripted stub (no emulator returns `UnprocessedKeys` / `UnprocessedItems` on
//! demand): leftovers are resent until done, and what is still left when the attempts run
//! out is reported, never silently dropped.

use super::*;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const TABLE: &str = "Features";

/// Answers each DynamoDB call with the next scripted JSON body (the last one repeats) and
/// records the request bodies.
struct Stub {
    endpoint: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Stub {
    async fn start(answers: Vec<Value>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let answers = Arc::new(answers);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, answers) = (Arc::clone(&seen), Arc::clone(&answers));
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut r = BufReader::new(r);
                    // Keep-alive: one request after another on the connection.
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let l = line.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = l.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().unwrap();
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        r.read_exact(&mut body).await.unwrap();
                        let answer = {
                            let mut seen = seen.lock().unwrap();
                            seen.push(serde_json::from_slice(&body).unwrap());
                            let i = (seen.len() - 1).min(answers.len() - 1);
                            answers[i].to_string()
                        };
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n\
                             Content-Length: {}\r\n\r\n",
                            answer.len()
                        );
                        w.write_all(head.as_bytes()).await.unwrap();
                        w.write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        Stub { endpoint, requests }
    }

    fn client(&self) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "stub"))
            .http_client(crate::aws::https_client())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

const FAST: RetryPolicy = RetryPolicy {
    attempts: 3,
    base: Duration::from_millis(1),
    max: Duration::from_millis(2),
};

fn key(pk: &str) -> Value {
    json!({ "pk": { "S": pk } })
}

fn item(pk: &str) -> Item {
    HashMap::from([(PK.to_string(), AttributeValue::S(pk.to_string()))])
}

/// The `pk`s a recorded BatchGetItem / BatchWriteItem request asked for.
fn asked(request: &Value) -> Vec<String> {
    let t = &request["RequestItems"][TABLE];
    let entries = t["Keys"]
        .as_array()
        .or_else(|| t.as_array())
        .cloned()
        .unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let k = if e["PutRequest"].is_object() {
                &e["PutRequest"]["Item"]["pk"]["S"]
            } else {
                &e["pk"]["S"]
            };
            k.as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn unprocessed_keys_are_read_again_until_found() {
    let stub = Stub::start(vec![
        json!({ "Responses": { TABLE: [key("a")] },
                "UnprocessedKeys": { TABLE: { "Keys": [key("b")] } } }),
        json!({ "Responses": { TABLE: [key("b")] }, "UnprocessedKeys": {} }),
    ])
    .await;
    let got = batch_get(&stub.client(), TABLE, vec!["a".into(), "b".into()], FAST)
        .await
        .unwrap();
    let mut found: Vec<&str> = got.items.iter().map(|(k, _)| k.as_str()).collect();
    found.sort();
    assert_eq!(found, ["a", "b"]);
    assert!(got.unprocessed.is_empty());
    assert_eq!(got.attempts, 2);
    let requests = stub.requests();
    assert_eq!(asked(&requests[0]), ["a", "b"]);
    assert_eq!(asked(&requests[1]), ["b"]);
}

#[tokio::test]
async fn keys_still_unprocessed_after_the_attempts_are_reported() {
    let stub = Stub::start(vec![json!({
        "Responses": { TABLE: [key("a")] },
        "UnprocessedKeys": { TABLE: { "Keys": [key("b")] } }
    })])
    .await;
    let got = batch_get(&stub.client(), TABLE, vec!["a".into(), "b".into()], FAST)
        .await
        .unwrap();
    assert_eq!(got.unprocessed, ["b"]);
    assert_eq!(got.attempts, FAST.attempts);
    assert_eq!(stub.requests().len(), FAST.attempts as usize);
}

#[tokio::test]
async fn unprocessed_items_are_written_again_and_counted_as_retries() {
    let stub = Stub::start(vec![
        json!({ "UnprocessedItems": { TABLE: [ { "PutRequest": { "Item": key("c") } } ] } }),
        json!({ "UnprocessedItems": {} }),
    ])
    .await;
    let items = vec![item("a"), item("b"), item("c")];
    let mut progress = Vec::new();
    let report = batch_put(&stub.client(), TABLE, items, FAST, |n| progress.push(n))
        .await
        .unwrap();
    assert_eq!(
        report,
        PutReport {
            written: 3,
            requests: 2,
            retries: 1
        }
    );
    assert_eq!(progress, [3]);
    let requests = stub.requests();
    assert_eq!(asked(&requests[0]), ["a", "b", "c"]);
    assert_eq!(asked(&requests[1]), ["c"]);
}

#[tokio::test]
async fn items_never_written_are_an_error_not_a_silent_loss() {
    let stub = Stub::start(vec![json!({
        "UnprocessedItems": { TABLE: [ { "PutRequest": { "Item": key("b") } } ] }
    })])
    .await;
    let err = batch_put(
        &stub.client(),
        TABLE,
        vec![item("a"), item("b")],
        FAST,
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unprocessed {
                remaining: 1,
                attempts: 3
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_customer_batch_marks_the_unread_ids_as_errors() {
    let stub = Stub::start(vec![json!({
        "Responses": { TABLE: [] },
        "UnprocessedKeys": { TABLE: { "Keys": [key("customer#2")] } }
    })])
    .await;
    let store = DynamoFeatureStore {
        client: stub.client(),
        table: TABLE.into(),
        reads: FAST,
        writes: FAST,
    };
    let got = store
        .batch_get_customers(&["1".into(), "2".into()])
        .await
        .unwrap();
    // "1" was answered (not found: absent); "2" could not be read: an error for that id only.
    assert!(!got.contains_key("1"));
    assert!(matches!(got["2"], Err(StoreError::Unprocessed { .. })));
}
