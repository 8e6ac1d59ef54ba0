//! Test tier `services`: Tests against PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306), which `.ci/run` starts.
//! `cargo nextest run --test services`.
//!
//! One binary per tier (Cargo.toml, `[[test]]`): each file below stays a module of its own.

#[path = "../cli_debugger.rs"]
mod cli_debugger;
#[path = "../debugger_log.rs"]
mod debugger_log;
#[path = "../outage_state.rs"]
mod outage_state;
#[path = "../outage_warehouse.rs"]
mod outage_warehouse;
#[path = "../state_store.rs"]
mod state_store;
#[path = "../sync_e2e.rs"]
mod sync_e2e;
#[path = "../ui.rs"]
mod ui;
#[path = "../warehouse_mysql.rs"]
mod warehouse_mysql;
#[path = "../warehouse_postgres.rs"]
mod warehouse_postgres;

// Shared helpers, compiled once for the tier; the files above name them as `crate::<helper>`.
#[path = "../support/cli.rs"]
mod cli;
