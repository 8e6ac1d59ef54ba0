//! The exact Kubernetes API calls of each reconcile path that does not reach Shopify, against kube's
//! tower-test mock service: what is sent, in which order, and that a settled object causes no call at all.
use std::sync::Arc;
use std::time::Duration;

use axum::http::{self, Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use shopsync::api::ShopifySync;
use shopsync::controller::{Context, Metrics, Settings, sync};
use shopsync::state::SqliteStateStore;
use tower_test::mock::{Handle, SendResponse};

type Mock = Handle<Request<Body>, Response<Body>>;

const SYNC_STATUS_PATH: &str = "/apis/shopsync.dev/v1alpha1/namespaces/shop/shopifysyncs/customers/status?&force=true&fieldManager=shopsync-controller";

fn sync_object(spec_patch: Value, status: Option<Value>) -> ShopifySync {
    let mut spec = json!({
        "destinationRef": {"name": "demo-store"},
        "source": {"urlSecretRef": {"name": "warehouse", "key": "url"}, "query": "SELECT id, email FROM customers"},
        "primaryKey": "id",
        "object": "customers",
        "mode": "upsert",
        "match": {"key": "email"},
        "mappings": [{"from": "email", "to": "email"}],
        "schedule": {"interval": "1h"}
    });
    if let (Some(spec), Some(patch)) = (spec.as_object_mut(), spec_patch.as_object()) {
        for (k, v) in patch {
            spec.insert(k.clone(), v.clone());
        }
    }
    let mut obj = json!({
        "apiVersion": "shopsync.dev/v1alpha1",
        "kind": "ShopifySync",
        "metadata": {"name": "customers", "namespace": "shop", "generation": 3, "resourceVersion": "10", "uid": "u-1"},
        "spec": spec,
    });
    if let Some(s) = status {
        obj["status"] = s;
    }
    serde_json::from_value(obj).expect("a valid ShopifySync")
}

async fn context(client: kube::Client) -> (Arc<Context>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .expect("state store");
    let ctx = Context::new(
        client,
        Arc::new(state),
        Arc::new(Metrics::new()),
        Settings {
            retry_after: Duration::from_secs(42),
            // The alert receivers of these tests listen on loopback.
            egress: shopsync::controller::egress::EgressPolicy {
                alert_hosts: vec!["127.0.0.1".into()],
                ..Default::default()
            },
            ..Settings::default()
        },
        shopsync::core::redact::Redactor::new(),
    );
    (Arc::new(ctx), dir)
}

async fn next(handle: &mut Mock) -> (Request<Body>, SendResponse<Response<Body>>) {
    tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("the reconcile made no further call within 5s")
        .expect("the client is gone")
}

async fn body_json(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect_bytes().await.expect("request body");
    serde_json::from_slice(&bytes).expect("a JSON body")
}

fn respond(send: SendResponse<Response<Body>>, status: u16, body: Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("response"),
    );
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Answers an SSA status patch with the object carrying the sent status, and returns that status.
async fn expect_status_patch(handle: &mut Mock, obj: &ShopifySync) -> Value {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), http::Method::PATCH);
    assert_eq!(req.uri().to_string(), SYNC_STATUS_PATH);
    assert_eq!(
        req.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let body = body_json(req).await;
    assert_eq!(body["apiVersion"], "shopsync.dev/v1alpha1");
    assert_eq!(body["kind"], "ShopifySync");
    assert!(
        body.get("spec").is_none(),
        "a status patch must not carry the spec"
    );
    let mut answer = serde_json::to_value(obj).expect("object");
    answer["status"] = body["status"].clone();
    respond(send, 200, answer);
    body["status"].clone()
}

async fn expect_event(handle: &mut Mock, reason: &str, kind: &str) {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.uri().path(),
        "/apis/events.k8s.io/v1/namespaces/shop/events"
    );
    let body = body_json(req).await;
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(body["type"], kind);
    assert_eq!(body["regarding"]["name"], "customers");
    assert_eq!(body["reportingController"], "shopsync-controller");
    respond(send, 201, body);
}

/// Runs `reconcile` while `script` plays the apiserver; then checks nothing else was called.
async fn scenario<F, Fut>(obj: ShopifySync, script: F) -> Action
where
    F: FnOnce(Mock) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Mock> + Send + 'static,
{
    scripted(
        |ctx| async move {
            sync::reconcile(Arc::new(obj), ctx)
                .await
                .expect("reconcile succeeds")
        },
        script,
    )
    .await
}

/// Runs `reconcile` with a context whose apiserver is `script`; then checks nothing else was called.
async fn scripted<R, RFut, F, Fut>(reconcile: R, script: F) -> Action
where
    R: FnOnce(Arc<Context>) -> RFut,
    RFut: std::future::Future<Output = Action>,
    F: FnOnce(Mock) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Mock> + Send + 'static,
{
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let (ctx, _dir) = context(client).await;
    let server = tokio::spawn(script(handle));
    let action = reconcile(ctx.clone()).await;
    let mut handle = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the script finished")
        .expect("the script did not panic");
    drop(ctx);
    let extra = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
    if let Ok(Some((req, _))) = extra {
        panic!("unexpected call: {} {}", req.method(), req.uri());
    }
    action
}

#[tokio::test]
async fn invalid_spec_is_stalled_once_with_an_event_and_not_retried() {
    let obj = sync_object(json!({"schedule": {"cron": "every tuesday"}}), None);
    let o = obj.clone();
    let action = scenario(obj, move |mut h| async move {
        let status = expect_status_patch(&mut h, &o).await;
        assert_eq!(status["observedGeneration"], 3);
        let stalled = condition(&status, "Stalled");
        assert_eq!(stalled["status"], "True");
        assert_eq!(stalled["reason"], "InvalidSpec");
        assert!(
            stalled["message"]
                .as_str()
                .unwrap_or_default()
                .contains("spec.schedule.cron"),
            "{stalled}"
        );
        assert_eq!(condition(&status, "Ready")["status"], "False");
        assert_eq!(condition(&status, "Ready")["observedGeneration"], 3);
        expect_event(&mut h, "InvalidSpec", "Warning").await;
        h
    })
    .await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_settled_object_causes_no_call() {
    // First reconcile: learn the status the controller writes for a stalled spec.
    let obj = sync_object(json!({"schedule": {"cron": "every tuesday"}}), None);
    let o = obj.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    scenario(obj.clone(), move |mut h| async move {
        let status = expect_status_patch(&mut h, &o).await;
        let _ = tx.send(status);
        expect_event(&mut h, "InvalidSpec", "Warning").await;
        h
    })
    .await;
    let status = rx.await.expect("status");
    // Second reconcile of the object as the apiserver now holds it: nothing to write, nothing to say.
    let settled = sync_object(json!({"schedule": {"cron": "every tuesday"}}), Some(status));
    let action = scenario(settled, |h| async move { h }).await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn suspended_sync_says_so_and_waits_for_a_change() {
    let obj = sync_object(json!({"suspend": true}), None);
    let o = obj.clone();
    let action = scenario(obj, move |mut h| async move {
        let status = expect_status_patch(&mut h, &o).await;
        assert_eq!(condition(&status, "Reconciling")["reason"], "Suspended");
        assert_eq!(condition(&status, "Stalled")["status"], "False");
        assert_eq!(condition(&status, "Ready")["status"], "Unknown");
        assert!(status.get("nextRunAt").is_none());
        h
    })
    .await;
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn missing_destination_waits_with_a_reason_and_retries() {
    let obj = sync_object(json!({}), None);
    let o = obj.clone();
    let action = scenario(obj, move |mut h| async move {
        // A run is due: the object is read fresh first (the cache may lag behind the last status write).
        let (req, send) = next(&mut h).await;
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(
            req.uri().path(),
            "/apis/shopsync.dev/v1alpha1/namespaces/shop/shopifysyncs/customers"
        );
        respond(send, 200, serde_json::to_value(&o).expect("object"));
        let (req, send) = next(&mut h).await;
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(
            req.uri().path(),
            "/apis/shopsync.dev/v1alpha1/namespaces/shop/shopifydestinations/demo-store"
        );
        respond(
            send,
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                   "message": "shopifydestinations.shopsync.dev \"demo-store\" not found"}),
        );
        let status = expect_status_patch(&mut h, &o).await;
        let ready = condition(&status, "Ready");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "DestinationNotFound");
        assert_eq!(condition(&status, "Stalled")["status"], "False");
        expect_event(&mut h, "DestinationNotFound", "Warning").await;
        h
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(42)));
}

#[tokio::test]
async fn a_run_not_yet_due_only_publishes_when_it_will_be() {
    let started = chrono::Utc::now() - chrono::Duration::minutes(10);
    let ts = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let last = json!({
        "startedAt": ts(started), "finishedAt": ts(started + chrono::Duration::seconds(5)), "durationSeconds": 5.0,
        "outcome": "Succeeded", "rowsQueried": 2, "rowsAdded": 2, "rowsChanged": 0, "rowsRemoved": 0,
        "rowsSucceeded": 2, "rowsRejected": 0
    });
    let status = json!({
        "observedGeneration": 3,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "ok", "observedGeneration": 3, "lastTransitionTime": ts(started)},
        ],
        "lastRun": last.clone(),
        "recentRuns": [last],
    });
    let obj = sync_object(json!({}), Some(status));
    let o = obj.clone();
    let action = scenario(obj, move |mut h| async move {
        let status = expect_status_patch(&mut h, &o).await;
        assert_eq!(condition(&status, "Ready")["reason"], "Synced");
        assert_eq!(condition(&status, "Reconciling")["reason"], "Scheduled");
        let next = status["nextRunAt"].as_str().unwrap_or_default().to_string();
        assert_eq!(next, ts(started + chrono::Duration::hours(1)));
        h
    })
    .await;
    // Requeued for the next run, 50 minutes away (within the seconds the test itself takes).
    let within = (0..10u64).any(|s| action == Action::requeue(Duration::from_secs(50 * 60 - s)));
    assert!(within, "{action:?}");
}

/// Answers a GET of a Secret in `shop` with `data`.
async fn expect_secret_get(handle: &mut Mock, name: &str, data: Value) {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), http::Method::GET);
    assert_eq!(
        req.uri().path(),
        format!("/api/v1/namespaces/shop/secrets/{name}")
    );
    respond(
        send,
        200,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "shop"}, "data": data}),
    );
}

#[tokio::test]
async fn a_late_sync_alerts_once_between_runs() {
    use base64::Engine as _;
    // A webhook receiver on loopback counting what it gets.
    let got = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let now = chrono::Utc::now();
    let ts = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let started = now - chrono::Duration::minutes(10);
    let last = json!({
        "startedAt": ts(started), "finishedAt": ts(started + chrono::Duration::seconds(5)), "durationSeconds": 5.0,
        "outcome": "Succeeded", "rowsQueried": 0, "rowsAdded": 0, "rowsChanged": 0, "rowsRemoved": 0,
        "rowsSucceeded": 0, "rowsRejected": 0
    });
    let status = json!({
        "observedGeneration": 3,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "ok", "observedGeneration": 3, "lastTransitionTime": ts(started)},
        ],
        "lastRun": last.clone(),
        "recentRuns": [last],
    });
    let alerts = json!({"alerts": {
        "onFailure": false,
        "lateAfter": "1m",
        "channels": [{"webhook": {"url": url, "hmacSecretRef": {"name": "alert-keys", "key": "hmac"}}}]
    }});
    // Created three hours ago, and the state store (empty) knows no successful run: due after an hour, so late.
    let created = |s: ShopifySync| -> ShopifySync {
        let mut v = serde_json::to_value(s).expect("json");
        v["metadata"]["creationTimestamp"] = json!(ts(now - chrono::Duration::hours(3)));
        serde_json::from_value(v).expect("a valid ShopifySync")
    };
    let obj = created(sync_object(alerts.clone(), Some(status)));
    let key = base64::engine::general_purpose::STANDARD.encode("k");
    let o = obj.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let k = key.clone();
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let (ctx, _dir) = context(client).await;
    let script = tokio::spawn(async move {
        let mut h = handle;
        expect_secret_get(&mut h, "alert-keys", json!({"hmac": k})).await;
        expect_event(&mut h, "AlertFiring", "Warning").await;
        let status = expect_status_patch(&mut h, &o).await;
        assert_eq!(status["alerts"][0]["rule"], "late", "{status}");
        assert!(
            status["alerts"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("no run has succeeded"),
            "{status}"
        );
        let _ = tx.send(status);
        h
    });
    let action = sync::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("reconcile succeeds");
    let mut h = tokio::time::timeout(Duration::from_secs(5), script)
        .await
        .expect("the script finished")
        .expect("the script did not panic");
    // Requeued for the next run (about 50 minutes away), not for the late alert, which already fired.
    assert!(
        (0..10u64).any(|s| action == Action::requeue(Duration::from_secs(50 * 60 - s))),
        "{action:?}"
    );
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(got.lock().unwrap()[0]["rule"], "late");

    // The next reconcile of the object as the apiserver now holds it: the Secret is read, nothing is sent or
    // written (same context: same state store).
    let status = rx.await.expect("status");
    let settled = created(sync_object(alerts, Some(status)));
    let script = tokio::spawn(async move {
        expect_secret_get(&mut h, "alert-keys", json!({"hmac": key})).await;
        h
    });
    sync::reconcile(Arc::new(settled), ctx.clone())
        .await
        .expect("reconcile succeeds");
    let mut h = tokio::time::timeout(Duration::from_secs(5), script)
        .await
        .expect("the script finished")
        .expect("the script did not panic");
    drop(ctx);
    let extra = tokio::time::timeout(Duration::from_millis(200), h.next_request()).await;
    if let Ok(Some((req, _))) = extra {
        panic!("unexpected call: {} {}", req.method(), req.uri());
    }
    assert_eq!(got.lock().unwrap().len(), 1, "no second notification");
}

#[tokio::test]
async fn an_event_sync_whose_ledger_is_gone_waits_instead_of_resending() {
    // The status says the sync has run; the controller's state store (empty) has no run of it.
    let ts = "2026-11-01T10:00:00Z";
    let last = json!({
        "startedAt": ts, "finishedAt": ts, "durationSeconds": 1.0, "outcome": "Succeeded",
        "rowsQueried": 2, "rowsAdded": 2, "rowsChanged": 0, "rowsRemoved": 0, "rowsSucceeded": 2, "rowsRejected": 0
    });
    let status = json!({
        "observedGeneration": 2,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "ok", "observedGeneration": 2, "lastTransitionTime": ts},
        ],
        "lastRun": last,
    });
    let events = json!({
        "object": null, "mode": null, "match": null,
        "event": "fulfillmentEvents",
        "primaryKey": "event_id",
        "mappings": [
            {"from": "order_id", "to": "orderId"},
            {"from": "fulfillment_id", "to": "fulfillmentId"},
            {"from": "status", "to": "status"}
        ]
    });
    let obj = sync_object(events, Some(status));
    let o = obj.clone();
    let action = scenario(obj, move |mut h| async move {
        // Generation 3 is new, so a run is due; the object is read fresh first.
        let (req, send) = next(&mut h).await;
        assert_eq!(req.method(), http::Method::GET);
        respond(send, 200, serde_json::to_value(&o).expect("object"));
        // No destination or Secret is read, and nothing is sent: the sync waits with the reason.
        let status = expect_status_patch(&mut h, &o).await;
        let ready = condition(&status, "Ready");
        assert_eq!(ready["status"], "False", "{status}");
        assert_eq!(ready["reason"], "StateLost", "{status}");
        assert!(
            ready["message"]
                .as_str()
                .unwrap_or_default()
                .contains("would send every row again"),
            "{status}"
        );
        expect_event(&mut h, "StateLost", "Warning").await;
        h
    })
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(42)));
}

/// Plays one event POST, checking its reason, type and subject; returns its note.
async fn expect_event_about(handle: &mut Mock, reason_prefix: &str, name: &str) -> String {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), http::Method::POST);
    let body = body_json(req).await;
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with(reason_prefix),
        "{body}"
    );
    assert_eq!(body["type"], "Warning");
    assert_eq!(body["regarding"]["name"], name);
    let note = body["note"].as_str().unwrap_or_default().to_string();
    respond(send, 201, body);
    note
}

#[tokio::test]
async fn a_destination_pointing_off_shopify_is_refused_before_its_token_is_read() {
    let dest: shopsync::api::ShopifyDestination = serde_json::from_value(json!({
        "apiVersion": "shopsync.dev/v1alpha1",
        "kind": "ShopifyDestination",
        "metadata": {"name": "demo-store", "namespace": "shop", "generation": 2, "resourceVersion": "5", "uid": "d-1"},
        "spec": {
            "store": "demo",
            "apiVersion": "2026-01",
            "endpoint": "http://169.254.169.254/latest",
            "credentials": {"accessTokenSecretRef": {"name": "demo-store-token", "key": "token"}}
        }
    }))
    .expect("a valid ShopifyDestination");
    let d = dest.clone();
    let script = move |mut handle: Mock| async move {
        // No Secret is read: the first call is the status.
        let (req, send) = next(&mut handle).await;
        assert_eq!(req.method(), http::Method::PATCH);
        assert!(
            req.uri()
                .path()
                .ends_with("/namespaces/shop/shopifydestinations/demo-store/status"),
            "{}",
            req.uri()
        );
        let body = body_json(req).await;
        let status = body["status"].clone();
        let mut answer = serde_json::to_value(&d).expect("object");
        answer["status"] = status.clone();
        respond(send, 200, answer);
        let stalled = condition(&status, "Stalled");
        assert_eq!(stalled["status"], "True");
        assert_eq!(stalled["reason"], "EndpointNotAllowed");
        let message = stalled["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("169.254.169.254") && message.contains("--allow-endpoint"),
            "{message}"
        );
        assert_eq!(condition(&status, "Ready")["status"], "False");
        // 2026-01 is retired on 2027-01-01: warned a quarter ahead, and reported once past.
        let version = condition(&status, "ApiVersionSupported");
        assert_eq!(version["status"], "False", "{status}");
        assert!(
            version["reason"]
                .as_str()
                .unwrap_or_default()
                .starts_with("ApiVersionRetir"),
            "{version}"
        );
        let note = expect_event_about(&mut handle, "ApiVersionRetir", "demo-store").await;
        assert!(note.contains("2027-01-01"), "{note}");
        expect_event_about(&mut handle, "EndpointNotAllowed", "demo-store").await;
        handle
    };
    scripted(
        |ctx| async move {
            shopsync::controller::destination::reconcile(Arc::new(dest), ctx)
                .await
                .expect("reconcile succeeds")
        },
        script,
    )
    .await;
}
