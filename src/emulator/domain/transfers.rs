//! Inventory transfers between locations and their shipments, with their effect on quantities: a transfer
//! ready to ship reserves its stock at the origin, a shipment in transit takes it off the origin's hand
//! and makes it incoming at the destination.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, gid, parse_gid, reference};
use crate::core::config::ApiVersion;
use crate::emulator::store::State;

/// A transfer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Transfer {
    /// Numeric id.
    pub id: u64,
    /// `#T0001`, numbered per shop.
    pub name: String,
    /// DRAFT, READY_TO_SHIP, IN_PROGRESS or CANCELED.
    pub status: String,
    /// Origin location.
    pub origin: Option<u64>,
    /// Destination location.
    pub destination: Option<u64>,
    /// Reference name.
    pub reference_name: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Lines: (line id, inventory item, quantity).
    pub lines: Vec<(u64, u64, i64)>,
    /// Shipments made so far, in order.
    pub shipments: Vec<u64>,
}

/// A shipment of a transfer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Shipment {
    /// Numeric id.
    pub id: u64,
    /// The transfer's name with the shipment's number (`#T0001-1`).
    pub name: String,
    /// DRAFT or IN_TRANSIT.
    pub status: String,
    /// Transfer it ships.
    pub transfer: u64,
    /// Lines: (line id, inventory item, quantity).
    pub lines: Vec<(u64, u64, i64)>,
    /// Tracking (`trackingNumber`, `company`, `trackingUrl`, `arrivesAt`), as given.
    pub tracking: Option<Value>,
}

/// (picked for a draft shipment, shipped) of `item` in `t`.
fn line_progress(st: &State, t: &Transfer, item: u64) -> (i64, i64) {
    let mut picked = 0;
    let mut shipped = 0;
    for s in t
        .shipments
        .iter()
        .filter_map(|s| st.inventory_shipments.get(s))
    {
        let q: i64 = s.lines.iter().filter(|l| l.1 == item).map(|l| l.2).sum();
        if s.status == "DRAFT" {
            picked += q;
        } else {
            shipped += q;
        }
    }
    (picked, shipped)
}

fn snapshot(st: &State, loc: Option<u64>) -> Value {
    match loc {
        Some(l) => json!({"__typename": "LocationSnapshot",
            "name": st.locations.get(&l).map(|x| x.name.clone()),
            "location": reference("Location", l)}),
        None => Value::Null,
    }
}

fn item_title(st: &State, item: u64) -> Option<String> {
    let variant = st.inventory_items.get(&item)?.variant_id;
    let product = st.variants.get(&variant)?.product_id;
    st.products.get(&product).map(|p| p.title.clone())
}

fn transfer_line_json(st: &State, t: &Transfer, (id, item, qty): (u64, u64, i64)) -> Value {
    let (picked, shipped) = line_progress(st, t, item);
    let open = qty - picked - shipped;
    let shippable = if t.status == "DRAFT" || t.status == "CANCELED" {
        0
    } else {
        open
    };
    json!({"__typename": "InventoryTransferLineItem", "id": gid("InventoryTransferLineItem", id),
        "title": item_title(st, item), "totalQuantity": qty, "shippableQuantity": shippable,
        "shippedQuantity": shipped, "processableQuantity": open, "pickedForShipmentQuantity": picked,
        "inventoryItem": reference("InventoryItem", item)})
}

/// The InventoryTransfer object.
pub fn transfer_json(st: &State, t: &Transfer) -> Value {
    let lines: Vec<Value> = t
        .lines
        .iter()
        .map(|l| transfer_line_json(st, t, *l))
        .collect();
    json!({"__typename": "InventoryTransfer", "id": gid("InventoryTransfer", t.id), "name": t.name,
        "status": t.status, "referenceName": t.reference_name, "note": t.note, "tags": t.tags,
        "dateCreated": t.created_at, "origin": snapshot(st, t.origin),
        "destination": snapshot(st, t.destination),
        "totalQuantity": t.lines.iter().map(|l| l.2).sum::<i64>(),
        "lineItems": lines, "lineItemsCount": {"count": t.lines.len(), "precision": "EXACT"},
        "shipments": t.shipments.iter().map(|s| reference("InventoryShipment", *s)).collect::<Vec<_>>()})
}

/// The InventoryShipment object.
pub fn shipment_json(s: &Shipment) -> Value {
    let lines: Vec<Value> = s
        .lines
        .iter()
        .map(|(id, item, q)| {
            json!({"__typename": "InventoryShipmentLineItem", "id": gid("InventoryShipmentLineItem", *id),
            "quantity": q, "acceptedQuantity": 0, "rejectedQuantity": 0, "unreceivedQuantity": q,
            "inventoryItem": reference("InventoryItem", *item)})
        })
        .collect();
    json!({"__typename": "InventoryShipment", "id": gid("InventoryShipment", s.id), "name": s.name,
        "status": s.status, "lineItemTotalQuantity": s.lines.iter().map(|l| l.2).sum::<i64>(),
        "totalAcceptedQuantity": 0, "totalReceivedQuantity": 0, "totalRejectedQuantity": 0,
        "tracking": s.tracking, "lineItems": lines,
        "lineItemsCount": {"count": s.lines.len(), "precision": "EXACT"}})
}

/// Changes quantity `name` of `item` at `loc` by `delta`, where the item is stocked.
fn shift(st: &mut State, item: u64, loc: Option<u64>, name: &str, delta: i64) {
    let now = st.now_str();
    if let Some(level) = loc
        .and_then(|l| st.level_at(item, l))
        .and_then(|id| st.levels.get_mut(&id))
    {
        level.apply(name, delta, &now);
    }
}

/// Reserves (or, with `sign` -1, releases) the unshipped quantities of a transfer at its origin.
fn reserve(st: &mut State, t: &Transfer, sign: i64) {
    for (_, item, qty) in &t.lines {
        let (_, shipped) = line_progress(st, t, *item);
        let open = (qty - shipped).max(0) * sign;
        shift(st, *item, t.origin, "available", -open);
        shift(st, *item, t.origin, "reserved", open);
    }
}

fn lines_input(st: &mut State, input: &Map<String, Value>) -> Vec<(u64, u64, i64)> {
    input
        .get("lineItems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let item = parse_gid(l.get("inventoryItemId"), "InventoryItem")?;
            let q = l.get("quantity").and_then(Value::as_i64).unwrap_or(0);
            Some((item, q))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(item, q)| (st.next_id(), item, q))
        .collect()
}

fn input_of(args: &Map<String, Value>) -> Map<String, Value> {
    args.get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn create_transfer(st: &mut State, args: &Map<String, Value>, ready: bool) -> Value {
    let input = input_of(args);
    let lines = lines_input(st, &input);
    let id = st.next_id();
    let number = st.inventory_transfers.len() + 1;
    let t = Transfer {
        id,
        name: format!("#T{number:04}"),
        status: if ready { "READY_TO_SHIP" } else { "DRAFT" }.into(),
        origin: parse_gid(input.get("originLocationId"), "Location"),
        destination: parse_gid(input.get("destinationLocationId"), "Location"),
        reference_name: input
            .get("referenceName")
            .and_then(Value::as_str)
            .map(str::to_string),
        note: input
            .get("note")
            .and_then(Value::as_str)
            .map(str::to_string),
        tags: input
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        created_at: st.now_str(),
        lines,
        shipments: vec![],
    };
    if ready {
        reserve(st, &t, 1);
    }
    st.inventory_transfers.insert(id, t);
    st.touch();
    json!({"inventoryTransfer": reference("InventoryTransfer", id), "userErrors": []})
}

fn mark_ready(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let t = transfer_arg(st, args)?;
    if t.status == "DRAFT" {
        reserve(st, &t, 1);
        if let Some(x) = st.inventory_transfers.get_mut(&t.id) {
            x.status = "READY_TO_SHIP".into();
        }
        st.touch();
    }
    Ok(json!({"inventoryTransfer": reference("InventoryTransfer", t.id), "userErrors": []}))
}

fn cancel(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let t = transfer_arg(st, args)?;
    if matches!(t.status.as_str(), "READY_TO_SHIP" | "IN_PROGRESS") {
        reserve(st, &t, -1);
    }
    if let Some(x) = st.inventory_transfers.get_mut(&t.id) {
        x.status = "CANCELED".into();
    }
    st.touch();
    Ok(json!({"inventoryTransfer": reference("InventoryTransfer", t.id), "userErrors": []}))
}

fn delete_transfer(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let t = transfer_arg(st, args)?;
    if t.status != "DRAFT" {
        return Err(unsupported("deleting a transfer that is not a draft"));
    }
    st.inventory_transfers.remove(&t.id);
    st.touch();
    Ok(json!({"deletedId": gid("InventoryTransfer", t.id), "userErrors": []}))
}

/// No capture shows Shopify's answer; say so rather than invent one.
fn unsupported(what: &str) -> FieldError {
    FieldError::new(
        "EMULATOR_UNSUPPORTED_FIELD",
        format!("The emulator does not model {what}."),
    )
}

fn transfer_arg(st: &State, args: &Map<String, Value>) -> Result<Transfer, FieldError> {
    parse_gid(args.get("id"), "InventoryTransfer")
        .and_then(|id| st.inventory_transfers.get(&id))
        .cloned()
        .ok_or_else(|| unsupported("an unknown transfer id"))
}

fn create_shipment(
    st: &mut State,
    args: &Map<String, Value>,
    in_transit: bool,
) -> Result<Value, FieldError> {
    let input = input_of(args);
    let Some(t) = parse_gid(input.get("movementId"), "InventoryTransfer")
        .and_then(|id| st.inventory_transfers.get(&id))
        .cloned()
    else {
        return Err(unsupported("a shipment of an unknown transfer"));
    };
    let lines = lines_input(st, &input);
    let id = st.next_id();
    let s = Shipment {
        id,
        name: format!("{}-{}", t.name, t.shipments.len() + 1),
        status: if in_transit { "IN_TRANSIT" } else { "DRAFT" }.into(),
        transfer: t.id,
        tracking: input.get("trackingInput").cloned().filter(|v| !v.is_null()),
        lines,
    };
    if in_transit {
        for (_, item, q) in &s.lines {
            shift(st, *item, t.origin, "reserved", -q);
            shift(st, *item, t.destination, "incoming", *q);
        }
    }
    st.inventory_shipments.insert(id, s.clone());
    if let Some(x) = st.inventory_transfers.get_mut(&t.id) {
        x.shipments.push(id);
        if in_transit {
            x.status = "IN_PROGRESS".into();
        }
    }
    st.touch();
    Ok(json!({"inventoryShipment": reference("InventoryShipment", id), "userErrors": []}))
}

fn shipment_arg(st: &State, args: &Map<String, Value>) -> Result<Shipment, FieldError> {
    parse_gid(args.get("id"), "InventoryShipment")
        .and_then(|id| st.inventory_shipments.get(&id))
        .cloned()
        .ok_or_else(|| unsupported("an unknown shipment id"))
}

fn set_tracking(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let s = shipment_arg(st, args)?;
    if let Some(x) = st.inventory_shipments.get_mut(&s.id) {
        x.tracking = args.get("tracking").cloned().filter(|v| !v.is_null());
    }
    st.touch();
    Ok(json!({"inventoryShipment": reference("InventoryShipment", s.id), "userErrors": []}))
}

fn delete_shipment(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let s = shipment_arg(st, args)?;
    if s.status != "DRAFT" {
        return Err(unsupported("deleting a shipment that is in transit"));
    }
    st.inventory_shipments.remove(&s.id);
    if let Some(t) = st.inventory_transfers.get_mut(&s.transfer) {
        t.shipments.retain(|x| *x != s.id);
    }
    st.touch();
    Ok(json!({"id": gid("InventoryShipment", s.id), "userErrors": []}))
}

/// Transfer and shipment root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    // From 2026-04 every transfer and shipment mutation needs `@idempotent` (schema descriptions).
    if cx.mutation
        && cx.version >= ApiVersion::V2026_04
        && cx.idempotency_key.is_none()
        && (field.starts_with("inventoryTransfer") || field.starts_with("inventoryShipment"))
    {
        let mut e = FieldError::new(
            "BAD_REQUEST",
            "The @idempotent directive is required for this mutation but was not provided.",
        );
        e.path = Some(vec![json!(field)]);
        return Some(Err(e));
    }
    Some(match field {
        "inventoryTransferCreate" => Ok(create_transfer(st, args, false)),
        "inventoryTransferCreateAsReadyToShip" => Ok(create_transfer(st, args, true)),
        "inventoryTransferMarkAsReadyToShip" => mark_ready(st, args),
        "inventoryTransferCancel" => cancel(st, args),
        "inventoryTransferDelete" => delete_transfer(st, args),
        "inventoryShipmentCreate" => create_shipment(st, args, false),
        "inventoryShipmentCreateInTransit" => create_shipment(st, args, true),
        "inventoryShipmentSetTracking" => set_tracking(st, args),
        "inventoryShipmentDelete" => delete_shipment(st, args),
        "inventoryTransfer" => Ok(parse_gid(args.get("id"), "InventoryTransfer")
            .and_then(|id| st.inventory_transfers.get(&id))
            .map(|t| transfer_json(st, t))
            .unwrap_or(Value::Null)),
        "inventoryShipment" => Ok(parse_gid(args.get("id"), "InventoryShipment")
            .and_then(|id| st.inventory_shipments.get(&id))
            .map(shipment_json)
            .unwrap_or(Value::Null)),
        _ => return None,
    })
}

/// Loads a transfer, shipment or one of their lines.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    match ty {
        "InventoryTransfer" => st
            .inventory_transfers
            .get(&id)
            .map(|t| transfer_json(st, t)),
        "InventoryShipment" => st.inventory_shipments.get(&id).map(shipment_json),
        "InventoryTransferLineItem" => st.inventory_transfers.values().find_map(|t| {
            t.lines
                .iter()
                .find(|l| l.0 == id)
                .map(|l| transfer_line_json(st, t, *l))
        }),
        "InventoryShipmentLineItem" => st.inventory_shipments.values().find_map(|s| {
            shipment_json(s)["lineItems"]
                .as_array()?
                .iter()
                .find(|l| l["id"] == gid("InventoryShipmentLineItem", id).as_str())
                .cloned()
        }),
        _ => None,
    }
}
