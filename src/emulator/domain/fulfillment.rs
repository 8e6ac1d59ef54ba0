//! Orders, fulfillment orders, fulfillments and fulfillment events.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, gid, parse_gid, reference};
use crate::emulator::store::State;

/// An order (seeded).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Order {
    /// Numeric id.
    pub id: u64,
    /// Name, e.g. `#1001`.
    pub name: String,
    /// Line items.
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
    /// Fulfillment deadline (`fulfillmentOrdersSetFulfillmentDeadline`).
    pub fulfill_by: Option<String>,
    /// The OPEN fulfillment order a partial hold split off; releasing the hold merges it back.
    pub held_remainder: Option<u64>,
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
    /// Fulfillment events, oldest first.
    pub events: Vec<u64>,
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

fn display_reason(reason: &str) -> String {
    match reason {
        "AWAITING_RETURN_ITEMS" => "Exchange items awaiting return delivery".into(),
        other => {
            let lower = other.replace('_', " ").to_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// Whether `fo` can be merged: another OPEN, unsubmitted fulfillment order of the same order sits at the
/// same location.
fn mergeable(st: &State, fo: &FulfillmentOrder) -> bool {
    let ok = |f: &FulfillmentOrder| f.status == "OPEN" && f.request_status == "UNSUBMITTED";
    ok(fo)
        && st.fulfillment_orders.values().any(|o| {
            o.id != fo.id && o.order_id == fo.order_id && o.location_id == fo.location_id && ok(o)
        })
}

fn supported_actions(st: &State, fo: &FulfillmentOrder) -> Vec<&'static str> {
    let remaining: i64 = fo.line_items.iter().map(|l| l.2).sum();
    match fo.status.as_str() {
        "OPEN" => {
            let mut a = vec!["CREATE_FULFILLMENT", "REPORT_PROGRESS", "MOVE", "HOLD"];
            if remaining > 1 {
                a.push("SPLIT");
            }
            if mergeable(st, fo) {
                a.push("MERGE");
            }
            a
        }
        // HOLD disappears once the app holds the maximum of 10.
        "ON_HOLD" if fo.holds.len() >= 10 => vec!["RELEASE_HOLD", "MOVE"],
        "ON_HOLD" => vec!["RELEASE_HOLD", "HOLD", "MOVE"],
        "IN_PROGRESS" => vec![
            "CREATE_FULFILLMENT",
            "REPORT_PROGRESS",
            "HOLD",
            "MARK_AS_OPEN",
        ],
        "SCHEDULED" => vec!["MARK_AS_OPEN"],
        "INCOMPLETE" => vec!["REQUEST_FULFILLMENT", "CREATE_FULFILLMENT", "HOLD", "MOVE"],
        _ => vec![],
    }
}

fn hold_json(h: &(u64, String, String, Option<String>)) -> Value {
    json!({"__typename": "FulfillmentHold", "id": gid("FulfillmentHold", h.0), "reason": h.1, "handle": h.2, "reasonNotes": h.3, "displayReason": display_reason(&h.1), "heldByRequestingApp": true})
}

/// What of an order line can be fulfilled now: its remaining quantities on fulfillment orders that are
/// neither held nor closed.
fn fulfillable_quantity(st: &State, order_id: u64, line_item: u64) -> i64 {
    st.fulfillment_orders
        .values()
        .filter(|f| {
            f.order_id == order_id
                && matches!(
                    f.status.as_str(),
                    "OPEN" | "IN_PROGRESS" | "SCHEDULED" | "INCOMPLETE"
                )
        })
        .flat_map(|f| f.line_items.iter())
        .filter(|l| l.1 == line_item)
        .map(|l| l.2)
        .sum()
}

/// The FulfillmentOrder object.
pub fn fo_json(st: &State, fo: &FulfillmentOrder) -> Value {
    let order = st.orders.get(&fo.order_id);
    let location_name = st
        .locations
        .get(&fo.location_id)
        .map(|l| l.name.clone())
        .unwrap_or_default();
    // A cancelled FO hands its lines to the replacement (none left); a merged-away FO keeps them at zero.
    let lines: Vec<Value> = fo
        .line_items
        .iter()
        .map(|(id, li, remaining, total)| {
            let line = order.and_then(|o| o.line_items.iter().find(|x| x.id == *li));
            json!({
                "__typename": "FulfillmentOrderLineItem",
                "id": gid("FulfillmentOrderLineItem", *id),
                "totalQuantity": total,
                "remainingQuantity": remaining,
                "lineItem": {"id": gid("LineItem", *li), "title": line.map(|l| l.title.clone()), "quantity": line.map(|l| l.quantity),
                    "fulfillableQuantity": fulfillable_quantity(st, fo.order_id, *li), "sku": line.and_then(|l| l.sku.clone())},
            })
        })
        .collect();
    let lines = if fo.status == "CANCELLED" {
        vec![]
    } else {
        lines
    };
    json!({
        "__typename": "FulfillmentOrder",
        "id": gid("FulfillmentOrder", fo.id),
        "status": fo.status,
        "requestStatus": fo.request_status,
        // Unscheduled fulfillment orders report their creation time as `fulfillAt`.
        "fulfillAt": fo.fulfill_at.clone().or_else(|| (fo.status != "SCHEDULED").then(|| fo.created_at.clone())),
        "fulfillBy": fo.fulfill_by,
        "createdAt": fo.created_at,
        "updatedAt": fo.updated_at,
        "supportedActions": supported_actions(st, fo).iter().map(|a| json!({"action": a})).collect::<Vec<_>>(),
        "assignedLocation": {"name": location_name, "location": reference("Location", fo.location_id)},
        "fulfillmentHolds": fo.holds.iter().map(hold_json).collect::<Vec<_>>(),
        "lineItems": lines,
        "order": reference("Order", fo.order_id),
        "orderId": gid("Order", fo.order_id),
        "orderName": order.map(|o| o.name.clone()),
    })
}

fn order_json(st: &State, o: &Order) -> Value {
    let fos: Vec<&FulfillmentOrder> = st
        .fulfillment_orders
        .values()
        .filter(|f| f.order_id == o.id)
        .collect();
    let open: Vec<&&FulfillmentOrder> = fos
        .iter()
        .filter(|f| !matches!(f.status.as_str(), "CLOSED" | "CANCELLED"))
        .collect();
    // The order reads ON_HOLD only when every open fulfillment order is held.
    let display = if !open.is_empty() && open.iter().all(|f| f.status == "ON_HOLD") {
        "ON_HOLD"
    } else if fos.iter().any(|f| f.status == "IN_PROGRESS") {
        "IN_PROGRESS"
    } else if st
        .fulfillments
        .values()
        .any(|f| f.order_id == o.id && f.status == "SUCCESS")
    {
        if fos.iter().any(|f| {
            f.line_items.iter().any(|l| l.2 > 0)
                && !matches!(f.status.as_str(), "CLOSED" | "CANCELLED")
        }) {
            "PARTIALLY_FULFILLED"
        } else {
            "FULFILLED"
        }
    } else {
        "UNFULFILLED"
    };
    json!({
        "__typename": "Order",
        "id": gid("Order", o.id),
        "name": o.name,
        "displayFulfillmentStatus": display,
        "fulfillmentOrders": st.fulfillment_orders.values().filter(|f| f.order_id == o.id).map(|f| reference("FulfillmentOrder", f.id)).collect::<Vec<_>>(),
        "fulfillments": st.fulfillments.values().filter(|f| f.order_id == o.id).map(|f| reference("Fulfillment", f.id)).collect::<Vec<_>>(),
        "lineItems": o.line_items.iter().map(|l| json!({"id": gid("LineItem", l.id), "title": l.title, "quantity": l.quantity, "sku": l.sku})).collect::<Vec<_>>(),
    })
}

fn fulfillment_json(st: &State, f: &Fulfillment) -> Value {
    json!({
        "__typename": "Fulfillment",
        "id": gid("Fulfillment", f.id),
        "status": f.status,
        "displayStatus": f.display_status,
        "inTransitAt": f.in_transit_at,
        "estimatedDeliveryAt": f.estimated_delivery_at,
        "createdAt": f.created_at,
        "order": reference("Order", f.order_id),
        "events": f.events.iter().filter_map(|e| st.fulfillment_events.get(e)).map(event_json).collect::<Vec<_>>(),
    })
}

fn event_json(e: &FulfillmentEvent) -> Value {
    let mut m = e.fields.clone();
    m.remove("fulfillmentId");
    m.insert("__typename".into(), json!("FulfillmentEvent"));
    m.insert("id".into(), json!(gid("FulfillmentEvent", e.id)));
    m.insert("createdAt".into(), json!(e.created_at));
    for k in [
        "message",
        "happenedAt",
        "estimatedDeliveryAt",
        "city",
        "province",
        "country",
        "zip",
        "address1",
        "latitude",
        "longitude",
    ] {
        m.entry(k.to_string()).or_insert(Value::Null);
    }
    Value::Object(m)
}

fn ue(field: Option<&[&str]>, message: &str, code: Option<&str>) -> Value {
    json!({"field": field.map(|f| f.iter().map(|s| s.to_string()).collect::<Vec<_>>()), "message": message, "code": code})
}

fn find_fo(st: &State, args: &Map<String, Value>, root: &str) -> Result<u64, FieldError> {
    let raw = args
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match parse_gid(args.get("id"), "FulfillmentOrder")
        .filter(|id| st.fulfillment_orders.contains_key(id))
    {
        Some(id) => Ok(id),
        None => {
            let mut e = FieldError::new("RESOURCE_NOT_FOUND", format!("Invalid id: {raw}"));
            e.path = Some(vec![json!(root)]);
            Err(e)
        }
    }
}

/// Splits `quantities` (FO line item id -> quantity) off `fo_id` into a new FO; returns the new FO's id.
fn split_off(st: &mut State, fo_id: u64, quantities: &[(u64, i64)], status: &str) -> Option<u64> {
    let new_id = st.next_id();
    let mut fo = st.fulfillment_orders.get(&fo_id)?.clone();
    let mut new_lines = Vec::new();
    for (line_id, qty) in quantities {
        if let Some(l) = fo.line_items.iter_mut().find(|l| l.0 == *line_id) {
            l.2 -= qty;
            l.3 -= qty;
            let nid = st.next_id();
            new_lines.push((nid, l.1, *qty, *qty));
        }
    }
    fo.line_items.retain(|l| l.3 > 0);
    let now = st.now_str();
    let new = FulfillmentOrder {
        id: new_id,
        line_items: new_lines,
        holds: vec![],
        status: status.into(),
        created_at: now.clone(),
        updated_at: now.clone(),
        progress_reported: false,
        ..fo.clone()
    };
    fo.updated_at = now;
    st.fulfillment_orders.insert(fo_id, fo);
    st.fulfillment_orders.insert(new_id, new);
    Some(new_id)
}

fn requested_lines(fo: &FulfillmentOrder, arg: Option<&Value>) -> Vec<(u64, i64)> {
    arg.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    Some((
                        parse_gid(l.get("id"), "FulfillmentOrderLineItem")?,
                        l.get("quantity").and_then(Value::as_i64).unwrap_or(0),
                    ))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|(id, _)| fo.line_items.iter().any(|l| l.0 == *id))
        .collect()
}

fn is_partial(fo: &FulfillmentOrder, lines: &[(u64, i64)]) -> bool {
    !lines.is_empty()
        && fo.line_items.iter().any(|l| {
            lines
                .iter()
                .find(|(id, _)| *id == l.0)
                .map(|(_, q)| *q)
                .unwrap_or(0)
                < l.2
        })
}

fn hold(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let id = find_fo(st, args, "fulfillmentOrderHold")?;
    let fo = st.fulfillment_orders.get(&id).cloned().unwrap_or_default();
    let input = args
        .get("fulfillmentHold")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fail = |e: Value| json!({"fulfillmentHold": null, "fulfillmentOrder": null, "remainingFulfillmentOrder": null, "userErrors": [e]});
    let handle = input
        .get("handle")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let raw_lines = input
        .get("fulfillmentOrderLineItems")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, l) in raw_lines.iter().enumerate() {
        if l.get("quantity").and_then(Value::as_i64).unwrap_or(0) <= 0 {
            let idx = i.to_string();
            return Ok(fail(ue(
                Some(&[
                    "fulfillmentHold",
                    "fulfillmentOrderLineItems",
                    &idx,
                    "quantity",
                ]),
                "You must select at least one item to place on partial hold.",
                Some("GREATER_THAN_ZERO"),
            )));
        }
        if raw_lines[..i].iter().any(|o| o.get("id") == l.get("id")) {
            return Ok(fail(ue(
                Some(&["fulfillmentHold", "fulfillmentOrderLineItems"]),
                "must contain unique line item ids",
                Some("DUPLICATED_FULFILLMENT_ORDER_LINE_ITEMS"),
            )));
        }
    }
    if !matches!(
        fo.status.as_str(),
        "OPEN" | "ON_HOLD" | "IN_PROGRESS" | "INCOMPLETE" | "SCHEDULED"
    ) {
        return Ok(fail(ue(
            Some(&["id"]),
            "The fulfillment order is not in a holdable state.",
            None,
        )));
    }
    if fo.holds.len() >= 10 {
        return Ok(fail(ue(
            Some(&["id"]),
            "The maximum number of fulfillment holds for this fulfillment order has been reached for this app. An app can only have up to 10 holds on a single fulfillment order at any one time.",
            Some("FULFILLMENT_ORDER_HOLD_LIMIT_REACHED"),
        )));
    }
    if fo.holds.iter().any(|h| h.2 == handle) {
        return Ok(fail(ue(
            Some(&["fulfillmentHold", "handle"]),
            "The handle provided for the fulfillment hold is already in use by this app for another hold on this fulfillment order.",
            Some("DUPLICATE_FULFILLMENT_HOLD_HANDLE"),
        )));
    }
    let lines = requested_lines(&fo, input.get("fulfillmentOrderLineItems"));
    let partial = is_partial(&fo, &lines);
    if partial && fo.status == "ON_HOLD" {
        return Ok(fail(ue(
            Some(&["fulfillmentHold", "fulfillmentOrderLineItems"]),
            "The fulfillment order is not in a splittable state.",
            Some("FULFILLMENT_ORDER_NOT_SPLITTABLE"),
        )));
    }
    let remaining = if partial {
        // The unheld quantities move to a new OPEN fulfillment order.
        let rest: Vec<(u64, i64)> = fo
            .line_items
            .iter()
            .map(|l| {
                (
                    l.0,
                    l.2 - lines
                        .iter()
                        .find(|(id, _)| *id == l.0)
                        .map(|(_, q)| *q)
                        .unwrap_or(0),
                )
            })
            .filter(|(_, q)| *q > 0)
            .collect();
        split_off(st, id, &rest, "OPEN")
    } else {
        None
    };
    let hold_id = st.next_id();
    let hold = (
        hold_id,
        input
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("OTHER")
            .to_string(),
        handle,
        input
            .get("reasonNotes")
            .and_then(Value::as_str)
            .map(str::to_string),
    );
    let now = st.now_str();
    if let Some(f) = st.fulfillment_orders.get_mut(&id) {
        f.holds.push(hold.clone());
        f.status = "ON_HOLD".into();
        f.updated_at = now;
        if remaining.is_some() {
            f.held_remainder = remaining;
        }
    }
    st.touch();
    Ok(
        json!({"fulfillmentHold": hold_json(&hold), "fulfillmentOrder": reference("FulfillmentOrder", id), "remainingFulfillmentOrder": remaining.map(|r| reference("FulfillmentOrder", r)), "userErrors": []}),
    )
}

fn release_hold(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let id = find_fo(st, args, "fulfillmentOrderReleaseHold")?;
    let ids: Option<Vec<u64>> = args.get("holdIds").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| parse_gid(Some(v), "FulfillmentHold"))
            .collect()
    });
    let now = st.now_str();
    let Some(fo) = st.fulfillment_orders.get_mut(&id) else {
        return Ok(Value::Null);
    };
    if fo.status != "ON_HOLD" {
        return Ok(
            json!({"fulfillmentOrder": null, "userErrors": [ue(None, "The fulfillment order is not on hold.", None)]}),
        );
    }
    match ids {
        Some(ids) => fo.holds.retain(|h| !ids.contains(&h.0)),
        None => fo.holds.clear(),
    }
    let mut merge_back = None;
    if fo.holds.is_empty() {
        fo.status = "OPEN".into();
        merge_back = fo.held_remainder.take();
    }
    fo.updated_at = now;
    // Releasing a partial hold folds the quantities split off at hold time back into this FO.
    if let Some(r) = merge_back.filter(|r| {
        st.fulfillment_orders
            .get(r)
            .is_some_and(|o| o.status == "OPEN" && o.request_status == "UNSUBMITTED")
    }) {
        merge_into(st, id, r, None);
    }
    st.touch();
    Ok(json!({"fulfillmentOrder": reference("FulfillmentOrder", id), "userErrors": []}))
}

fn simple_transition(
    st: &mut State,
    args: &Map<String, Value>,
    root: &str,
) -> Result<Value, FieldError> {
    let id = find_fo(st, args, root)?;
    let now = st.now_str();
    let at_service = st
        .fulfillment_orders
        .get(&id)
        .and_then(|f| st.locations.get(&f.location_id))
        .is_some_and(|l| l.fulfillment_service.is_some());
    let Some(fo) = st.fulfillment_orders.get_mut(&id) else {
        return Ok(Value::Null);
    };
    let err = |m: String| Ok(json!({"fulfillmentOrder": null, "userErrors": [ue(None, &m, None)]}));
    match root {
        "fulfillmentOrderOpen" => {
            if !(fo.status == "SCHEDULED" || (fo.status == "IN_PROGRESS" && fo.progress_reported)) {
                return err(format!(
                    "Expected fulfillment order status to be valid but it was {}.",
                    fo.status.to_lowercase()
                ));
            }
            fo.status = "OPEN".into();
            fo.progress_reported = false;
            fo.fulfill_at = None;
        }
        // Only the fulfillment service holding the order closes it, once it accepted the request and the
        // order is in progress (Shopify's documentation of the mutation; messages as captured, except the
        // unaccepted request's, which no capture shows). The emulator serves one app, so every seeded
        // fulfillment service is the caller's own.
        "fulfillmentOrderClose" => {
            if !at_service {
                return err(
                    "The fulfillment order's assigned fulfillment service must be of api type"
                        .into(),
                );
            }
            if fo.status != "IN_PROGRESS" {
                return err("The fulfillment order is not in an in progress state.".into());
            }
            if fo.request_status != "ACCEPTED" {
                return err(
                    "The fulfillment order's fulfillment request has not been accepted.".into(),
                );
            }
            fo.status = "INCOMPLETE".into();
            fo.request_status = "CLOSED".into();
        }
        "fulfillmentOrderReschedule" => {
            if fo.status != "SCHEDULED" {
                return err("Fulfillment order must be scheduled.".into());
            }
            fo.fulfill_at = args
                .get("fulfillAt")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        "fulfillmentOrderReportProgress" => {
            if !matches!(fo.status.as_str(), "OPEN" | "IN_PROGRESS") {
                return err(format!(
                    "Expected fulfillment order status to be valid but it was {}.",
                    fo.status.to_lowercase()
                ));
            }
            fo.status = "IN_PROGRESS".into();
            fo.progress_reported = true;
        }
        _ => return Ok(Value::Null),
    }
    fo.updated_at = now;
    st.touch();
    Ok(json!({"fulfillmentOrder": reference("FulfillmentOrder", id), "userErrors": []}))
}

fn cancel(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let id = find_fo(st, args, "fulfillmentOrderCancel")?;
    let fo = st.fulfillment_orders.get(&id).cloned().unwrap_or_default();
    let fail = |e: Value| {
        Ok(
            json!({"fulfillmentOrder": null, "replacementFulfillmentOrder": null, "userErrors": [e]}),
        )
    };
    if fo.progress_reported {
        return fail(ue(
            Some(&["id"]),
            "Cannot cancel fulfillment order that has had progress reported. Mark as unfulfilled first.",
            Some("FULFILLMENT_ORDER_HAS_MANUALLY_REPORTED_PROGRESS"),
        ));
    }
    if matches!(fo.status.as_str(), "CANCELLED" | "INCOMPLETE")
        || (fo.status == "CLOSED" && fo.line_items.iter().all(|l| l.2 == 0))
    {
        return fail(ue(
            None,
            "Fulfillment order is not in cancelable request state and can't be canceled.",
            None,
        ));
    }
    let rest: Vec<(u64, i64)> = fo
        .line_items
        .iter()
        .map(|l| (l.0, l.2))
        .filter(|(_, q)| *q > 0)
        .collect();
    let replacement = split_off(st, id, &rest, "OPEN");
    if let Some(f) = st.fulfillment_orders.get_mut(&id) {
        f.status = "CLOSED".into();
        f.holds.clear();
    }
    if let Some(r) = replacement.and_then(|r| st.fulfillment_orders.get_mut(&r)) {
        r.request_status = "UNSUBMITTED".into();
    }
    st.touch();
    Ok(
        json!({"fulfillmentOrder": reference("FulfillmentOrder", id), "replacementFulfillmentOrder": replacement.map(|r| reference("FulfillmentOrder", r)), "userErrors": []}),
    )
}

fn move_fo(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let id = find_fo(st, args, "fulfillmentOrderMove")?;
    let fo = st.fulfillment_orders.get(&id).cloned().unwrap_or_default();
    let fail = |e: Value| {
        Ok(
            json!({"movedFulfillmentOrder": null, "originalFulfillmentOrder": null, "remainingFulfillmentOrder": null, "userErrors": [e]}),
        )
    };
    if matches!(fo.status.as_str(), "CLOSED" | "CANCELLED") {
        return fail(ue(None, "Cannot change location.", None));
    }
    if fo.progress_reported {
        return fail(ue(
            Some(&["id"]),
            "Cannot move a fulfillment order that has had progress reported. To move a fulfillment order that has had progress reported, the fulfillment order must first be marked as open resolving the ongoing progress state.",
            Some("CANNOT_MOVE_FULFILLMENT_ORDER_WITH_REPORTED_PROGRESS"),
        ));
    }
    if matches!(
        fo.request_status.as_str(),
        "SUBMITTED" | "ACCEPTED" | "CANCELLATION_REQUESTED" | "CANCELLATION_REJECTED"
    ) {
        return fail(ue(
            None,
            "Cannot move submitted fulfillment order that is at a 3PL fulfillment service.",
            None,
        ));
    }
    let Some(loc) =
        parse_gid(args.get("newLocationId"), "Location").filter(|l| st.locations.contains_key(l))
    else {
        return fail(ue(Some(&["id"]), "Location not found.", None));
    };
    let lines = requested_lines(&fo, args.get("fulfillmentOrderLineItems"));
    let now = st.now_str();
    let partial = is_partial(&fo, &lines);
    let moved = if partial {
        let new = split_off(st, id, &lines, &fo.status);
        if let Some(n) = new.and_then(|n| st.fulfillment_orders.get_mut(&n)) {
            n.location_id = loc;
            n.updated_at = now;
        }
        new.unwrap_or(id)
    } else {
        if let Some(f) = st.fulfillment_orders.get_mut(&id) {
            f.location_id = loc;
            f.updated_at = now;
        }
        id
    };
    st.touch();
    Ok(
        // A full move leaves nothing behind: no remaining fulfillment order.
        json!({"movedFulfillmentOrder": reference("FulfillmentOrder", moved), "originalFulfillmentOrder": reference("FulfillmentOrder", id), "remainingFulfillmentOrder": partial.then(|| reference("FulfillmentOrder", id)), "userErrors": []}),
    )
}

/// Moves `quantities` (FO line item id -> quantity; all remaining when `None`) of `from` into `into`:
/// lines for the same order line add up, and `from` closes once nothing is left on it.
fn merge_into(st: &mut State, into: u64, from: u64, quantities: Option<&[(u64, i64)]>) {
    let Some(mut src) = st.fulfillment_orders.get(&from).cloned() else {
        return;
    };
    let Some(mut dst) = st.fulfillment_orders.get(&into).cloned() else {
        return;
    };
    let now = st.now_str();
    for l in src.line_items.iter_mut() {
        let qty = match quantities {
            None => l.2,
            Some(q) => q.iter().find(|(id, _)| *id == l.0).map_or(0, |(_, q)| *q),
        };
        if qty <= 0 {
            continue;
        }
        l.2 -= qty;
        l.3 -= qty;
        match dst.line_items.iter_mut().find(|d| d.1 == l.1) {
            Some(d) => {
                d.2 += qty;
                d.3 += qty;
            }
            None => {
                let nid = st.next_id();
                dst.line_items.push((nid, l.1, qty, qty));
            }
        }
    }
    if src.line_items.iter().all(|l| l.2 == 0) {
        src.status = "CLOSED".into();
    }
    src.updated_at = now.clone();
    dst.updated_at = now;
    st.fulfillment_orders.insert(from, src);
    st.fulfillment_orders.insert(into, dst);
}

/// Requested `{id, quantity}` pairs of `fo`, or `None` when one names a line the FO lacks or asks for more
/// than remains (Shopify rejects the whole batch then).
fn checked_lines(fo: &FulfillmentOrder, arg: Option<&Value>) -> Option<Vec<(u64, i64)>> {
    let mut out = Vec::new();
    for l in arg.and_then(Value::as_array).into_iter().flatten() {
        let id = parse_gid(l.get("id"), "FulfillmentOrderLineItem")?;
        let qty = l.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let line = fo.line_items.iter().find(|x| x.0 == id)?;
        if qty <= 0 || qty > line.2 {
            return None;
        }
        out.push((id, qty));
    }
    Some(out)
}

const INVALID_QUANTITY: &str = "Invalid fulfillment order line item quantity requested.";

fn split(st: &mut State, args: &Map<String, Value>) -> Value {
    let fail = |m: &str| json!({"fulfillmentOrderSplits": null, "userErrors": [ue(None, m, None)]});
    let inputs = args
        .get("fulfillmentOrderSplits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Every split is checked before any is applied: one bad input rejects the batch.
    let mut plan = Vec::new();
    for input in &inputs {
        let Some(fo) = parse_gid(input.get("fulfillmentOrderId"), "FulfillmentOrder")
            .and_then(|id| st.fulfillment_orders.get(&id))
        else {
            return fail("Fulfillment order does not exist.");
        };
        if !supported_actions(st, fo).contains(&"SPLIT") {
            return fail("The fulfillment order is not in a splittable state.");
        }
        let Some(lines) = checked_lines(fo, input.get("fulfillmentOrderLineItems")) else {
            return fail(INVALID_QUANTITY);
        };
        if lines.is_empty() || !is_partial(fo, &lines) {
            return fail(INVALID_QUANTITY);
        }
        plan.push((fo.id, lines));
    }
    let mut results = Vec::new();
    for (id, lines) in plan {
        let status = st
            .fulfillment_orders
            .get(&id)
            .map(|f| f.status.clone())
            .unwrap_or_default();
        let new = split_off(st, id, &lines, &status);
        results.push(
            json!({"fulfillmentOrder": reference("FulfillmentOrder", id),
            "remainingFulfillmentOrder": new.map(|n| reference("FulfillmentOrder", n)),
            "replacementFulfillmentOrder": null}),
        );
    }
    st.touch();
    json!({"fulfillmentOrderSplits": results, "userErrors": []})
}

fn merge(st: &mut State, args: &Map<String, Value>) -> Value {
    let fail = |m: &str| json!({"fulfillmentOrderMerges": null, "userErrors": [ue(None, m, None)]});
    let inputs = args
        .get("fulfillmentOrderMergeInputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut plan = Vec::new();
    for input in &inputs {
        let mut intents = Vec::new();
        for intent in input
            .get("mergeIntents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(fo) = parse_gid(intent.get("fulfillmentOrderId"), "FulfillmentOrder")
                .and_then(|id| st.fulfillment_orders.get(&id))
            else {
                return fail("Fulfillment order does not exist.");
            };
            let Some(lines) = checked_lines(fo, intent.get("fulfillmentOrderLineItems")) else {
                return fail(INVALID_QUANTITY);
            };
            if !supported_actions(st, fo).contains(&"MERGE") {
                return fail("The fulfillment order is not in a mergeable state.");
            }
            intents.push((fo.id, lines));
        }
        if intents.len() < 2 {
            return fail("At least two fulfillment orders are required to merge.");
        }
        plan.push(intents);
    }
    let mut results = Vec::new();
    for intents in plan {
        let into = intents[0].0;
        for (from, lines) in &intents[1..] {
            let q = (!lines.is_empty()).then_some(lines.as_slice());
            merge_into(st, into, *from, q);
        }
        results.push(json!({"fulfillmentOrder": reference("FulfillmentOrder", into)}));
    }
    st.touch();
    json!({"fulfillmentOrderMerges": results, "userErrors": []})
}

fn set_deadline(st: &mut State, args: &Map<String, Value>) -> Value {
    let ids: Vec<Option<u64>> = args
        .get("fulfillmentOrderIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| {
                    parse_gid(Some(v), "FulfillmentOrder")
                        .filter(|id| st.fulfillment_orders.contains_key(id))
                })
                .collect()
        })
        .unwrap_or_default();
    if ids.iter().any(Option::is_none) {
        return json!({"success": false, "userErrors": [ue(Some(&["fulfillmentOrderIds"]), "Fulfillment orders could not be found.", Some("FULFILLMENT_ORDERS_NOT_FOUND"))]});
    }
    // Shopify stores the deadline to the second.
    let deadline = args
        .get("fulfillmentDeadline")
        .and_then(Value::as_str)
        .map(|d| match chrono::DateTime::parse_from_rfc3339(d) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            Err(_) => d.to_string(),
        });
    for id in ids.into_iter().flatten() {
        if let Some(f) = st.fulfillment_orders.get_mut(&id) {
            f.fulfill_by = deadline.clone();
        }
    }
    st.touch();
    json!({"success": true, "userErrors": []})
}

/// The emulator has no local-pickup fulfillment orders, so every id is one Shopify refuses.
fn prepared_for_pickup(args: &Map<String, Value>) -> Value {
    let items = args
        .get("input")
        .and_then(|i| i.get("lineItemsByFulfillmentOrder"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let errors: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let raw = item
                .get("fulfillmentOrderId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let num = raw.rsplit('/').next().unwrap_or(raw);
            let idx = i.to_string();
            ue(
                Some(&[
                    "input",
                    "lineItemsByFulfillmentOrder",
                    &idx,
                    "fulfillmentOrderId",
                ]),
                &format!("Invalid fulfillment_order_id provided {num}"),
                Some("FULFILLMENT_ORDER_INVALID"),
            )
        })
        .collect();
    json!({"userErrors": errors})
}

fn event_create(st: &mut State, args: &Map<String, Value>) -> Value {
    let input = args
        .get("fulfillmentEvent")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let Some(fid) = parse_gid(input.get("fulfillmentId"), "Fulfillment")
        .filter(|f| st.fulfillments.contains_key(f))
    else {
        return json!({"fulfillmentEvent": null, "userErrors": [{"field": ["fulfillmentEvent", "fulfillmentId"], "message": "Fulfillment does not exist."}]});
    };
    let id = st.next_id();
    let now = st.now_str();
    let mut fields = input.clone();
    fields
        .entry("happenedAt".to_string())
        .or_insert(json!(now.clone()));
    let status = fields
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("CONFIRMED")
        .to_string();
    let happened = fields
        .get("happenedAt")
        .and_then(Value::as_str)
        .map(str::to_string);
    let eta = fields
        .get("estimatedDeliveryAt")
        .and_then(Value::as_str)
        .map(str::to_string);
    st.fulfillment_events.insert(
        id,
        FulfillmentEvent {
            id,
            fulfillment_id: fid,
            fields,
            created_at: now,
        },
    );
    if let Some(f) = st.fulfillments.get_mut(&fid) {
        f.events.push(id);
        f.display_status = status.clone();
        if status == "IN_TRANSIT" {
            f.in_transit_at = happened;
        }
        if eta.is_some() {
            f.estimated_delivery_at = eta;
        }
    }
    st.touch();
    json!({"fulfillmentEvent": st.fulfillment_events.get(&id).map(event_json), "userErrors": []})
}

/// Fulfillment root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    Some(match field {
        "fulfillmentOrderHold" => hold(st, args),
        "fulfillmentOrderReleaseHold" => release_hold(st, args),
        "fulfillmentOrderOpen"
        | "fulfillmentOrderClose"
        | "fulfillmentOrderReschedule"
        | "fulfillmentOrderReportProgress" => simple_transition(st, args, field),
        "fulfillmentOrderCancel" => cancel(st, args),
        "fulfillmentOrderMove" => move_fo(st, args),
        "fulfillmentOrderSplit" => Ok(split(st, args)),
        "fulfillmentOrderMerge" => Ok(merge(st, args)),
        "fulfillmentOrdersSetFulfillmentDeadline" => Ok(set_deadline(st, args)),
        "fulfillmentOrderLineItemsPreparedForPickup" => Ok(prepared_for_pickup(args)),
        "fulfillmentEventCreate" => Ok(event_create(st, args)),
        "fulfillmentOrder" => Ok(parse_gid(args.get("id"), "FulfillmentOrder")
            .and_then(|id| st.fulfillment_orders.get(&id))
            .map(|f| fo_json(st, f))
            .unwrap_or(Value::Null)),
        "order" => Ok(parse_gid(args.get("id"), "Order")
            .and_then(|id| st.orders.get(&id))
            .map(|o| order_json(st, o))
            .unwrap_or(Value::Null)),
        "fulfillment" => Ok(parse_gid(args.get("id"), "Fulfillment")
            .and_then(|id| st.fulfillments.get(&id))
            .map(|f| fulfillment_json(st, f))
            .unwrap_or(Value::Null)),
        _ => return None,
    })
}

/// Loads a fulfillment-domain object.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    match ty {
        "FulfillmentOrder" => st.fulfillment_orders.get(&id).map(|f| fo_json(st, f)),
        "Order" => st.orders.get(&id).map(|o| order_json(st, o)),
        "Fulfillment" => st.fulfillments.get(&id).map(|f| fulfillment_json(st, f)),
        "FulfillmentEvent" => st.fulfillment_events.get(&id).map(event_json),
        _ => None,
    }
}
