//! Orders, fulfillment orders, fulfillments and fulfillment events.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldError, RootCtx};
use crate::emulator::store::State;

/// An order (seeded).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Order {
    /// Numeric id.
    pub id: u64,
    /// Name, e.g. `#1001`.
    pub name: String,
    /// Line items: (line item id, title, quantity, variant id).
    pub line_items: Vec<LineItem>,
}

/// An order line item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LineItem {
    /// Numeric id.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Quantity.
    pub quantity: i64,
    /// SKU.
    pub sku: Option<String>,
}

/// A fulfillment order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FulfillmentOrder {
    /// Numeric id.
    pub id: u64,
    /// Order.
    pub order_id: u64,
    /// Assigned location.
    pub location_id: u64,
    /// FulfillmentOrderStatus.
    pub status: String,
    /// FulfillmentOrderRequestStatus.
    pub request_status: String,
    /// Line items: (FO line item id, order line item id, remaining quantity, total quantity).
    pub line_items: Vec<(u64, u64, i64, i64)>,
    /// Active holds: (hold id, reason, handle, reason notes).
    pub holds: Vec<(u64, String, String, Option<String>)>,
    /// When a scheduled FO becomes open.
    pub fulfill_at: Option<String>,
    /// Whether progress was reported.
    pub progress_reported: bool,
    /// Creation time.
    pub created_at: String,
    /// Last update.
    pub updated_at: String,
}

/// A fulfillment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fulfillment {
    /// Numeric id.
    pub id: u64,
    /// Order.
    pub order_id: u64,
    /// FulfillmentStatus (SUCCESS, CANCELLED, ...).
    pub status: String,
    /// FulfillmentDisplayStatus.
    pub display_status: String,
    /// Time the latest in-transit event happened.
    pub in_transit_at: Option<String>,
    /// Estimated delivery.
    pub estimated_delivery_at: Option<String>,
    /// Creation time.
    pub created_at: String,
}

/// A fulfillment event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FulfillmentEvent {
    /// Numeric id.
    pub id: u64,
    /// Fulfillment.
    pub fulfillment_id: u64,
    /// The input as given, plus status.
    pub fields: Map<String, Value>,
    /// Creation time.
    pub created_at: String,
}

/// Fulfillment root fields; `None` when `field` is not one of them.
pub fn resolve(
    _st: &mut State,
    _field: &str,
    _args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    None
}

/// Loads a fulfillment-domain object.
pub fn load(_st: &State, _ty: &str, _id: u64) -> Option<Value> {
    None
}
