//! The pure core: config model, mapping, diff, plan and engine over traits.
//!
//! Nothing here performs I/O or imports kube, reqwest, sqlx, axum or tokio networking; adapters depend on this
//! module, never the reverse (`tests/architecture.rs` keeps it so).
pub mod alerts;
pub mod calls;
pub mod config;
pub mod diff;
pub mod drift;
pub mod engine;
pub mod ids;
pub mod mapping;
pub mod order;
pub mod progress;
pub mod record;
pub mod redact;
pub mod review;
pub mod source;
pub mod state;
pub mod support;
pub mod write;
