//! The `shopsync` command line.
pub mod bench_emulator;
pub mod emulator;

use std::process::ExitCode;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
