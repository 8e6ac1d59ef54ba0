//! shopsync: keep a Shopify store in sync with a SQL data warehouse (reverse ETL), the GitOps way.
//!
//! The crate is layered so that the pure model never depends on I/O:
//!
//! - [`core`]: the config model, mapping, diff, plan and engine over traits. Pure: no kube, reqwest, sqlx,
//!   axum or tokio networking (a test enforces it).
//! - [`api`]: the `ShopifyDestination` and `ShopifySync` custom resources and their conversion to [`core`] config.
//! - [`schema`]: the pinned Shopify Admin GraphQL schemas, per supported API version.
//! - [`warehouse`], [`state`], [`shopify`]: adapters for the warehouse, the state store and the Admin API.
//! - [`alerts`]: delivery of alert notifications (Slack, PagerDuty, webhook, email, SMS).
//! - [`live`]: live comparison with what Shopify holds (`plan --live`, drift checks, observe-only syncs).
//! - [`runner`]: the one wiring of a sync run (budget, transport, debugger log, engine) for every entry point.
//! - [`controller`]: the Kubernetes operator.
//! - `emulator` (cargo feature `emulator`, on by default): a local Shopify Admin API, the project's test oracle.
//! - [`ui`]: the read-only web dashboard over a state store.
//! - [`clock`]: the real clock and timer behind the core's `Clock` port.
//! - [`tls`]: the TLS settings of every outgoing connection.
//! - [`cli`]: the `shopsync` command.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod api;
pub mod cli;
pub mod clock;
pub mod controller;
/// The pure core, a crate of its own (`src/core`, package `shopsync-core`) so that it cannot do I/O.
pub use shopsync_core as core;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod live;
pub mod runner;
pub mod schema;
pub mod shopify;
pub mod state;
pub mod tls;
pub mod ui;
pub mod warehouse;
