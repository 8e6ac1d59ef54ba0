//! Test tier `unit`: Pure and in-process tests: no database, no emulator, no apiserver. `cargo nextest run --test unit`.
//!
//! One binary per tier (Cargo.toml, `[[test]]`): each file below stays a module of its own.

#[path = "../alerts.rs"]
mod alerts;
#[path = "../architecture.rs"]
mod architecture;
#[path = "../argo_health.rs"]
mod argo_health;
#[path = "../controller_decide.rs"]
mod controller_decide;
#[path = "../controller_mock.rs"]
mod controller_mock;
#[path = "../crds.rs"]
mod crds;
#[path = "../diff_laws.rs"]
mod diff_laws;
#[path = "../diff_rules.rs"]
mod diff_rules;
#[path = "../engine_run.rs"]
mod engine_run;
#[path = "../gitops_examples.rs"]
mod gitops_examples;
#[path = "../hostile_input.rs"]
mod hostile_input;
#[path = "../id_mappings.rs"]
mod id_mappings;
#[path = "../manifests_kustomize.rs"]
mod manifests_kustomize;
#[path = "../ownership_laws.rs"]
mod ownership_laws;
#[path = "../state_spill.rs"]
mod state_spill;
#[path = "../validate.rs"]
mod validate;
#[path = "../warehouse_sqlite.rs"]
mod warehouse_sqlite;
