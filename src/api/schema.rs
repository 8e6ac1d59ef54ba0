//! JSON schemas the custom resources need beyond what derives give (the core enums describe themselves).
use schemars::{Schema, SchemaGenerator, json_schema};

// The core's enums describe themselves (`shopsync-core`'s `schemars` feature, src/core/schema.rs): an impl of a
// foreign trait for a foreign type cannot live here.

/// Any JSON value (a static mapping value): kept as written, never pruned.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// The supported Shopify API versions; CEL (not an enum) rejects others so the message can list them.
pub fn api_version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "maxLength": 16 })
}
