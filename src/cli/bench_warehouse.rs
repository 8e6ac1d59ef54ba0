//! `shopsync bench warehouse`: how fast a plan reads and diffs a large PostgreSQL model, compared with merely
//! copying the same query out with `psql \copy`, and how much memory it takes.
//!
//! Steps: create a table of `rows` rows and 10 columns; time `psql -c "\copy (QUERY) to /dev/null"`; plan against
//! an empty SQLite state store (a re-baseline) and commit the snapshot as if every row succeeded; change 1% of the
//! rows and delete 0.1%; time the copy again and plan again. The plans are the engine's own
//! ([`engine::plan_into`], as `shopsync plan` and `run` use it) for a customers sync mapping all nine non-key
//! columns, with the changes spilled to disk. Peak RSS is read from `VmHWM` in /proc/self/status (reset between
//! phases through /proc/self/clear_refs so each phase gets its own peak).
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures::TryStreamExt;
use sqlx::Executor;

use crate::core::config::{
    DeleteBehavior, DeleteGuard, FieldMapping, MappingSource, MappingTarget, MatchKey, ObjectKind,
    OnDuplicateKey, Schedule, SyncConfig, SyncMode, Target, ValueFormat,
};
use crate::core::engine;
use crate::core::mapping;
use crate::core::plan::{ChangeKind, PlanSummary};
use crate::core::source::{StreamRequest, Warehouse};
use crate::core::state::{Ownership, StateStore};
use crate::state::{SpillSink, SpilledChanges, SqliteStateStore};
use crate::warehouse::SqlWarehouse;

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// The PostgreSQL warehouse (`psql` must accept the same URL).
    pub postgres_url: String,
    /// Rows in the generated table.
    pub rows: u64,
    /// Where the SQLite state file and spill files go (a fresh directory is best).
    pub work_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            postgres_url: "postgres://postgres@127.0.0.1:5432/test".into(),
            rows: 1_000_000,
            work_dir: std::env::temp_dir(),
        }
    }
}

/// Timings and memory of one plan.
#[derive(Debug, Clone, Copy)]
pub struct PhaseReport {
    /// Wall time of the plan (state index load, query, mapping, hashing, diff, spill).
    pub plan: Duration,
    /// `psql \copy` of the same query, timed just before.
    pub copy: Duration,
    /// Loading the snapshot index from the state store alone, timed just before (the plan overlaps it with
    /// the start of the query).
    pub index_load: Duration,
    /// Reading the warehouse stream alone, with row digests but no decoding, mapping or diff, timed just before.
    pub drain: Duration,
    /// Peak resident memory during the plan, in KiB.
    pub peak_rss_kib: u64,
    /// Changes planned.
    pub changes: usize,
    /// Removals planned.
    pub removed: usize,
}

impl PhaseReport {
    /// Plan time over copy time.
    pub fn ratio(&self) -> f64 {
        self.plan.as_secs_f64() / self.copy.as_secs_f64().max(f64::EPSILON)
    }
}

/// The benchmark's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows in the table.
    pub rows: u64,
    /// The first plan (re-baseline).
    pub baseline: PhaseReport,
    /// Committing the baseline snapshot to SQLite.
    pub commit: Duration,
    /// Peak RSS while committing, KiB.
    pub commit_peak_rss_kib: u64,
    /// The second plan (1% changed, 0.1% removed).
    pub second: PhaseReport,
    /// The process's peak RSS over the whole run, KiB.
    pub peak_rss_kib: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = |f: &mut fmt::Formatter<'_>, name: &str, p: &PhaseReport| {
            writeln!(
                f,
                "{name:<16} plan {:>6.2}s  copy {:>5.2}s  (alone: index load {:.2}s, stream {:.2}s)  ratio {:>5.2}x  \
                 peak RSS {:>6.1} MiB  changes {} removed {}",
                p.plan.as_secs_f64(),
                p.copy.as_secs_f64(),
                p.index_load.as_secs_f64(),
                p.drain.as_secs_f64(),
                p.ratio(),
                p.peak_rss_kib as f64 / 1024.0,
                p.changes,
                p.removed
            )
        };
        writeln!(
            f,
            "warehouse benchmark: {} rows x 10 columns (PostgreSQL -> SQLite state)",
            self.rows
        )?;
        phase(f, "baseline plan", &self.baseline)?;
        writeln!(
            f,
            "{:<16} {:>8.2}s  peak RSS {:>6.1} MiB",
            "snapshot commit",
            self.commit.as_secs_f64(),
            self.commit_peak_rss_kib as f64 / 1024.0
        )?;
        phase(f, "second plan", &self.second)?;
        writeln!(
            f,
            "peak RSS over the run: {:.1} MiB",
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}

const SYNC: &str = "bench-customers";

/// A customers sync over the benchmark table: `id` the primary key, every other column mapped to a field.
fn sync_config(query: &str) -> SyncConfig {
    let column = |from: &str, to: &str| FieldMapping {
        target: MappingTarget::Field(to.into()),
        source: MappingSource::Column(from.into()),
        format: ValueFormat::Auto,
        on_null: Default::default(),
    };
    SyncConfig {
        id: SYNC.into(),
        destination: "bench".into(),
        query: query.into(),
        query_timeout: Duration::from_secs(3600),
        primary_key: "id".into(),
        target: Target::Object(ObjectKind::Customers),
        mode: SyncMode::Upsert,
        match_key: Some(MatchKey::Email),
        match_column: None,
        mappings: vec![
            column("email", "email"),
            column("first_name", "firstName"),
            column("last_name", "lastName"),
            column("city", "addresses.city"),
            column("phone", "phone"),
            column("amount", "metrics.amount"),
            column("quantity", "metrics.quantity"),
            column("active", "acceptsMarketing"),
            column("updated_at", "note"),
        ],
        delete_behavior: DeleteBehavior::DoNothing,
        delete_matched: false,
        delete_guard: DeleteGuard::DEFAULT,
        on_duplicate_key: OnDuplicateKey::RejectRows,
        bulk_threshold: 5000,
        schedule: Schedule::Manual,
        suspend: false,
        drift: Default::default(),
        management: Default::default(),
    }
}

/// Runs the benchmark.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let table = format!("shopsync_bench_{}", std::process::id());
    let query = format!(
        "SELECT id, email, first_name, last_name, city, phone, amount, quantity, active, updated_at FROM {table}"
    );
    let admin = sqlx::PgPool::connect(&options.postgres_url)
        .await
        .context("connecting to PostgreSQL")?;
    create_table(&admin, &table, options.rows).await?;
    let result = measure(options, &admin, &table, &query).await;
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
        .await;
    result
}

async fn measure(
    options: &Options,
    admin: &sqlx::PgPool,
    table: &str,
    query: &str,
) -> anyhow::Result<Report> {
    let dir = tempdir_in(&options.work_dir)?;
    let store = SqliteStateStore::open(&dir.join("state.db")).await?;
    let warehouse = SqlWarehouse::from_url(SYNC, &options.postgres_url)?;
    let sync = sync_config(query);

    let copy = time_copy(&options.postgres_url, query).await?;
    let drain = time_drain(&warehouse, &sync).await?;
    reset_peak();
    let (baseline_summary, spilled, plan) = plan_once(&warehouse, &store, &sync, &dir).await?;
    let baseline = PhaseReport {
        plan,
        copy,
        index_load: Duration::ZERO,
        drain,
        peak_rss_kib: peak_rss_kib(),
        changes: spilled.len(),
        removed: baseline_summary.removed.len(),
    };
    ensure!(
        baseline_summary.rebaseline,
        "the first plan should re-baseline"
    );
    ensure!(
        spilled.len() as u64 == options.rows,
        "baseline planned {} of {} rows",
        spilled.len(),
        options.rows
    );

    reset_peak();
    let started = Instant::now();
    commit_all(&store, &spilled, &baseline_summary).await?;
    let commit = started.elapsed();
    let commit_peak_rss_kib = peak_rss_kib();
    drop(spilled);

    // 1% changed, 0.1% removed; the two sets do not overlap (id % 100 = 0 versus id % 1000 = 7).
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET amount = amount + 1 WHERE id % 100 = 0"
        )))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE id % 1000 = 7"
        )))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
        .await?;

    let copy = time_copy(&options.postgres_url, query).await?;
    let drain = time_drain(&warehouse, &sync).await?;
    let index_load = time_index_load(&store).await?;
    reset_peak();
    let (summary, spilled, plan) = plan_once(&warehouse, &store, &sync, &dir).await?;
    let second = PhaseReport {
        plan,
        copy,
        index_load,
        drain,
        peak_rss_kib: peak_rss_kib(),
        changes: spilled.len(),
        removed: summary.removed.len(),
    };
    let changed = spilled.iter()?.try_fold(0u64, |n, c| {
        c.map(|c| n + u64::from(c.kind == ChangeKind::Changed))
    })?;
    ensure!(
        changed == options.rows / 100,
        "expected {} changed rows, planned {changed}",
        options.rows / 100
    );
    let deleted = if options.rows >= 7 {
        (options.rows - 7) / 1000 + 1
    } else {
        0
    };
    ensure!(
        summary.removed.len() as u64 == deleted,
        "expected {deleted} removed rows, planned {}",
        summary.removed.len()
    );
    drop(spilled);
    let _ = std::fs::remove_dir_all(&dir);
    let peak = baseline
        .peak_rss_kib
        .max(commit_peak_rss_kib)
        .max(second.peak_rss_kib);
    Ok(Report {
        rows: options.rows,
        baseline,
        commit,
        commit_peak_rss_kib,
        second,
        peak_rss_kib: peak,
    })
}

async fn create_table(admin: &sqlx::PgPool, table: &str, rows: u64) -> anyhow::Result<()> {
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(
            format!(
                "CREATE TABLE {table} (id bigint PRIMARY KEY, email text NOT NULL, first_name text, last_name text, \
                 city text, phone text, amount numeric(12,2), quantity integer, active boolean, \
                 updated_at timestamptz)"
            )),
        )
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(
            format!(
                "INSERT INTO {table} SELECT g, 'user' || g || '@example.com', 'First' || g, 'Last' || (g % 1000), \
                 (ARRAY['Paris','Berlin','Oslo','Lima'])[1 + g % 4], '+1555' || lpad(g::text, 7, '0'), \
                 (g % 100000) / 100.0, g % 50, g % 3 = 0, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' \
                 FROM generate_series(1, {rows}) g"
            )),
        )
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
        .await?;
    Ok(())
}

async fn plan_once(
    warehouse: &SqlWarehouse,
    store: &SqliteStateStore,
    sync: &SyncConfig,
    dir: &std::path::Path,
) -> anyhow::Result<(PlanSummary, SpilledChanges, Duration)> {
    let started = Instant::now();
    let (summary, sink) =
        engine::plan_into(warehouse, store, sync, SpillSink::create(dir)?).await?;
    let spilled = sink.finish()?;
    Ok((summary, spilled, started.elapsed()))
}

/// Reads every row of the query with digests, as a plan does, and drops it: the floor under any plan.
async fn time_drain(warehouse: &SqlWarehouse, sync: &SyncConfig) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let request =
        StreamRequest::new(SYNC, sync.query.clone()).with_digest_seed(mapping::fingerprint(sync));
    let mut rows = warehouse.stream(&request).await?.rows;
    while rows.try_next().await?.is_some() {}
    Ok(started.elapsed())
}

/// Loads the snapshot index alone.
async fn time_index_load(store: &SqliteStateStore) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let index = store.load_index(SYNC, false).await?;
    let elapsed = started.elapsed();
    drop(index);
    Ok(elapsed)
}

/// Commits the plan as if Shopify accepted every change, in chunks.
async fn commit_all(
    store: &SqliteStateStore,
    spilled: &SpilledChanges,
    summary: &PlanSummary,
) -> anyhow::Result<()> {
    let mut chunk = Vec::with_capacity(50_000);
    for change in spilled.iter()? {
        let change = change?;
        let id = format!("gid://shopify/Customer/{}", change.key);
        chunk.push(change.succeeded(Some(id), Ownership::Created));
        if chunk.len() == chunk.capacity() {
            store.commit_snapshot(SYNC, &chunk).await?;
            chunk.clear();
        }
    }
    chunk.extend(summary.removed.iter().map(|r| r.forget()));
    chunk.extend(summary.source_refreshes.iter().cloned());
    store.commit_snapshot(SYNC, &chunk).await?;
    Ok(())
}

async fn time_copy(url: &str, query: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let output = tokio::process::Command::new("psql")
        .arg(url)
        .arg("-X")
        .arg("-q")
        .arg("-c")
        .arg(format!("\\copy ({query}) to /dev/null"))
        .output()
        .await
        .context("running psql")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "psql \\copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn tempdir_in(parent: &std::path::Path) -> anyhow::Result<PathBuf> {
    let dir = parent.join(format!("shopsync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak() {
    // Writing 5 resets VmHWM to the current RSS (Linux); without it the peaks are cumulative, which only
    // overstates later phases.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
