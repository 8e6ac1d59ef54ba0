//! The `shopsync` command line: the only place that speaks `anyhow` and exit codes.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::core::redact::Redactor;

#[cfg(feature = "bench")]
pub mod bench_emulator;
#[cfg(feature = "bench")]
pub mod bench_soak;
#[cfg(feature = "bench")]
pub mod bench_sync;
#[cfg(feature = "bench")]
pub mod bench_warehouse;
mod controller;
mod crd;
pub mod debugger;
#[cfg(feature = "emulator")]
pub mod emulator;
mod git;
mod plan;
mod plan_rows;
mod progress;
#[cfg(feature = "emulator")]
mod quickstart;
mod run;
pub mod specs;
mod ui;
mod validate;

/// Keep a Shopify store in sync with a SQL data warehouse, the GitOps way.
#[derive(Debug, Parser)]
#[command(name = "shopsync", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the ShopifyDestination and ShopifySync CRDs as YAML.
    Crd(crd::CrdArgs),
    /// Check spec files offline: schema, CEL rules, Shopify fields, references. Exit 0 valid, 1 invalid, 2 error.
    Validate(validate::ValidateArgs),
    /// Show what a run would do, without writing to Shopify. With --check: exit 1 when changes are pending.
    Plan(plan::PlanArgs),
    /// Run syncs from spec files, once or on their schedules, with no cluster.
    Run(run::RunArgs),
    /// The main job end to end on embedded defaults: example warehouse, built-in emulator, every example sync.
    #[cfg(feature = "emulator")]
    Quickstart(quickstart::QuickstartArgs),
    /// Run the operator: reconcile ShopifyDestinations and ShopifySyncs in a cluster.
    Controller(controller::ControllerArgs),
    /// Run the local Shopify Admin API emulator.
    #[cfg(feature = "emulator")]
    Emulator(emulator::EmulatorArgs),
    /// The debugger log: runs, the Shopify calls of a run, every call about a key, exports.
    Debugger(debugger::DebuggerArgs),
    /// The read-only dashboard over a state store: syncs, runs, rejected rows and every Shopify call.
    Ui(ui::UiArgs),
    /// Benchmarks (not tests) behind the figures in BENCHMARKS.md.
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[cfg(feature = "bench")]
#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Simple mutations a second the emulator answers on loopback, throttling off.
    Emulator {
        /// Mutations to send.
        #[arg(long, default_value_t = 20_000)]
        mutations: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Instead of simple mutations: this many `customerSet` lines (upsert by email) through bulk
        /// mutation operations, timing the emulator's processing.
        #[arg(long)]
        bulk_lines: Option<usize>,
        /// With --bulk-lines: passes over the same customers (the first creates, later ones update).
        #[arg(long, default_value_t = 1, requires = "bulk_lines")]
        passes: usize,
    },
    /// Product upserts into the emulator at a fixed plan, against the rate limit's floor.
    Sync {
        /// Rows (products) to upsert.
        #[arg(long, default_value_t = 20_000)]
        rows: u64,
        /// The emulator's rate-limit plan.
        #[arg(long, default_value = "plus")]
        plan: String,
        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Record the debugger log during the run: on, off, or both (one run each, off first).
        #[arg(long, value_enum, default_value = "off")]
        debugger_log: bench_sync::LogMode,
        /// Product upserts per request (1: one mutation per request).
        #[arg(long, default_value_t = crate::shopify::DEFAULT_BATCH_SIZE)]
        batch_size: usize,
        /// The sync's bulkThreshold: this many changed rows or more go through a bulk operation. Absent: no
        /// bulk operation, whatever the row count.
        #[arg(long)]
        bulk_threshold: Option<u64>,
    },
    /// The large fault soak: events, insert-mode customers, products and holds under 5xx answers and
    /// connections dropped before and after apply; lost, duplicated, state against store, efficiency.
    Soak {
        /// Fulfillment events.
        #[arg(long, default_value_t = 2_000)]
        events: u64,
        /// Customers, insert mode.
        #[arg(long, default_value_t = 2_000)]
        customers: u64,
        /// Products, upsert mode (by request).
        #[arg(long, default_value_t = 20_000)]
        products: u64,
        /// Fulfillment-order holds.
        #[arg(long, default_value_t = 500)]
        actions: u64,
        /// Share of requests answered 503.
        #[arg(long, default_value_t = 0.1)]
        error_rate: f64,
        /// Share of connections dropped before the request is applied.
        #[arg(long, default_value_t = 0.05)]
        drop_rate: f64,
        /// Share of answers lost after the request was applied.
        #[arg(long, default_value_t = 0.1)]
        drop_after_apply_rate: f64,
        /// The emulator's rate-limit plan.
        #[arg(long, default_value = "plus")]
        plan: String,
        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Plans over a large PostgreSQL table against the cost of copying it out with psql.
    Warehouse {
        /// The PostgreSQL warehouse (psql must accept the same URL).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres_url: String,
        /// Rows in the generated table.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Where the state and spill files go.
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        work_dir: std::path::PathBuf,
    },
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    f: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one redactor of the process: the log writer and every command share it (clones share what they
    // learn), and each command adds the Secret values it reads.
    let redactor = Redactor::new();
    tracing_subscriber::fmt()
        .with_env_filter(
            // sqlx reports every statement over 1 s at WARN; warehouse queries are routinely slower than that.
            tracing_subscriber::EnvFilter::try_from_env("SHOPSYNC_LOG")
                .unwrap_or_else(|_| "warn,sqlx::query=error".into()),
        )
        .with_writer(RedactedStderr(redactor.clone()))
        .init();
    let result = match cli.command {
        Command::Crd(args) => crd::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => block_on(plan::run(args, &redactor)),
        Command::Run(args) => block_on(run::run(args, &redactor)),
        #[cfg(feature = "emulator")]
        Command::Quickstart(args) => block_on(quickstart::run(args, &redactor)),
        Command::Controller(args) => block_on(controller::run(args, &redactor)),
        Command::Debugger(args) => block_on(debugger::run(args, &redactor)),
        Command::Ui(args) => block_on(ui::run(args, &redactor)),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => {
            block_on(async move { emulator::run(args).await.map(|()| ExitCode::SUCCESS) })
        }
        #[cfg(feature = "bench")]
        Command::Bench(command) => bench(command, &redactor),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs one benchmark.
#[cfg(feature = "bench")]
fn bench(command: BenchCommand, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Emulator {
            mutations,
            concurrency,
            bulk_lines,
            passes,
        } => block_on(async move {
            bench_emulator::run(mutations, concurrency, bulk_lines, passes)
                .await
                .map(|()| ExitCode::SUCCESS)
        }),
        BenchCommand::Sync {
            rows,
            plan,
            concurrency,
            debugger_log,
            batch_size,
            bulk_threshold,
        } => block_on(async move {
            let options = bench_sync::Options {
                rows,
                concurrency,
                batch_size,
                bulk_threshold,
            };
            bench_sync::run(options, &plan, debugger_log, redactor)
                .await
                .map(|()| ExitCode::SUCCESS)
        }),
        BenchCommand::Soak {
            events,
            customers,
            products,
            actions,
            error_rate,
            drop_rate,
            drop_after_apply_rate,
            plan,
            concurrency,
        } => block_on(async move {
            let options = bench_soak::Options {
                events,
                customers,
                products,
                actions,
                error_rate,
                drop_rate,
                drop_after_apply_rate,
                concurrency,
            };
            bench_soak::run(options, &plan, redactor)
                .await
                .map(|()| ExitCode::SUCCESS)
        }),
        BenchCommand::Warehouse {
            postgres_url,
            rows,
            work_dir,
        } => block_on(async move {
            let options = bench_warehouse::Options {
                postgres_url,
                rows,
                work_dir,
            };
            let report = bench_warehouse::run(&options).await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Log lines go to stderr through the process's redactor: no token or password reaches a log.
struct RedactedStderr(Redactor);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedLine;

    fn make_writer(&'a self) -> RedactedLine {
        RedactedLine(Vec::new(), self.0.clone())
    }
}

/// One formatted event, redacted and written when the formatter is done with it.
struct RedactedLine(Vec<u8>, Redactor);

impl std::io::Write for RedactedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let line = self.1.redact(&text);
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
