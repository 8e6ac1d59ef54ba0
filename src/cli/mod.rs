//! The `shopsync` command line: the only place that speaks `anyhow` and exit codes.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench_warehouse;
mod crd;
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
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd(args) => crd::run(args),
        Command::Validate(args) => validate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
