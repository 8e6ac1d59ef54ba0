//! Code discounts and redeem codes.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldError, RootCtx};
use crate::emulator::store::State;

/// A code discount (DiscountCodeNode + DiscountCodeBasic).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Discount {
    /// Numeric id.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Start time.
    pub starts_at: Option<String>,
    /// End time.
    pub ends_at: Option<String>,
    /// ACTIVE, EXPIRED, SCHEDULED.
    pub status: String,
    /// The input as given (for fields not modelled separately).
    pub input: Value,
    /// Redeem codes: (id, code).
    pub codes: Vec<(u64, String)>,
    /// Creation time.
    pub created_at: String,
}

/// An asynchronous redeem-code bulk creation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BulkCreation {
    /// Numeric id.
    pub id: u64,
    /// Discount.
    pub discount_id: u64,
    /// Per code: (code, error message if any, created redeem code id).
    pub results: Vec<(String, Option<String>, Option<u64>)>,
}

/// Discount root fields; `None` when `field` is not one of them.
pub fn resolve(
    _st: &mut State,
    _field: &str,
    _args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    None
}

/// Loads a discount-domain object.
pub fn load(_st: &State, _ty: &str, _id: u64) -> Option<Value> {
    None
}
