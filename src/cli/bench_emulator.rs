//! `shopsync bench emulator`: how many simple mutations a second the emulator answers (throttling off).
use crate::emulator::bench::bench_mutations;

/// Runs the benchmark and prints the report as JSON.
pub async fn run(mutations: usize, concurrency: usize) -> anyhow::Result<()> {
    let report = bench_mutations(mutations, concurrency).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
