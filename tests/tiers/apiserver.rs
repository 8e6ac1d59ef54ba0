//! Test tier `apiserver`: The operator on a real Kubernetes API server (etcd and the apiextensions-apiserver built from
//! tests/apiserver; `SHOPSYNC_APIEXT_BIN` or `.ci/run` provides it). `cargo nextest run --test apiserver`.
//!
//! One binary per tier (Cargo.toml, `[[test]]`): each file below stays a module of its own.

#[path = "../apiserver_crds.rs"]
mod apiserver_crds;
#[path = "../controller_apiserver.rs"]
mod controller_apiserver;

// Shared helpers, compiled once for the tier; the files above name them as `crate::<helper>`.
#[path = "../support/apiserver.rs"]
mod apiserver;
#[path = "../support/core_shim.rs"]
mod core_shim;
#[path = "../support/manifests.rs"]
mod manifests;
