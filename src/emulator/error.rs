//! Errors of the emulator itself (not the Shopify errors it answers with).
use thiserror::Error;

/// Why the emulator could not start, seed or serve.
#[derive(Debug, Error)]
pub enum EmulatorError {
    /// Binding or serving the listening socket failed.
    #[error("emulator I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A plan name or custom bucket spec was not understood.
    #[error(
        "invalid plan `{0}`: expected standard, advanced, plus, enterprise or BUCKET/RESTORE (e.g. 2000/100)"
    )]
    InvalidPlan(String),
    /// A seed fixture could not be read or applied.
    #[error("seed fixture {source_name}: {message}")]
    Seed {
        /// The file or request the fixture came from.
        source_name: String,
        /// What was wrong, naming the field.
        message: String,
    },
    /// An HTTP call made by the benchmark failed.
    #[error("benchmark request failed: {0}")]
    Bench(String),
}

impl EmulatorError {
    /// Whether retrying the same call could succeed (only transient socket trouble can).
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmulatorError::Io(_) | EmulatorError::Bench(_))
    }
}
