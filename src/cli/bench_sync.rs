//! `shopsync bench sync`: product upserts against the emulator at a fixed plan, measured against the rate limit.
//!
//! Efficiency is the least time Shopify's leaky bucket allows for the points actually spent
//! (`(spent - bucket size) / restore rate`) over the measured time: 1.0 means every restored point was used.
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use sqlx::Connection;

use crate::api::{ShopifySync, sync_config};
use crate::core::calls::{CallLimits, CallLog, CallStore};
use crate::core::redact::Redactor;
use crate::emulator::{Emulator, Plan};
use crate::runner::{SyncRunner, Target};
use crate::shopify::Store;
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

/// What the benchmark runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Products to upsert.
    pub rows: u64,
    /// Requests in flight.
    pub concurrency: usize,
    /// Upserts per request.
    pub batch_size: usize,
    /// The sync's bulkThreshold; `None`: no bulk operation.
    pub bulk_threshold: Option<u64>,
}

/// Counts requests when the debugger log is off.
#[derive(Default)]
struct Counter(std::sync::atomic::AtomicU64);

impl crate::core::calls::CallLog for Counter {
    fn record(&self, _call: crate::core::calls::ApiCall) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(
    options: Options,
    plan: &str,
    log: LogMode,
    redactor: &Redactor,
) -> anyhow::Result<()> {
    let plan: Plan = plan.parse()?;
    match log {
        LogMode::On => {
            once(options, plan, true, redactor).await?;
        }
        LogMode::Off => {
            once(options, plan, false, redactor).await?;
        }
        LogMode::Both => {
            let off = once(options, plan, false, redactor).await?;
            let on = once(options, plan, true, redactor).await?;
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
async fn once(options: Options, plan: Plan, log: bool, redactor: &Redactor) -> anyhow::Result<f64> {
    let Options {
        rows,
        concurrency,
        batch_size,
        bulk_threshold,
    } = options;
    println!("--- debugger log {}", if log { "on" } else { "off" });
    // Without a threshold, one above the row count keeps every row out of bulk operations.
    let threshold = bulk_threshold.unwrap_or(rows + 1).max(1);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("warehouse.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await?;
    let script = format!(
        "CREATE TABLE products (handle TEXT PRIMARY KEY, title TEXT, vendor TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO products SELECT 'bench-' || i, 'Bench product ' || i, 'Bench' FROM n;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
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
  bulkThreshold: {threshold}
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
    let state = SqliteStateStore::open(&dir.path().join("state.db")).await?;
    let recorder = log.then(|| {
        CallRecorder::start(
            Arc::new(state.clone()),
            CallLimits::default(),
            redactor.clone(),
        )
    });
    let counter = Arc::new(Counter::default());
    let call_log: Arc<dyn CallLog> = match &recorder {
        Some(r) => Arc::new(r.clone()),
        None => counter.clone(),
    };
    let runner = SyncRunner::new(Arc::new(state.clone()), "bench", redactor.clone())
        .with_call_log(Some(call_log))
        .with_concurrency(concurrency)
        .with_batch_size(batch_size);
    let store_key = store.base_url.clone();
    let target = Target {
        store: &store,
        store_key: &store_key,
    };
    let budget = runner.budget(&store_key);
    let warehouse = SqlWarehouse::from_url(&config.id, &format!("sqlite://{}", db.display()))?;
    let started = Instant::now();
    let report = runner.run(&config, target, &warehouse).await?;
    let elapsed = started.elapsed().as_secs_f64();
    ensure!(report.error.is_none(), "the run failed: {:?}", report.error);
    let spent = budget.spent();
    let ceiling = ((spent - plan.bucket_size() as f64).max(0.0)) / plan.restore_rate() as f64;
    let bulk = rows >= threshold;
    println!(
        "rows: {rows}, plan: {plan:?} (bucket {}, restore {}/s), concurrency {concurrency}, batch size {batch_size}, path: {}",
        plan.bucket_size(),
        plan.restore_rate(),
        if bulk {
            format!("bulk operation (threshold {threshold})")
        } else {
            "requests".to_string()
        }
    );
    if recorder.is_none() {
        println!(
            "requests: {}",
            counter.0.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
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
    if bulk {
        // Bulk operations are exempt from the rate limit: compare with the floor of sending each row's
        // mutation (10 points) by request instead.
        let by_request = ((rows as f64 * 10.0 - plan.bucket_size() as f64).max(0.0))
            / plan.restore_rate() as f64;
        println!(
            "time: {elapsed:.1} s; rate-limit floor of the same rows by request: {by_request:.1} s ({:.1}x)",
            if elapsed > 0.0 {
                by_request / elapsed
            } else {
                0.0
            }
        );
    } else {
        println!(
            "time: {elapsed:.1} s; rate-limit floor: {ceiling:.1} s; efficiency: {:.3}",
            if elapsed > 0.0 {
                ceiling / elapsed
            } else {
                0.0
            }
        );
    }
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
