//! Every example sync, end to end: a real PostgreSQL warehouse, the engine, the Shopify client, and the
//! emulator as the store. Also: a second run writes nothing, plan writes nothing, and injected faults lose
//! nothing and duplicate nothing.
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use shopsync::cli::specs::{self, ResolvedSync};
use shopsync::core::engine::{self, Engine};
use shopsync::core::report::RunReport;
use shopsync::core::state::RunStatus;
use shopsync::emulator::seed::Fixture;
use shopsync::emulator::{Emulator, Plan, RunningEmulator};
use shopsync::shopify::{CostBudget, RetryPolicy, ShopifyClient, Transport};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;
use sqlx::Connection;

const PG: &str = "postgres://postgres@127.0.0.1:5432";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A database of its own, seeded from examples/warehouse/seed.postgres.sql. PostgreSQL must be running.
async fn pg_warehouse(name: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(&format!("{PG}/test"))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (start it as .ci/run does)");
    let db = format!("shopsync_e2e_{name}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{PG}/{db}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let seed =
        std::fs::read_to_string(root().join("examples/warehouse/seed.postgres.sql")).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed.as_str()))
        .execute(&mut conn)
        .await
        .unwrap();
    url
}

async fn demo_store() -> RunningEmulator {
    let seed = std::fs::read(root().join("examples/emulator/demo-store.json")).unwrap();
    Emulator::builder()
        .plan(Plan::Standard)
        .token("shpat_emulator_demo_token")
        .shop("demo.myshopify.com")
        .seed(Fixture::parse(&seed, "demo-store.json").unwrap())
        .start_on_loopback()
        .await
        .unwrap()
}

fn syncs(emulator: &RunningEmulator, warehouse: &str, only: &[&str]) -> Vec<ResolvedSync> {
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let mut all = specs::load(
        &[root().join("examples")],
        &only,
        &shopsync::core::redact::Redactor::new(),
    )
    .unwrap();
    for s in &mut all {
        s.store.base_url = emulator.base_url();
        s.warehouse_url = warehouse.to_string();
    }
    all
}

async fn run_all(
    syncs: &[ResolvedSync],
    state: &SqliteStateStore,
    retry: RetryPolicy,
) -> Vec<RunReport> {
    let budget = Arc::new(CostBudget::new());
    let mut reports = Vec::new();
    for s in syncs {
        let client = ShopifyClient::new(
            Transport::new(s.store.clone(), budget.clone(), retry).unwrap(),
            4,
        );
        let warehouse = SqlWarehouse::from_url(&s.config.id, &s.warehouse_url).unwrap();
        reports.push(
            Engine::new(
                &warehouse,
                state,
                &client,
                &shopsync::clock::SystemClock,
                "e2e",
            )
            .run(&s.config)
            .await
            .unwrap(),
        );
    }
    reports
}

fn report<'a>(reports: &'a [RunReport], name: &str) -> &'a RunReport {
    reports
        .iter()
        .find(|r| r.sync == format!("default/{name}"))
        .unwrap()
}

/// A database of its own on MariaDB, seeded from examples/warehouse/seed.mysql.sql. MariaDB must be running.
async fn mariadb_warehouse(name: &str) -> String {
    let mut admin = sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/test")
        .await
        .expect("MariaDB on 127.0.0.1:3306 (start it as .ci/run does)");
    let db = format!("shopsync_e2e_{name}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let url = format!("mysql://root@127.0.0.1:3306/{db}");
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    let seed = std::fs::read_to_string(root().join("examples/warehouse/seed.mysql.sql")).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed.as_str()))
        .execute(&mut conn)
        .await
        .unwrap();
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_syncs_from_postgres_then_nothing_changes() {
    every_example_syncs_then_nothing_changes(&pg_warehouse("all").await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_syncs_from_mariadb_then_nothing_changes() {
    every_example_syncs_then_nothing_changes(&mariadb_warehouse("all").await).await;
}

async fn every_example_syncs_then_nothing_changes(warehouse: &str) {
    let warehouse = warehouse.to_string();
    let emulator = demo_store().await;
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let all = syncs(&emulator, &warehouse, &[]);
    assert_eq!(all.len(), 16);

    // plan writes nothing to the store.
    for s in &all {
        let wh = SqlWarehouse::from_url(&s.config.id, &s.warehouse_url).unwrap();
        let plan = engine::plan(&wh, &state, &s.config).await.unwrap();
        assert!(!plan.changes.is_empty(), "{} plans nothing", s.config.id);
    }
    assert_eq!(emulator.write_count(), 0, "plan must not write");

    let first = run_all(&all, &state, RetryPolicy::default()).await;
    for r in &first {
        assert_ne!(r.status, RunStatus::Failed, "{}: {:?}", r.sync, r.error);
    }
    // Marking an order incomplete needs a fulfillment service: Shopify refuses it for this store.
    let close = report(&first, "close-fulfillment-orders");
    assert_eq!(close.stats.rejected, 1);
    assert!(
        close.rejections[0].message.contains("fulfillment service"),
        "{:?}",
        close.rejections
    );
    for r in first
        .iter()
        .filter(|r| r.sync != "default/close-fulfillment-orders")
    {
        assert_eq!(
            r.status,
            RunStatus::Succeeded,
            "{}: {:?}",
            r.sync,
            r.rejections
        );
        assert_eq!(r.stats.succeeded, r.stats.rows_queried, "{}", r.sync);
    }

    let store = emulator.dump();
    let emails: Vec<&str> = store["customers"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 4, "one customer per row: {emails:?}");
    let handles: Vec<&str> = store["products"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|p| p["handle"].as_str())
        .collect();
    for h in ["trail-runner", "rain-shell", "wool-socks"] {
        assert!(handles.contains(&h), "{handles:?}");
    }
    let fo = |id: &str| {
        store["fulfillment_orders"][id]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(fo("5001"), "ON_HOLD");
    assert_eq!(fo("5002"), "OPEN", "hold released");
    assert_eq!(fo("5005"), "CLOSED", "cancelled");
    let levels: Vec<(u64, u64, i64)> = store["levels"]
        .as_object()
        .unwrap()
        .values()
        .map(|l| {
            (
                l["item_id"].as_u64().unwrap(),
                l["location_id"].as_u64().unwrap(),
                l["available"].as_i64().unwrap(),
            )
        })
        .collect();
    for want in [(7001, 1001, 25), (7002, 1001, 40), (7001, 1002, 5)] {
        assert!(levels.contains(&want), "{want:?} not in {levels:?}");
    }
    assert_eq!(store["fulfillment_events"].as_object().unwrap().len(), 2);
    // The examples per mode and match key: a code renamed in place by its id, SEO written onto existing
    // products, customers matched by phone (update mode created none: the four above).
    let codes: Vec<(u64, String)> = store["discounts"]["2001"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_u64().unwrap(), c[1].as_str().unwrap().to_string()))
        .collect();
    assert!(codes.contains(&(2102, "VIP-2027".to_string())), "{codes:?}");
    assert!(!codes.iter().any(|(_, c)| c == "VIP-2026"), "{codes:?}");
    assert_eq!(
        store["discounts"]["2001"]["input"]["usageLimit"], 500,
        "the price rule's usage limit, from the same rows"
    );
    let seo = |handle: &str| {
        store["products"]
            .as_object()
            .unwrap()
            .values()
            .find(|p| p["handle"] == handle)
            .map(|p| p["seo"][0].clone())
    };
    assert_eq!(
        seo("trail-runner"),
        Some(Value::from("Trail Runner: light trail running shoe"))
    );
    let locale = |email: &str| {
        store["customers"]
            .as_object()
            .unwrap()
            .values()
            .find(|c| c["email"] == email)
            .map(|c| c["locale"].clone())
    };
    assert_eq!(
        locale("edsger@example.com"),
        Some(Value::from("nl")),
        "matched by phone"
    );
    assert_eq!(locale("ada@example.com"), Some(Value::from("en")));

    // Nothing changed: the store receives no write (the rejected row is retried and rejected again).
    let writes = emulator.write_count();
    let second = run_all(&all, &state, RetryPolicy::default()).await;
    assert_eq!(
        emulator.write_count(),
        writes,
        "a second run must not change the store"
    );
    assert_eq!(second.iter().map(|r| r.stats.succeeded).sum::<u64>(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_lose_nothing_and_duplicate_nothing() {
    let warehouse = pg_warehouse("faults").await;
    let emulator = demo_store().await;
    let client = reqwest::Client::new();
    let faults = serde_json::json!({"error_rate": 0.25, "drop_rate": 0.1, "latency_ms": 2});
    let r = client
        .post(format!("{}/__emulator/faults", emulator.base_url()))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let some = syncs(
        &emulator,
        &warehouse,
        &["customers", "products", "inventory-levels"],
    );
    let retry = RetryPolicy {
        base_delay: std::time::Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    // Runs until every row is synced; a row whose answer was lost is retried (upserts are idempotent).
    let mut synced = 0;
    for _ in 0..5 {
        let reports = run_all(&some, &state, retry).await;
        synced += reports.iter().map(|r| r.stats.succeeded).sum::<u64>();
        if reports
            .iter()
            .all(|r| r.status == RunStatus::Succeeded && r.unknown.is_empty())
            && synced >= 10
        {
            break;
        }
    }
    assert_eq!(
        synced, 10,
        "4 customers, 3 products, 3 levels, each synced once"
    );
    let store = emulator.dump();
    assert_eq!(
        store["customers"].as_object().unwrap().len(),
        4,
        "no duplicate customers"
    );
    let products: Vec<&Value> = store["products"]
        .as_object()
        .unwrap()
        .values()
        .filter(|p| p["handle"] != "seed-tee")
        .collect();
    assert_eq!(products.len(), 3, "no duplicate products");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_refused_for_a_bad_token_are_sent_once_the_token_is_fixed() {
    let warehouse = pg_warehouse("token").await;
    let emulator = demo_store().await;
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let good = syncs(&emulator, &warehouse, &["fulfillment-events"]);
    let mut bad = syncs(&emulator, &warehouse, &["fulfillment-events"]);
    bad[0].store.token = "shpat_revoked".into();

    let budget = Arc::new(CostBudget::new());
    let client = ShopifyClient::new(
        Transport::new(bad[0].store.clone(), budget, RetryPolicy::default()).unwrap(),
        4,
    );
    let wh = SqlWarehouse::from_url(&bad[0].config.id, &bad[0].warehouse_url).unwrap();
    let failed = Engine::new(&wh, &state, &client, &shopsync::clock::SystemClock, "e2e")
        .run(&bad[0].config)
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("access token"),
        "{:?}",
        failed.error
    );
    assert!(failed.unknown.is_empty());

    // Nothing reached the store, so nothing is "unknown": the fixed token sends both events, once.
    let reports = run_all(&good, &state, RetryPolicy::default()).await;
    assert_eq!(reports[0].stats.succeeded, 2, "{:?}", reports[0]);
    assert!(reports[0].unknown.is_empty());
    let again = run_all(&good, &state, RetryPolicy::default()).await;
    assert_eq!(again[0].stats.succeeded, 0);
    assert_eq!(
        emulator.dump()["fulfillment_events"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
}
