//! Shopify outages during a run: 5xx answers for a while, and a shop locked (HTTP 423) mid-run. The run backs
//! off through a short outage; a longer one, or a locked shop, ends the run with the right status and error
//! and nothing lost: the next run applies every row not yet applied, each exactly once, and the state names the
//! store's records.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::config::{ApiVersion, SyncConfig};
use shopsync::core::engine::Engine;
use shopsync::core::report::RunReport;
use shopsync::core::state::{Ownership, RunStatus, StateStore};
use shopsync::emulator::{Emulator, Plan, RunningEmulator};
use shopsync::shopify::{CostBudget, RetryPolicy, ShopifyClient, Store, Transport};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;
use sqlx::Connection;

const ROWS: usize = 40;

struct World {
    _dir: tempfile::TempDir,
    db: PathBuf,
    state: SqliteStateStore,
    emulator: RunningEmulator,
    config: SyncConfig,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("warehouse.db");
        let state = SqliteStateStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        let emulator = Emulator::builder()
            .plan(Plan::Plus)
            .throttling(false)
            .token("shpat_outage")
            .start_on_loopback()
            .await
            .unwrap();
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
                .await
                .unwrap();
        let mut sql = String::from("CREATE TABLE products (handle TEXT PRIMARY KEY, title TEXT);");
        for i in 0..ROWS {
            sql.push_str(&format!(
                "INSERT INTO products VALUES ('p-{i}', 'Product {i}');"
            ));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        let yaml = format!(
            "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: t}}\nspec:\n  destinationRef: {{name: t}}\n  source: {{url: \"sqlite://{}\", query: \"SELECT handle, title FROM products\"}}\n  primaryKey: handle\n  object: products\n  mode: upsert\n  mappings:\n    - {{from: handle, to: handle}}\n    - {{from: title, to: title}}\n  schedule: {{manual: true}}\n",
            db.display()
        );
        let spec: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
        let config = sync_config("test/outage", &spec.spec).unwrap();
        World {
            _dir: dir,
            db,
            state,
            emulator,
            config,
        }
    }

    /// A client sending five rows per request, two at a time, with `retry`.
    fn client(&self, retry: RetryPolicy) -> ShopifyClient {
        let store = Store {
            base_url: self.emulator.base_url(),
            version: ApiVersion::DEFAULT,
            token: "shpat_outage".into(),
        };
        let transport = Transport::new(store, Arc::new(CostBudget::new()), retry).unwrap();
        ShopifyClient::new(transport, 2).with_batch_size(5)
    }

    async fn run(&self, retry: RetryPolicy) -> RunReport {
        let client = self.client(retry);
        let warehouse =
            SqlWarehouse::from_url(&self.config.id, &format!("sqlite://{}", self.db.display()))
                .unwrap();
        Engine::new(
            &warehouse,
            &self.state,
            &client,
            &shopsync::clock::SystemClock,
            "outages",
        )
        .run(&self.config)
        .await
        .unwrap()
    }

    async fn post(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} {body}");
    }

    fn writes(&self) -> u64 {
        self.emulator.write_count()
    }

    /// Every row once in the store with its title, and the state naming each one's record as created.
    async fn assert_every_row_once(&self) {
        let dump = self.emulator.dump();
        let mut store: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in dump["products"].as_object().unwrap().values() {
            let handle = p["handle"].as_str().unwrap().to_string();
            let i = handle.trim_start_matches("p-");
            assert_eq!(p["title"], format!("Product {i}"), "{p}");
            store
                .entry(handle)
                .or_default()
                .push(format!("gid://shopify/Product/{}", p["id"]));
        }
        assert_eq!(store.len(), ROWS, "{store:?}");
        assert!(
            store.values().all(|ids| ids.len() == 1),
            "duplicates: {store:?}"
        );
        let entries: Vec<_> = self
            .state
            .snapshot(&self.config.id)
            .map(|e| e.unwrap())
            .collect()
            .await;
        let state: BTreeMap<String, Vec<String>> = entries
            .iter()
            .map(|e| {
                (
                    e.key.clone(),
                    vec![e.shopify_id.clone().unwrap_or_default()],
                )
            })
            .collect();
        assert_eq!(state, store, "the state names the store's records");
        assert!(
            entries.iter().all(|e| e.ownership == Ownership::Created),
            "{entries:?}"
        );
    }
}

/// Short backoffs and few attempts: an outage longer than about a second outlasts them.
fn impatient() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_throttled: 20,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_5xx_outage_is_backed_off_and_the_run_succeeds() {
    let world = World::new().await;
    world
        .post("/__emulator/faults", json!({"error_rate": 1.0}))
        .await;
    let run = world.run(RetryPolicy::default());
    let outage = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        world.post("/__emulator/faults", json!({})).await;
    };
    let (report, ()) = tokio::join!(run, outage);
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(report.stats.succeeded, ROWS as u64);
    assert!(report.unknown.is_empty());
    world.assert_every_row_once().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_outage_longer_than_the_retries_leaves_rows_unknown_and_the_next_run_applies_them_once()
 {
    let world = World::new().await;
    // Every answer is a 503 for the whole run: a 5xx may come after Shopify applied the write (a proxy after
    // the commit), so each row's fate is unknown, not refused.
    world
        .post("/__emulator/faults", json!({"error_rate": 1.0}))
        .await;
    let first = world.run(impatient()).await;
    assert_eq!(first.status, RunStatus::PartiallySucceeded, "{first:?}");
    assert_eq!(first.stats.succeeded, 0, "{first:?}");
    assert_eq!(first.unknown.len(), ROWS, "{first:?}");
    assert!(first.rejections.is_empty(), "{first:?}");
    world.post("/__emulator/faults", json!({})).await;
    let second = world.run(impatient()).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    assert_eq!(second.stats.succeeded as usize, ROWS, "{second:?}");
    world.assert_every_row_once().await;
    let third = world.run(impatient()).await;
    assert_eq!(third.writes, 0, "{third:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_locked_mid_run_fails_the_run_and_the_next_run_applies_the_rest_once() {
    let world = World::new().await;
    // Slow answers, so that the lock falls in the middle of the run.
    world
        .post("/__emulator/faults", json!({"latency_ms": 20}))
        .await;
    let run = world.run(RetryPolicy::default());
    let lock = async {
        while world.writes() < 10 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        world
            .post("/__emulator/shop-status", json!({"status": "locked"}))
            .await;
    };
    let (first, ()) = tokio::join!(run, lock);
    assert_eq!(first.status, RunStatus::Failed, "{first:?}");
    let error = first.error.clone().unwrap_or_default();
    assert!(error.contains("locked (HTTP 423)"), "{error}");
    assert!(first.stats.succeeded >= 10, "{first:?}");
    assert!((first.stats.succeeded as usize) < ROWS, "{first:?}");
    assert!(
        first.unknown.is_empty(),
        "a locked shop applies nothing: {first:?}"
    );
    let applied = world.emulator.dump()["products"].as_object().unwrap().len();
    assert_eq!(
        applied as u64, first.stats.succeeded,
        "the state recorded every write the store applied"
    );

    // While locked, a run applies nothing and says why.
    let locked = world.run(RetryPolicy::default()).await;
    assert_eq!(locked.status, RunStatus::Failed, "{locked:?}");
    assert_eq!(locked.stats.succeeded, 0);

    world
        .post("/__emulator/shop-status", json!({"status": "active"}))
        .await;
    world.post("/__emulator/faults", json!({})).await;
    let second = world.run(RetryPolicy::default()).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    assert_eq!(second.stats.succeeded, ROWS as u64 - first.stats.succeeded);
    world.assert_every_row_once().await;
}
