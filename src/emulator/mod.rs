//! A local Shopify Admin API: the project's test oracle and a sandbox for users.
//!
//! The emulator serves `POST /admin/api/{version}/graphql.json` over HTTP, validates every document against the
//! pinned schema of its version, charges Shopify's cost-based leaky bucket, and answers from in-memory stores
//! that apply Shopify's validations. Test controls live under `/__emulator/`.
//!
//! Layering: [`server`] (HTTP, auth, faults) -> [`graphql`] (validation, variables, cost, execution) ->
//! [`domain`] (resources as plain JSON trees over [`store::State`]). The domain never sees GraphQL
//! selections: the executor projects whatever the domain returns onto the selection.
//! This module never imports the project's Shopify client.

pub mod bench;
pub mod bulk;
pub mod clock;
pub mod config;
pub mod controls;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod index;
pub mod rest;
pub mod seed;
pub mod server;
pub mod store;
pub mod throttle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{EmulatorConfig, Plan};
pub use error::EmulatorError;
pub use server::{Emulator, EmulatorBuilder, RunningEmulator};
