//! The client's reaction to each kind of answer, against scripted HTTP answers in Shopify's documented shapes
//! (the emulator tests cover the same paths against a faithful store).
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use shopsync::core::config::ApiVersion;
use shopsync::shopify::{CostBudget, ErrorClass, RetryPolicy, ShopifyError, Store, Transport};

/// One scripted answer: status, headers, JSON body.
type Answer = (u16, Vec<(&'static str, &'static str)>, Value);
type Script = Arc<Mutex<Vec<Answer>>>;

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn serve(answers: Vec<Answer>) -> Server {
    let script: Script = Arc::new(Mutex::new(answers.into_iter().rev().collect()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s2, seen2) = (script.clone(), seen.clone());
    let app = Router::new().route(
        "/admin/api/2026-07/graphql.json",
        post(move |headers: HeaderMap, _body: String| {
            let (script, seen) = (s2.clone(), seen2.clone());
            async move {
                seen.lock().unwrap().push(headers);
                let (status, headers, body) = script
                    .lock()
                    .unwrap()
                    .pop()
                    .expect("more requests than scripted");
                let mut map = HeaderMap::new();
                for (k, v) in headers {
                    map.insert(k, v.parse().unwrap());
                }
                (StatusCode::from_u16(status).unwrap(), map, body.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { url, seen }
}

fn transport(url: &str) -> Transport {
    let store = Store {
        base_url: url.to_string(),
        version: ApiVersion::V2026_07,
        token: "shpat_secret".into(),
    };
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    Transport::new(store, Arc::new(CostBudget::new()), retry).unwrap()
}

fn ok(cost: f64, available: f64) -> Value {
    json!({"data": {"shop": {"name": "Demo"}}, "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": cost,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}}}})
}

#[tokio::test]
async fn sends_the_token_header_and_returns_data() {
    let server = serve(vec![(200, vec![], ok(1.0, 1999.0))]).await;
    let r = transport(&server.url)
        .execute("{ shop { name } }", json!({}))
        .await
        .unwrap();
    assert_eq!(r.data["shop"]["name"], "Demo");
    assert_eq!(r.cost.unwrap().actual, Some(1.0));
    let seen = server.seen.lock().unwrap();
    assert_eq!(
        seen[0].get("x-shopify-access-token").unwrap(),
        "shpat_secret"
    );
}

#[tokio::test]
async fn retries_5xx_and_429_then_succeeds() {
    let server = serve(vec![
        (503, vec![], json!({"errors": "Service Unavailable"})),
        (
            429,
            vec![("retry-after", "0.05")],
            json!({"errors": "Exceeded 2 calls per second for api client."}),
        ),
        (200, vec![], ok(1.0, 1999.0)),
    ])
    .await;
    let r = transport(&server.url)
        .execute("{ shop { name } }", json!({}))
        .await
        .unwrap();
    assert_eq!(r.data["shop"]["name"], "Demo");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn waits_out_throttling_as_throttle_status_says() {
    let throttled = json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 5.0, "restoreRate": 100.0}}}});
    let server = serve(vec![
        (200, vec![], throttled),
        (200, vec![], ok(10.0, 1990.0)),
    ])
    .await;
    let started = Instant::now();
    let r = transport(&server.url)
        .execute("mutation { x }", json!({}))
        .await
        .unwrap();
    assert!(r.cost.is_some());
    // (10 - 5) points at 100 per second: at least 50 ms.
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn auth_and_shop_state_errors_fail_the_run_with_advice() {
    for (status, expect) in [
        (401u16, "Secret"),
        (402, "frozen"),
        (404, "store name"),
        (423, "locked"),
    ] {
        let server = serve(vec![(status, vec![], json!({"errors": "x"}))]).await;
        let err = transport(&server.url)
            .execute("{ shop { name } }", json!({}))
            .await
            .unwrap_err();
        assert!(err.fails_run(), "{status}");
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert!(err.to_string().contains(expect), "{status}: {err}");
        assert!(!err.to_string().contains("shpat_secret"));
        assert_eq!(
            server.seen.lock().unwrap().len(),
            1,
            "{status} must not be retried"
        );
    }
}

#[tokio::test]
async fn gives_up_after_bounded_attempts() {
    let answers = (0..6)
        .map(|_| (500u16, vec![], json!({"errors": "boom"})))
        .collect();
    let server = serve(answers).await;
    let err = transport(&server.url)
        .execute("{ shop { name } }", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ShopifyError::Exhausted { attempts: 6, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn top_level_graphql_errors_are_permanent() {
    let body = json!({"errors": [{"message": "Field 'nope' doesn't exist on type 'Shop'", "extensions": {"code": "undefinedField"}}]});
    let server = serve(vec![(200, vec![], body)]).await;
    let err = transport(&server.url)
        .execute("{ shop { nope } }", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ShopifyError::GraphQl(m) if m.contains("undefinedField")),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_store_is_a_network_error() {
    let t = transport("http://127.0.0.1:9");
    let err = t.execute("{ shop { name } }", json!({})).await.unwrap_err();
    assert!(matches!(err, ShopifyError::Exhausted { .. }), "{err}");
}
