//! `shopsync debugger`: the runs of a sync, the Shopify calls of a run, every call about a primary key, and a
//! run's calls as JSON or CSV. Reads the local SQLite state or the controller's PostgreSQL state.
//!
//! Also the `--debugger-*` flags `run` takes, and how they become a [`CallRecorder`].
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::core::calls::{CallLimits, CallStore, StoredCall, export};
use crate::core::redact::Redactor;
use crate::core::state::{SnapshotEntry, StateStore};
use crate::state::{CallRecorder, PostgresStateStore, SqliteStateStore};
use anyhow::{Context, bail};
use futures::StreamExt;

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// The debugger log's settings for `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct DebuggerLogArgs {
    /// Record every Shopify request and answer of each run in the state (see `shopsync debugger`).
    #[arg(long = "debugger-log", value_enum, default_value = "on")]
    pub debugger_log: Switch,
    /// How long recorded calls are kept, e.g. 7d, 12h.
    #[arg(long = "debugger-retention", default_value = "7d", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// At most this many calls kept per sync (the oldest go first).
    #[arg(long = "debugger-max-calls", default_value_t = CallLimits::default().max_calls_per_sync)]
    pub max_calls: u64,
    /// At most this much call data kept per sync: bytes, or with a KiB, MiB or GiB suffix.
    #[arg(long = "debugger-max-bytes", default_value = "256MiB", value_parser = parse_bytes)]
    pub max_bytes: u64,
}

impl DebuggerLogArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> CallLimits {
        CallLimits {
            retention: self.retention,
            max_calls_per_sync: self.max_calls,
            max_bytes_per_sync: self.max_bytes,
        }
    }

    /// A recorder writing into `store` through `redactor`, or none when the log is off.
    pub fn recorder(&self, store: Arc<dyn CallStore>, redactor: &Redactor) -> Option<CallRecorder> {
        (self.debugger_log == Switch::On)
            .then(|| CallRecorder::start(store, self.limits(), redactor.clone()))
    }
}

impl Default for DebuggerLogArgs {
    fn default() -> Self {
        let limits = CallLimits::default();
        DebuggerLogArgs {
            debugger_log: Switch::On,
            retention: limits.retention,
            max_calls: limits.max_calls_per_sync,
            max_bytes: limits.max_bytes_per_sync,
        }
    }
}

/// `1024`, `64KiB`, `256MiB`, `2GiB` (also KB/MB/GB as powers of 1000).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size: use e.g. 1048576, 512KiB, 256MiB, 1GiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit `{other}` in `{s}`")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Arguments of `shopsync debugger`.
#[derive(Debug, clap::Args)]
pub struct DebuggerArgs {
    /// The SQLite state file `run` wrote.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = ".shopsync/state.db",
        env = "SHOPSYNC_STATE"
    )]
    state: PathBuf,
    /// Read a PostgreSQL state store instead (the controller's), e.g. postgres://user@host:5432/shopsync.
    #[arg(long, global = true, value_name = "URL", env = "SHOPSYNC_STATE_URL")]
    state_url: Option<String>,
    /// The PostgreSQL schema holding the state tables, when not the default.
    #[arg(long, global = true, value_name = "SCHEMA", requires = "state_url")]
    state_schema: Option<String>,
    #[command(subcommand)]
    command: DebuggerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DebuggerCommand {
    /// Runs with their statistics and call totals, newest first.
    Runs {
        /// Only this sync (`namespace/name`, or the name alone).
        #[arg(long, value_name = "NAME")]
        sync: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// The Shopify calls of a run, one line each.
    Calls {
        /// The run's id (from `shopsync debugger runs`).
        run_id: i64,
        /// Also print each call's URL, GraphQL document, variables and answer.
        #[arg(long)]
        full: bool,
    },
    /// Every kept call about one primary key of a sync, oldest first.
    Key {
        /// The row's primary key, as the warehouse gives it.
        key: String,
        /// The sync (`namespace/name`, or the name alone).
        #[arg(long, value_name = "NAME")]
        sync: String,
        /// Also print each call's URL, GraphQL document, variables and answer.
        #[arg(long)]
        full: bool,
    },
    /// A run's calls as JSON or CSV.
    Export {
        /// The run's id.
        run_id: i64,
        /// The format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// `{"run": ..., "calls": [...]}`.
    Json,
    /// One row per call, with a header.
    Csv,
}

/// A state store read for its debugger log and its snapshot (the key's ownership).
trait DebugStore: CallStore + StateStore {}

impl<T: CallStore + StateStore> DebugStore for T {}

/// How the sync knows `key` now: its snapshot entry, found by a scan (an interactive command, once per call).
async fn snapshot_entry(
    store: &dyn DebugStore,
    sync: &str,
    key: &str,
) -> anyhow::Result<Option<SnapshotEntry>> {
    // A sync named without its namespace is the one in `default`, as for the calls.
    let mut names = vec![sync.to_string()];
    if !sync.contains('/') {
        names.push(format!("default/{sync}"));
    }
    for name in &names {
        let mut entries = store.snapshot(name);
        while let Some(entry) = entries.next().await {
            let entry = entry?;
            if entry.key == key {
                return Ok(Some(entry));
            }
        }
    }
    Ok(None)
}

async fn open(args: &DebuggerArgs, redactor: &Redactor) -> anyhow::Result<Box<dyn DebugStore>> {
    if let Some(url) = &args.state_url {
        redactor.add_url(url);
        let store = PostgresStateStore::connect_in_schema(url, args.state_schema.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("{}", redactor.redact(&e.to_string())))
            .context("opening the PostgreSQL state")?;
        return Ok(Box::new(store));
    }
    if !args.state.exists() {
        bail!(
            "no state file at {}: run a sync first, or point --state (or --state-url) at the state",
            args.state.display()
        );
    }
    let store = SqliteStateStore::open(&args.state)
        .await
        .with_context(|| format!("opening the state file {}", args.state.display()))?;
    Ok(Box::new(store))
}

/// Runs `shopsync debugger`.
pub async fn run(args: DebuggerArgs, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    let store = open(&args, redactor).await?;
    let mut out = std::io::stdout().lock();
    match &args.command {
        DebuggerCommand::Runs { sync, limit } => {
            let runs = store.run_calls_summary(sync.as_deref(), *limit).await?;
            if runs.is_empty() {
                writeln!(
                    out,
                    "no runs{}",
                    sync.as_ref()
                        .map(|s| format!(" of sync {s}"))
                        .unwrap_or_default()
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "{:>6}  {:<32} {:<24} {:>8}  {:<20} {:>7} {:>7} {:>8}  {:>6} {:>6} {:>7} {:>8}",
                "RUN",
                "SYNC",
                "STARTED (UTC)",
                "TOOK",
                "STATUS",
                "QUERIED",
                "SYNCED",
                "REJECTED",
                "CALLS",
                "FAILED",
                "RETRIES",
                "COST"
            )?;
            for r in &runs {
                let took = r
                    .run
                    .finished_at
                    .map(|f| {
                        let ms = (f - r.run.started_at).num_milliseconds();
                        format!("{:.1}s", ms as f64 / 1000.0)
                    })
                    .unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{:>6}  {:<32} {:<24} {:>8}  {:<20} {:>7} {:>7} {:>8}  {:>6} {:>6} {:>7} {:>8.0}",
                    r.run.id,
                    r.run.sync,
                    r.run.started_at.format("%Y-%m-%d %H:%M:%S"),
                    took,
                    r.run.status.as_str(),
                    r.run.stats.rows_queried,
                    r.run.stats.succeeded,
                    r.run.stats.rejected,
                    r.calls,
                    r.failed,
                    r.retries,
                    r.cost
                )?;
                if let Some(e) = &r.run.error {
                    writeln!(out, "        error: {}", redactor.redact(e))?;
                }
            }
        }
        DebuggerCommand::Calls { run_id, full } => {
            let calls = store.calls_of_run(*run_id).await?;
            if calls.is_empty() {
                writeln!(
                    out,
                    "no calls recorded for run {run_id} (no such run, the log was off, or they aged out)"
                )?;
            }
            for c in &calls {
                print_call(&mut out, c, *full)?;
            }
        }
        DebuggerCommand::Key { key, sync, full } => {
            match snapshot_entry(store.as_ref(), sync, key).await? {
                Some(e) => match &e.shopify_id {
                    Some(id) => writeln!(
                        out,
                        "key {key:?} of sync {sync}: {} record {id}, last attempt {}",
                        e.ownership,
                        e.outcome.as_str()
                    )?,
                    None => writeln!(
                        out,
                        "key {key:?} of sync {sync}: no record in Shopify yet, last attempt {}",
                        e.outcome.as_str()
                    )?,
                },
                None => writeln!(
                    out,
                    "key {key:?} is not in the snapshot of sync {sync} (not synced yet, forgotten, or an event or action key)"
                )?,
            }
            let calls = store.calls_for_key(sync, key).await?;
            if calls.is_empty() {
                writeln!(out, "no calls recorded about key {key:?} of sync {sync}")?;
            }
            for c in &calls {
                print_call(&mut out, c, *full)?;
            }
        }
        DebuggerCommand::Export {
            run_id,
            format,
            output,
        } => {
            let calls = store.calls_of_run(*run_id).await?;
            let text = match format {
                ExportFormat::Json => export::to_json(*run_id, &calls, redactor),
                ExportFormat::Csv => export::to_csv(&calls, redactor),
            };
            match output {
                Some(path) => {
                    std::fs::write(path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "{} calls of run {run_id} written to {}",
                        calls.len(),
                        path.display()
                    );
                }
                None => out.write_all(text.as_bytes())?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_call(out: &mut impl Write, c: &StoredCall, full: bool) -> std::io::Result<()> {
    let call = &c.call;
    let status = call
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "---".into());
    let cost = match (call.cost_requested, call.cost_actual) {
        (Some(r), Some(a)) => format!("cost {a:.0}/{r:.0}"),
        (Some(r), None) => format!("cost -/{r:.0}"),
        _ => "cost -".into(),
    };
    let keys = if call.keys.is_empty() {
        String::new()
    } else {
        format!("  keys {}", call.keys.join(","))
    };
    writeln!(
        out,
        "#{:<7} run {:<5} {} {:<4} {:<32} {} {:>9.1}ms  {:<13} attempt {}{}{}",
        c.id,
        call.run_id
            .map(|r| r.to_string())
            .unwrap_or_else(|| "-".into()),
        call.started_at.format("%H:%M:%S%.3f"),
        call.method,
        call.operation.as_deref().unwrap_or("-"),
        status,
        call.duration_us as f64 / 1000.0,
        cost,
        call.attempt,
        keys,
        call.error
            .as_ref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default()
    )?;
    if full {
        writeln!(out, "    {} {}", call.method, call.url)?;
        if let Some(d) = &call.document {
            writeln!(out, "    document:")?;
            for line in d.lines() {
                writeln!(out, "      {line}")?;
            }
        }
        if let Some(v) = &call.variables {
            writeln!(out, "    variables: {v}")?;
        }
        if let Some(r) = &call.response {
            writeln!(out, "    response: {r}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("5MB"), Ok(5_000_000));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }
}
