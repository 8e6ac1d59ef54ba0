//! The pure core: config model, mapping, diff, plan and engine over traits.
//!
//! A crate of its own (`shopsync-core`, re-exported by `shopsync` as `shopsync::core`): its manifest names no
//! I/O crate, so nothing here can perform I/O; adapters depend on it, never the reverse (docs/architecture.md).
#![forbid(unsafe_code)]
pub mod adopt;
pub mod alerts;
pub mod calls;
pub mod clock;
pub mod config;
pub mod diff;
pub mod drift;
pub mod engine;
pub mod ids;
pub mod mapping;
pub mod order;
pub mod plan;
pub mod progress;
pub mod record;
pub mod redact;
pub mod report;
pub mod review;
#[cfg(feature = "schemars")]
mod schema;
pub mod source;
pub mod spill;
pub mod state;
pub mod support;
mod table;
pub mod write;
