//! Inventory items, levels, locations and quantity mutations.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, coded_error, gid, parse_gid, reference, user_error};
use crate::core::config::ApiVersion;
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
    /// The handle of the fulfillment service this location belongs to (a service of the calling app, created
    /// with `fulfillmentServiceCreate`, which Shopify gives a location of its own); `None` for the merchant's
    /// own locations.
    pub fulfillment_service: Option<String>,
}

impl Location {
    /// An active location.
    pub fn new(id: u64, name: &str) -> Self {
        Location {
            id,
            name: name.to_string(),
            is_active: true,
            fulfillment_service: None,
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
    /// On-hand quantity: `available` plus every quantity in [`ON_HAND_PARTS`].
    pub on_hand: i64,
    /// Last update.
    pub updated_at: String,
    /// The other quantity names (committed, damaged, incoming, quality_control, reserved, safety_stock).
    pub others: BTreeMap<String, i64>,
    /// When each quantity name last changed; Shopify stamps a name only once it changes (`available` from
    /// the level's creation), the derived `on_hand` never.
    pub stamps: BTreeMap<String, String>,
    /// Deactivated (`inventoryDeactivate`): the level keeps its quantities but no longer counts as stock
    /// and is listed only with `includeInactive: true`.
    pub inactive: bool,
}

/// Quantity names that are part of `on_hand` besides `available` (Shopify's inventory states: on hand =
/// available + committed + damaged + quality control + reserved + safety stock; incoming is not on hand).
pub const ON_HAND_PARTS: &[&str] = &[
    "committed",
    "damaged",
    "quality_control",
    "reserved",
    "safety_stock",
];

/// Quantity names `inventoryAdjustQuantities` and `inventoryMoveQuantities` change (`committed` belongs to
/// orders).
const ADJUSTABLE: &[&str] = &[
    "available",
    "on_hand",
    "damaged",
    "incoming",
    "quality_control",
    "reserved",
    "safety_stock",
];

impl InventoryLevel {
    /// The current value of quantity `name`.
    pub fn quantity(&self, name: &str) -> i64 {
        match name {
            "available" => self.available,
            "on_hand" => self.on_hand,
            n => self.others.get(n).copied().unwrap_or(0),
        }
    }

    /// Changes quantity `name` by `delta`, keeping `on_hand` the sum of its parts, and returns the changes
    /// Shopify reports for it: the named one first, then the mirrored `on_hand` (none for `incoming`).
    /// Changing `on_hand` itself changes `available` (the other states stay as they are).
    pub fn apply(&mut self, name: &str, delta: i64, now: &str) -> Vec<(String, i64)> {
        self.updated_at = now.to_string();
        match name {
            "available" | "on_hand" => {
                self.available += delta;
                self.on_hand += delta;
                self.stamps.insert("available".into(), now.to_string());
                vec![("available".into(), delta), ("on_hand".into(), delta)]
            }
            n => {
                *self.others.entry(n.to_string()).or_insert(0) += delta;
                self.stamps.insert(n.to_string(), now.to_string());
                if ON_HAND_PARTS.contains(&n) {
                    self.on_hand += delta;
                    vec![(n.to_string(), delta), ("on_hand".into(), delta)]
                } else {
                    vec![(n.to_string(), delta)]
                }
            }
        }
    }
}

/// The Location object.
pub fn location_json(l: &Location) -> Value {
    json!({"__typename": "Location", "id": gid("Location", l.id), "name": l.name, "isActive": l.is_active, "legacyResourceId": l.id.to_string(), "localPickupSettingsV2": null, "isFulfillmentService": l.fulfillment_service.is_some()})
}

fn level_gid(l: &InventoryLevel) -> String {
    format!(
        "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
        l.id, l.item_id
    )
}

/// The InventoryLevel object; `quantities(names:)` is answered by [`field_with_args`].
pub fn level_json(_st: &State, l: &InventoryLevel) -> Value {
    let quantities: Map<String, Value> = [
        "available",
        "on_hand",
        "committed",
        "damaged",
        "incoming",
        "quality_control",
        "reserved",
        "safety_stock",
    ]
    .iter()
    .map(|n| (n.to_string(), json!(l.quantity(n))))
    .collect();
    json!({
        "__typename": "InventoryLevel",
        "id": level_gid(l),
        "isActive": !l.inactive,
        "canDeactivate": true,
        "location": reference("Location", l.location_id),
        "item": reference("InventoryItem", l.item_id),
        "updatedAt": l.updated_at,
        "createdAt": l.updated_at,
        "__quantities": quantities,
        "__stamps": l.stamps,
    })
}

/// The InventoryItem object.
pub fn item_json(st: &State, i: &InventoryItem) -> Value {
    let unit = |u: &str| match u {
        "GRAMS" => "GRAMS",
        "POUNDS" => "POUNDS",
        "OUNCES" => "OUNCES",
        _ => "KILOGRAMS",
    };
    json!({
        "__typename": "InventoryItem",
        "id": gid("InventoryItem", i.id),
        "legacyResourceId": i.id.to_string(),
        "sku": i.sku,
        "tracked": i.tracked,
        "requiresShipping": i.requires_shipping,
        "unitCost": i.cost.as_ref().map(|c| json!({"amount": c, "currencyCode": "USD"})),
        "countryCodeOfOrigin": i.country_code_of_origin,
        "provinceCodeOfOrigin": i.province_code_of_origin,
        "harmonizedSystemCode": i.harmonized_system_code,
        // Items nobody weighed read 0 kg.
        "measurement": {"weight": i.weight.as_ref().map_or_else(|| json!({"value": 0, "unit": "KILOGRAMS"}), |(v, u)| json!({"value": v, "unit": unit(u)}))},
        "variant": reference("ProductVariant", i.variant_id),
        "inventoryLevels": super::products::item_levels(st, i.id),
        "createdAt": st.now_str(),
        "updatedAt": st.now_str(),
    })
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// Applies an `InventoryItemInput`; errors carry `prefix` before the field names.
pub fn apply_item_input(
    item: &mut InventoryItem,
    input: &Map<String, Value>,
    prefix: &[&str],
) -> Vec<Value> {
    let mut errors = Vec::new();
    let at = |parts: &[&str]| -> Vec<String> {
        prefix
            .iter()
            .chain(parts.iter())
            .map(|s| s.to_string())
            .collect()
    };
    if let Some(v) = input.get("sku") {
        item.sku = v.as_str().map(str::to_string);
    }
    if let Some(v) = input.get("tracked").and_then(Value::as_bool) {
        item.tracked = v;
    }
    if let Some(v) = input.get("requiresShipping").and_then(Value::as_bool) {
        item.requires_shipping = v;
    }
    if let Some(v) = input.get("cost") {
        let parsed = v
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .or_else(|| v.as_f64());
        match parsed {
            Some(c) if c < 0.0 => errors.push(json!({"field": at(&["cost"]), "message": "Cost must be greater than or equal to 0"})),
            Some(c) => item.cost = Some(format!("{c:.2}")),
            None => item.cost = None,
        }
    }
    if let Some(w) = input
        .get("measurement")
        .and_then(|m| m.get("weight"))
        .and_then(Value::as_object)
    {
        let value = w.get("value").and_then(Value::as_f64).unwrap_or(0.0);
        let unit = w
            .get("unit")
            .and_then(Value::as_str)
            .unwrap_or("KILOGRAMS")
            .to_string();
        if value < 0.0 {
            let abbr = match unit.as_str() {
                "GRAMS" => "g",
                "POUNDS" => "lb",
                "OUNCES" => "oz",
                _ => "kg",
            };
            errors.push(json!({"field": at(&["measurement", "weight"]), "message": format!("Measurement weight value {} {abbr} must be >= 0 {abbr}", fmt_num(value))}));
        } else {
            item.weight = Some((value, unit));
        }
    }
    if let Some(v) = input.get("countryCodeOfOrigin") {
        // `ZZ` ("Unknown Region") passes enum coercion but is no country Shopify accepts.
        if v.as_str() == Some("ZZ") {
            errors.push(json!({"field": at(&["countryCodeOfOrigin"]), "message": "Country code of origin is invalid"}));
        } else {
            item.country_code_of_origin = v.as_str().map(str::to_string);
        }
    }
    if let Some(v) = input.get("provinceCodeOfOrigin") {
        item.province_code_of_origin = v.as_str().map(str::to_string);
    }
    if let Some(v) = input.get("harmonizedSystemCode") {
        match v.as_str() {
            Some(code)
                if !(code.len() >= 6
                    && code.len() <= 13
                    && code.chars().all(|c| c.is_ascii_digit())) =>
            {
                errors.push(json!({"field": at(&["harmonizedSystemCode"]), "message": "Harmonized system code must be a number between six and thirteen digits"}));
            }
            other => item.harmonized_system_code = other.map(str::to_string),
        }
    }
    errors
}

fn item_update(st: &mut State, args: &Map<String, Value>) -> Value {
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let Some(mut item) = parse_gid(args.get("id"), "InventoryItem")
        .and_then(|id| st.inventory_items.get(&id))
        .cloned()
    else {
        return json!({"inventoryItem": null, "userErrors": [user_error(Some(&["id"]), "The product couldn't be updated because it does not exist.")]});
    };
    let errors = apply_item_input(&mut item, &input, &["input"]);
    if !errors.is_empty() {
        return json!({"inventoryItem": null, "userErrors": errors});
    }
    let id = item.id;
    st.inventory_items.insert(id, item);
    st.touch();
    json!({"inventoryItem": reference("InventoryItem", id), "userErrors": []})
}

/// `locationAdd`: a new active merchant location (it stocks nothing until items are activated there).
fn location_add(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let name = args
        .get("input")
        .and_then(|i| i.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.is_empty() {
        // No capture shows Shopify's answer to a blank name; say so rather than invent one.
        return Err(FieldError::new(
            "EMULATOR_UNSUPPORTED_FIELD",
            "The emulator does not model locationAdd without a name.",
        ));
    }
    let id = st.next_id();
    let location = Location::new(id, &name);
    let answer = json!({"location": location_json(&location), "userErrors": []});
    st.locations.insert(id, location);
    st.touch();
    Ok(answer)
}

const BILLION: i64 = 1_000_000_000;

fn activate(st: &mut State, args: &Map<String, Value>) -> Value {
    let item = parse_gid(args.get("inventoryItemId"), "InventoryItem")
        .filter(|i| st.inventory_items.contains_key(i));
    let loc = parse_gid(args.get("locationId"), "Location")
        .and_then(|l| st.locations.get(&l))
        .cloned();
    let fail = |errors: Vec<Value>| json!({"inventoryLevel": null, "userErrors": errors});
    let Some(item) = item else {
        let at = loc
            .as_ref()
            .map(|l| format!(" at {}", l.name))
            .unwrap_or_default();
        return fail(vec![user_error(
            Some(&["inventoryItemId"]),
            format!("The product couldn't be stocked{at} because the product was deleted."),
        )]);
    };
    let Some(loc) = loc else {
        return fail(vec![user_error(
            Some(&["locationId"]),
            "The product couldn't be stocked because the location was not found.",
        )]);
    };
    let available = args.get("available").and_then(Value::as_i64);
    let on_hand = args.get("onHand").and_then(Value::as_i64);
    if available.is_some() && on_hand.is_some() {
        let m = format!(
            "The product couldn't be stocked at {} because not allowed to set available and on_hand quantities at the same time.",
            loc.name
        );
        return fail(vec![
            user_error(Some(&["available"]), m.clone()),
            user_error(Some(&["onHand"]), m),
        ]);
    }
    for (key, v) in [("available", available), ("onHand", on_hand)] {
        if v.is_some_and(|q| !(-BILLION..=BILLION).contains(&q)) {
            return fail(vec![user_error(
                Some(&[key]),
                format!(
                    "The product couldn't be stocked at {} because the quantity needs to be between -1 billion and 1 billion.",
                    loc.name
                ),
            )]);
        }
    }
    if let Some(level_id) = st.level_at(item, loc.id) {
        let mut errors = vec![];
        let now = st.now_str();
        if let Some(level) = st.levels.get_mut(&level_id)
            && level.inactive
        {
            // Reactivation keeps the quantities the level had (Shopify's changelog: "inventoryActivate now
            // preserves available quantity").
            level.inactive = false;
            level.updated_at = now;
            st.touch();
        } else if available.is_some() {
            errors.push(user_error(
                Some(&["available"]),
                "Not allowed to set available quantity when the item is already active at the location.",
            ));
        } else if on_hand.is_some() {
            errors.push(user_error(Some(&["onHand"]), "Not allowed to set an on_hand quantity when the item is already active at the location."));
        }
        return json!({"inventoryLevel": st.levels.get(&level_id).map(|l| level_json(st, l)), "userErrors": errors});
    }
    let q = available.or(on_hand).unwrap_or(0);
    let id = st.next_id();
    let level = InventoryLevel {
        id,
        item_id: item,
        location_id: loc.id,
        available: q,
        on_hand: q,
        updated_at: st.now_str(),
        ..Default::default()
    };
    st.put_level(level);
    st.touch();
    json!({"inventoryLevel": st.levels.get(&id).map(|l| level_json(st, l)), "userErrors": []})
}

/// `inventoryDeactivate`: the level stops counting as stock (quantities are kept for a reactivation);
/// an item must stay stocked at one location at least.
fn deactivate(st: &mut State, args: &Map<String, Value>) -> Value {
    let fail = |m: String| json!({"userErrors": [user_error(None, m)]});
    let raw = args.get("inventoryLevelId");
    let Some(level) = parse_gid(raw, "InventoryLevel")
        .and_then(|id| st.levels.get(&id))
        .cloned()
    else {
        // The level id names its item (`...?inventory_item_id=N`): a known item means the location is gone.
        let item = raw
            .and_then(Value::as_str)
            .and_then(|s| s.split("inventory_item_id=").nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|i| st.inventory_items.contains_key(i));
        let what = if item.is_some() {
            "location"
        } else {
            "product"
        };
        return fail(format!(
            "The product couldn't be unstocked because the {what} was deleted."
        ));
    };
    if level.inactive {
        return json!({"userErrors": []});
    }
    let others_active = st
        .levels_of_item(level.item_id)
        .any(|l| l.id != level.id && !l.inactive);
    if !others_active {
        let name = st
            .locations
            .get(&level.location_id)
            .map(|l| l.name.clone())
            .unwrap_or_default();
        return fail(format!(
            "The product couldn't be unstocked from {name} because products need to be stocked at a minimum of 1 location."
        ));
    }
    let now = st.now_str();
    if let Some(l) = st.levels.get_mut(&level.id) {
        l.inactive = true;
        l.updated_at = now;
    }
    st.touch();
    json!({"userErrors": []})
}

const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_canceled",
    "movement_created",
    "movement_received",
    "movement_updated",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// From 2026-04 the key is required and `changeFromQuantity` must be passed explicitly.
fn contract_2026_04(
    field: &str,
    list_key: &str,
    input_type: &str,
    args: &Map<String, Value>,
    cx: &RootCtx,
) -> Result<(), FieldError> {
    if cx.version < ApiVersion::V2026_04 {
        return Ok(());
    }
    let rows = args
        .get("input")
        .and_then(|i| i.get(list_key))
        .and_then(Value::as_array);
    if rows
        .into_iter()
        .flatten()
        .any(|r| r.get("changeFromQuantity").is_none())
    {
        let mut e = FieldError::new(
            "INVALID_FIELD_ARGUMENTS",
            format!("{input_type} must include the following argument: changeFromQuantity."),
        );
        e.path = Some(vec![json!(field)]);
        return Err(e);
    }
    if cx.idempotency_key.is_none() {
        let mut e = FieldError::new(
            "BAD_REQUEST",
            "The @idempotent directive is required for this mutation but was not provided.",
        );
        e.path = Some(vec![json!(field)]);
        return Err(e);
    }
    Ok(())
}

/// The three quantity mutations share their validation and bookkeeping.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// inventorySetQuantities: absolute `quantity` of the named quantity.
    Set,
    /// inventorySetOnHandQuantities: absolute on-hand `quantity`.
    SetOnHand,
    /// inventoryAdjustQuantities: `delta` of the named quantity.
    Adjust,
}

impl Kind {
    /// (root field, list argument, list item input type, per-row amount field).
    fn names(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Kind::Set => (
                "inventorySetQuantities",
                "quantities",
                "InventoryQuantityInput",
                "quantity",
            ),
            Kind::SetOnHand => (
                "inventorySetOnHandQuantities",
                "setQuantities",
                "InventorySetQuantityInput",
                "quantity",
            ),
            Kind::Adjust => (
                "inventoryAdjustQuantities",
                "changes",
                "InventoryChangeInput",
                "delta",
            ),
        }
    }
}

fn quantities_mutation(
    st: &mut State,
    args: &Map<String, Value>,
    cx: &RootCtx,
    kind: Kind,
) -> Result<Value, FieldError> {
    let (root, list, input_ty, amount) = kind.names();
    contract_2026_04(root, list, input_ty, args, cx)?;
    let fingerprint = Value::Object(args.clone()).to_string();
    let key = cx
        .idempotency_key
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(k) = &key {
        if k.trim().is_empty() {
            return Err(FieldError::new(
                "BAD_REQUEST",
                "The idempotency key cannot be an empty string or whitespace only.",
            ));
        }
        if let Some((fp, stored)) = st.idempotency.get(k) {
            if *fp == fingerprint {
                return Ok(stored.clone());
            }
            return Ok(
                json!({"inventoryAdjustmentGroup": null, "userErrors": [coded_error(None, "The same idempotency key was used with different parameters.", Some("IDEMPOTENCY_KEY_PARAMETER_MISMATCH"))]}),
            );
        }
    }
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let name = if kind == Kind::SetOnHand {
        "on_hand".to_string()
    } else {
        input
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let rows = input
        .get(list)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut errors = Vec::new();
    let f = |parts: &[&str]| -> Option<Vec<String>> {
        Some(parts.iter().map(|s| s.to_string()).collect())
    };
    let valid_name = if kind == Kind::Adjust {
        ADJUSTABLE.contains(&name.as_str())
    } else {
        name == "available" || name == "on_hand"
    };
    if !valid_name {
        errors.push(coded_error(
            f(&["input", "name"]),
            "The quantity name must be either 'available' or 'on_hand'.",
            Some("INVALID_NAME"),
        ));
    }
    if !REASONS.contains(&reason.as_str()) {
        errors.push(coded_error(
            f(&["input", "reason"]),
            format!(
                "The specified reason is invalid. Valid values are: {}.",
                REASONS.join(", ")
            ),
            Some("INVALID_REASON"),
        ));
    }
    let mut targets = Vec::new();
    // Staleness is only judged once every row is otherwise valid.
    let mut stale = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let idx = i.to_string();
        let item = parse_gid(r.get("inventoryItemId"), "InventoryItem")
            .filter(|id| st.inventory_items.contains_key(id));
        let loc =
            parse_gid(r.get("locationId"), "Location").filter(|id| st.locations.contains_key(id));
        let qty = r.get(amount).and_then(Value::as_i64).unwrap_or(0);
        if item.is_none() {
            errors.push(coded_error(
                f(&["input", list, &idx, "inventoryItemId"]),
                "The specified inventory item could not be found.",
                Some("INVALID_INVENTORY_ITEM"),
            ));
        }
        if loc.is_none() {
            errors.push(coded_error(
                f(&["input", list, &idx, "locationId"]),
                "The specified location could not be found.",
                Some("INVALID_LOCATION"),
            ));
        }
        if qty > BILLION {
            errors.push(coded_error(
                f(&["input", list, &idx, amount]),
                "The quantity can't be higher than 1,000,000,000.",
                Some("INVALID_QUANTITY_TOO_HIGH"),
            ));
        } else if qty < -BILLION {
            errors.push(coded_error(
                f(&["input", list, &idx, amount]),
                "The quantity can't be lower than -1,000,000,000.",
                Some("INVALID_QUANTITY_TOO_LOW"),
            ));
        } else if qty < 0 && name == "on_hand" && kind != Kind::Adjust {
            errors.push(coded_error(
                f(&["input", list, &idx, amount]),
                "The quantity can't be negative.",
                Some("INVALID_QUANTITY_NEGATIVE"),
            ));
        }
        let dup = rows.iter().enumerate().any(|(j, o)| {
            j != i
                && o.get("inventoryItemId") == r.get("inventoryItemId")
                && o.get("locationId") == r.get("locationId")
        });
        if dup {
            errors.push(coded_error(
                f(&["input", list, &idx, "locationId"]),
                "The combination of inventoryItemId and locationId must be unique.",
                Some("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"),
            ));
        }
        if let (Some(item), Some(loc)) = (item, loc) {
            match st.level_at(item, loc).and_then(|id| st.levels.get(&id)) {
                None => errors.push(coded_error(
                    f(&["input", list, &idx, "locationId"]),
                    "The specified inventory item is not stocked at the location.",
                    Some("ITEM_NOT_STOCKED_AT_LOCATION"),
                )),
                Some(level) => {
                    let current = level.quantity(&name);
                    if let Some(expected) = r.get("changeFromQuantity").and_then(Value::as_i64)
                        && expected != current
                    {
                        stale.push(coded_error(
                            f(&["input", list, &idx, "changeFromQuantity"]),
                            "The specified changeFromQuantity does not match the current quantity.",
                            Some("CHANGE_FROM_QUANTITY_STALE"),
                        ));
                    }
                    // Adjustments are deltas on the current value; sets are absolute.
                    targets.push((
                        level.id,
                        if kind == Kind::Adjust {
                            current + qty
                        } else {
                            qty
                        },
                        r.get("ledgerDocumentUri").cloned().unwrap_or(Value::Null),
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        errors = stale;
    }
    if !errors.is_empty() {
        return Ok(json!({"inventoryAdjustmentGroup": null, "userErrors": errors}));
    }
    let now = st.now_str();
    let mut changes = Vec::new();
    for (level_id, qty, ledger) in targets {
        let Some(level) = st.levels.get_mut(&level_id) else {
            continue;
        };
        let delta = qty - level.quantity(&name);
        for (n, d) in level.apply(&name, delta, &now) {
            // The row's ledger document belongs to the named quantity, not to its mirrors.
            let ledger = if n == name {
                ledger.clone()
            } else {
                Value::Null
            };
            changes.push(change_json(level, &n, d, ledger));
        }
    }
    let group_id = st.next_id();
    st.touch();
    let answer = json!({
        "inventoryAdjustmentGroup": {
            "__typename": "InventoryAdjustmentGroup",
            "id": gid("InventoryAdjustmentGroup", group_id),
            "createdAt": now,
            "reason": reason,
            "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
            "changes": changes,
        },
        "userErrors": [],
    });
    if let Some(k) = key {
        st.idempotency.insert(k, (fingerprint, answer.clone()));
    }
    Ok(answer)
}

/// One entry of `InventoryAdjustmentGroup.changes`.
fn change_json(level: &InventoryLevel, name: &str, delta: i64, ledger: Value) -> Value {
    json!({"name": name, "delta": delta, "quantityAfterChange": null, "ledgerDocumentUri": ledger,
        "item": reference("InventoryItem", level.item_id), "location": reference("Location", level.location_id)})
}

/// `inventoryMoveQuantities`: moves stock between quantity names at a location (moving out of `available`
/// into another on-hand state such as damaged lowers `available` and leaves `on_hand` alone).
fn move_quantities(
    st: &mut State,
    args: &Map<String, Value>,
    cx: &RootCtx,
) -> Result<Value, FieldError> {
    if cx.version >= ApiVersion::V2026_04 && cx.idempotency_key.is_none() {
        let mut e = FieldError::new(
            "BAD_REQUEST",
            "The @idempotent directive is required for this mutation but was not provided.",
        );
        e.path = Some(vec![json!("inventoryMoveQuantities")]);
        return Err(e);
    }
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let rows = input
        .get("changes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let f = |parts: &[&str]| -> Option<Vec<String>> {
        Some(parts.iter().map(|s| s.to_string()).collect())
    };
    let mut errors = Vec::new();
    if !REASONS.contains(&reason.as_str()) {
        errors.push(coded_error(
            f(&["input", "reason"]),
            format!(
                "The specified reason is invalid. Valid values are: {}.",
                REASONS.join(", ")
            ),
            Some("INVALID_REASON"),
        ));
    }
    let mut moves = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let idx = i.to_string();
        let item = parse_gid(r.get("inventoryItemId"), "InventoryItem")
            .filter(|id| st.inventory_items.contains_key(id));
        if item.is_none() {
            errors.push(coded_error(
                f(&["input", "changes", &idx, "inventoryItemId"]),
                "The specified inventory item could not be found.",
                Some("INVALID_INVENTORY_ITEM"),
            ));
        }
        let mut ends = Vec::new();
        for end in ["from", "to"] {
            let loc = parse_gid(r.get(end).and_then(|e| e.get("locationId")), "Location")
                .filter(|id| st.locations.contains_key(id));
            if loc.is_none() && item.is_some() {
                errors.push(coded_error(
                    f(&["input", "changes", &idx, end, "locationId"]),
                    "The specified location could not be found.",
                    Some("INVALID_LOCATION"),
                ));
            }
            let name = r
                .get(end)
                .and_then(|e| e.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let ledger = r
                .get(end)
                .and_then(|e| e.get("ledgerDocumentUri"))
                .cloned()
                .unwrap_or(Value::Null);
            ends.push((loc, name, ledger));
        }
        let qty = r.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        if let (
            Some(item),
            [
                (Some(from), from_name, from_ledger),
                (Some(_), to_name, to_ledger),
            ],
        ) = (item, ends.as_slice())
        {
            let level = st.level_at(item, *from);
            match level {
                None => errors.push(coded_error(
                    f(&["input", "changes", &idx, "from", "locationId"]),
                    "The specified inventory item is not stocked at the location.",
                    Some("ITEM_NOT_STOCKED_AT_LOCATION"),
                )),
                Some(level) => moves.push((
                    level,
                    qty,
                    (from_name.clone(), from_ledger.clone()),
                    (to_name.clone(), to_ledger.clone()),
                )),
            }
        }
    }
    if !errors.is_empty() {
        return Ok(json!({"inventoryAdjustmentGroup": null, "userErrors": errors}));
    }
    let now = st.now_str();
    let mut changes = Vec::new();
    for (level_id, qty, from, to) in moves {
        let Some(level) = st.levels.get_mut(&level_id) else {
            continue;
        };
        // Both ends change; `on_hand` moves only by what crosses its boundary (e.g. into `incoming`), and
        // only then is it reported.
        let mut on_hand = 0;
        for ((n, ledger), d) in [(from, -qty), (to, qty)] {
            for (m, x) in level.apply(&n, d, &now) {
                if m == n {
                    changes.push(change_json(level, &m, x, ledger.clone()));
                } else {
                    on_hand += x;
                }
            }
        }
        if on_hand != 0 {
            changes.push(change_json(level, "on_hand", on_hand, Value::Null));
        }
    }
    let group_id = st.next_id();
    st.touch();
    Ok(json!({
        "inventoryAdjustmentGroup": {
            "__typename": "InventoryAdjustmentGroup",
            "id": gid("InventoryAdjustmentGroup", group_id),
            "createdAt": now,
            "reason": reason,
            "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
            "changes": changes,
        },
        "userErrors": [],
    }))
}

/// Inventory root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    Some(match field {
        "location" => Ok(parse_gid(args.get("id"), "Location")
            .and_then(|id| st.locations.get(&id))
            .map(location_json)
            .unwrap_or(Value::Null)),
        // Every emulated location is merchant-managed and ships, so both lists are the same.
        "locations" | "locationsAvailableForDeliveryProfilesConnection" => Ok(Value::Array(
            st.locations.values().map(location_json).collect(),
        )),
        "inventoryItem" => Ok(parse_gid(args.get("id"), "InventoryItem")
            .and_then(|id| st.inventory_items.get(&id))
            .map(|i| item_json(st, i))
            .unwrap_or(Value::Null)),
        "inventoryLevel" => Ok(parse_gid(args.get("id"), "InventoryLevel")
            .and_then(|id| st.levels.get(&id))
            .map(|l| level_json(st, l))
            .unwrap_or(Value::Null)),
        "locationAdd" => location_add(st, args),
        "inventoryItemUpdate" => Ok(item_update(st, args)),
        "inventoryActivate" => {
            // From 2026-04 the key is required (the mutation's schema description).
            if cx.version >= ApiVersion::V2026_04 && cx.idempotency_key.is_none() {
                let mut e = FieldError::new(
                    "BAD_REQUEST",
                    "The @idempotent directive is required for this mutation but was not provided.",
                );
                e.path = Some(vec![json!("inventoryActivate")]);
                return Some(Err(e));
            }
            Ok(activate(st, args))
        }
        "inventoryDeactivate" => Ok(deactivate(st, args)),
        "inventorySetQuantities" => quantities_mutation(st, args, cx, Kind::Set),
        "inventorySetOnHandQuantities" => quantities_mutation(st, args, cx, Kind::SetOnHand),
        "inventoryAdjustQuantities" => quantities_mutation(st, args, cx, Kind::Adjust),
        "inventoryMoveQuantities" => move_quantities(st, args, cx),
        _ => return None,
    })
}

/// Loads an inventory-domain object.
pub fn load(st: &State, ty: &str, id: u64, _gid: &str) -> Option<Value> {
    match ty {
        "Location" => st.locations.get(&id).map(location_json),
        "InventoryItem" => st.inventory_items.get(&id).map(|i| item_json(st, i)),
        "InventoryLevel" => st.levels.get(&id).map(|l| level_json(st, l)),
        _ => None,
    }
}

/// Whether a level passes a connection's search `query` (`inventory_item_id:N`, `location_id:N`; other
/// terms are ignored, as Shopify ignores search fields a connection does not know).
fn level_matches(l: &InventoryLevel, query: &str) -> bool {
    query.split_whitespace().all(|term| {
        let Some((field, value)) = term.split_once(':') else {
            return true;
        };
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        let id = |v: &str| v.rsplit('/').next().and_then(|n| n.parse::<u64>().ok());
        match field {
            "inventory_item_id" => id(value) == Some(l.item_id),
            "location_id" => id(value) == Some(l.location_id),
            _ => true,
        }
    })
}

/// Argument-dependent fields of inventory objects.
pub fn field_with_args(
    st: &State,
    obj: &Map<String, Value>,
    field: &str,
    args: &Map<String, Value>,
) -> Option<Value> {
    match field {
        "quantities" => {
            let q = obj.get("__quantities")?;
            let names = args.get("names").and_then(Value::as_array)?;
            let updated = obj.get("updatedAt").cloned().unwrap_or(Value::Null);
            let stamps = obj.get("__stamps");
            Some(Value::Array(
                // A name reads `updatedAt: null` until it first changes (`available` is stamped when the
                // level is created); the derived `on_hand` never carries one.
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|n| {
                        let stamp = stamps.and_then(|s| s.get(n)).cloned();
                        let at = match n {
                            "on_hand" => Value::Null,
                            "available" => stamp.unwrap_or_else(|| updated.clone()),
                            _ => stamp.unwrap_or(Value::Null),
                        };
                        json!({"name": n, "quantity": q.get(n).cloned().unwrap_or(json!(0)), "updatedAt": at})
                    })
                    .collect(),
            ))
        }
        // Deactivated levels are listed only on request.
        "inventoryLevels"
            if obj.get("__typename").and_then(Value::as_str) == Some("InventoryItem") =>
        {
            let item = parse_gid(obj.get("id"), "InventoryItem")?;
            let all = args.get("includeInactive").and_then(Value::as_bool) == Some(true);
            let query = args
                .get("query")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(Value::Array(
                st.levels_of_item(item)
                    .filter(|l| all || !l.inactive)
                    .filter(|l| level_matches(l, query))
                    .map(|l| level_json(st, l))
                    .collect(),
            ))
        }
        "inventoryLevel"
            if obj.get("__typename").and_then(Value::as_str) == Some("InventoryItem") =>
        {
            let item = super::parse_gid(obj.get("id"), "InventoryItem")?;
            let loc = parse_gid(args.get("locationId"), "Location")?;
            Some(
                st.level_at(item, loc)
                    .and_then(|id| st.levels.get(&id))
                    .map(|l| level_json(st, l))
                    .unwrap_or(Value::Null),
            )
        }
        _ => None,
    }
}
