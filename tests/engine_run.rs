//! The engine's run loop over a real SQLite warehouse and state store, with a scripted Shopify: what is sent
//! on a first run, on an unchanged second run, after a change, after a rejection, and when rows leave.
use std::sync::Mutex;

use serde_json::Value;
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::config::SyncConfig;
use shopsync::core::engine::{Engine, LOCK_TTL};
use shopsync::core::state::RunStatus;
use shopsync::core::write::{ApiFailure, BoxFuture, ShopifyApi, WriteOp, WriteOutcome};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;

/// Accepts every write, except rows whose email contains "bad", and remembers what it was asked.
#[derive(Default)]
struct FakeShopify {
    log: Mutex<Vec<WriteOp>>,
}

impl FakeShopify {
    fn take(&self) -> Vec<WriteOp> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl ShopifyApi for FakeShopify {
    fn write<'a>(
        &'a self,
        _sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for op in ops {
                self.log.lock().unwrap().push(op.clone());
                let outcome = match &op {
                    WriteOp::Upsert {
                        key,
                        fields,
                        known_id,
                        ..
                    } => {
                        if fields
                            .get("email")
                            .and_then(Value::as_str)
                            .is_some_and(|e| e.contains("bad"))
                        {
                            WriteOutcome::Rejected {
                                key: key.clone(),
                                code: Some("INVALID".into()),
                                field: vec!["input".into(), "email".into()],
                                message: "Email is invalid".into(),
                            }
                        } else {
                            let id = known_id
                                .clone()
                                .unwrap_or_else(|| format!("gid://shopify/Product/{key}"));
                            WriteOutcome::Succeeded {
                                key: key.clone(),
                                shopify_id: Some(id),
                                created: known_id.is_none(),
                            }
                        }
                    }
                    WriteOp::Delete { key, shopify_id } => WriteOutcome::Succeeded {
                        key: key.clone(),
                        shopify_id: Some(shopify_id.clone()),
                        created: false,
                    },
                    WriteOp::Send { key, .. } => WriteOutcome::Succeeded {
                        key: key.clone(),
                        shopify_id: None,
                        created: true,
                    },
                };
                out.push(outcome);
            }
            Ok(out)
        })
    }
}

fn config(db: &str, delete: bool) -> SyncConfig {
    let yaml = format!(
        r#"
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: products}}
spec:
  destinationRef: {{name: demo}}
  source: {{url: "sqlite://{db}", query: "SELECT handle, title, email FROM items ORDER BY handle"}}
  primaryKey: handle
  object: products
  mode: upsert
  mappings:
    - {{from: handle, to: handle}}
    - {{from: title, to: title}}
    - {{from: email, to: vendor}}
  {}
  schedule: {{manual: true}}
"#,
        if delete {
            "deleteBehavior: delete\n  deleteGuard: {maxPercent: 50}"
        } else {
            ""
        }
    );
    let s: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
    let mut c = sync_config("default/products", &s.spec).unwrap();
    // The fake rejects on "email", which the mapping sends as vendor.
    for m in &mut c.mappings {
        if let shopsync::core::config::MappingTarget::Field(f) = &mut m.target
            && f == "vendor"
        {
            *f = "email".into();
        }
    }
    c
}

async fn exec(db: &std::path::Path, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn runs_send_exactly_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    exec(&db, "CREATE TABLE items (handle TEXT, title TEXT, email TEXT); INSERT INTO items VALUES ('a','A','a@x.io'),('b','B','bad'),('c','C','c@x.io');").await;
    let sync = config(&db.display().to_string(), true);
    let warehouse = SqlWarehouse::from_url(&sync.id, &sync_url(&db)).unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let shopify = FakeShopify::default();
    let engine = Engine::new(
        &warehouse,
        &state,
        &shopify,
        &shopsync::clock::SystemClock,
        "test",
    );

    // First run: all three sent; b rejected.
    let r = engine.run(&sync).await.unwrap();
    assert_eq!(
        (
            r.stats.rows_queried,
            r.stats.added,
            r.stats.succeeded,
            r.stats.rejected
        ),
        (3, 3, 2, 1)
    );
    assert_eq!(r.status, RunStatus::PartiallySucceeded);
    assert_eq!(r.rejections[0].message, "Email is invalid");
    assert_eq!(shopify.take().len(), 3);

    // Second run, nothing changed: only the rejected row is retried.
    let r = engine.run(&sync).await.unwrap();
    let sent = shopify.take();
    assert_eq!(
        sent.iter().map(|o| o.key().to_string()).collect::<Vec<_>>(),
        vec!["b"]
    );
    assert_eq!(r.stats.rejected, 1);

    // Fix b, change a's title: both sent, a with its known id.
    exec(&db, "UPDATE items SET email='b@x.io' WHERE handle='b'; UPDATE items SET title='A2' WHERE handle='a';").await;
    let r = engine.run(&sync).await.unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    let sent = shopify.take();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().any(|o| matches!(o, WriteOp::Upsert { key, known_id: Some(id), .. } if key == "a" && id == "gid://shopify/Product/a")));

    // Unchanged: zero writes.
    let r = engine.run(&sync).await.unwrap();
    assert_eq!((r.writes, r.stats.succeeded), (0, 0));
    assert!(shopify.take().is_empty());

    // c leaves the model: deleted by its id.
    exec(&db, "DELETE FROM items WHERE handle='c';").await;
    let r = engine.run(&sync).await.unwrap();
    assert_eq!(r.deleted, 1);
    let sent = shopify.take();
    assert!(
        matches!(&sent[..], [WriteOp::Delete { key, shopify_id }] if key == "c" && shopify_id == "gid://shopify/Product/c")
    );
}

#[tokio::test]
async fn a_lost_state_rebaselines_without_deleting() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    exec(&db, "CREATE TABLE items (handle TEXT, title TEXT, email TEXT); INSERT INTO items VALUES ('a','A','a@x.io');").await;
    let sync = config(&db.display().to_string(), true);
    let warehouse = SqlWarehouse::from_url(&sync.id, &sync_url(&db)).unwrap();
    let shopify = FakeShopify::default();
    {
        let state = SqliteStateStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        Engine::new(
            &warehouse,
            &state,
            &shopify,
            &shopsync::clock::SystemClock,
            "t",
        )
        .run(&sync)
        .await
        .unwrap();
    }
    shopify.take();
    // A new, empty state: the row is upsert-matched again, nothing is deleted.
    let state = SqliteStateStore::open(&dir.path().join("other.db"))
        .await
        .unwrap();
    let r = Engine::new(
        &warehouse,
        &state,
        &shopify,
        &shopsync::clock::SystemClock,
        "t",
    )
    .run(&sync)
    .await
    .unwrap();
    assert_eq!(r.deleted, 0);
    assert!(
        shopify
            .take()
            .iter()
            .all(|o| matches!(o, WriteOp::Upsert { .. }))
    );
}

#[tokio::test]
async fn missing_columns_fail_the_run_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    exec(&db, "CREATE TABLE items (handle TEXT, title TEXT);").await;
    let sync = config(&db.display().to_string(), false);
    let warehouse = SqlWarehouse::from_url(&sync.id, &sync_url(&db)).unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let shopify = FakeShopify::default();
    let r = Engine::new(
        &warehouse,
        &state,
        &shopify,
        &shopsync::clock::SystemClock,
        "t",
    )
    .run(&sync)
    .await;
    let text = match r {
        Ok(report) => report.error.unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(text.contains("email"), "{text}");
    assert!(shopify.take().is_empty());
}

fn sync_url(db: &std::path::Path) -> String {
    format!("sqlite://{}", db.display())
}

/// Remembers what the engine reported about progress.
#[derive(Default)]
struct Recorded(Mutex<Vec<(String, u64)>>);

impl shopsync::core::progress::Progress for Recorded {
    fn planned(&self, _sync: &str, total: u64) {
        self.0.lock().unwrap().push(("planned".into(), total));
    }
    fn advanced(&self, _sync: &str, done: u64) {
        self.0.lock().unwrap().push(("advanced".into(), done));
    }
    fn finished(&self, _sync: &str) {
        self.0.lock().unwrap().push(("finished".into(), 0));
    }
}

#[tokio::test]
async fn progress_counts_every_write_and_delete_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    let rows: Vec<String> = (0..1200)
        .map(|i| format!("('h{i:04}','T{i}','x{i}@x.io')"))
        .collect();
    exec(
        &db,
        &format!(
            "CREATE TABLE items (handle TEXT, title TEXT, email TEXT); INSERT INTO items VALUES {};",
            rows.join(",")
        ),
    )
    .await;
    let sync = config(&db.display().to_string(), true);
    let warehouse = SqlWarehouse::from_url(&sync.id, &sync_url(&db)).unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let shopify = FakeShopify::default();
    let progress = Recorded::default();
    let engine = Engine::new(
        &warehouse,
        &state,
        &shopify,
        &shopsync::clock::SystemClock,
        "test",
    )
    .with_progress(&progress);
    let total = |events: &[(String, u64)], kind: &str| -> u64 {
        events
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n)
            .sum()
    };

    engine.run(&sync).await.unwrap();
    let events = std::mem::take(&mut *progress.0.lock().unwrap());
    assert_eq!(total(&events, "planned"), 1200);
    assert_eq!(total(&events, "advanced"), 1200);
    assert!(
        events.iter().filter(|(k, _)| k == "advanced").count() > 1,
        "batch by batch"
    );
    assert_eq!(events.last().unwrap().0, "finished");

    // 10 changed and 5 deleted: 15 records, deletes included.
    exec(&db, "UPDATE items SET title = title || '!' WHERE handle < 'h0010'; DELETE FROM items WHERE handle >= 'h1195';").await;
    engine.run(&sync).await.unwrap();
    let events = std::mem::take(&mut *progress.0.lock().unwrap());
    assert_eq!(total(&events, "planned"), 15);
    assert_eq!(total(&events, "advanced"), 15);
    assert_eq!(shopify.take().len(), 1200 + 15);
}

/// Sends bulk operations that take as long as the test says: `write_bulk` announces itself on `entered` and
/// answers (through the scripted Shopify) once `release` is notified.
#[derive(Default)]
struct SlowBulk {
    inner: FakeShopify,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl ShopifyApi for SlowBulk {
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        self.inner.write(sync, ops)
    }

    fn bulk_eligible(&self, _sync: &SyncConfig, _op: &WriteOp) -> bool {
        true
    }

    fn write_bulk<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            self.entered.notify_one();
            self.release.notified().await;
            self.inner.write(sync, ops).await
        })
    }
}

/// When the run's lock on `sync` expires, as another holder finds it at `at` (before any expiry: taking the
/// lock fails, so looking changes nothing).
async fn lock_expiry(
    state: &SqliteStateStore,
    sync: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    use shopsync::core::state::{StateError, StateStore};
    match state.acquire_lock(sync, "observer", LOCK_TTL, at).await {
        Err(StateError::LockHeld { expires_at, .. }) => expires_at,
        other => panic!("the run should hold the lock: {other:?}"),
    }
}

/// A bulk operation that outlasts a third of the lock's lifetime keeps the lock: the engine renews it on the
/// clock it was handed while it waits, so another holder cannot take the sync over mid-operation. (On a manual
/// clock: the real one would make this test wait minutes.)
#[tokio::test]
async fn a_long_bulk_operation_keeps_the_lock_renewed_on_the_engines_clock() {
    use chrono::TimeZone;
    use shopsync::core::clock::{Clock, ManualClock};
    use shopsync::core::state::{StateError, StateStore};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    exec(&db, "CREATE TABLE items (handle TEXT, title TEXT, email TEXT); INSERT INTO items VALUES ('a','A','a@x.io'),('b','B','b@x.io');").await;
    let mut sync = config(&db.display().to_string(), false);
    sync.bulk_threshold = 1;
    let warehouse = SqlWarehouse::from_url(&sync.id, &sync_url(&db)).unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let start = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let ttl = chrono::Duration::from_std(LOCK_TTL).unwrap();
    let clock = ManualClock::new(start);
    let shopify = SlowBulk::default();
    let engine = Engine::new(&warehouse, &state, &shopify, &clock, "test");

    let observe = async {
        shopify.entered.notified().await;
        assert_eq!(lock_expiry(&state, &sync.id, start).await, start + ttl);
        // A third of the lifetime (and a second) passes while Shopify works on the operation.
        let step = LOCK_TTL / 3 + std::time::Duration::from_secs(1);
        clock.advance(step);
        let renewed = clock.now() + ttl;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lock_expiry(&state, &sync.id, start).await != renewed {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock was not renewed after {step:?} on the engine's clock"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // After the first lease would have run out, the sync is still taken.
        let later = start + ttl + chrono::Duration::seconds(60);
        assert!(matches!(
            state.acquire_lock(&sync.id, "other", LOCK_TTL, later).await,
            Err(StateError::LockHeld { .. })
        ));
        shopify.release.notify_one();
    };
    let (report, ()) = tokio::join!(engine.run(&sync), observe);
    let report = report.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(report.stats.succeeded, 2);
    // The run's times are the engine's clock's.
    assert_eq!(report.started_at, start);
    assert_eq!(report.finished_at, clock.now());
}
