//! `shopsync run`: run syncs from spec files, once or on their schedules, with no cluster.
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use super::debugger::DebuggerLogArgs;
use super::specs::{self, ResolvedSync};
use crate::alerts::{AlertOutcome, Notifier, prune_history};
use crate::core::alerts::DEFAULT_RUN_HISTORY;
use crate::core::calls::CallLog;
use crate::core::engine::LOCK_TTL;
use crate::core::redact::Redactor;
use crate::core::report::RunReport;
use crate::core::state::{Lease, RunStatus, StateError, StateStore};
use crate::runner::{SyncRunner, Target};
use crate::state::SqliteStateStore;

/// Arguments of `shopsync run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    specs: specs::SpecArgs,
    /// Run each sync once and exit (the default).
    #[arg(long, conflicts_with = "watch")]
    once: bool,
    /// Keep running, each sync on its schedule, until interrupted.
    #[arg(long)]
    watch: bool,
    /// Requests in flight per sync.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[command(flatten)]
    debugger: DebuggerLogArgs,
    /// Runs kept per sync in the state's run history (older ones go once the debugger log no longer needs them).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RUN_HISTORY, value_parser = clap::value_parser!(u32).range(1..))]
    run_history: u32,
}

/// Runs the syncs; exit 0 when every run finished (rejected rows included), 1 when any run failed.
pub async fn run(args: RunArgs, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    let syncs = in_dependency_order(specs::load(&args.specs.paths, &args.specs.only, redactor)?)?;
    let mut alerts = Vec::new();
    for s in &syncs {
        alerts.push(s.alerts.clone().map_err(|e| anyhow::anyhow!(e))?);
    }
    let notifier = Notifier::new()?.with_redactor(redactor.clone());
    if let Some(dir) = args
        .specs
        .state
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let state = SqliteStateStore::open(&args.specs.state)
        .await
        .with_context(|| format!("opening the state file {}", args.specs.state.display()))?;
    let recorder = args.debugger.recorder(Arc::new(state.clone()), redactor);
    let runner = SyncRunner::new(Arc::new(state.clone()), holder(), redactor.clone())
        .with_call_log(recorder.map(|r| Arc::new(r) as Arc<dyn CallLog>))
        .with_progress(Arc::from(super::progress::for_stderr()))
        .with_concurrency(args.concurrency);
    let mut reports: Vec<RunReport> = Vec::new();
    let mut failed = false;
    let mut next_due: Vec<Option<chrono::DateTime<Utc>>> = vec![Some(Utc::now()); syncs.len()];
    // When each sync turns late if no run succeeds before: the watch loop wakes up then to say so.
    let mut late_at: Vec<Option<chrono::DateTime<Utc>>> = vec![None; syncs.len()];
    loop {
        for (i, s) in syncs.iter().enumerate() {
            if next_due[i].is_none_or(|due| due > Utc::now()) {
                if let Some(a) = &alerts[i]
                    && late_at[i].is_some_and(|t| t <= Utc::now())
                {
                    let now = Utc::now();
                    let outcome = notifier.check_late(&state, a, now).await;
                    print_alerts(&outcome);
                    late_at[i] = outcome.late_at.filter(|t| *t > now);
                }
                continue;
            }
            if let Some(why) = waits_for(&state, s).await {
                // A dependency failed (or never ran): running on its stale result would do harm.
                eprintln!("{}: skipped, {why}", s.config.id);
                failed = true;
                next_due[i] = if args.watch {
                    s.config.schedule.next_after(Utc::now())
                } else {
                    None
                };
                continue;
            }
            reclaim_lock(&state, &s.config.id).await;
            let report = run_one(&runner, s).await;
            print_line(&report, redactor);
            prune_history(&state, &s.config.id, args.run_history).await;
            if let Some(a) = &alerts[i] {
                let outcome = notifier.after_run(&state, a, &report).await;
                print_alerts(&outcome);
                late_at[i] = outcome.late_at.filter(|t| *t > report.finished_at);
            }
            failed |= report.status == RunStatus::Failed;
            next_due[i] = if args.watch {
                s.config.schedule.next_after(report.started_at)
            } else {
                None
            };
            reports.push(report);
        }
        if !args.watch {
            break;
        }
        let Some(wake) = next_due.iter().chain(&late_at).flatten().min().copied() else {
            eprintln!("every sync is manual: nothing left to schedule");
            break;
        };
        let wait = (wake - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: stopping after the last finished run");
                break;
            }
        }
    }
    print_summary(&reports);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `syncs` with every sync after those it depends on (`spec.dependsOn`); dependencies left out by `--only` do
/// not order anything (their latest run in the state still gates the sync).
fn in_dependency_order(syncs: Vec<ResolvedSync>) -> anyhow::Result<Vec<ResolvedSync>> {
    let loaded: Vec<Vec<String>> = syncs
        .iter()
        .map(|s| {
            s.depends_on
                .iter()
                .filter(|d| syncs.iter().any(|o| &o.config.id == *d))
                .cloned()
                .collect()
        })
        .collect();
    let nodes: Vec<crate::core::order::Node<'_>> = syncs
        .iter()
        .zip(&loaded)
        .map(|(s, d)| (s.config.id.as_str(), d.as_slice()))
        .collect();
    let order = crate::core::order::run_order(&nodes)?;
    let mut slots: Vec<Option<ResolvedSync>> = syncs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Why `s` must not run now (a dependency's latest run in the state failed, is running or does not exist),
/// or `None` when it may.
async fn waits_for(state: &SqliteStateStore, s: &ResolvedSync) -> Option<String> {
    use crate::core::order::{Gate, LatestRun, may_run};
    use crate::core::state::StateStore;
    if s.depends_on.is_empty() {
        return None;
    }
    let mut syncs = vec![(s.config.id.clone(), s.depends_on.clone(), LatestRun::None)];
    for dep in &s.depends_on {
        let latest = match state.runs(dep, 1).await {
            Ok(runs) => match runs.first().map(|r| r.status) {
                None => LatestRun::None,
                Some(RunStatus::Running) => LatestRun::Running,
                Some(RunStatus::Failed) => LatestRun::Failed,
                Some(RunStatus::Succeeded | RunStatus::PartiallySucceeded) => LatestRun::Finished,
            },
            Err(e) => return Some(format!("the state cannot say how {dep} last ran: {e}")),
        };
        syncs.push((dep.clone(), Vec::new(), latest));
    }
    match may_run(&s.config.id, &syncs) {
        Gate::Open => None,
        Gate::Wait(why) | Gate::Stalled(why) => Some(why),
    }
}

/// Runs one resolved sync through `runner`: every failure ends in a failed report.
/// The lock holder this process runs as: its pid and host, so that a later `shopsync run` on the same host
/// can tell a lock left by a killed run (its process is gone) from one a live run holds.
fn holder() -> String {
    format!("{HOLDER_PREFIX}{}@{}", std::process::id(), host())
}

const HOLDER_PREFIX: &str = "shopsync-run-";

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether `holder` names a `shopsync run` of this host whose process is gone (killed before it could release
/// its locks). Only where processes can be looked up (Linux); elsewhere a lock lapses after its lease.
fn dead_holder(holder: &str) -> bool {
    let Some((pid, host)) = holder
        .strip_prefix(HOLDER_PREFIX)
        .and_then(|rest| rest.split_once('@'))
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    cfg!(target_os = "linux")
        && host == self::host()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Releases `sync`'s lock when a `shopsync run` that is gone left it, so that the run after a crash need not
/// wait out the lease. A live holder's lock is left alone (the run then reports it).
async fn reclaim_lock(state: &SqliteStateStore, sync: &str) {
    match state
        .acquire_lock(sync, &holder(), LOCK_TTL, Utc::now())
        .await
    {
        Ok(lease) => {
            let _ = state.release_lock(&lease).await;
        }
        Err(StateError::LockHeld {
            holder: other,
            expires_at,
            ..
        }) if dead_holder(&other) => {
            eprintln!("{sync}: taking over the lock of `{other}`, a run that is no longer running");
            let lease = Lease {
                sync: sync.to_string(),
                holder: other,
                expires_at,
            };
            if let Err(e) = state.release_lock(&lease).await {
                eprintln!("{sync}: could not release the stale lock: {e}");
            }
        }
        Err(_) => {}
    }
}

pub(super) async fn run_one(runner: &SyncRunner, s: &ResolvedSync) -> RunReport {
    let target = Target {
        store: &s.store,
        store_key: &s.store_key,
    };
    runner.run_url(&s.config, target, &s.warehouse_url).await
}

pub(super) fn print_line(r: &RunReport, redactor: &Redactor) {
    let status = match r.status {
        RunStatus::Succeeded => "ok",
        RunStatus::PartiallySucceeded => "partial",
        RunStatus::Failed => "FAILED",
        RunStatus::Running => "running",
    };
    println!(
        "{:<40} {:<8} queried {:>6}  added {:>5}  changed {:>5}  removed {:>5}  synced {:>5}  rejected {:>5}  {:.1}s",
        r.sync,
        status,
        r.stats.rows_queried,
        r.stats.added,
        r.stats.changed,
        r.stats.removed,
        r.stats.succeeded,
        r.stats.rejected,
        r.duration().as_secs_f64()
    );
    if let Some(e) = &r.error {
        println!("    error: {}", redactor.redact(e));
    }
    if r.observed {
        println!(
            "    observe only (managementPolicy: Observe): the counts are what a run would do; nothing was written"
        );
    }
    if let Some(d) = &r.drift {
        println!("    drift ({}): {}", d.policy, d.line());
        for rec in d.records.iter().take(5) {
            let fields: Vec<String> = rec
                .fields
                .iter()
                .map(|f| format!("{} {} -> {} in Shopify", f.field, f.last_applied, f.shopify))
                .collect();
            println!(
                "    {} {}{}",
                rec.state.as_str(),
                rec.key,
                if fields.is_empty() {
                    String::new()
                } else {
                    format!(": {}", fields.join("; "))
                }
            );
        }
    }
    if let Some(d) = &r.refused_deletes {
        println!("    deletes refused: {d}");
    }
    for rej in r.rejections.iter().take(5) {
        let field = if rej.field.is_empty() {
            String::new()
        } else {
            format!(" [{}]", rej.field.join("."))
        };
        println!(
            "    rejected {}{field}: {}{}",
            rej.key.as_deref().unwrap_or("(no key)"),
            redactor.redact(&rej.message),
            rej.code
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
    }
    if r.rejections.len() > 5 {
        println!(
            "    ... {} more rejected rows",
            r.stats.rejected.saturating_sub(5)
        );
    }
    for key in r.unknown.iter().take(5) {
        println!("    unknown outcome for {key}: sent, but the answer was lost; not resent");
    }
}

/// The alert notifications of a run and how their deliveries went; state store problems too.
pub(super) fn print_alerts(outcome: &AlertOutcome) {
    for n in &outcome.notifications {
        println!("    alert {}: {}", n.transition.as_str(), n.title());
    }
    for d in outcome.failed_deliveries() {
        println!(
            "    alert delivery FAILED ({}, {} attempts): {}",
            d.target,
            d.attempts,
            d.error.as_deref().unwrap_or_default()
        );
    }
    if let Some(e) = &outcome.error {
        println!("    alerts: {e}");
    }
}

pub(super) fn print_summary(reports: &[RunReport]) {
    if reports.is_empty() {
        return;
    }
    let total = |f: fn(&RunReport) -> u64| reports.iter().map(f).sum::<u64>();
    println!(
        "\n{} run(s): {} ok, {} partial, {} failed; {} rows queried, {} synced, {} rejected, {} writes to Shopify",
        reports.len(),
        reports
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .count(),
        reports
            .iter()
            .filter(|r| r.status == RunStatus::PartiallySucceeded)
            .count(),
        reports
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
            .count(),
        total(|r| r.stats.rows_queried),
        total(|r| r.stats.succeeded),
        total(|r| r.stats.rejected),
        total(|r| r.writes),
    );
}
