//! The state store (PostgreSQL) goes away while a run has writes in flight: every backend of the state's database
//! is terminated and the database refuses connections for a while. The engine stops sending once it cannot
//! record (nothing beyond the batch in flight, whose creates were noted before sending), the run fails with a
//! retryable state-store error, every record the store gained is known to the state, and the next run, with
//! the database back, leaves every row once in the store and the state's ids equal to the store's.
//!
//! The state lives in a database of its own, created and dropped by the test, so refusing connections to it
//! touches no other test.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::{Value, json};
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::config::{ApiVersion, SyncConfig};
use shopsync::core::engine::{BATCH, Engine, EngineError};
use shopsync::core::report::RunReport;
use shopsync::core::source::FailureClass;
use shopsync::core::state::{RunStatus, SnapshotEntry, StateStore};
use shopsync::emulator::{Emulator, Plan, RunningEmulator};
use shopsync::shopify::{CostBudget, RetryPolicy, ShopifyClient, Store, Transport};
use shopsync::state::PostgresStateStore;
use shopsync::warehouse::SqlWarehouse;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const TOKEN: &str = "shpat_state_outage";
/// More than two batches: a run that kept sending after the outage would write past the first one.
const ROWS: usize = 2 * BATCH + 100;
/// Writes the store applies in the outage run before the state's database goes away: inside the first batch.
const CUT_AFTER: u64 = 40;

struct World {
    admin: sqlx::PgPool,
    db: String,
    state: PostgresStateStore,
    emulator: RunningEmulator,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let admin = sqlx::PgPool::connect(ADMIN_URL)
            .await
            .expect("PostgreSQL must be running on 127.0.0.1:5432");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let db = format!("shopsync_state_outage_{}_{nanos}", std::process::id());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .unwrap();
        let state_url = format!("postgres://postgres@127.0.0.1:5432/{db}");
        let state = PostgresStateStore::connect(&state_url).await.unwrap();
        let emulator = Emulator::builder()
            .plan(Plan::Plus)
            .throttling(false)
            .token(TOKEN)
            .start_on_loopback()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let world = World {
            admin,
            db,
            state,
            emulator,
            dir,
        };
        let mut sql = String::from(
            "CREATE TABLE products (handle TEXT PRIMARY KEY, title TEXT NOT NULL);
             CREATE TABLE customers (customer_id TEXT PRIMARY KEY, email TEXT NOT NULL);\n",
        );
        for i in 0..ROWS {
            sql.push_str(&format!(
                "INSERT INTO products VALUES ('p-{i:04}', 'Product {i}');
                 INSERT INTO customers VALUES ('c-{i:04}', 'buyer{i}@example.com');\n"
            ));
        }
        world.warehouse_sql(&sql).await;
        // Every answer is held back after the write is applied, so the outage falls while writes are in flight.
        let status = reqwest::Client::new()
            .post(format!("{}/__emulator/faults", world.emulator.base_url()))
            .json(&json!({"timeout_after_apply_ms": 10}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        world
    }

    fn warehouse_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("wh.db").display())
    }

    async fn warehouse_sql(&self, sql: &str) {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", self.warehouse_url()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    }

    fn config(&self, name: &str, body: &str) -> SyncConfig {
        let yaml = format!(
            "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: {name}}}\nspec:\n  destinationRef: {{name: t}}\n  schedule: {{manual: true}}\n  bulkThreshold: 100000\n{body}"
        );
        let spec: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
        sync_config(&format!("test/{name}"), &spec.spec).unwrap()
    }

    fn products(&self) -> SyncConfig {
        self.config(
            "products",
            &format!(
                "  source: {{url: \"{}\", query: \"SELECT handle, title FROM products\"}}\n  primaryKey: handle\n  object: products\n  mode: upsert\n  mappings:\n    - {{from: handle, to: handle}}\n    - {{from: title, to: title}}\n",
                self.warehouse_url()
            ),
        )
    }

    fn customers(&self) -> SyncConfig {
        self.config(
            "customers",
            &format!(
                "  source: {{url: \"{}\", query: \"SELECT customer_id, email FROM customers\"}}\n  primaryKey: customer_id\n  object: customers\n  mode: insert\n  mappings:\n    - {{from: email, to: email}}\n",
                self.warehouse_url()
            ),
        )
    }

    async fn run(&self, config: &SyncConfig) -> Result<RunReport, EngineError> {
        let store = Store {
            base_url: self.emulator.base_url(),
            version: ApiVersion::DEFAULT,
            token: TOKEN.into(),
        };
        let transport =
            Transport::new(store, Arc::new(CostBudget::new()), RetryPolicy::default()).unwrap();
        let client = ShopifyClient::new(transport, 4);
        let warehouse = SqlWarehouse::from_url(&config.id, &self.warehouse_url()).unwrap();
        Engine::new(
            &warehouse,
            &self.state,
            &client,
            &shopsync::clock::SystemClock,
            "outage",
        )
        .run(config)
        .await
    }

    /// The state's database refuses new connections and loses the ones it has.
    async fn outage(&self) {
        let db = &self.db;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid();"
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }

    async fn back(&self) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.db
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }

    /// Runs `config` and takes the state's database away once the store has applied `CUT_AFTER` of its writes.
    /// Returns the run's result and the writes the store applied during the run.
    async fn run_into_outage(&self, config: &SyncConfig) -> (Result<RunReport, EngineError>, u64) {
        let before = self.emulator.write_count();
        let cut = async {
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.emulator.write_count() < before + CUT_AFTER {
                assert!(Instant::now() < deadline, "the run never wrote");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            self.outage().await;
        };
        let (result, ()) = tokio::join!(self.run(config), cut);
        (result, self.emulator.write_count() - before)
    }

    async fn snapshot(&self, sync: &str) -> Vec<SnapshotEntry> {
        self.state.snapshot(sync).try_collect().await.unwrap()
    }

    /// Key -> the numeric id of the record the state names for it (empty when none).
    async fn recorded_ids(&self, sync: &str) -> BTreeMap<String, String> {
        self.snapshot(sync)
            .await
            .into_iter()
            .map(|e| {
                let id = e.shopify_id.as_deref().map(|s| numeric(&json!(s)));
                (e.key, id.unwrap_or_default())
            })
            .collect()
    }

    /// `field` -> the ids of the store's `kind` records holding it.
    fn by(&self, kind: &str, field: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(records) = self.emulator.dump()[kind].as_object() {
            for r in records.values() {
                out.entry(r[field].as_str().unwrap().to_string())
                    .or_default()
                    .push(numeric(&r["id"]));
            }
        }
        out
    }

    async fn finish(self) {
        self.back().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.db
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

fn numeric(id: &Value) -> String {
    match id {
        Value::String(s) => s.rsplit('/').next().unwrap_or_default().to_string(),
        other => other.to_string(),
    }
}

/// The outage run failed as it should: a state-store error a later attempt may overcome, and no more than the
/// batch in flight written.
fn assert_failed_cleanly(result: &Result<RunReport, EngineError>, writes: u64) {
    match result {
        Err(e @ EngineError::State(_)) => {
            let message = e.to_string();
            assert!(message.starts_with("state store:"), "{message}");
            assert_eq!(e.class(), FailureClass::Retryable, "{message}");
        }
        other => panic!("the run must fail on the state store: {other:?}"),
    }
    assert!(
        writes >= CUT_AFTER && writes <= BATCH as u64,
        "{writes} writes: the run must stop sending after the batch in flight"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_store_lost_mid_run_stops_the_writes_and_the_next_run_is_consistent() {
    let w = World::new().await;

    // Products, upsert mode: each create is noted in the state before it is sent.
    let products = w.products();
    let (result, writes) = w.run_into_outage(&products).await;
    assert_failed_cleanly(&result, writes);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.emulator.write_count(),
        writes,
        "nothing is written once the run has failed"
    );
    w.back().await;
    // Whatever the store gained is known to the state: an id recorded, or a create noted before sending.
    let noted: BTreeMap<String, Option<String>> = w
        .snapshot(&products.id)
        .await
        .into_iter()
        .map(|e| (e.key, e.shopify_id))
        .collect();
    let held = w.by("products", "handle");
    assert_eq!(held.len() as u64, writes);
    for handle in held.keys() {
        assert!(noted.contains_key(handle), "{handle} was written unnoted");
    }

    let next = w.run(&products).await.unwrap();
    assert_eq!(next.status, RunStatus::Succeeded, "{next:?}");
    let held = w.by("products", "handle");
    assert_eq!(held.len(), ROWS, "every product is in the store");
    assert!(
        held.values().all(|ids| ids.len() == 1),
        "duplicated products: {:?}",
        held.iter()
            .filter(|(_, ids)| ids.len() > 1)
            .collect::<Vec<_>>()
    );
    let recorded = w.recorded_ids(&products.id).await;
    let held: BTreeMap<String, String> = held
        .into_iter()
        .map(|(h, ids)| (h, ids[0].clone()))
        .collect();
    assert_eq!(recorded, held, "the state's product ids are the store's");

    // Customers, insert mode: each create is noted too, and a lost answer is settled by looking the customer up.
    let customers = w.customers();
    let writes_before = w.emulator.write_count();
    let (result, writes) = w.run_into_outage(&customers).await;
    assert_failed_cleanly(&result, writes);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.emulator.write_count(),
        writes_before + writes,
        "nothing is written once the run has failed"
    );
    w.back().await;
    let noted: BTreeMap<String, Option<String>> = w
        .snapshot(&customers.id)
        .await
        .into_iter()
        .map(|e| (e.key, e.shopify_id))
        .collect();
    let held = w.by("customers", "email");
    assert_eq!(held.len() as u64, writes);
    let key = |email: &str| -> String {
        let i: usize = email["buyer".len()..email.find('@').unwrap()]
            .parse()
            .unwrap();
        format!("c-{i:04}")
    };
    for email in held.keys() {
        assert!(
            noted.contains_key(&key(email)),
            "{email} was written unnoted"
        );
    }

    let next = w.run(&customers).await.unwrap();
    assert_eq!(next.status, RunStatus::Succeeded, "{next:?}");
    let held = w.by("customers", "email");
    assert_eq!(held.len(), ROWS, "every customer is in the store");
    assert!(
        held.values().all(|ids| ids.len() == 1),
        "duplicated customers"
    );
    let recorded = w.recorded_ids(&customers.id).await;
    let held: BTreeMap<String, String> = held
        .into_iter()
        .map(|(email, ids)| (key(&email), ids[0].clone()))
        .collect();
    assert_eq!(recorded, held, "the state's customer ids are the store's");
    let quiet = w.emulator.write_count();
    for config in [&products, &customers] {
        let again = w.run(config).await.unwrap();
        assert_eq!(again.status, RunStatus::Succeeded, "{again:?}");
    }
    assert_eq!(
        w.emulator.write_count(),
        quiet,
        "the state agrees with the store"
    );
    w.finish().await;
}
