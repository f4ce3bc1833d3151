//! The AWS layer against a real S3/DynamoDB wire protocol (moto_server on 127.0.0.1):
//! bundle publishing and loading from S3, the DynamoDB feature store and the registry read.
//!
//! Deliberately on moto, not on the embedded emulators every other end-to-end test uses: moto
//! is a second, independent implementation of the wire protocols (Python, from AWS's own
//! service models), so what passes here and there is AWS's protocol, not one emulator's
//! reading of it.

use warmstart_core::aws::{self, DynamoFeatureStore, PublishError, RegistryError, S3Source};
use warmstart_core::bundle::{Bundle, BundleError, BundleSource, SourceError};
use warmstart_core::store::{FeatureStore, StoreError};
use warmstart_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_publish_to_s3_and_load_back_verified() {
    let emu = Emulator::start_moto("s3").await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = synthetic_recommender_bundle(dir.path(), "2026-11-22T10-00-00Z-aaaaaaa", 1);
    let key = aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap();
    assert_eq!(
        key,
        "models/product-recommender/2026-11-22T10-00-00Z-aaaaaaa/manifest.json"
    );
    let listed = emu
        .s3
        .list_objects_v2()
        .bucket(&emu.bucket)
        .prefix("models/product-recommender/2026-11-22T10-00-00Z-aaaaaaa/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), manifest.files.len() + 1);

    let source = S3Source::for_version(
        emu.s3.clone(),
        &emu.bucket,
        "models",
        MODEL_NAME,
        "2026-11-22T10-00-00Z-aaaaaaa",
    );
    assert_eq!(
        source.location(),
        format!(
            "s3://{}/models/product-recommender/2026-11-22T10-00-00Z-aaaaaaa/",
            emu.bucket
        )
    );
    let bundle = Bundle::load(&source).await.unwrap();
    assert_eq!(bundle.num_outputs(), 24);
    assert_eq!(bundle.verify_golden().unwrap(), 24);
    warmstart_core::recommend::check_recommender_bundle(&bundle).unwrap();

    // Missing files are NotFound, not I/O errors.
    assert!(matches!(
        source.read("models/nope.txt").await,
        Err(SourceError::NotFound(p)) if p == "models/nope.txt"
    ));

    // Publishing the same bundle again is a no-op; another bundle under that version is refused.
    let again = aws::publish_bundle(&emu.s3, &emu.bucket, "models", dir.path())
        .await
        .unwrap();
    assert_eq!(again, key);
    let other = tempfile::tempdir().unwrap();
    synthetic_recommender_bundle(other.path(), "2026-11-22T10-00-00Z-aaaaaaa", 2);
    assert!(matches!(
        aws::publish_bundle(&emu.s3, &emu.bucket, "models/", other.path()).await,
        Err(PublishError::AlreadyPublished { .. })
    ));

    // A file changed in S3 after publishing fails the checksum on load.
    let model_key = format!(
        "models/product-recommender/2026-11-22T10-00-00Z-aaaaaaa/{}",
        manifest.files[3].path
    );
    emu.s3
        .put_object()
        .bucket(&emu.bucket)
        .key(&model_key)
        .body(b"tree\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = Bundle::load(&source).await.unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::SizeMismatch { .. } | BundleError::ChecksumMismatch { .. }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bundles_are_not_published() {
    let emu = Emulator::start_moto("s3bad").await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = synthetic_recommender_bundle(dir.path(), "v-bad", 1);
    // Corrupt one model file locally: publish refuses before uploading anything.
    std::fs::write(dir.path().join(&manifest.files[0].path), b"garbage").unwrap();
    let err = aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Bundle { .. }), "{err}");
    let listed = emu
        .s3
        .list_objects_v2()
        .bucket(&emu.bucket)
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_store_reads_and_writes_customers() {
    let emu = Emulator::start_moto("ddb").await;
    let store = DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table);
    let mut customers = seed_customers(120);
    // A repeated id: the last one wins.
    let mut dup = customer_15889();
    dup.age = Some(57.0);
    customers.push(dup);
    let mut seen = Vec::new();
    let report = store
        .put_customers_with_progress(&customers, |n| seen.push(n))
        .await
        .unwrap();
    assert_eq!(report.written, 123);
    assert_eq!(report.requests, 5); // ceil(123 / 25), no unprocessed items on moto
    assert_eq!(seen.last(), Some(&123));

    let got = store.get_customer("15889").await.unwrap().unwrap();
    assert_eq!(got.age, Some(57.0));
    assert_eq!(got.owned, customer_15889().owned);
    assert_eq!(got.row().len(), warmstart_core::recommend::NUM_FEATURES);
    assert!(store.get_customer("99999999").await.unwrap().is_none());

    // Batch: 100 ids (some unknown, one repeated) in one call, per-id answers.
    let mut ids: Vec<String> = (0..97).map(|i| (1_000_000 + i).to_string()).collect();
    ids.extend([
        "15889".to_string(),
        "nobody".to_string(),
        "15889".to_string(),
    ]);
    let got = FeatureStore::batch_get_customers(&store, &ids)
        .await
        .unwrap();
    assert_eq!(got.len(), 98);
    assert!(got.values().all(|r| r.is_ok()));
    assert!(!got.contains_key("nobody"));
    let too_many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    assert!(matches!(
        store.batch_get_customers(&too_many).await,
        Err(StoreError::BatchSize { .. })
    ));

    // An item that does not decode fails alone.
    use warmstart_core::aws::sdk::dynamodb::types::AttributeValue as A;
    emu.dynamo
        .put_item()
        .table_name(&emu.features_table)
        .item("pk", A::S("customer#bad".into()))
        .item("customer_id", A::S("bad".into()))
        .item("as_of", A::S("2016-05-28".into()))
        .item("age", A::S("old".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.get_customer("bad").await,
        Err(StoreError::Decode { .. })
    ));
    let got = store
        .batch_get_customers(&["bad".into(), "15889".into()])
        .await
        .unwrap();
    assert!(got["bad"].is_err() && got["15889"].is_ok());

    // A missing table is a backend error (the service degrades on it).
    let missing = DynamoFeatureStore::new(emu.dynamo.clone(), "no-such-table");
    let err = missing.get_customer("15889").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { op: "GetItem", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_active_version() {
    let emu = Emulator::start_moto("reg").await;
    assert_eq!(
        aws::read_active(&emu.dynamo, &emu.registry_table, MODEL_NAME)
            .await
            .unwrap(),
        None
    );
    emu.set_active(MODEL_NAME, "v7").await;
    let active = aws::read_active(&emu.dynamo, &emu.registry_table, MODEL_NAME)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.version, "v7");
    assert_eq!(
        active.prefix.as_deref(),
        Some("models/product-recommender/v7/")
    );
    assert!(matches!(
        aws::read_active(&emu.dynamo, "no-such-registry", MODEL_NAME).await,
        Err(RegistryError::NoTable(_))
    ));
}

/// Large bundle files arrive as concurrent ranged GETs. Checked on both emulators, as ranged
/// GETs are where implementations differ (`Content-Range`, a range past the end is a 416,
/// a range past the end of a short object is cut): every size around the 512 KiB part and
/// the 2 MiB first round reads back exactly, whatever size the caller expected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_read_in_ranged_parts_byte_for_byte() {
    const PART: usize = 512 * 1024;
    for emu in [
        Emulator::start("ranged").await,
        Emulator::start_moto("ranged").await,
    ] {
        let source = S3Source::new(emu.s3.clone(), &emu.bucket, "b/");
        for len in [
            0,
            1,
            PART - 1,
            PART,
            PART + 1,
            4 * PART,
            4 * PART + 3,
            9 * PART + 7,
        ] {
            let body: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let path = format!("f{len}");
            emu.s3
                .put_object()
                .bucket(&emu.bucket)
                .key(source.key(&path))
                .body(body.clone().into())
                .send()
                .await
                .unwrap();
            for hint in [None, Some(len as u64), Some(PART as u64 + 9), Some(1)] {
                let got = source.read_large(&path, hint).await.unwrap();
                assert!(got == body, "{len} bytes, hint {hint:?}: got {}", got.len());
            }
        }
        assert!(matches!(
            source.read_large("nope", None).await,
            Err(SourceError::NotFound(p)) if p == "nope"
        ));
    }
}
