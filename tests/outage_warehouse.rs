//! The warehouse connection dies while a run streams the model (PostgreSQL backend terminated with
//! `pg_terminate_backend`): the run fails, and nothing is computed from the partial result. No record is
//! deleted (the rows not yet read would otherwise look removed), no record is updated, and the state stays as
//! it was; the next run, with the connection back, applies the model.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::config::{ApiVersion, SyncConfig};
use shopsync::core::engine::Engine;
use shopsync::core::report::RunReport;
use shopsync::core::state::{RunStatus, SnapshotEntry, StateStore};
use shopsync::emulator::{Emulator, Plan, RunningEmulator};
use shopsync::shopify::{CostBudget, RetryPolicy, ShopifyClient, Store, Transport};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const ROWS: usize = 60;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn admin() -> sqlx::PgPool {
    sqlx::PgPool::connect(URL)
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432")
}

fn config(table: &str, app: &str) -> (SyncConfig, String) {
    let url = format!("{URL}?application_name={app}");
    // Each row takes a few milliseconds to produce, so the stream is still running when the connection dies;
    // the padding fills PostgreSQL's send buffer every few rows, so some rows arrive before.
    let yaml = format!(
        "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: t}}\nspec:\n  destinationRef: {{name: t}}\n  source: {{url: \"{url}\", query: \"SELECT {table}_slow(handle) AS handle, title, repeat('x', 4000) AS pad FROM {table}\"}}\n  primaryKey: handle\n  object: products\n  mode: upsert\n  deleteBehavior: delete\n  deleteGuard: {{maxPercent: 100}}\n  mappings:\n    - {{from: handle, to: handle}}\n    - {{from: title, to: title}}\n  schedule: {{manual: true}}\n"
    );
    let spec: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
    (sync_config("test/outage", &spec.spec).unwrap(), url)
}

async fn run(
    emulator: &RunningEmulator,
    state: &SqliteStateStore,
    config: &SyncConfig,
    url: &str,
) -> RunReport {
    let store = Store {
        base_url: emulator.base_url(),
        version: ApiVersion::DEFAULT,
        token: "shpat_outage".into(),
    };
    let transport =
        Transport::new(store, Arc::new(CostBudget::new()), RetryPolicy::default()).unwrap();
    let client = ShopifyClient::new(transport, 4);
    let warehouse = SqlWarehouse::from_url(&config.id, url).unwrap();
    Engine::new(
        &warehouse,
        state,
        &client,
        &shopsync::clock::SystemClock,
        "outage",
    )
    .run(config)
    .await
    .unwrap()
}

/// Handle -> title, as the store holds them.
fn products(emulator: &RunningEmulator) -> BTreeMap<String, Value> {
    emulator.dump()["products"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            (
                p["handle"].as_str().unwrap().to_string(),
                p["title"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warehouse_connection_lost_mid_stream_fails_the_run_and_removes_nothing() {
    let admin = admin().await;
    let table = unique("outage_products");
    let app = unique("shopsync_outage");
    let mut setup = format!(
        "CREATE TABLE {table} (handle TEXT PRIMARY KEY, title TEXT NOT NULL);
         CREATE FUNCTION {table}_slow(h TEXT) RETURNS TEXT AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN h; END $$ LANGUAGE plpgsql VOLATILE;\n"
    );
    for i in 0..ROWS {
        setup.push_str(&format!(
            "INSERT INTO {table} VALUES ('p-{i:02}', 'Product {i}');\n"
        ));
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&admin)
        .await
        .unwrap();
    let emulator = Emulator::builder()
        .plan(Plan::Plus)
        .throttling(false)
        .token("shpat_outage")
        .start_on_loopback()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let (config, url) = config(&table, &app);

    let first = run(&emulator, &state, &config, &url).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    let before = products(&emulator);
    assert_eq!(before.len(), ROWS);
    let snapshot_before: Vec<SnapshotEntry> =
        state.snapshot(&config.id).try_collect().await.unwrap();
    let writes_before = emulator.write_count();

    // Every title changes: a run that applied anything from a partial read would update some of them, and one
    // that diffed a partial read against the snapshot would delete the rows not read yet.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET title = title || ' (new)'"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let kill = async {
        // Once the run's query is streaming, a fifth of the way in, its backend is terminated.
        loop {
            let active: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
            )
            .bind(&app)
            .fetch_one(&admin)
            .await
            .unwrap();
            if active > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(killed.contains(&true), "no backend to terminate");
    };
    let (second, ()) = tokio::join!(run(&emulator, &state, &config, &url), kill);
    assert_eq!(second.status, RunStatus::Failed, "{second:?}");
    let error = second.error.clone().unwrap_or_default();
    assert!(error.contains("connection was lost"), "{error}");
    assert_eq!(second.stats.removed, 0, "{second:?}");
    assert_eq!(second.deleted, 0, "{second:?}");
    assert_eq!(second.writes, 0, "{second:?}");
    assert_eq!(
        emulator.write_count(),
        writes_before,
        "nothing was written to the store"
    );
    assert_eq!(products(&emulator), before, "the store is as it was");
    let snapshot_after: Vec<SnapshotEntry> =
        state.snapshot(&config.id).try_collect().await.unwrap();
    assert_eq!(snapshot_after, snapshot_before, "the state is as it was");

    // With the connection back, the next run applies the whole model, still deleting nothing.
    let third = run(&emulator, &state, &config, &url).await;
    assert_eq!(third.status, RunStatus::Succeeded, "{third:?}");
    assert_eq!(third.deleted, 0);
    let after = products(&emulator);
    assert_eq!(after.len(), ROWS);
    assert!(
        after
            .values()
            .all(|t| t.as_str().unwrap().ends_with(" (new)")),
        "{after:?}"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE {table}; DROP FUNCTION {table}_slow(TEXT);"
    )))
    .execute(&admin)
    .await
    .unwrap();
}
