//! Security properties of template.yaml that a reviewer would otherwise check by hand, and the
//! one route table three places must agree on (the template, the local stack's router and
//! docs/openapi.yaml):
//!
//! - no IAM statement allows a data action (`s3:…`, `dynamodb:…`) on `*` (or on every bucket /
//!   table), nor a wildcard action;
//! - every HTTP route but the public ones (`/health`, `/valuation/health`, `/openapi.json`, the
//!   console page `/`) carries the JWT authorizer when `EnableAuth` is on, and the public ones
//!   carry none.
//!
//! The template is read with its CloudFormation tags (`!Ref`, `!If`, `!Sub`, `!GetAtt`) kept as
//! tagged values, so the checks see exactly what CloudFormation will.

use serde_yaml_ng::value::{Tag, TaggedValue};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeSet;

/// Routes API Gateway serves without a token.
const PUBLIC: [&str; 4] = ["/health", "/valuation/health", "/openapi.json", "/"];

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

fn resources(t: &Value) -> &Mapping {
    t["Resources"].as_mapping().expect("Resources")
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == Tag::new(tag) => Some(&t.value),
        _ => None,
    }
}

fn tag(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue {
        tag: Tag::new(tag),
        value,
    }))
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("YAML")
}

/// A string or a list of them (IAM's `Action`, `Resource`); other values as they are.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Every IAM policy statement of the template, with where it is.
fn statements(t: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut doc = |at: String, d: &Value| {
        for s in one_or_many(&d["Statement"]) {
            out.push((at.clone(), s.clone()));
        }
    };
    for (name, r) in resources(t) {
        let name = name.as_str().unwrap_or("?").to_string();
        let p = &r["Properties"];
        match r["Type"].as_str().unwrap_or("") {
            "AWS::Serverless::Function" => {
                for (i, policy) in one_or_many(&p["Policies"]).into_iter().enumerate() {
                    assert!(
                        policy.get("Statement").is_some(),
                        "{name}.Policies[{i}] is a managed policy or a SAM policy template; \
                         this test only vouches for inline statements: {policy:?}"
                    );
                    doc(format!("{name}.Policies[{i}]"), policy);
                }
            }
            "AWS::IAM::Role" => {
                for (i, policy) in one_or_many(&p["Policies"]).into_iter().enumerate() {
                    doc(format!("{name}.Policies[{i}]"), &policy["PolicyDocument"]);
                }
                assert!(
                    p.get("ManagedPolicyArns").is_none(),
                    "{name}: managed policies are not checked by this test"
                );
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::S3::BucketPolicy" => {
                doc(name.clone(), &p["PolicyDocument"]);
            }
            _ => {}
        }
    }
    out
}

/// A resource that names every bucket or table (or everything).
fn is_wildcard_resource(r: &Value) -> bool {
    let text = match r {
        Value::String(s) => s.as_str(),
        other => match tagged(other, "!Sub") {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Sequence(parts)) => parts.first().and_then(Value::as_str).unwrap_or(""),
            _ => return false, // !GetAtt X.Arn, !Ref: one named resource
        },
    };
    if text == "*" {
        return true;
    }
    // `${AWS::Partition}` holds colons of its own: each `${…}` counts as one name.
    let mut plain = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        plain.push_str(&rest[..i]);
        plain.push('x');
        rest = rest[i..].find('}').map_or("", |j| &rest[i + j + 1..]);
    }
    plain.push_str(rest);
    // arn:<partition>:<service>:<region>:<account>:<resource>
    let resource = plain.splitn(6, ':').nth(5).unwrap_or("");
    matches!(resource, "*" | "table/*" | "*/*")
}

#[test]
fn no_data_action_is_allowed_on_every_resource_or_by_wildcard() {
    let t = template();
    let mut data_statements = 0;
    for (at, s) in statements(&t) {
        assert!(s.get("NotAction").is_none(), "{at}: NotAction");
        if s["Effect"].as_str() != Some("Allow") {
            continue; // a Deny on `*` (DenyInsecureTransport) only narrows access
        }
        assert!(
            s.get("NotResource").is_none(),
            "{at}: Allow with NotResource"
        );
        let actions: Vec<&str> = one_or_many(&s["Action"])
            .into_iter()
            .map(|a| a.as_str().expect("actions are strings"))
            .collect();
        for a in &actions {
            assert!(!a.ends_with(":*") && *a != "*", "{at}: wildcard action {a}");
        }
        if !actions
            .iter()
            .any(|a| a.starts_with("s3:") || a.starts_with("dynamodb:"))
        {
            continue;
        }
        data_statements += 1;
        let resources = one_or_many(&s["Resource"]);
        assert!(!resources.is_empty(), "{at}: no Resource");
        for r in resources {
            assert!(
                !is_wildcard_resource(r),
                "{at}: {actions:?} allowed on {r:?}"
            );
        }
    }
    // recommend (features, registry, models), valuation (4), predict (2), reload (3).
    assert!(
        data_statements >= 10,
        "only {data_statements} data statements found"
    );
}

#[test]
fn the_wildcard_check_catches_what_it_must() {
    for bad in [
        "Resource: '*'",
        "Resource: arn:aws:s3:::*",
        "Resource: !Sub 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*'",
        "Resource: !Sub ['arn:${AWS::Partition}:s3:::*', {}]",
    ] {
        let v = yaml(bad);
        assert!(is_wildcard_resource(&v["Resource"]), "{bad}");
    }
    for good in [
        "Resource: !GetAtt FeaturesTable.Arn",
        "Resource: !Sub 'arn:${AWS::Partition}:s3:::${ModelBucket}/models/*'",
        "Resource: !Ref SomeArn",
    ] {
        let v = yaml(good);
        assert!(!is_wildcard_resource(&v["Resource"]), "{good}");
    }
}

/// `(method, path)` of every HttpApi event of every function.
fn event_routes(t: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, r) in resources(t) {
        let name = name.as_str().unwrap_or("?");
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = r["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (ev, e) in events {
            let kind = e["Type"].as_str().unwrap_or("");
            assert_ne!(
                kind, "Api",
                "{name}.{ev:?}: a REST API event (the API is HttpApi)"
            );
            if kind != "HttpApi" {
                continue;
            }
            let p = &e["Properties"];
            assert_eq!(
                p["ApiId"],
                tag("!Ref", Value::from("HttpApi")),
                "{name}.{ev:?}: every route belongs to the one HttpApi"
            );
            assert!(
                p.get("Auth").is_none(),
                "{name}.{ev:?}: a per-route Auth would bypass the DefinitionBody's security"
            );
            out.push((
                p["Method"].as_str().expect("Method").to_ascii_lowercase(),
                p["Path"].as_str().expect("Path").to_string(),
                name.to_string(),
            ));
        }
    }
    out
}

fn definition_body(t: &Value) -> &Value {
    &resources(t)["HttpApi"]["Properties"]["DefinitionBody"]
}

#[test]
fn every_route_but_the_public_ones_requires_the_jwt_authorizer() {
    let t = template();
    assert_eq!(
        t["Parameters"]["EnableAuth"]["Default"].as_str(),
        Some("true"),
        "auth is on unless the deployer turns it off"
    );
    let body = definition_body(&t);
    let jwt = yaml("!If [AuthEnabled, [{JwtAuthorizer: []}], !Ref AWS::NoValue]");
    let routes = event_routes(&t);
    assert!(routes.len() >= 10, "{routes:?}");
    let mut protected = 0;
    for (method, path, function) in &routes {
        let op = &body["paths"][path.as_str()][method.as_str()];
        assert!(
            op.is_mapping(),
            "{function}: {method} {path} is missing from the HttpApi DefinitionBody, so SAM \
             would add it without the authorizer"
        );
        if PUBLIC.contains(&path.as_str()) {
            assert!(
                op.get("security").is_none(),
                "{method} {path} is public but has {:?}",
                op["security"]
            );
        } else {
            assert_eq!(op["security"], jwt, "{function}: {method} {path}");
            protected += 1;
        }
    }
    assert!(protected >= 8, "{protected}");
    // No stale entries: every DefinitionBody operation is a function's route.
    for (path, item) in body["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().expect("methods") {
            let key = (
                method.as_str().unwrap().to_string(),
                path.as_str().unwrap().to_string(),
            );
            assert!(
                routes.iter().any(|(m, p, _)| (m, p) == (&key.0, &key.1)),
                "DefinitionBody documents {key:?}, which no function serves"
            );
        }
    }
    let schemes = &body["components"]["securitySchemes"];
    let Some(Value::Sequence(branches)) = tagged(schemes, "!If") else {
        panic!("securitySchemes is not conditional on AuthEnabled: {schemes:?}");
    };
    assert_eq!(branches[0], Value::from("AuthEnabled"));
    let authorizer = &branches[1]["JwtAuthorizer"]["x-amazon-apigateway-authorizer"];
    assert_eq!(authorizer["type"], Value::from("jwt"));
    assert_eq!(
        authorizer["identitySource"],
        Value::from("$request.header.Authorization")
    );
    assert_eq!(
        authorizer["jwtConfiguration"]["issuer"],
        tag("!Ref", Value::from("JwtIssuer"))
    );
    assert_eq!(
        authorizer["jwtConfiguration"]["audience"],
        tag("!Ref", Value::from("JwtAudience"))
    );
}

#[test]
fn the_template_the_local_router_and_the_openapi_document_agree_on_routes() {
    let t = template();
    let template: BTreeSet<(String, String)> = event_routes(&t)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let router: BTreeSet<(String, String)> = warmstart_cli::local::router::ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_ascii_lowercase(), p.to_string()))
        .collect();
    assert_eq!(
        template, router,
        "template.yaml vs infra/src/local/router.rs"
    );

    let spec: serde_json::Value =
        serde_json::from_str(warmstart_core::api::openapi::SPEC_JSON).unwrap();
    let global_jwt = spec["security"] == serde_json::json!([{"jwt": []}]);
    assert!(
        global_jwt,
        "the document requires the bearer token by default"
    );
    for (m, p) in &template {
        let op = &spec["paths"][p][m];
        assert!(
            op.is_object(),
            "{m} {p} is routed but not in docs/openapi.yaml"
        );
        let public = op["security"] == serde_json::json!([]);
        assert_eq!(
            public,
            PUBLIC.contains(&p.as_str()),
            "docs/openapi.yaml and the template disagree on whether {m} {p} needs a token"
        );
    }
}
