//! The `shopsync` binary: see [`shopsync::cli`].
fn main() -> std::process::ExitCode {
    shopsync::cli::main()
}
