//! The `shopsync` binary: see [`shopsync::cli`].

// The warehouse reader allocates row values on one thread and the differ frees them on another; glibc's malloc
// serialises such cross-thread frees on an arena lock (40% of a large plan's time went to it), mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    shopsync::cli::main()
}
