//! The `shopsync` command line.
use std::process::ExitCode;

pub mod bench_warehouse;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
