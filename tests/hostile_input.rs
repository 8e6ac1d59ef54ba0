//! Hostile input, bounded: warehouse values, spec files and Shopify answers that are huge, malformed or of the
//! wrong shape end in a row rejection or an error naming the file, field or row; never in a panic, a hang or
//! unbounded memory. Property tests fuzz the spec reader and the value mapping (proptest keeps any failing case
//! in tests/hostile_input.proptest-regressions, to be committed); tests/fuzz/specs is the corpus of hostile
//! spec files found so far, each of which must be refused with its file named.
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};
use shopsync::api::manifest::{self, LoadError, MAX_FILE_BYTES};
use shopsync::api::validate::{Severity, validate};
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::config::{ApiVersion, SyncConfig};
use shopsync::core::mapping::{self, MAX_VALUE_BYTES};
use shopsync::core::record::RejectionCode;
use shopsync::core::source::Columns;
use shopsync::core::write::{ShopifyApi, WriteOp, WriteOutcome};
use shopsync::shopify::{CostBudget, RetryPolicy, ShopifyClient, Store, Transport};

// ---- specs ----

const SYNC: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: customers}
spec:
  destinationRef: {name: demo}
  source: {url: "sqlite://w.db", query: "SELECT id, email, note, tags FROM customers"}
  primaryKey: id
  object: customers
  mode: upsert
  match: {key: email}
  mappings:
    - {from: email, to: email}
    - {from: note, to: note}
    - {from: tags, to: tags, format: json}
  schedule: {interval: 10m}
"#;

fn check(text: &str) -> shopsync::api::validate::Report {
    validate(&manifest::parse_documents(Path::new("hostile.yaml"), text))
}

fn errors(report: &shopsync::api::validate::Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn a_yaml_alias_bomb_is_an_error_naming_the_file() {
    // Nine levels of nine aliases: a billion leaves if expanded.
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        let (prev, next) = (w[0], w[1]);
        let refs = vec![format!("*{prev}"); 9].join(", ");
        text.push_str(&format!("{next}: &{next} [{refs}]\n"));
    }
    let report = check(&text);
    let errs = errors(&report);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("hostile.yaml (document 1)"), "{}", errs[0]);
}

#[test]
fn nesting_beyond_the_parser_limit_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}x{}", "[".repeat(100_000), "]".repeat(100_000));
    let errs = errors(&check(&deep));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("hostile.yaml"), "{}", errs[0]);
}

#[test]
fn ten_thousand_mappings_and_a_megabyte_query_are_checked_field_by_field() {
    let mut text = SYNC
        .replace(
            "SELECT id, email, note, tags FROM customers",
            &format!("SELECT id, email FROM customers -- {}", "x".repeat(1 << 20)),
        )
        .replace("  schedule: {interval: 10m}\n", "");
    // 10,000 more mappings (the list is last in the document), each to a field customers do not have.
    for i in 0..10_000 {
        text.push_str(&format!("    - {{from: c{i}, to: noSuchField{i}}}\n"));
    }
    text.push_str("  schedule: {interval: 10m}\n");
    let report = check(&text);
    let errs = errors(&report);
    assert!(
        errs.iter().any(|e| e.contains("spec.mappings[9999]")),
        "{} errors, first: {:?}",
        errs.len(),
        errs.first()
    );
}

#[test]
fn a_spec_file_larger_than_the_cap_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    match manifest::load(std::slice::from_ref(&path)) {
        Err(e @ LoadError::TooLarge { .. }) => {
            assert!(e.to_string().contains("huge.yaml"), "{e}")
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn every_file_of_the_hostile_corpus_is_refused_naming_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/specs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let docs = manifest::load(std::slice::from_ref(&file)).unwrap();
        let report = validate(&docs);
        let errs = errors(&report);
        assert!(!errs.is_empty(), "{name} was accepted");
        for e in &errs {
            assert!(e.contains(&name), "{name}: {e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any text, however broken, is read and validated without a panic; every finding names the file.
    #[test]
    fn any_text_is_validated_without_panicking(text in "\\PC{0,400}") {
        let report = check(&text);
        for f in &report.findings {
            prop_assert!(f.to_string().contains("hostile.yaml"));
        }
    }

    /// The example spec with bytes replaced or cut off: valid or errors naming the file, never a panic.
    #[test]
    fn a_damaged_spec_is_validated_without_panicking(
        cuts in proptest::collection::vec((0usize..SYNC.len(), any::<char>()), 0..6),
        keep in 0usize..=SYNC.len(),
    ) {
        let mut chars: Vec<char> = SYNC.chars().collect();
        for (at, c) in cuts {
            if at < chars.len() {
                chars[at] = c;
            }
        }
        let text: String = chars.into_iter().take(keep).collect();
        let report = check(&text);
        for f in &report.findings {
            prop_assert!(f.to_string().contains("hostile.yaml"));
        }
    }
}

// ---- warehouse values ----

fn customers_config() -> SyncConfig {
    let spec: ShopifySync = serde_yaml::from_str(SYNC).unwrap();
    sync_config("default/customers", &spec.spec).unwrap()
}

fn columns() -> Columns {
    Columns::new(vec![
        "id".into(),
        "email".into(),
        "note".into(),
        "tags".into(),
    ])
}

/// Maps one row of (id, email, note, tags).
fn map(
    values: Vec<Value>,
) -> Result<shopsync::core::record::Record, shopsync::core::record::RowRejection> {
    let compiled = mapping::compile(&customers_config(), &columns()).unwrap();
    compiled.apply(&values, Some("email"))
}

#[test]
fn hostile_values_reject_their_row_naming_the_column() {
    let big = "x".repeat(10 << 20);
    let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
    let cases: Vec<(Vec<Value>, &str, RejectionCode)> = vec![
        (
            vec![json!(1), json!("a@b.c"), json!(big.clone()), json!("[]")],
            "\"note\" holds",
            RejectionCode::Mapping,
        ),
        (
            vec![json!(2), json!("a@b.c"), json!("n"), json!(big)],
            "\"tags\" holds",
            RejectionCode::Mapping,
        ),
        (
            vec![json!(3), json!("a@b.c"), json!("n"), json!(deep)],
            "\"tags\" is not valid JSON",
            RejectionCode::Mapping,
        ),
        (
            vec![json!(4), json!("a@b.c"), json!("n"), json!("{not json")],
            "\"tags\" is not valid JSON",
            RejectionCode::Mapping,
        ),
        // A float column's NaN reaches the mapping as its name, which is not JSON.
        (
            vec![json!(5), json!("a@b.c"), json!("n"), json!("NaN")],
            "\"tags\" is not valid JSON",
            RejectionCode::Mapping,
        ),
        (
            vec![json!(6), json!("a@b.c"), json!("n"), json!("Infinity")],
            "\"tags\" is not valid JSON",
            RejectionCode::Mapping,
        ),
        (
            vec![json!({"id": 1}), json!("a@b.c"), json!("n"), json!("[]")],
            "primary key column `id`",
            RejectionCode::Type,
        ),
        (
            vec![Value::Null, json!("a@b.c"), json!("n"), json!("[]")],
            "primary key column `id` is NULL",
            RejectionCode::NullPrimaryKey,
        ),
    ];
    for (row, message, code) in cases {
        let err = map(row).unwrap_err();
        assert_eq!(err.code, code, "{err}");
        assert!(err.message.contains(message), "{err}");
    }
    // Just under the cap is sent.
    let fits = "y".repeat(MAX_VALUE_BYTES);
    let ok = map(vec![
        json!(10),
        json!("a@b.c"),
        json!(fits),
        json!("[\"a\"]"),
    ])
    .unwrap();
    assert_eq!(ok.fields["tags"], json!(["a"]));
}

/// Arbitrary JSON values, nested up to a few levels.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
        "[\\[\\]{}\":,0-9a-z ]{0,60}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any row maps to a record or to a rejection that names a column; a record carries the row's key.
    #[test]
    fn any_row_maps_or_is_rejected_naming_a_column(
        id in any_value(), email in any_value(), note in any_value(), tags in any_value(),
    ) {
        match map(vec![id.clone(), email, note, tags]) {
            Ok(record) => {
                let key = match &id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                prop_assert_eq!(record.key, key);
            }
            Err(rejection) => {
                let m = &rejection.message;
                prop_assert!(
                    ["`id`", "\"tags\"", "\"email\"", "\"note\""].iter().any(|c| m.contains(c)),
                    "{}", m
                );
            }
        }
    }
}

// ---- Shopify answers ----

/// A store whose GraphQL endpoint answers every request with `body` (HTTP 200).
async fn answering(body: Vec<u8>) -> String {
    let body = Arc::new(body);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            axum::response::Response::builder()
                .header("content-type", "application/json")
                .body(axum::body::Body::from((*body).clone()))
                .unwrap_or_default()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn client(base_url: String) -> ShopifyClient {
    let store = Store {
        base_url,
        version: ApiVersion::DEFAULT,
        token: "shpat_test".into(),
    };
    let retry = RetryPolicy {
        max_attempts: 2,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    ShopifyClient::new(
        Transport::new(store, Arc::new(CostBudget::new()), retry).unwrap(),
        2,
    )
}

#[tokio::test]
async fn broken_answers_end_each_row_without_a_false_success() {
    let huge = {
        let mut b = br#"{"data":{"x":""#.to_vec();
        b.resize(shopsync::shopify::MAX_ANSWER_BYTES + 10, b'a');
        b.extend_from_slice(br#""}}"#);
        b
    };
    let answers: Vec<(&str, Vec<u8>)> = vec![
        (
            "truncated",
            br#"{"data":{"customerSet":{"customer":{"id":"gid://shopify/Cus"#.to_vec(),
        ),
        ("not JSON", b"<html>502 Bad Gateway</html>".to_vec()),
        ("a list for data", br#"{"data":[1,2,3]}"#.to_vec()),
        (
            "a number for the payload",
            br#"{"data":{"customerSet":5}}"#.to_vec(),
        ),
        ("errors of the wrong type", br#"{"errors":42}"#.to_vec()),
        ("an empty object", b"{}".to_vec()),
        ("larger than the cap", huge),
    ];
    let sync = customers_config();
    for (what, body) in answers {
        let shop = client(answering(body).await);
        let op = WriteOp::Upsert {
            key: "1".into(),
            fields: serde_json::from_value(json!({"email": "a@b.c", "note": "n"})).unwrap(),
            known_id: None,
            idempotency_key: "shopsync-1-test".into(),
        };
        let outcomes = match shop.write(&sync, vec![op]).await {
            Ok(o) => o,
            Err(f) => f.outcomes,
        };
        for o in &outcomes {
            assert!(
                !matches!(
                    o,
                    WriteOutcome::Succeeded { .. } | WriteOutcome::Skipped { .. }
                ),
                "{what}: {o:?}"
            );
            assert_eq!(o.key(), "1", "{what}");
        }
    }
}
