//! `shopsync bench emulator`: how many simple mutations a second the emulator answers (throttling off), or
//! with `--bulk-lines`, how fast it processes bulk `customerSet` operations.
use crate::emulator::bench::{bench_bulk, bench_mutations};

/// Runs the benchmark and prints the report as JSON.
pub async fn run(
    mutations: usize,
    concurrency: usize,
    bulk_lines: Option<usize>,
    passes: usize,
) -> anyhow::Result<()> {
    let report = match bulk_lines {
        Some(lines) => serde_json::to_value(bench_bulk(lines, passes).await?)?,
        None => serde_json::to_value(bench_mutations(mutations, concurrency).await?)?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
