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

/// Sends the rows whose key ends in an even digit in bulk (through the port's default, which collects the
/// streamed ops), the others in batches, all through the scripted Shopify; remembers each bulk call's size.
#[derive(Default)]
struct HalfBulk {
    inner: FakeShopify,
    bulk_calls: Mutex<Vec<usize>>,
}

impl ShopifyApi for HalfBulk {
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        self.inner.write(sync, ops)
    }

    fn bulk_eligible(&self, _sync: &SyncConfig, op: &WriteOp) -> bool {
        matches!(op, WriteOp::Upsert { .. }) && op.key().ends_with(['0', '2', '4', '6', '8'])
    }

    fn write_bulk<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        self.bulk_calls.lock().unwrap().push(ops.len());
        self.inner.write(sync, ops)
    }
}

/// A spill on disk that remembers the most changes one read handed back.
struct CountingSpill {
    inner: shopsync::state::SpillDir,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct CountingWriter {
    inner: Box<dyn shopsync::core::spill::SpillWriter>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct CountingReader {
    inner: Box<dyn shopsync::core::spill::SpillReader>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl shopsync::core::spill::ChangeSpill for CountingSpill {
    fn create(
        &self,
    ) -> Result<Box<dyn shopsync::core::spill::SpillWriter>, shopsync::core::spill::SpillError>
    {
        Ok(Box::new(CountingWriter {
            inner: self.inner.create()?,
            most: self.most.clone(),
        }))
    }
}

impl shopsync::core::spill::SpillWriter for CountingWriter {
    fn push(
        &mut self,
        change: shopsync::core::plan::Change,
    ) -> Result<(), shopsync::core::spill::SpillError> {
        self.inner.push(change)
    }
    fn retract(&mut self, number: u32) -> Result<(), shopsync::core::spill::SpillError> {
        self.inner.retract(number)
    }
    fn finish(
        self: Box<Self>,
    ) -> Result<Box<dyn shopsync::core::spill::SpillReader>, shopsync::core::spill::SpillError>
    {
        Ok(Box::new(CountingReader {
            inner: self.inner.finish()?,
            most: self.most,
        }))
    }
}

impl shopsync::core::spill::SpillReader for CountingReader {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read(
        &self,
        from: u64,
        max: usize,
    ) -> Result<Vec<shopsync::core::plan::Change>, shopsync::core::spill::SpillError> {
        let changes = self.inner.read(from, max)?;
        self.most
            .fetch_max(changes.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(changes)
    }
}

/// The snapshot of `sync` with each key's remembered values, in key order.
async fn stored(
    state: &SqliteStateStore,
    sync: &str,
) -> Vec<(
    shopsync::core::state::SnapshotEntry,
    Option<shopsync::core::state::FieldValues>,
)> {
    use futures::StreamExt;
    use shopsync::core::state::StateStore;
    let mut entries: Vec<_> = state
        .snapshot(sync)
        .map(Result::unwrap)
        .collect::<Vec<_>>()
        .await;
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
    let mut values: std::collections::HashMap<_, _> = state
        .values(sync, &keys)
        .await
        .unwrap()
        .into_iter()
        .collect();
    entries
        .into_iter()
        .map(|e| {
            let v = values.remove(&e.key);
            (e, v)
        })
        .collect()
}

/// Applying reads the plan back from its spill a few changes at a time and hands bulk writes a bounded number
/// of rows, and ends where applying the whole plan at once does: the same writes, reports and stored state,
/// over a first run (bulk and batched rows, rejections), a change and deletes.
#[tokio::test]
async fn apply_reads_the_plan_in_bounded_chunks_and_ends_where_the_whole_plan_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    exec(
        &db,
        "CREATE TABLE items (handle TEXT, title TEXT, email TEXT);
               WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
               INSERT INTO items SELECT printf('h%04d', i), 'Title ' || i,
                   CASE WHEN i % 97 = 0 THEN 'bad' || i ELSE 'e' || i || '@x.io' END FROM n;",
    )
    .await;
    let mut sync = config(&db.display().to_string(), true);
    sync.bulk_threshold = 10;
    let warehouse = SqlWarehouse::from_url(&sync.id, &sync_url(&db)).unwrap();
    let spill_dir = tempfile::tempdir().unwrap();
    let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let spill = CountingSpill {
        inner: shopsync::state::SpillDir::new(spill_dir.path()),
        most: most.clone(),
    };
    let chunked_state = SqliteStateStore::open(&dir.path().join("chunked.db"))
        .await
        .unwrap();
    let whole_state = SqliteStateStore::open(&dir.path().join("whole.db"))
        .await
        .unwrap();
    let (chunked_shopify, whole_shopify) = (HalfBulk::default(), HalfBulk::default());
    let clock = shopsync::clock::SystemClock;
    let chunked = Engine::new(&warehouse, &chunked_state, &chunked_shopify, &clock, "test")
        .with_spill(&spill)
        .with_chunks(7, 120);
    let whole = Engine::new(&warehouse, &whole_state, &whole_shopify, &clock, "test")
        .with_chunks(usize::MAX, u64::MAX);

    let sorted = |mut ops: Vec<WriteOp>| {
        ops.sort_by(|a, b| a.key().cmp(b.key()));
        serde_json::to_value(ops).unwrap()
    };
    let same_run = |a: &shopsync::core::report::RunReport,
                    b: &shopsync::core::report::RunReport| {
        assert_eq!(a.status, b.status);
        assert_eq!(a.stats, b.stats);
        assert_eq!(
            (a.writes, a.created, a.deleted, a.skipped),
            (b.writes, b.created, b.deleted, b.skipped)
        );
        let keys = |r: &shopsync::core::report::RunReport| {
            let mut k: Vec<_> = r.rejections.iter().map(|r| r.key.clone()).collect();
            k.sort();
            k
        };
        assert_eq!(keys(a), keys(b));
    };

    // First run: 1,000 adds, half of them in bulk, every 97th rejected.
    let a = chunked.run(&sync).await.unwrap();
    let b = whole.run(&sync).await.unwrap();
    same_run(&a, &b);
    assert_eq!(
        (a.stats.added, a.stats.rejected, a.created),
        (1000, 10, 990)
    );
    assert_eq!(
        sorted(chunked_shopify.inner.take()),
        sorted(whole_shopify.inner.take())
    );
    // 500 bulk rows: at most 120 to a call on the chunked engine, all of them in one on the other.
    assert_eq!(
        *chunked_shopify.bulk_calls.lock().unwrap(),
        [120, 120, 120, 120, 20]
    );
    assert_eq!(*whole_shopify.bulk_calls.lock().unwrap(), [500]);
    assert_eq!(
        stored(&chunked_state, &sync.id).await,
        stored(&whole_state, &sync.id).await
    );
    assert_eq!(stored(&chunked_state, &sync.id).await.len(), 1000);

    // 100 titles change and 20 rows leave the model (deleted: the sync created them).
    exec(&db, "UPDATE items SET title = title || '!' WHERE handle <= 'h0100'; DELETE FROM items WHERE handle > 'h0980';").await;
    let a = chunked.run(&sync).await.unwrap();
    let b = whole.run(&sync).await.unwrap();
    same_run(&a, &b);
    assert_eq!(
        (a.stats.changed, a.deleted),
        (100 + 9, 20),
        "the rejected rows are retried"
    );
    assert_eq!(
        sorted(chunked_shopify.inner.take()),
        sorted(whole_shopify.inner.take())
    );
    let stored_chunked = stored(&chunked_state, &sync.id).await;
    assert_eq!(stored_chunked, stored(&whole_state, &sync.id).await);
    assert_eq!(stored_chunked.len(), 980);
    assert_eq!(
        stored_chunked[0].1.as_ref().unwrap()["title"],
        serde_json::json!("Title 1!")
    );

    // Never more than 7 changes read back at once; the spill files are gone.
    assert_eq!(most.load(std::sync::atomic::Ordering::Relaxed), 7);
    assert_eq!(std::fs::read_dir(spill_dir.path()).unwrap().count(), 0);
}
