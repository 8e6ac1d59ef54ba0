//! `shopsync run`: run syncs from spec files, once or on their schedules, with no cluster.
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use super::debugger::DebuggerLogArgs;
use super::specs::{self, ResolvedSync};
use crate::core::calls::CallLog;
use crate::core::engine::{Engine, RunReport};
use crate::core::progress::Progress;
use crate::core::redact;
use crate::core::state::RunStatus;
use crate::shopify::{CostBudget, RetryPolicy, ShopifyClient, Transport};
use crate::state::SqliteStateStore;
use crate::warehouse::SqlWarehouse;

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
}

/// Runs the syncs; exit 0 when every run finished (rejected rows included), 1 when any run failed.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let syncs = specs::load(&args.specs.paths, &args.specs.only)?;
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
    let recorder = args.debugger.recorder(Arc::new(state.clone()));
    let mut budgets: HashMap<String, Arc<CostBudget>> = HashMap::new();
    let mut clients = Vec::new();
    for s in &syncs {
        let budget = budgets
            .entry(s.store_key.clone())
            .or_insert_with(|| Arc::new(CostBudget::new()))
            .clone();
        let mut transport = Transport::new(s.store.clone(), budget, RetryPolicy::default())?;
        if let Some(r) = &recorder {
            transport = transport.with_call_log(Arc::new(r.clone()));
        }
        clients.push(ShopifyClient::new(transport, args.concurrency));
    }
    let holder = format!("shopsync-run-{}", std::process::id());
    let progress = super::progress::for_stderr();
    let mut reports: Vec<RunReport> = Vec::new();
    let mut failed = false;
    let mut next_due: Vec<Option<chrono::DateTime<Utc>>> = vec![Some(Utc::now()); syncs.len()];
    loop {
        for (i, s) in syncs.iter().enumerate() {
            if next_due[i].is_none_or(|due| due > Utc::now()) {
                continue;
            }
            let log = recorder.as_ref().map(|r| r as &dyn CallLog);
            let report = run_one(
                s,
                &state,
                &clients[i],
                &holder,
                log,
                Some(progress.as_ref()),
            )
            .await;
            print_line(&report);
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
        let Some(wake) = next_due.iter().flatten().min().copied() else {
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

pub(super) async fn run_one(
    s: &ResolvedSync,
    state: &SqliteStateStore,
    client: &ShopifyClient,
    holder: &str,
    call_log: Option<&dyn CallLog>,
    progress: Option<&dyn Progress>,
) -> RunReport {
    let started = Utc::now();
    let failed =
        |e: String| RunReport::failed(&s.config.id, started, redact::global().redact_owned(e));
    let warehouse = match SqlWarehouse::from_url(&s.config.id, &s.warehouse_url) {
        Ok(w) => w,
        Err(e) => return failed(e.to_string()),
    };
    let mut engine = Engine::new(&warehouse, state, client, holder);
    if let Some(log) = call_log {
        engine = engine.with_call_log(log);
    }
    if let Some(p) = progress {
        engine = engine.with_progress(p);
    }
    match engine.run(&s.config).await {
        Ok(report) => report,
        Err(e) => failed(e.to_string()),
    }
}

pub(super) fn print_line(r: &RunReport) {
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
        println!("    error: {}", redact::global().redact(e));
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
            redact::global().redact(&rej.message),
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
