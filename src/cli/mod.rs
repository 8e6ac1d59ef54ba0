//! The `shopsync` command line: the only place that speaks `anyhow` and exit codes.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench_warehouse;
mod crd;
mod plan;
mod run;
mod specs;
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOPSYNC_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Crd(args) => crd::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => block_on(plan::run(args)),
        Command::Run(args) => block_on(run::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
