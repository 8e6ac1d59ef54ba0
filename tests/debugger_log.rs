//! The debugger log's storage on SQLite (a temporary file) and PostgreSQL (a schema per test): calls tied to
//! runs, lookup by primary key, retention and the size caps; and the recorder in front of it: redaction,
//! runs announced by the engine, and dropping instead of blocking when the store lags.
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use shopsync::core::calls::{ApiCall, CallLimits, CallLog, CallStore, RunCalls, StoredCall};
use shopsync::core::redact::{REDACTED, Redactor};
use shopsync::core::state::{RunRecord, RunStats, RunStatus, StateResult, StateStore};
use shopsync::state::{CallRecorder, PostgresStateStore, SqliteStateStore};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

fn call(sync: &str, run_id: Option<i64>, keys: &[&str], at: DateTime<Utc>, body: &str) -> ApiCall {
    ApiCall {
        run_id,
        sync: sync.into(),
        started_at: at,
        duration_us: 1500,
        method: "POST".into(),
        url: "http://127.0.0.1:1/admin/api/2026-04/graphql.json".into(),
        operation: Some("productSet".into()),
        document: Some("mutation { productSet(input: {}) { product { id } } }".into()),
        variables: Some(r#"{"input":{"title":"x"}}"#.into()),
        status: Some(200),
        response: Some(body.into()),
        error: None,
        cost_requested: Some(10.0),
        cost_actual: Some(10.0),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        attempt: 1,
    }
}

async fn sqlite() -> (tempfile::TempDir, SqliteStateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    (dir, store)
}

async fn postgres() -> PostgresStateStore {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("calls_{}_{nanos}", std::process::id());
    PostgresStateStore::connect_in_schema(PG, Some(&schema))
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432")
}

async fn finish(store: &dyn StateStore, id: i64, sync: &str, started: DateTime<Utc>) {
    store
        .finish_run(&RunRecord {
            id,
            sync: sync.into(),
            started_at: started,
            finished_at: Some(Utc::now()),
            status: RunStatus::Succeeded,
            stats: RunStats {
                rows_queried: 3,
                succeeded: 3,
                ..Default::default()
            },
            error: None,
        })
        .await
        .unwrap();
}

fn ids(calls: &[StoredCall]) -> Vec<Vec<String>> {
    calls.iter().map(|c| c.call.keys.clone()).collect()
}

async fn calls_by_run_and_key<S: StateStore + CallStore>(store: &S) {
    let now = Utc::now();
    let run = store.start_run("default/products", now).await.unwrap();
    let other = store.start_run("default/customers", now).await.unwrap();
    let mut failed = call("default/products", Some(run), &["b"], now, "{}");
    failed.status = Some(503);
    failed.error = Some("Shopify answered HTTP 503".into());
    let mut retry = call("default/products", Some(run), &["b"], now, "{\"data\":{}}");
    retry.attempt = 2;
    store
        .append_calls(&[
            call("default/products", Some(run), &["a"], now, "{\"data\":{}}"),
            failed,
            retry,
            // A batched request concerns several rows.
            call("default/products", Some(run), &["c", "d"], now, "{}"),
            call("default/customers", Some(other), &["a"], now, "{}"),
        ])
        .await
        .unwrap();
    finish(store, run, "default/products", now).await;

    let of_run = store.calls_of_run(run).await.unwrap();
    assert_eq!(
        ids(&of_run),
        [vec!["a"], vec!["b"], vec!["b"], vec!["c", "d"]]
    );
    assert!(of_run.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    let first = &of_run[0].call;
    assert_eq!(first.run_id, Some(run));
    assert_eq!(first.operation.as_deref(), Some("productSet"));
    assert_eq!(first.cost_actual, Some(10.0));
    assert_eq!(first.duration_us, 1500);
    assert_eq!(of_run[1].call.status, Some(503));
    assert_eq!(of_run[2].call.attempt, 2);

    // By key: by the sync's id or its name alone; other syncs' calls about the same key stay out.
    for name in ["default/products", "products"] {
        let about_b = store.calls_for_key(name, "b").await.unwrap();
        assert_eq!(about_b.len(), 2, "{name}");
        assert!(about_b.iter().all(|c| c.call.sync == "default/products"));
    }
    assert_eq!(store.calls_for_key("products", "d").await.unwrap().len(), 1);
    assert_eq!(
        store.calls_for_key("customers", "a").await.unwrap().len(),
        1
    );
    assert!(
        store
            .calls_for_key("products", "zz")
            .await
            .unwrap()
            .is_empty()
    );

    let runs: Vec<RunCalls> = store.run_calls_summary(Some("products"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r.run.id, run);
    assert_eq!(r.run.status, RunStatus::Succeeded);
    assert_eq!(r.run.stats.succeeded, 3);
    assert_eq!((r.calls, r.failed, r.retries), (4, 1, 1));
    assert_eq!(r.cost, 40.0);
    assert_eq!(r.call_time_us, 6000);
    let all = store.run_calls_summary(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.run.id).collect::<Vec<_>>(),
        [other, run],
        "newest first"
    );
}

async fn retention_and_caps<S: StateStore + CallStore>(store: &S) {
    let now = Utc::now();
    let run = store.start_run("default/products", now).await.unwrap();
    let old = now - chrono::Duration::days(8);
    let fresh = now - chrono::Duration::hours(1);
    let mut calls = vec![
        call("default/products", Some(run), &["old-1"], old, "{}"),
        call("default/products", Some(run), &["old-2"], old, "{}"),
    ];
    for i in 0..10 {
        calls.push(call(
            "default/products",
            Some(run),
            &[&format!("k{i}")],
            fresh,
            "{}",
        ));
    }
    store.append_calls(&calls).await.unwrap();
    // Retention: the two calls older than 7 days go, with their keys.
    let deleted = store
        .prune_calls(&CallLimits::default(), now)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert!(
        store
            .calls_for_key("products", "old-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.calls_of_run(run).await.unwrap().len(), 10);

    // Row cap: the newest 6 stay.
    let limits = CallLimits {
        max_calls_per_sync: 6,
        ..CallLimits::default()
    };
    assert_eq!(store.prune_calls(&limits, now).await.unwrap(), 4);
    let kept = store.calls_of_run(run).await.unwrap();
    assert_eq!(
        ids(&kept),
        (4..10).map(|i| vec![format!("k{i}")]).collect::<Vec<_>>()
    );
    assert!(
        store
            .calls_for_key("products", "k3")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.calls_for_key("products", "k4").await.unwrap().len(),
        1
    );

    // Byte cap: room for three calls of this size.
    let size = kept[0].call.size();
    let limits = CallLimits {
        max_bytes_per_sync: size * 3 + size / 2,
        ..CallLimits::default()
    };
    assert_eq!(store.prune_calls(&limits, now).await.unwrap(), 3);
    assert_eq!(
        ids(&store.calls_of_run(run).await.unwrap()),
        (7..10).map(|i| vec![format!("k{i}")]).collect::<Vec<_>>()
    );
    // Within every limit: nothing more goes.
    assert_eq!(store.prune_calls(&limits, now).await.unwrap(), 0);
}

/// The recorder over a real store: calls between run_started and run_finished carry the run's id, every text
/// field is redacted, and run_finished returns only once they are stored.
async fn recorder_ties_calls_to_runs<S: StateStore + CallStore + Clone + 'static>(store: S) {
    let redactor = Redactor::new();
    redactor.add("shpat_secret_token_value");
    let recorder = CallRecorder::start(Arc::new(store.clone()), CallLimits::default(), redactor);
    let now = Utc::now();
    let run = store.start_run("default/products", now).await.unwrap();
    recorder.run_started("default/products", run);
    for i in 0..1200 {
        let mut c = call(
            "default/products",
            None,
            &[&format!("k{i}")],
            now,
            "{\"echo\":\"shpat_secret_token_value\"}",
        );
        c.url = "postgres://shop:hunter2222@db/x".into();
        recorder.record(c);
    }
    recorder.run_finished("default/products", run).await;
    let stored = store.calls_of_run(run).await.unwrap();
    assert_eq!(
        stored.len(),
        1200,
        "every call is stored when run_finished returns"
    );
    let text = serde_json::to_string(&stored).unwrap();
    assert!(!text.contains("shpat_secret_token_value"));
    assert!(!text.contains("hunter2222"));
    assert!(text.contains(REDACTED));
    assert_eq!(recorder.dropped(), 0);
    // After the run, calls of the sync are no longer tied to it.
    recorder.record(call("default/products", None, &["late"], now, "{}"));
    recorder.flush().await;
    let late = store.calls_for_key("products", "late").await.unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].call.run_id, None);
}

/// A run without calls still appears in the summary, with nothing counted, and a sync named by its name alone
/// finds it.
async fn summary_of_a_run_without_calls<S: StateStore + CallStore>(store: &S) {
    let now = Utc::now();
    let quiet = store.start_run("shop/quiet", now).await.unwrap();
    finish(store, quiet, "shop/quiet", now).await;
    let runs = store.run_calls_summary(Some("quiet"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r.run.id, quiet);
    assert_eq!(r.run.sync, "shop/quiet");
    assert_eq!(r.run.status, RunStatus::Succeeded);
    assert_eq!(r.run.stats.rows_queried, 3);
    assert!(r.run.finished_at.is_some());
    assert_eq!((r.calls, r.failed, r.retries, r.call_time_us), (0, 0, 0, 0));
    assert_eq!(r.cost, 0.0);
    assert!(store.calls_of_run(quiet).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_calls_by_run_and_key() {
    let (_dir, store) = sqlite().await;
    calls_by_run_and_key(&store).await;
}

#[tokio::test]
async fn postgres_calls_by_run_and_key() {
    calls_by_run_and_key(&postgres().await).await;
}

#[tokio::test]
async fn sqlite_retention_and_caps() {
    let (_dir, store) = sqlite().await;
    retention_and_caps(&store).await;
}

#[tokio::test]
async fn postgres_retention_and_caps() {
    retention_and_caps(&postgres().await).await;
}

#[tokio::test]
async fn sqlite_recorder_ties_calls_to_runs() {
    let (_dir, store) = sqlite().await;
    recorder_ties_calls_to_runs(store).await;
}

#[tokio::test]
async fn postgres_recorder_ties_calls_to_runs() {
    recorder_ties_calls_to_runs(postgres().await).await;
}

#[tokio::test]
async fn retention_applies_when_the_recorder_starts() {
    let (_dir, store) = sqlite().await;
    let old = Utc::now() - chrono::Duration::days(3);
    store
        .append_calls(&[call("default/p", None, &["a"], old, "{}")])
        .await
        .unwrap();
    let recorder = CallRecorder::start(
        Arc::new(store.clone()),
        CallLimits {
            retention: Duration::from_secs(24 * 3600),
            ..CallLimits::default()
        },
        Redactor::new(),
    );
    recorder.flush().await;
    assert!(store.calls_for_key("p", "a").await.unwrap().is_empty());
}

/// A store whose appends wait until released: a writer that cannot keep up.
#[derive(Clone)]
struct StuckStore {
    gate: Arc<tokio::sync::Semaphore>,
    stored: Arc<std::sync::atomic::AtomicUsize>,
}

impl CallStore for StuckStore {
    fn append_calls<'a>(&'a self, calls: &'a [ApiCall]) -> BoxFuture<'a, StateResult<()>> {
        Box::pin(async move {
            let _permit = self.gate.acquire().await;
            self.stored
                .fetch_add(calls.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
    }
    fn prune_calls<'a>(
        &'a self,
        _: &'a CallLimits,
        _: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<u64>> {
        Box::pin(async { Ok(0) })
    }
    fn run_calls_summary<'a>(
        &'a self,
        _: Option<&'a str>,
        _: u32,
    ) -> BoxFuture<'a, StateResult<Vec<RunCalls>>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn calls_of_run<'a>(&'a self, _: i64) -> BoxFuture<'a, StateResult<Vec<StoredCall>>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn calls_for_key<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, StateResult<Vec<StoredCall>>> {
        Box::pin(async { Ok(vec![]) })
    }
}

#[tokio::test]
async fn a_lagging_store_drops_calls_and_never_blocks_the_caller() {
    let store = StuckStore {
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
        stored: Arc::default(),
    };
    let recorder = CallRecorder::start(
        Arc::new(store.clone()),
        CallLimits::default(),
        Redactor::new(),
    );
    let total = shopsync::state::recorder::QUEUE + shopsync::state::recorder::BATCH + 100;
    let started = Instant::now();
    for i in 0..total {
        recorder.record(call(
            "default/p",
            None,
            &[&format!("k{i}")],
            Utc::now(),
            "{}",
        ));
    }
    // The store has not taken a single call, yet recording returned: it only queued or dropped.
    assert!(started.elapsed() < Duration::from_secs(5));
    let dropped = recorder.dropped();
    assert!(
        dropped >= 100,
        "the queue is bounded: {dropped} of {total} dropped"
    );
    store.gate.add_permits(1_000_000);
    recorder.flush().await;
    let stored = store.stored.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        stored as u64 + dropped,
        total as u64,
        "each call is stored or counted as dropped"
    );
    assert_eq!(recorder.stored(), stored as u64);
}

/// Large calls (a bulk operation's upload names every row) are bounded by their bytes, not only their number:
/// a lagging store holds at most `QUEUE_BYTES` of them in memory, far fewer than `QUEUE` calls.
#[tokio::test]
async fn a_lagging_store_holds_a_bounded_number_of_bytes() {
    let store = StuckStore {
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
        stored: Arc::default(),
    };
    let recorder = CallRecorder::start(
        Arc::new(store.clone()),
        CallLimits::default(),
        Redactor::new(),
    );
    let answer = "x".repeat(1024 * 1024);
    let size = call("default/p", None, &["k"], Utc::now(), &answer).size();
    let total = 100;
    for i in 0..total {
        recorder.record(call(
            "default/p",
            None,
            &[&format!("k{i}")],
            Utc::now(),
            &answer,
        ));
    }
    let dropped = recorder.dropped();
    let held = (total - dropped) * size;
    assert!(
        held <= shopsync::state::recorder::QUEUE_BYTES && dropped >= 60,
        "{dropped} of {total} calls of {size} bytes dropped"
    );
    store.gate.add_permits(1_000_000);
    recorder.flush().await;
    let stored = store.stored.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        stored as u64 + dropped,
        total,
        "each call is stored or counted as dropped"
    );
    // Once the store caught up, large calls are taken again.
    recorder.record(call("default/p", None, &["k"], Utc::now(), &answer));
    recorder.flush().await;
    assert_eq!(recorder.dropped(), dropped);
}

#[tokio::test]
async fn sqlite_summary_of_a_run_without_calls() {
    let (_dir, store) = sqlite().await;
    summary_of_a_run_without_calls(&store).await;
}

#[tokio::test]
async fn postgres_summary_of_a_run_without_calls() {
    summary_of_a_run_without_calls(&postgres().await).await;
}
