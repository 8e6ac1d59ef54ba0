//! `shopsync quickstart`: the main job end to end on embedded defaults. A SQLite warehouse seeded from
//! examples/warehouse, the built-in emulator seeded with the demo store, every example sync run once.
//!
//! The emulator's store is saved next to the state when the command ends and restored when it starts, so a
//! second run finds both sides as the first left them, and writes nothing.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sqlx::Connection;

use super::debugger::DebuggerLogArgs;
use super::run::{print_line, print_summary, run_one};
use super::specs;
use crate::core::calls::CallLog;
use crate::core::redact::Redactor;
use crate::emulator::seed::Fixture;
use crate::emulator::store::State;
use crate::emulator::{Emulator, Plan};
use crate::runner::SyncRunner;
use crate::state::SqliteStateStore;

/// The token in examples/secrets.yaml, which the demo store accepts.
const DEMO_TOKEN: &str = "shpat_emulator_demo_token";

/// Arguments of `shopsync quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// The example specs.
    #[arg(long, default_value = "examples")]
    examples: PathBuf,
    /// Where the warehouse, the state and the emulator's store are kept between runs.
    #[arg(long, default_value = ".shopsync/quickstart")]
    dir: PathBuf,
    /// Start over: a new warehouse, an empty state and a freshly seeded store.
    #[arg(long)]
    fresh: bool,
}

/// Runs every example sync against the emulator.
pub async fn run(args: QuickstartArgs, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    if !args.examples.join("warehouse/seed.sqlite.sql").exists() {
        bail!(
            "{} has no warehouse/seed.sqlite.sql: run the quickstart from the repository root",
            args.examples.display()
        );
    }
    if args.fresh && args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("removing {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let warehouse = args.dir.join("warehouse.db");
    let warehouse_url = format!("sqlite://{}", warehouse.display());
    if !warehouse.exists() {
        seed_warehouse(&warehouse, &args.examples.join("warehouse/seed.sqlite.sql")).await?;
        println!("seeded the example warehouse: {}", warehouse.display());
    }

    let seed_path = args.examples.join("emulator/demo-store.json");
    let seed =
        std::fs::read(&seed_path).with_context(|| format!("reading {}", seed_path.display()))?;
    let fixture = Fixture::parse(&seed, &seed_path.display().to_string())?;
    let emulator = Emulator::builder()
        .plan(Plan::Standard)
        .token(DEMO_TOKEN)
        .shop("demo.myshopify.com")
        .seed(fixture)
        .start_on_loopback()
        .await?;
    let saved = args.dir.join("emulator-store.json");
    if saved.exists() {
        let text = std::fs::read_to_string(&saved)
            .with_context(|| format!("reading {}", saved.display()))?;
        let mut state: State = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a saved store", saved.display()))?;
        // Indexes are not saved; a restored store rebuilds them.
        state.reindex();
        emulator.shared().lock().state = state;
        println!(
            "emulator: {} (demo store restored from {})",
            emulator.base_url(),
            saved.display()
        );
    } else {
        println!(
            "emulator: {} (demo store seeded from {})",
            emulator.base_url(),
            seed_path.display()
        );
    }

    let mut syncs = specs::load(std::slice::from_ref(&args.examples), &[], redactor)?;
    let state = SqliteStateStore::open(&args.dir.join("state.db")).await?;
    // The quickstart keeps its debugger log: `shopsync debugger runs --state .shopsync/quickstart/state.db`.
    let recorder =
        DebuggerLogArgs::default().recorder(std::sync::Arc::new(state.clone()), redactor);
    let runner = SyncRunner::new(
        std::sync::Arc::new(state.clone()),
        "shopsync-quickstart",
        redactor.clone(),
    )
    .with_call_log(recorder.map(|r| std::sync::Arc::new(r) as std::sync::Arc<dyn CallLog>))
    .with_progress(std::sync::Arc::from(super::progress::for_stderr()));
    let mut reports = Vec::new();
    for s in &mut syncs {
        // The examples point at a fixed local endpoint and file; the quickstart owns both. One store key, so
        // every sync draws on one cost budget, as they would against one store.
        s.store.base_url = emulator.base_url();
        s.store_key = emulator.base_url();
        s.warehouse_url = warehouse_url.clone();
        let report = run_one(&runner, s).await;
        print_line(&report, redactor);
        reports.push(report);
    }
    print_summary(&reports);
    println!(
        "debugger log: shopsync debugger runs --state {}",
        args.dir.join("state.db").display()
    );
    println!(
        "the store received {} writes in this run",
        emulator.write_count()
    );
    std::fs::write(&saved, serde_json::to_vec(&emulator.dump())?)
        .with_context(|| format!("writing {}", saved.display()))?;
    emulator.shutdown().await?;
    let failed = reports
        .iter()
        .any(|r| r.status == crate::core::state::RunStatus::Failed);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn seed_warehouse(path: &Path, sql: &Path) -> anyhow::Result<()> {
    let script =
        std::fs::read_to_string(sql).with_context(|| format!("reading {}", sql.display()))?;
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .with_context(|| format!("creating {}", path.display()))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&mut conn)
        .await
        .with_context(|| format!("running {}", sql.display()))?;
    Ok(())
}
