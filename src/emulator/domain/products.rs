//! Products, variants and options.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldError, RootCtx};
use crate::emulator::store::State;

/// A stored product.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Product {
    /// Numeric id.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Unique handle.
    pub handle: String,
    /// Status (ACTIVE, ARCHIVED, DRAFT).
    pub status: String,
    /// Vendor.
    pub vendor: String,
    /// Product type.
    pub product_type: String,
    /// HTML description.
    pub description_html: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Options: (name, values).
    pub options: Vec<(String, Vec<String>)>,
    /// Variant ids in position order.
    pub variant_ids: Vec<u64>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
}

/// A stored variant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Variant {
    /// Numeric id.
    pub id: u64,
    /// Owning product.
    pub product_id: u64,
    /// Title ("Default Title" or option values joined by " / ").
    pub title: String,
    /// Price as a decimal string.
    pub price: String,
    /// Compare-at price.
    pub compare_at_price: Option<String>,
    /// SKU (mirrors the inventory item's).
    pub sku: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Selected option values: (option name, value).
    pub options: Vec<(String, String)>,
    /// Inventory item id.
    pub inventory_item_id: u64,
    /// DENY or CONTINUE.
    pub inventory_policy: String,
    /// Taxable flag.
    pub taxable: bool,
    /// Position (1-based).
    pub position: u32,
}

/// Product root fields; `None` when `field` is not one of them.
pub fn resolve(
    _st: &mut State,
    _field: &str,
    _args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    None
}

/// Loads a product-domain object.
pub fn load(_st: &State, _ty: &str, _id: u64) -> Option<Value> {
    None
}

/// Shopify's handle derivation: lower-case, non-alphanumerics collapsed to single dashes.
pub fn handleize(title: &str) -> String {
    let mut out = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}
