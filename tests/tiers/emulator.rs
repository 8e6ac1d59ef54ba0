//! Test tier `emulator`: The engine, the client and the CLI against the Shopify emulator (in process or as a child), with SQLite
//! warehouses and state. `cargo nextest run --test emulator`.
//!
//! One binary per tier (Cargo.toml, `[[test]]`): each file below stays a module of its own.

#[path = "../cli_plan_run.rs"]
mod cli_plan_run;
#[path = "../crash_kill.rs"]
mod crash_kill;
#[path = "../drift.rs"]
mod drift;
#[path = "../emulator_bulk.rs"]
mod emulator_bulk;
#[path = "../emulator_domains.rs"]
mod emulator_domains;
#[path = "../emulator_http.rs"]
mod emulator_http;
#[path = "../emulator_parity.rs"]
mod emulator_parity;
#[path = "../emulator_rest.rs"]
mod emulator_rest;
#[path = "../matrix.rs"]
mod matrix;
#[path = "../outages.rs"]
mod outages;
#[path = "../plan_review.rs"]
mod plan_review;
#[path = "../quickstart.rs"]
mod quickstart;
#[path = "../reliability.rs"]
mod reliability;
#[path = "../shopify_transport.rs"]
mod shopify_transport;
#[path = "../sync_batch_bulk.rs"]
mod sync_batch_bulk;
#[path = "../sync_order.rs"]
mod sync_order;
#[path = "../write_safety.rs"]
mod write_safety;

// Shared helpers, compiled once for the tier; the files above name them as `crate::<helper>`.
#[path = "../support/cli.rs"]
mod cli;
