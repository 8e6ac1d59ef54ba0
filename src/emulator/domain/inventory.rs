//! Inventory items, levels, locations and quantity mutations.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, gid};
use crate::emulator::store::State;

/// A location.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Location {
    /// Numeric id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Whether the location is active.
    pub is_active: bool,
}

impl Location {
    /// An active location.
    pub fn new(id: u64, name: &str) -> Self {
        Location {
            id,
            name: name.to_string(),
            is_active: true,
        }
    }
}

/// An inventory item (one per variant).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InventoryItem {
    /// Numeric id.
    pub id: u64,
    /// Owning variant.
    pub variant_id: u64,
    /// SKU.
    pub sku: Option<String>,
    /// Whether quantities are tracked.
    pub tracked: bool,
    /// Unit cost.
    pub cost: Option<String>,
    /// Country of origin.
    pub country_code_of_origin: Option<String>,
    /// HS code.
    pub harmonized_system_code: Option<String>,
    /// Province of origin.
    pub province_code_of_origin: Option<String>,
    /// Requires shipping.
    pub requires_shipping: bool,
    /// Weight value and unit.
    pub weight: Option<(f64, String)>,
}

/// Stock of one item at one location.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InventoryLevel {
    /// Numeric id.
    pub id: u64,
    /// Item.
    pub item_id: u64,
    /// Location.
    pub location_id: u64,
    /// Available quantity.
    pub available: i64,
    /// On-hand quantity.
    pub on_hand: i64,
    /// Last update.
    pub updated_at: String,
}

/// The Location object.
pub fn location_json(l: &Location) -> Value {
    json!({"__typename": "Location", "id": gid("Location", l.id), "name": l.name, "isActive": l.is_active, "legacyResourceId": l.id.to_string()})
}

/// Inventory root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    Some(match field {
        "location" => Ok(super::parse_gid(args.get("id"), "Location")
            .and_then(|id| st.locations.get(&id))
            .map(location_json)
            .unwrap_or(Value::Null)),
        "locations" => Ok(Value::Array(
            st.locations.values().map(location_json).collect(),
        )),
        _ => return None,
    })
}

/// Loads an inventory-domain object.
pub fn load(st: &State, ty: &str, id: u64, _gid: &str) -> Option<Value> {
    match ty {
        "Location" => st.locations.get(&id).map(location_json),
        _ => None,
    }
}

/// Argument-dependent fields of inventory objects.
pub fn field_with_args(
    _st: &State,
    _obj: &Map<String, Value>,
    _field: &str,
    _args: &Map<String, Value>,
) -> Option<Value> {
    None
}
