//! `shopsync bench sync`: product upserts against the emulator at a fixed plan, measured against the rate limit.
//!
//! Efficiency is the least time Shopify's leaky bucket allows for the points actually spent
//! (`(spent - bucket size) / restore rate`) over the measured time: 1.0 means every restored point was used.
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use sqlx::Connection;

use crate::api::{ShopifySync, sync_config};
use crate::core::calls::{CallLimits, CallStore};
use crate::core::engine::Engine;
use crate::emulator::{Emulator, Plan};
use crate::shopify::{CostBudget, RetryPolicy, ShopifyClient, Store, Transport};
use crate::state::{CallRecorder, SqliteStateStore};
use crate::warehouse::SqlWarehouse;

/// Whether the benchmark records the debugger log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogMode {
    /// Record every call (as `shopsync run` does by default).
    On,
    /// Record nothing.
    Off,
    /// One run without, then one with, and the ratio of their times.
    Both,
}

/// Runs the benchmark and prints its figures.
pub async fn run(rows: u64, plan: &str, concurrency: usize, log: LogMode) -> anyhow::Result<()> {
    let plan: Plan = plan.parse()?;
    match log {
        LogMode::On => {
            once(rows, plan, concurrency, true).await?;
        }
        LogMode::Off => {
            once(rows, plan, concurrency, false).await?;
        }
        LogMode::Both => {
            let off = once(rows, plan, concurrency, false).await?;
            let on = once(rows, plan, concurrency, true).await?;
            println!(
                "debugger log on/off: {on:.1} s / {off:.1} s = {:.3} ({:+.1}%)",
                on / off,
                (on / off - 1.0) * 100.0
            );
        }
    }
    Ok(())
}

/// One measured run; returns its time in seconds.
async fn once(rows: u64, plan: Plan, concurrency: usize, log: bool) -> anyhow::Result<f64> {
    println!("--- debugger log {}", if log { "on" } else { "off" });
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("warehouse.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await?;
    let script = format!(
        "CREATE TABLE products (handle TEXT PRIMARY KEY, title TEXT, vendor TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO products SELECT 'bench-' || i, 'Bench product ' || i, 'Bench' FROM n;"
    );
    sqlx::raw_sql(&script)
        .execute(&mut conn)
        .await
        .context("seeding the benchmark warehouse")?;
    let spec: ShopifySync = serde_yaml::from_str(&format!(
        r#"
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: bench}}
spec:
  destinationRef: {{name: bench}}
  source: {{url: "sqlite://{}", query: "SELECT handle, title, vendor FROM products"}}
  primaryKey: handle
  object: products
  mode: upsert
  mappings:
    - {{from: handle, to: handle}}
    - {{from: title, to: title}}
    - {{from: vendor, to: vendor}}
  schedule: {{manual: true}}
"#,
        db.display()
    ))?;
    let config = sync_config("bench/products", &spec.spec).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let emulator = Emulator::builder()
        .plan(plan)
        .token("shpat_bench")
        .start_on_loopback()
        .await?;
    let store = Store {
        base_url: emulator.base_url(),
        version: crate::core::config::ApiVersion::DEFAULT,
        token: "shpat_bench".into(),
    };
    let budget = Arc::new(CostBudget::new());
    let state = SqliteStateStore::open(&dir.path().join("state.db")).await?;
    let recorder = log.then(|| {
        CallRecorder::start(
            Arc::new(state.clone()),
            CallLimits::default(),
            crate::core::redact::global().clone(),
        )
    });
    let mut transport = Transport::new(store, budget.clone(), RetryPolicy::default())?;
    if let Some(r) = &recorder {
        transport = transport.with_call_log(Arc::new(r.clone()));
    }
    let client = ShopifyClient::new(transport, concurrency);
    let warehouse = SqlWarehouse::from_url(&config.id, &format!("sqlite://{}", db.display()))?;
    let started = Instant::now();
    let mut engine = Engine::new(&warehouse, &state, &client, "bench");
    if let Some(r) = &recorder {
        engine = engine.with_call_log(r);
    }
    let report = engine.run(&config).await?;
    let elapsed = started.elapsed().as_secs_f64();
    ensure!(report.error.is_none(), "the run failed: {:?}", report.error);
    let spent = budget.spent();
    let ceiling = ((spent - plan.bucket_size() as f64).max(0.0)) / plan.restore_rate() as f64;
    println!(
        "rows: {rows}, plan: {plan:?} (bucket {}, restore {}/s), concurrency {concurrency}",
        plan.bucket_size(),
        plan.restore_rate()
    );
    println!(
        "synced: {}, rejected: {}, unknown: {}",
        report.stats.succeeded,
        report.stats.rejected,
        report.unknown.len()
    );
    println!(
        "points spent: {spent:.0} ({:.2} per row); THROTTLED answers: {}",
        spent / rows.max(1) as f64,
        budget.throttles()
    );
    println!(
        "time: {elapsed:.1} s; rate-limit floor: {ceiling:.1} s; efficiency: {:.3}",
        if elapsed > 0.0 {
            ceiling / elapsed
        } else {
            0.0
        }
    );
    if let Some(r) = &recorder {
        let calls = state
            .run_calls_summary(None, 1)
            .await?
            .first()
            .map_or(0, |r| r.calls);
        println!(
            "debugger log: {} calls stored ({} in this run's record), {} dropped",
            r.stored(),
            calls,
            r.dropped()
        );
    }
    emulator.shutdown().await?;
    Ok(elapsed)
}
