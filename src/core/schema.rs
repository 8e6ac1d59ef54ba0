//! JSON schemas for the core vocabulary, so the CRDs list every allowed value (feature `schemars`, which the
//! `shopsync` package turns on: the custom resources in `src/api` name these enums).
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::config::{
    ActionKind, DeleteBehavior, DeletionPolicy, DriftPolicy, EventKind, ManagementPolicy, MatchKey,
    NullPolicy, ObjectKind, OnDuplicateKey, SyncMode, ValueFormat,
};

macro_rules! enum_schema {
    ($($ty:ty),+) => {$(
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let values: Vec<&str> = <$ty>::ALL.iter().map(|v| v.as_str()).collect();
                json_schema!({ "type": "string", "enum": values })
            }
        }
    )+};
}

enum_schema!(
    ObjectKind,
    EventKind,
    ActionKind,
    SyncMode,
    MatchKey,
    DeleteBehavior,
    DeletionPolicy,
    OnDuplicateKey,
    ValueFormat,
    NullPolicy,
    DriftPolicy,
    ManagementPolicy
);
