//! Code and automatic discounts (basic, buy X get Y, free shipping, app) and redeem codes.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, gid, parse_gid, reference};
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
    /// Last update time.
    pub updated_at: String,
    /// basic (also when empty), bxgy, free_shipping or app.
    pub kind: String,
    /// Automatic (no codes, `DiscountAutomaticNode`) rather than a code discount.
    pub automatic: bool,
}

/// A Shopify Function deployed on the shop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopifyFunction {
    /// Function id (a UUID).
    pub id: String,
    /// Handle.
    pub handle: String,
    /// Title.
    pub title: String,
    /// API type, e.g. `discount`.
    pub api_type: String,
}

/// A customer segment the shop already has (seeded, read-only: discounts name segments in their
/// buyer context; the emulator does not model segment membership or `segmentCreate`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerSegment {
    /// Numeric id (`gid://shopify/Segment/<id>`).
    pub id: u64,
    /// Name.
    pub name: String,
    /// The segment's query.
    pub query: String,
    /// Creation time.
    pub creation_date: Option<String>,
    /// Last edit time.
    pub last_edit_date: Option<String>,
}

fn segment_json(s: &CustomerSegment) -> Value {
    json!({"__typename": "Segment", "id": gid("Segment", s.id), "name": s.name, "query": s.query,
        "creationDate": s.creation_date, "lastEditDate": s.last_edit_date})
}

/// The discount kinds, as their mutations name them.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Basic,
    Bxgy,
    FreeShipping,
    App,
}

impl Kind {
    fn of(d: &Discount) -> Kind {
        match d.kind.as_str() {
            "bxgy" => Kind::Bxgy,
            "free_shipping" => Kind::FreeShipping,
            "app" => Kind::App,
            _ => Kind::Basic,
        }
    }
    fn stored(self) -> &'static str {
        match self {
            Kind::Basic => "basic",
            Kind::Bxgy => "bxgy",
            Kind::FreeShipping => "free_shipping",
            Kind::App => "app",
        }
    }
    /// The input argument of the create/update mutation.
    fn arg(self, automatic: bool) -> &'static str {
        match (self, automatic) {
            (Kind::Basic, false) => "basicCodeDiscount",
            (Kind::Bxgy, false) => "bxgyCodeDiscount",
            (Kind::FreeShipping, false) => "freeShippingCodeDiscount",
            (Kind::App, false) => "codeAppDiscount",
            (Kind::Basic, true) => "automaticBasicDiscount",
            (Kind::Bxgy, true) => "automaticBxgyDiscount",
            (Kind::FreeShipping, true) => "freeShippingAutomaticDiscount",
            (Kind::App, true) => "automaticAppDiscount",
        }
    }
    /// The payload field holding the result.
    fn payload_key(self, automatic: bool) -> &'static str {
        match (self, automatic) {
            (Kind::App, false) => "codeAppDiscount",
            (Kind::App, true) => "automaticAppDiscount",
            (_, false) => "codeDiscountNode",
            (_, true) => "automaticDiscountNode",
        }
    }
    fn typename(self, automatic: bool) -> &'static str {
        match (self, automatic) {
            (Kind::Basic, false) => "DiscountCodeBasic",
            (Kind::Bxgy, false) => "DiscountCodeBxgy",
            (Kind::FreeShipping, false) => "DiscountCodeFreeShipping",
            (Kind::App, false) => "DiscountCodeApp",
            (Kind::Basic, true) => "DiscountAutomaticBasic",
            (Kind::Bxgy, true) => "DiscountAutomaticBxgy",
            (Kind::FreeShipping, true) => "DiscountAutomaticFreeShipping",
            (Kind::App, true) => "DiscountAutomaticApp",
        }
    }
}

fn node_type(automatic: bool) -> &'static str {
    if automatic {
        "DiscountAutomaticNode"
    } else {
        "DiscountCodeNode"
    }
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

fn derr(field: Option<Vec<&str>>, message: &str, code: Option<&str>) -> Value {
    json!({"field": field, "message": message, "code": code, "extraInfo": null})
}

/// Shopify's `Decimal` output form: the shortest decimal text with at least one fractional digit
/// (`"10.00"` -> `"10.0"`, `"5"` -> `"5.0"`, `"2.50"` -> `"2.5"`). Text that is no plain decimal is kept.
pub fn decimal_text(text: &str) -> String {
    let t = text.trim();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !plain(int) || !plain(frac) || (int.is_empty() && frac.is_empty()) {
        return text.to_string();
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() { "0" } else { frac };
    let sign = if int == "0" && frac == "0" { "" } else { sign };
    format!("{sign}{int}.{frac}")
}

fn money(st: &State, amount: &Value) -> Value {
    let a = amount
        .as_str()
        .map(str::to_string)
        .or_else(|| amount.as_f64().map(|f| f.to_string()))
        .unwrap_or_else(|| "0.0".into());
    json!({"amount": decimal_text(&a), "currencyCode": st.currency()})
}

/// A money amount as summaries show it (`$5.00`): two decimals.
fn summary_amount(m: &Value) -> String {
    let amount: f64 = m["amount"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.0);
    format!("${amount:.2}")
}

fn percent_text(p: f64) -> String {
    let v = p * 100.0;
    if v.fract() == 0.0 {
        format!("{}%", v as i64)
    } else {
        format!("{v}%")
    }
}

/// The ids a `{add, remove}` input leaves selected: those added, less those removed.
fn added_ids<'a>(sel: &'a Value, add: &str, remove: &str) -> Vec<&'a str> {
    let ids = |k: &str| -> Vec<&'a str> {
        sel.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let removed = ids(remove);
    ids(add)
        .into_iter()
        .filter(|id| !removed.contains(id))
        .collect()
}

/// The buyer context (`DiscountContext`): `context` or the older `customerSelection` naming specific
/// customers or customer segments; everyone otherwise.
fn context_json(i: &Value) -> Value {
    let sel = if i.get("context").is_some_and(Value::is_object) {
        &i["context"]
    } else {
        &i["customerSelection"]
    };
    if let Some(c) = sel.get("customers").filter(|c| c.is_object()) {
        let customers: Vec<Value> = added_ids(c, "add", "remove")
            .into_iter()
            .filter_map(|g| parse_gid(Some(&json!(g)), "Customer"))
            .map(|id| reference("Customer", id))
            .collect();
        return json!({"__typename": "DiscountCustomers", "customers": customers});
    }
    if let Some(c) = sel.get("customerSegments").filter(|c| c.is_object()) {
        let segments: Vec<Value> = added_ids(c, "add", "remove")
            .into_iter()
            .filter_map(|g| parse_gid(Some(&json!(g)), "Segment"))
            .map(|id| reference("Segment", id))
            .collect();
        return json!({"__typename": "DiscountCustomerSegments", "segments": segments});
    }
    json!({"__typename": "DiscountBuyerSelectionAll", "all": "ALL"})
}

/// The DiscountCodeBasic object.
pub fn basic_json(st: &State, d: &Discount) -> Value {
    let i = &d.input;
    let value = &i["customerGets"]["value"];
    let (value_json, summary) = if let Some(p) = value.get("percentage").and_then(Value::as_f64) {
        (
            json!({"__typename": "DiscountPercentage", "percentage": p}),
            format!("{} off", percent_text(p)),
        )
    } else if let Some(a) = value.get("discountAmount") {
        let m = money(st, &a["amount"]);
        let s = format!("{} off", summary_amount(&m));
        (
            json!({"__typename": "DiscountAmount", "amount": m, "appliesOnEachItem": a.get("appliesOnEachItem").and_then(Value::as_bool).unwrap_or(false)}),
            s,
        )
    } else {
        (Value::Null, String::new())
    };
    let all_items = i["customerGets"]["items"]
        .get("all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let items = if all_items {
        json!({"__typename": "AllDiscountItems", "allItems": true})
    } else {
        json!({"__typename": "DiscountProducts", "products": [], "productVariants": []})
    };
    let mut summary = format!("{summary} one-time purchase products");
    if let Some(sub) = i["minimumRequirement"]["subtotal"].get("greaterThanOrEqualToSubtotal") {
        summary.push_str(&format!(
            " \u{2022} Minimum purchase of {}",
            summary_amount(&money(st, sub))
        ));
    }
    let min = match (
        &i["minimumRequirement"]["subtotal"],
        &i["minimumRequirement"]["quantity"],
    ) {
        (s, _) if s.is_object() => {
            json!({"__typename": "DiscountMinimumSubtotal", "greaterThanOrEqualToSubtotal": money(st, &s["greaterThanOrEqualToSubtotal"])})
        }
        (_, q) if q.is_object() => {
            json!({"__typename": "DiscountMinimumQuantity", "greaterThanOrEqualToQuantity": q["greaterThanOrEqualToQuantity"].as_str().map(str::to_string).unwrap_or_else(|| q["greaterThanOrEqualToQuantity"].to_string())})
        }
        _ => Value::Null,
    };
    let cw = &i["combinesWith"];
    let b = |k: &str| cw.get(k).and_then(Value::as_bool).unwrap_or(false);
    let codes: Vec<Value> = d.codes.iter().map(|(id, code)| json!({"__typename": "DiscountRedeemCode", "id": gid("DiscountRedeemCode", *id), "code": code, "asyncUsageCount": 0})).collect();
    let kind = Kind::of(d);
    let app = (kind == Kind::App).then(|| {
        let handle = i.get("functionHandle").and_then(Value::as_str);
        let fid = i.get("functionId").and_then(Value::as_str);
        st.functions
            .iter()
            .find(|f| Some(f.handle.as_str()) == handle || Some(f.id.as_str()) == fid)
            .map(|f| json!({"__typename": "AppDiscountType", "functionId": f.id, "title": f.title, "description": f.title}))
    });
    json!({
        "__typename": kind.typename(d.automatic),
        "discountId": gid(node_type(d.automatic), d.id),
        "appDiscountType": app.flatten(),
        "title": d.title,
        "status": d.status,
        "summary": summary,
        "startsAt": d.starts_at,
        "endsAt": d.ends_at,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
        "asyncUsageCount": 0,
        "usageLimit": i.get("usageLimit").cloned().unwrap_or(Value::Null),
        "appliesOncePerCustomer": i.get("appliesOncePerCustomer").and_then(Value::as_bool).unwrap_or(false),
        "discountClasses": [if all_items { "ORDER" } else { "PRODUCT" }],
        "discountClass": if all_items { "ORDER" } else { "PRODUCT" },
        "combinesWith": {"productDiscounts": b("productDiscounts"), "orderDiscounts": b("orderDiscounts"), "shippingDiscounts": b("shippingDiscounts")},
        "codes": codes,
        "codesCount": {"count": d.codes.len(), "precision": "EXACT"},
        "context": context_json(i),
        "customerGets": {
            "value": value_json,
            "items": items,
            "appliesOnOneTimePurchase": i["customerGets"].get("appliesOnOneTimePurchase").and_then(Value::as_bool).unwrap_or(true),
            "appliesOnSubscription": i["customerGets"].get("appliesOnSubscription").and_then(Value::as_bool).unwrap_or(false),
        },
        "minimumRequirement": min,
        "tags": i.get("tags").cloned().unwrap_or(json!([])),
    })
}

fn node_json(st: &State, d: &Discount) -> Value {
    let body = basic_json(st, d);
    if d.automatic {
        json!({"__typename": "DiscountAutomaticNode", "id": gid("DiscountAutomaticNode", d.id), "automaticDiscount": body, "discount": body})
    } else {
        json!({"__typename": "DiscountCodeNode", "id": gid("DiscountCodeNode", d.id), "codeDiscount": body, "discount": body})
    }
}

/// What a create/update payload holds: the node, or for app discounts the discount itself.
fn payload_value(st: &State, d: &Discount) -> Value {
    if Kind::of(d) == Kind::App {
        basic_json(st, d)
    } else {
        reference(node_type(d.automatic), d.id)
    }
}

fn code_taken(st: &State, code: &str, except: Option<u64>) -> bool {
    st.discount_code_holders(code)
        .iter()
        .any(|(d, _)| Some(*d) != except)
}

/// Validates a `DiscountCodeBasicInput` (`arg` names the argument in error paths).
fn validate(
    st: &State,
    arg: &str,
    input: &Map<String, Value>,
    creating: bool,
    except: Option<u64>,
    kind: Kind,
    automatic: bool,
) -> Vec<Value> {
    let mut errors = Vec::new();
    // The buyer context has two spellings (`context`, the older `customerSelection`); one input may use one.
    if ["context", "customerSelection"]
        .iter()
        .all(|k| input.get(*k).is_some_and(|v| !v.is_null()))
    {
        errors.push(derr(
            Some(vec![arg, "context"]),
            "Only one of context or customerSelection can be provided.",
            Some("INVALID"),
        ));
    }
    // Shipping discounts never combine with other shipping discounts.
    if kind == Kind::FreeShipping
        && input
            .get("combinesWith")
            .and_then(|c| c.get("shippingDiscounts"))
            .and_then(Value::as_bool)
            == Some(true)
    {
        errors.push(derr(
            Some(vec![arg, "combinesWith"]),
            "The combinesWith settings are not valid for the discount class.",
            Some("INVALID_COMBINES_WITH_FOR_DISCOUNT_CLASS"),
        ));
        // Automatic free-shipping discounts report this alone (captured: a blank title is not
        // reported beside it).
        if automatic {
            return errors;
        }
    }
    // What a buy X get Y discount gives is named items, never all of them (reported before the title).
    if kind == Kind::Bxgy
        && input
            .get("customerGets")
            .and_then(|g| g.get("items"))
            .and_then(|i| i.get("all"))
            .and_then(Value::as_bool)
            == Some(true)
    {
        errors.push(derr(
            Some(vec![arg, "customerGets"]),
            "Items in 'customer get' cannot be set to all",
            Some("INVALID"),
        ));
    }
    // App discounts word their title errors differently (and differently again between code and
    // automatic ones), all with code INVALID.
    let (blank, long, code) = match (kind, automatic) {
        (Kind::App, false) => (
            "can't be blank",
            "is too long (maximum is 255 characters)",
            ("INVALID", "INVALID"),
        ),
        (Kind::App, true) => (
            "Title can't be blank.",
            "is too long (maximum is 255 characters)",
            ("INVALID", "INVALID"),
        ),
        _ => (
            "Title can't be blank",
            "Title is too long (maximum is 255 characters)",
            ("BLANK", "TOO_LONG"),
        ),
    };
    match input.get("title").and_then(Value::as_str) {
        Some(t) if t.trim().is_empty() => {
            errors.push(derr(Some(vec![arg, "title"]), blank, Some(code.0)))
        }
        Some(t) if t.chars().count() > 255 => {
            errors.push(derr(Some(vec![arg, "title"]), long, Some(code.1)))
        }
        None if creating => errors.push(derr(Some(vec![arg, "title"]), blank, Some(code.0))),
        _ => {}
    }
    if !automatic {
        validate_code(st, arg, input, creating, except, &mut errors);
    }
    // Both times given in this input: the end must come after the start.
    if let (Some(starts), Some(ends)) = (
        normalize_time(input.get("startsAt")),
        normalize_time(input.get("endsAt")),
    ) && ends <= starts
    {
        errors.push(derr(
            Some(vec![arg, "endsAt"]),
            "Ends at needs to be after starts_at",
            Some("INVALID"),
        ));
    }
    validate_gets_and_items(st, arg, input, kind, &mut errors);
    errors
}

/// The redeem code, start time and percentage range of a code discount.
fn validate_code(
    st: &State,
    arg: &str,
    input: &Map<String, Value>,
    creating: bool,
    except: Option<u64>,
    errors: &mut Vec<Value>,
) {
    match input.get("code").and_then(Value::as_str) {
        None if creating => errors.push(derr(
            Some(vec![arg, "code"]),
            "Code can't be blank",
            Some("BLANK"),
        )),
        Some("") => errors.push(derr(
            Some(vec![arg, "code"]),
            "Code is too short (minimum is 1 character)",
            Some("TOO_SHORT"),
        )),
        Some(c) if c.contains('\n') || c.contains('\r') => errors.push(derr(
            Some(vec![arg, "code"]),
            "Code cannot contain newline characters.",
            Some("INVALID"),
        )),
        Some(c) if c.chars().count() > 255 => errors.push(derr(
            Some(vec![arg, "code"]),
            "Code is too long (maximum is 255 characters)",
            Some("TOO_LONG"),
        )),
        Some(c) if code_taken(st, c, except) => errors.push(derr(
            Some(vec![arg, "code"]),
            "Code must be unique. Please try a different code.",
            Some("TAKEN"),
        )),
        _ => {}
    }
    if (creating && input.get("startsAt").is_none_or(Value::is_null))
        || input.get("startsAt").is_some_and(Value::is_null)
    {
        errors.push(derr(
            Some(vec![arg, "startsAt"]),
            "Starts at can't be blank",
            Some("BLANK"),
        ));
    }
    if let Some(p) = input
        .get("customerGets")
        .and_then(|c| c.get("value"))
        .and_then(|v| v.get("percentage"))
        .and_then(Value::as_f64)
        && !(0.0..=1.0).contains(&p)
    {
        errors.push(derr(
            Some(vec![arg, "customerGets", "value", "percentage"]),
            "Value must be between 0.0 and 1.0",
            Some("VALUE_OUTSIDE_RANGE"),
        ));
    }
}

/// What the discount gives and the items it names: `discountOnQuantity` belongs to buy X get Y
/// discounts only; an item selection names products/variants or collections, never both, and every
/// product and variant it adds must exist.
fn validate_gets_and_items(
    st: &State,
    arg: &str,
    input: &Map<String, Value>,
    kind: Kind,
    errors: &mut Vec<Value>,
) {
    let gets = input.get("customerGets").unwrap_or(&Value::Null);
    if kind == Kind::Basic
        && gets
            .get("value")
            .and_then(|v| v.get("discountOnQuantity"))
            .is_some_and(|q| !q.is_null())
    {
        errors.push(derr(
            Some(vec![arg, "customerGets", "value", "discountOnQuantity"]),
            "discountOnQuantity field is only permitted with bxgy discounts.",
            Some("INVALID"),
        ));
    }
    // What a buy X get Y customer must buy is named items: products, variants or collections.
    if kind == Kind::Bxgy && input.get("customerBuys").is_some_and(|b| !b.is_null()) {
        let items = &input["customerBuys"]["items"];
        let names = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        if !(names(&items["products"], "productsToAdd")
            || names(&items["products"], "productVariantsToAdd")
            || names(&items["collections"], "add"))
        {
            errors.push(derr(
                Some(vec![arg, "customerBuys", "items"]),
                "Items in 'customer buys' must be defined",
                Some("BLANK"),
            ));
        }
    }
    for side in ["customerGets", "customerBuys"] {
        let items = &input.get(side).unwrap_or(&Value::Null)["items"];
        let products = &items["products"];
        let named = |k: &str| {
            products
                .get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        let collections = items["collections"]
            .get("add")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if collections && (named("productsToAdd") || named("productVariantsToAdd")) {
            errors.push(derr(
                Some(vec![arg, side, "items", "collections", "add"]),
                "Cannot entitle collections in combination with product variants or products",
                Some("CONFLICT"),
            ));
        }
        // Only the first unknown id of each list is reported, as Shopify does.
        let lists = [
            ("productsToAdd", "Product", "Product"),
            ("productVariantsToAdd", "ProductVariant", "Product variant"),
        ];
        for (key, ty, noun) in lists {
            let unknown = products
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|g| {
                    let id = parse_gid(Some(g), ty);
                    let known = id.is_some_and(|id| match ty {
                        "Product" => st.products.contains_key(&id),
                        _ => st.variants.contains_key(&id),
                    });
                    (!known).then(|| {
                        id.map(|i| i.to_string())
                            .unwrap_or_else(|| g.as_str().unwrap_or_default().to_string())
                    })
                });
            if let Some(id) = unknown {
                errors.push(derr(
                    Some(vec![arg, side, "items", "products", key]),
                    &format!("{noun} with id: {id} is invalid"),
                    Some("INVALID"),
                ));
            }
        }
    }
}

/// Input shapes Shopify refuses before looking at anything else, as a top-level `BAD_REQUEST` error
/// (the mutation field then answers null): a value of more than one kind, and an id or country both
/// added and removed.
fn shape_error(input: &Map<String, Value>) -> Option<FieldError> {
    let bad = |m: &str| Some(FieldError::new("BAD_REQUEST", m));
    let present = |v: &Value, k: &str| v.get(k).is_some_and(|x| !x.is_null());
    let value = &input.get("customerGets").unwrap_or(&Value::Null)["value"];
    let kinds = ["percentage", "discountOnQuantity", "discountAmount"]
        .iter()
        .filter(|k| present(value, k))
        .count();
    if kinds > 1 {
        return bad(
            "A discount can only have one of percentage, discountOnQuantity or discountAmount.",
        );
    }
    let overlap = |sel: &Value, add: &str, remove: &str| {
        let list = |k: &str| {
            sel.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let removed = list(remove);
        list(add).iter().any(|v| removed.contains(v))
    };
    for buyers in ["customerSelection", "context"] {
        let sel = &input.get(buyers).unwrap_or(&Value::Null)["customers"];
        if overlap(sel, "add", "remove") {
            return bad("A customer id is present in `add` and `remove` fields");
        }
    }
    for side in ["customerGets", "customerBuys"] {
        let items = &input.get(side).unwrap_or(&Value::Null)["items"];
        let pairs = [
            (&items["collections"], "add", "remove", "Collection"),
            (
                &items["products"],
                "productsToAdd",
                "productsToRemove",
                "Product",
            ),
            (
                &items["products"],
                "productVariantsToAdd",
                "productVariantsToRemove",
                "ProductVariant",
            ),
        ];
        for (sel, add, remove, ty) in pairs {
            if overlap(sel, add, remove) {
                return bad(&format!(
                    "The same {ty} id is present in both 'add' and 'remove' fields"
                ));
            }
        }
    }
    let countries = &input.get("destination").unwrap_or(&Value::Null)["countries"];
    if overlap(countries, "add", "remove") {
        return bad("A country code is present in `add` and `remove` field");
    }
    None
}

fn status_for(starts: Option<&str>, ends: Option<&str>, now: &str) -> &'static str {
    match (starts, ends) {
        (_, Some(e)) if e <= now => "EXPIRED",
        (Some(s), _) if s > now => "SCHEDULED",
        _ => "ACTIVE",
    }
}

fn normalize_time(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// The Shopify Function an app discount names (`functionId` or `functionHandle`).
fn function_of<'a>(st: &'a State, input: &Map<String, Value>) -> Option<&'a ShopifyFunction> {
    let handle = input.get("functionHandle").and_then(Value::as_str);
    let id = input.get("functionId").and_then(Value::as_str);
    st.functions
        .iter()
        .find(|f| Some(f.handle.as_str()) == handle || Some(f.id.as_str()) == id)
}

fn create(
    st: &mut State,
    args: &Map<String, Value>,
    kind: Kind,
    automatic: bool,
) -> Result<Value, FieldError> {
    let arg = kind.arg(automatic);
    let key = kind.payload_key(automatic);
    let input = args
        .get(arg)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(e) = shape_error(&input) {
        return Err(e);
    }
    let errors = validate(st, arg, &input, true, None, kind, automatic);
    if !errors.is_empty() {
        return Ok(json!({key: null, "userErrors": errors}));
    }
    if kind == Kind::App && function_of(st, &input).is_none() {
        // No capture shows Shopify's answer for an unknown function; say so rather than invent one.
        return Err(FieldError::new(
            "EMULATOR_UNSUPPORTED_FIELD",
            "The emulator's shop has no Shopify Function with that functionId/functionHandle (seed `functions`).",
        ));
    }
    let now = st.now_str();
    let id = st.next_id();
    let code_id = st.next_id();
    let starts = normalize_time(input.get("startsAt"));
    let ends = normalize_time(input.get("endsAt"));
    let d = Discount {
        id,
        title: input
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        status: status_for(starts.as_deref(), ends.as_deref(), &now).into(),
        starts_at: starts,
        ends_at: ends,
        input: Value::Object(input.clone()),
        codes: if automatic {
            vec![]
        } else {
            vec![(
                code_id,
                input
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )]
        },
        created_at: now.clone(),
        updated_at: now,
        kind: kind.stored().into(),
        automatic,
    };
    let answer = json!({key: payload_value(st, &d), "userErrors": []});
    st.put_discount(d);
    st.touch();
    Ok(answer)
}

fn unknown(field: &str) -> Value {
    derr(
        Some(vec![field]),
        "Code discount does not exist.",
        Some("INVALID"),
    )
}

fn update(
    st: &mut State,
    args: &Map<String, Value>,
    kind: Kind,
    automatic: bool,
) -> Result<Value, FieldError> {
    let arg = kind.arg(automatic);
    let key = kind.payload_key(automatic);
    let input = args
        .get(arg)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(e) = shape_error(&input) {
        return Err(e);
    }
    // App discounts are addressed by the node id of either flavour.
    let id = parse_gid(args.get("id"), node_type(automatic)).or_else(|| {
        (kind == Kind::App)
            .then(|| parse_gid(args.get("id"), "DiscountNode"))
            .flatten()
    });
    let Some(mut d) = id
        .and_then(|id| st.discounts.get(&id))
        .filter(|d| d.automatic == automatic && Kind::of(d) == kind)
        .cloned()
    else {
        let e = if automatic {
            derr(
                Some(vec!["id"]),
                "Automatic discount does not exist.",
                Some("INVALID"),
            )
        } else if kind == Kind::App {
            unknown("id")
        } else {
            // Updates word it without "Code" (and without the full stop) that deletes and activations use.
            derr(Some(vec!["id"]), "Discount does not exist", Some("INVALID"))
        };
        return Ok(json!({key: null, "userErrors": [e]}));
    };
    let errors = validate(st, arg, &input, false, Some(d.id), kind, automatic);
    if !errors.is_empty() {
        return Ok(json!({key: null, "userErrors": errors}));
    }
    if let Value::Object(old) = &mut d.input {
        // The two spellings of the buyer context replace each other.
        for (given, other) in [
            ("context", "customerSelection"),
            ("customerSelection", "context"),
        ] {
            if input.get(given).is_some_and(|v| !v.is_null()) {
                old.remove(other);
            }
        }
        for (k, v) in &input {
            old.insert(k.clone(), v.clone());
        }
    }
    if let Some(t) = input.get("title").and_then(Value::as_str) {
        d.title = t.to_string();
    }
    if input.contains_key("startsAt") {
        d.starts_at = normalize_time(input.get("startsAt"));
    }
    if input.contains_key("endsAt") {
        d.ends_at = normalize_time(input.get("endsAt"));
    }
    if let Some(c) = input.get("code").and_then(Value::as_str)
        && let Some(first) = d.codes.first_mut()
    {
        first.1 = c.to_string();
    }
    let now = st.now_str();
    d.status = status_for(d.starts_at.as_deref(), d.ends_at.as_deref(), &now).into();
    d.updated_at = now;
    let answer = json!({key: payload_value(st, &d), "userErrors": []});
    st.put_discount(d);
    st.touch();
    Ok(answer)
}

/// Evaluates a discount search: `status:` and `title:` terms, bare words narrow by title.
fn discount_matches(d: &Discount, query: &str) -> bool {
    query
        .split_whitespace()
        .filter(|t| *t != "AND")
        .all(|term| match term.split_once(':') {
            Some(("status", s)) => d.status.eq_ignore_ascii_case(s.trim_matches('"')),
            Some(("title", t)) => d
                .title
                .to_lowercase()
                .contains(&t.trim_matches('"').to_lowercase()),
            _ => d.title.to_lowercase().contains(&term.to_lowercase()),
        })
}

fn set_active(st: &mut State, args: &Map<String, Value>, active: bool, automatic: bool) -> Value {
    let now = st.now_str();
    let key = if automatic {
        "automaticDiscountNode"
    } else {
        "codeDiscountNode"
    };
    let Some(d) = parse_gid(args.get("id"), node_type(automatic))
        .and_then(|id| st.discounts.get_mut(&id))
        .filter(|d| d.automatic == automatic)
    else {
        let e = if automatic {
            derr(
                Some(vec!["id"]),
                "Automatic discount does not exist.",
                Some("INVALID"),
            )
        } else {
            unknown("id")
        };
        return json!({key: null, "userErrors": [e]});
    };
    if active {
        d.ends_at = None;
        if d.starts_at.as_deref().is_some_and(|s| s > now.as_str()) {
            d.starts_at = Some(now.clone());
        }
    } else {
        d.ends_at = Some(now.clone());
    }
    d.status = if active { "ACTIVE" } else { "EXPIRED" }.into();
    d.updated_at = now;
    let id = d.id;
    st.touch();
    json!({key: reference(node_type(automatic), id), "userErrors": []})
}

fn bulk_add(st: &mut State, args: &Map<String, Value>) -> Value {
    let Some(did) = parse_gid(args.get("discountId"), "DiscountCodeNode")
        .filter(|id| st.discounts.contains_key(id))
    else {
        return json!({"bulkCreation": null, "userErrors": [unknown("discountId")]});
    };
    let codes: Vec<String> = args
        .get("codes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("code").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if codes.is_empty() {
        return json!({"bulkCreation": null, "userErrors": [derr(Some(vec!["codes"]), "Codes can't be blank", Some("BLANK"))]});
    }
    let mut results = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let error = if code.is_empty() {
            Some("is too short (minimum is 1 character)")
        } else if code.contains('\n') || code.contains('\r') {
            Some("cannot contain newline characters.")
        } else if code.chars().count() > 255 {
            Some("is too long (maximum is 255 characters)")
        } else if codes[..i].iter().any(|c| c.eq_ignore_ascii_case(code)) {
            Some("Codes must be unique within BulkDiscountCodeCreation")
        } else if code_taken(st, code, None) {
            Some("must be unique. Please try a different code.")
        } else {
            None
        };
        let created = if error.is_none() {
            let cid = st.next_id();
            st.add_discount_code(did, cid, code.clone());
            Some(cid)
        } else {
            None
        };
        results.push((code.clone(), error.map(str::to_string), created));
    }
    let id = st.next_id();
    let count = results.len();
    st.bulk_creations.insert(
        id,
        BulkCreation {
            id,
            discount_id: did,
            results,
        },
    );
    st.touch();
    // Shopify answers before the asynchronous job runs; polling shows the outcome.
    json!({"bulkCreation": {"__typename": "DiscountRedeemCodeBulkCreation", "id": gid("DiscountRedeemCodeBulkCreation", id), "done": false, "codesCount": count, "importedCount": 0, "failedCount": 0, "createdAt": st.now_str(), "discountCode": reference("DiscountCodeNode", did), "codes": []}, "userErrors": []})
}

fn bulk_creation_json(b: &BulkCreation) -> Value {
    let imported = b.results.iter().filter(|r| r.2.is_some()).count();
    let codes: Vec<Value> = b
        .results
        .iter()
        .map(|(code, err, id)| {
            json!({
                "code": code,
                "errors": err.as_ref().map(|m| vec![json!({"field": ["code"], "message": m, "code": null, "extraInfo": null})]).unwrap_or_default(),
                "discountRedeemCode": id.map(|i| json!({"id": gid("DiscountRedeemCode", i), "code": code, "asyncUsageCount": 0})),
            })
        })
        .collect();
    json!({
        "__typename": "DiscountRedeemCodeBulkCreation",
        "id": gid("DiscountRedeemCodeBulkCreation", b.id),
        "done": true,
        "codesCount": b.results.len(),
        "importedCount": imported,
        "failedCount": b.results.len() - imported,
        "discountCode": reference("DiscountCodeNode", b.discount_id),
        "codes": codes,
    })
}

fn bulk_delete(st: &mut State, args: &Map<String, Value>) -> Value {
    let given: Vec<&str> = ["ids", "search", "savedSearchId"]
        .into_iter()
        .filter(|k| args.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let fail = |e: Value| json!({"job": null, "userErrors": [e]});
    if given.is_empty() {
        return fail(derr(
            None,
            "Missing expected argument key: 'ids', 'search' or 'saved_search_id'.",
            Some("MISSING_ARGUMENT"),
        ));
    }
    if given.len() > 1 {
        return fail(derr(
            None,
            "Only one of 'ids', 'search' or 'saved_search_id' is allowed.",
            Some("TOO_MANY_ARGUMENTS"),
        ));
    }
    let Some(did) = parse_gid(args.get("discountId"), "DiscountCodeNode")
        .filter(|id| st.discounts.contains_key(id))
    else {
        return fail(unknown("discountId"));
    };
    match given[0] {
        "search"
            if args
                .get("search")
                .and_then(Value::as_str)
                .is_some_and(|s| s.trim().is_empty()) =>
        {
            fail(derr(
                Some(vec!["search"]),
                "'Search' can't be blank.",
                Some("BLANK"),
            ))
        }
        "search" => fail(derr(
            None,
            "The emulator does not support redeem-code searches.",
            None,
        )),
        "savedSearchId" => fail(derr(
            Some(vec!["savedSearchId"]),
            "Invalid 'saved_search_id'.",
            Some("INVALID"),
        )),
        _ => {
            let ids: Vec<u64> = args
                .get("ids")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| parse_gid(Some(v), "DiscountRedeemCode"))
                        .collect()
                })
                .unwrap_or_default();
            if ids.is_empty() {
                return fail(derr(None, "Something went wrong, please try again.", None));
            }
            st.remove_discount_codes(did, &ids);
            st.touch();
            let job = st.next_id();
            json!({"job": {"id": gid("Job", job), "done": true}, "userErrors": []})
        }
    }
}

/// The bulk discount mutations (`discountCodeBulkActivate/Deactivate/Delete`,
/// `discountAutomaticBulkDelete`): Shopify takes exactly one of `ids`, `search`, `savedSearchId`, and words
/// the refusal differently for code and automatic discounts. Only the argument checks are modelled.
fn bulk_discounts(args: &Map<String, Value>, automatic: bool) -> Result<Value, FieldError> {
    let given = ["ids", "search", "savedSearchId"]
        .into_iter()
        .filter(|k| args.get(*k).is_some_and(|v| !v.is_null()))
        .count();
    let fail = |e: Value| Ok(json!({"job": null, "userErrors": [e]}));
    match (given, automatic) {
        (0, false) => fail(derr(
            None,
            "Missing expected argument key: 'ids', 'search' or 'saved_search_id'.",
            Some("MISSING_ARGUMENT"),
        )),
        (2.., false) => fail(derr(
            None,
            "Only one of 'ids', 'search' or 'saved_search_id' is allowed.",
            Some("TOO_MANY_ARGUMENTS"),
        )),
        (2.., true) => fail(derr(
            None,
            "Only one of IDs, search argument or saved search ID is allowed.",
            Some("TOO_MANY_ARGUMENTS"),
        )),
        _ => Err(FieldError::new(
            "EMULATOR_UNSUPPORTED_FIELD",
            "The emulator models only the argument checks of bulk discount jobs.",
        )),
    }
}

/// Discount root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    let kinds = [
        ("Basic", Kind::Basic),
        ("Bxgy", Kind::Bxgy),
        ("FreeShipping", Kind::FreeShipping),
        ("App", Kind::App),
    ];
    for (name, kind) in kinds {
        for (flavour, automatic) in [("Code", false), ("Automatic", true)] {
            if field == format!("discount{flavour}{name}Create") {
                return Some(create(st, args, kind, automatic));
            }
            if field == format!("discount{flavour}{name}Update") {
                return Some(update(st, args, kind, automatic));
            }
        }
    }
    match field {
        "discountCodeBulkActivate" | "discountCodeBulkDeactivate" | "discountCodeBulkDelete" => {
            return Some(bulk_discounts(args, false));
        }
        "discountAutomaticBulkDelete" => return Some(bulk_discounts(args, true)),
        _ => {}
    }
    Some(Ok(match field {
        "discountCodeActivate" => set_active(st, args, true, false),
        "discountCodeDeactivate" => set_active(st, args, false, false),
        "discountAutomaticActivate" => set_active(st, args, true, true),
        "discountAutomaticDeactivate" => set_active(st, args, false, true),
        "discountCodeDelete" => match parse_gid(args.get("id"), "DiscountCodeNode")
            .filter(|id| st.discounts.get(id).is_some_and(|d| !d.automatic))
            .and_then(|id| st.remove_discount(id))
        {
            Some(d) => {
                st.touch();
                json!({"deletedCodeDiscountId": gid("DiscountCodeNode", d.id), "userErrors": []})
            }
            None => json!({"deletedCodeDiscountId": null, "userErrors": [unknown("id")]}),
        },
        "discountAutomaticDelete" => match parse_gid(args.get("id"), "DiscountAutomaticNode")
            .filter(|id| st.discounts.get(id).is_some_and(|d| d.automatic))
            .and_then(|id| st.remove_discount(id))
        {
            Some(d) => {
                st.touch();
                json!({"deletedAutomaticDiscountId": gid("DiscountAutomaticNode", d.id), "userErrors": []})
            }
            None => {
                json!({"deletedAutomaticDiscountId": null, "userErrors": [derr(Some(vec!["id"]), "Automatic discount does not exist.", Some("INVALID"))]})
            }
        },
        "discountNodes" => {
            let q = args.get("query").and_then(Value::as_str).unwrap_or("");
            Value::Array(
                st.discounts
                    .values()
                    .filter(|d| discount_matches(d, q))
                    .map(|d| node_json(st, d))
                    .collect(),
            )
        }
        "discountNodesCount" => {
            let q = args.get("query").and_then(Value::as_str).unwrap_or("");
            json!({"count": st.discounts.values().filter(|d| discount_matches(d, q)).count(), "precision": "EXACT"})
        }
        "discountRedeemCodeBulkAdd" => bulk_add(st, args),
        "discountCodeRedeemCodeBulkDelete" => bulk_delete(st, args),
        "discountRedeemCodeBulkCreation" => {
            parse_gid(args.get("id"), "DiscountRedeemCodeBulkCreation")
                .and_then(|id| st.bulk_creations.get(&id))
                .map(bulk_creation_json)
                .unwrap_or(Value::Null)
        }
        "codeDiscountNode" => parse_gid(args.get("id"), "DiscountCodeNode")
            .and_then(|id| st.discounts.get(&id))
            .filter(|d| !d.automatic)
            .map(|d| node_json(st, d))
            .unwrap_or(Value::Null),
        "automaticDiscountNode" => parse_gid(args.get("id"), "DiscountAutomaticNode")
            .and_then(|id| st.discounts.get(&id))
            .filter(|d| d.automatic)
            .map(|d| node_json(st, d))
            .unwrap_or(Value::Null),
        // `discountNode` takes the id of either node type.
        "discountNode" => parse_gid(args.get("id"), "DiscountCodeNode")
            .or_else(|| parse_gid(args.get("id"), "DiscountAutomaticNode"))
            .or_else(|| parse_gid(args.get("id"), "DiscountNode"))
            .and_then(|id| st.discounts.get(&id))
            .map(|d| node_json(st, d))
            .unwrap_or(Value::Null),
        "codeDiscountNodeByCode" => {
            let code = args.get("code").and_then(Value::as_str).unwrap_or_default();
            st.discount_code_holders(code)
                .first()
                .and_then(|(id, _)| st.discounts.get(id))
                .map(|d| node_json(st, d))
                .unwrap_or(Value::Null)
        }
        _ => return None,
    }))
}

/// A code discount's `codes(query:)`: Shopify's default search term (no `field:`) matches codes
/// case-insensitively; a quoted term is one phrase. `None` when there is no query (every code) or `obj` is not a
/// code discount.
pub fn codes_matching(obj: &Map<String, Value>, args: &Map<String, Value>) -> Option<Value> {
    let query = args.get("query").and_then(Value::as_str)?.trim();
    let codes = obj.get("codes")?.as_array()?;
    if query.is_empty() {
        return None;
    }
    let phrase = query
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .map(|q| q.replace("\\\"", "\"").replace("\\\\", "\\"));
    let terms: Vec<String> = match phrase {
        Some(p) => vec![p.to_lowercase()],
        None => query.split_whitespace().map(str::to_lowercase).collect(),
    };
    Some(Value::Array(
        codes
            .iter()
            .filter(|c| {
                let code = c
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_lowercase();
                terms.iter().all(|t| code.contains(t.as_str()))
            })
            .cloned()
            .collect(),
    ))
}

/// Loads a discount-domain object.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    match ty {
        "DiscountCodeNode" => st
            .discounts
            .get(&id)
            .filter(|d| !d.automatic)
            .map(|d| node_json(st, d)),
        "DiscountAutomaticNode" => st
            .discounts
            .get(&id)
            .filter(|d| d.automatic)
            .map(|d| node_json(st, d)),
        "DiscountNode" => st.discounts.get(&id).map(|d| node_json(st, d)),
        "DiscountRedeemCodeBulkCreation" => st.bulk_creations.get(&id).map(bulk_creation_json),
        "Segment" => st.segments.get(&id).map(segment_json),
        _ => None,
    }
}
