//! `shopsync validate`: offline checks of spec files.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::manifest;
use crate::api::validate::{Severity, validate};

/// Arguments of `shopsync validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Spec files or folders (searched recursively for .yaml and .yml); multi-document YAML is fine.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    paths: Vec<PathBuf>,
    /// Treat warnings (such as references to resources not among the files) as errors.
    #[arg(long)]
    strict: bool,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

/// Validates and reports; exit 0 valid, 1 invalid, 2 when the files cannot be read.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let docs = manifest::load(&args.paths)?;
    let report = validate(&docs);
    for f in &report.findings {
        eprintln!("{f}");
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = report.findings.len() - errors;
    let failed = errors > 0 || (args.strict && warnings > 0);
    if !args.quiet || failed {
        let checked: Vec<String> = report
            .checked
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let summary = if checked.is_empty() {
            "no resources".to_string()
        } else {
            checked.join(", ")
        };
        println!(
            "{}: {summary} in {} document(s); {errors} error(s), {warnings} warning(s)",
            if failed { "invalid" } else { "valid" },
            docs.len()
        );
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
