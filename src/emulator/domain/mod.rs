//! Shop resources. Resolvers take coerced arguments and return plain JSON trees (see `graphql::exec`).
pub mod addresses;
pub mod consent;
pub mod customers;
pub mod discounts;
pub mod fulfillment;
pub mod geo;
pub mod inventory;
pub mod metafield_values;
pub mod metafields;
pub mod products;
pub mod store_credit;
pub mod transfers;

use serde_json::{Map, Value, json};

use crate::core::config::ApiVersion;
use crate::emulator::store::State;

/// A top-level error raised by a root field (`data.<field>` becomes null).
#[derive(Debug, Clone)]
pub struct FieldError {
    /// Message.
    pub message: String,
    /// `extensions.code`.
    pub code: &'static str,
    /// Further extensions.
    pub extensions: Box<Map<String, Value>>,
    /// A path other than the field's own.
    pub path: Option<Vec<Value>>,
}

impl FieldError {
    /// An error with just a message and a code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            message: message.into(),
            code,
            extensions: Box::default(),
            path: None,
        }
    }
}

/// What a root resolver knows about its request beyond the arguments.
#[derive(Debug, Clone)]
pub struct RootCtx {
    /// API version of the request.
    pub version: ApiVersion,
    /// Whether the field is a mutation.
    pub mutation: bool,
    /// The `@idempotent(key:)` value, when the directive is present.
    pub idempotency_key: Option<Value>,
}

/// Builds a GID.
pub fn gid(ty: &str, id: u64) -> String {
    format!("gid://shopify/{ty}/{id}")
}

/// Parses a GID of type `ty` into its number.
pub fn parse_gid(value: Option<&Value>, ty: &str) -> Option<u64> {
    let s = value?.as_str()?;
    let rest = s
        .strip_prefix("gid://shopify/")?
        .strip_prefix(ty)?
        .strip_prefix('/')?;
    rest.split('?').next()?.parse().ok()
}

/// A lazy reference to another object, loaded by [`load`] when selected.
pub fn reference(ty: &str, id: u64) -> Value {
    json!({"__ref": gid(ty, id)})
}

/// A userError without a code (`UserError`).
pub fn user_error(field: Option<&[&str]>, message: impl Into<String>) -> Value {
    json!({"field": field.map(|f| f.iter().map(|s| s.to_string()).collect::<Vec<_>>()), "message": message.into()})
}

/// A typed userError (`XxxUserError` with `code`).
pub fn coded_error(
    field: Option<Vec<String>>,
    message: impl Into<String>,
    code: Option<&str>,
) -> Value {
    json!({"field": field, "message": message.into(), "code": code})
}

/// `["a","b"]` path helper.
pub fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Dispatches a root field of the query or mutation type.
pub fn resolve_root(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    cx: &RootCtx,
) -> Result<Value, FieldError> {
    if !st.pending_product_deletes.is_empty() {
        products::settle_pending_deletes(st);
    }
    if let Some(r) = customers::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = products::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = transfers::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = inventory::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = discounts::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = fulfillment::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = metafields::resolve(st, field, args, cx) {
        return r;
    }
    if let Some(r) = crate::emulator::bulk::resolve(st, field, args, cx) {
        return r;
    }
    match field {
        "shop" => Ok(shop_json(st)),
        "currentAppInstallation" => Ok(app_installation_json(st)),
        "node" => Ok(args
            .get("id")
            .and_then(Value::as_str)
            .and_then(|g| load(st, g))
            .unwrap_or(Value::Null)),
        "nodes" => Ok(Value::Array(
            args.get("ids")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .map(|g| g.as_str().and_then(|g| load(st, g)).unwrap_or(Value::Null))
                        .collect()
                })
                .unwrap_or_default(),
        )),
        other => Err(FieldError::new(
            "EMULATOR_UNSUPPORTED_FIELD",
            format!("The emulator does not implement the root field '{other}'."),
        )),
    }
}

/// The shop object.
pub fn shop_json(st: &State) -> Value {
    let plus = st.plan_name.contains("Plus");
    json!({"__typename": "Shop", "id": gid("Shop", 1), "name": st.shop_name, "currencyCode": st.currency(),
        "myshopifyDomain": format!("{}.myshopify.com", st.shop_name),
        "plan": {"__typename": "ShopPlan", "displayName": st.plan_name, "publicDisplayName": st.plan_name,
            "partnerDevelopment": st.plan_name == "Development", "shopifyPlus": plus}})
}

/// Scopes a custom app set up for shopsync is granted when the state names none.
pub const DEFAULT_SCOPES: &[&str] = &[
    "read_customers",
    "write_customers",
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_discounts",
    "write_discounts",
    "read_price_rules",
    "write_price_rules",
    "read_orders",
    "read_fulfillments",
    "write_fulfillments",
    "read_merchant_managed_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
    "read_assigned_fulfillment_orders",
    "write_assigned_fulfillment_orders",
    "read_locations",
];

/// `currentAppInstallation`: the calling app and the scopes it holds.
pub fn app_installation_json(st: &State) -> Value {
    let scopes: Vec<Value> = match &st.access_scopes {
        Some(s) => s.iter().map(|h| scope_json(h)).collect(),
        None => DEFAULT_SCOPES.iter().map(|h| scope_json(h)).collect(),
    };
    json!({"__typename": "AppInstallation", "id": gid("AppInstallation", 1), "accessScopes": scopes})
}

fn scope_json(handle: &str) -> Value {
    json!({"__typename": "AccessScope", "handle": handle, "description": format!("Access scope {handle}")})
}

/// Loads any object by GID (for `__ref` values and `node`).
pub fn load(st: &State, gid_str: &str) -> Option<Value> {
    let rest = gid_str.strip_prefix("gid://shopify/")?;
    let (ty, id) = rest.split_once('/')?;
    let id: u64 = id.split('?').next()?.parse().ok()?;
    match ty {
        "Customer" => st.customers.get(&id).map(|c| customers::to_json(st, c)),
        "Shop" => Some(shop_json(st)),
        _ => products::load(st, ty, id)
            .or_else(|| inventory::load(st, ty, id, gid_str))
            .or_else(|| transfers::load(st, ty, id))
            .or_else(|| discounts::load(st, ty, id))
            .or_else(|| fulfillment::load(st, ty, id))
            .or_else(|| metafields::load(st, ty, id))
            .or_else(|| store_credit::load(st, ty, id))
            .or_else(|| crate::emulator::bulk::load(st, ty, id)),
    }
}

/// Fields whose value depends on arguments (e.g. `metafield(namespace:, key:)`).
pub fn field_with_args(
    st: &State,
    obj: &Map<String, Value>,
    field: &str,
    args: &Map<String, Value>,
) -> Option<Value> {
    match field {
        "metafield" | "metafields" => metafields::owner_field(st, obj, field, args),
        "storeCreditAccounts" => store_credit::matching(obj, args),
        "codes" => discounts::codes_matching(obj, args)
            .or_else(|| inventory::field_with_args(st, obj, field, args)),
        _ => inventory::field_with_args(st, obj, field, args),
    }
}

/// Shopify caps input arrays at 250 items (productSet variants at 2048), before anything runs.
pub fn check_input_sizes(root: &str, args: &Map<String, Value>) -> Option<FieldError> {
    fn walk(v: &Value, root: &str, path: &mut Vec<String>) -> Option<FieldError> {
        match v {
            Value::Array(items) => {
                let max = if root == "productSet"
                    && path.last().map(String::as_str) == Some("variants")
                {
                    2048
                } else {
                    250
                };
                if items.len() > max {
                    let mut full = vec![json!(root)];
                    full.extend(path.iter().map(|p| json!(p)));
                    let mut e = FieldError::new(
                        "MAX_INPUT_SIZE_EXCEEDED",
                        format!(
                            "The input array size of {} is greater than the maximum allowed of {max}.",
                            items.len()
                        ),
                    );
                    e.path = Some(full);
                    return Some(e);
                }
                items.iter().find_map(|i| walk(i, root, path))
            }
            Value::Object(m) => m.iter().find_map(|(k, v)| {
                path.push(k.clone());
                let r = walk(v, root, path);
                path.pop();
                r
            }),
            _ => None,
        }
    }
    args.iter()
        .find_map(|(k, v)| walk(v, root, &mut vec![k.clone()]))
}

/// `s` trimmed, or `None` when absent/blank.
pub fn opt_str(args: &Map<String, Value>, key: &str) -> Option<String> {
    args.get(key).and_then(Value::as_str).map(str::to_string)
}
