//! Metafields (`metafieldsSet`, `metafieldsDelete`, the `metafield`/`metafields` fields of their owners) and
//! metafield definitions (`metafieldDefinitionCreate`), which custom ids (`identifier.customId`) rely on.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::metafield_values;
use super::{FieldError, RootCtx, gid};
use crate::emulator::store::State;

/// A metafield definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MetafieldDefinition {
    /// Numeric id.
    pub id: u64,
    /// Owner type, e.g. `CUSTOMER`.
    pub owner_type: String,
    /// Namespace.
    pub namespace: String,
    /// Key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Type name, e.g. `id`.
    pub type_name: String,
    /// Whether the unique-values capability is on.
    pub unique_values: bool,
}

fn definition_json(d: &MetafieldDefinition) -> Value {
    json!({
        "__typename": "MetafieldDefinition",
        "id": gid("MetafieldDefinition", d.id),
        "namespace": d.namespace,
        "key": d.key,
        "name": d.name,
        "ownerType": d.owner_type,
        "type": {"__typename": "MetafieldDefinitionType", "name": d.type_name, "category": type_category(&d.type_name)},
        "capabilities": {"uniqueValues": {"enabled": d.unique_values, "eligible": d.type_name == "id" || d.type_name.ends_with("_field")}},
    })
}

/// The category Shopify files a metafield type under (`MetafieldDefinitionType.category`).
fn type_category(ty: &str) -> &'static str {
    let base = ty.strip_prefix("list.").unwrap_or(ty);
    match base {
        "single_line_text_field" | "multi_line_text_field" | "rich_text_field" | "id" => "TEXT",
        "number_integer" | "number_decimal" => "NUMBER",
        "date" | "date_time" => "DATE_TIME",
        "boolean" => "TRUE_FALSE",
        "color" => "COLOR",
        "url" | "link" => "URL",
        "json" => "JSON",
        "money" => "MONEY",
        "rating" => "RATING",
        "language" => "LANGUAGE",
        "dimension" | "weight" | "volume" => "MEASUREMENT",
        t if t.ends_with("_reference") => "REFERENCE",
        _ => "MEASUREMENT",
    }
}

/// The `id`-type definition with unique values that a custom id `{namespace, key}` of `owner` names.
pub fn custom_id_definition<'a>(
    st: &'a State,
    owner: &str,
    custom_id: &Map<String, Value>,
) -> Option<&'a MetafieldDefinition> {
    let ns = custom_id
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("custom");
    let key = custom_id.get("key").and_then(Value::as_str)?;
    st.metafield_definitions.iter().find(|d| {
        d.owner_type == owner
            && d.namespace == ns
            && d.key == key
            && d.type_name == "id"
            && d.unique_values
    })
}

/// The top-level error Shopify answers when a custom id has no usable definition.
pub fn missing_definition(path: Vec<Value>) -> FieldError {
    let mut e = FieldError::new(
        "NOT_FOUND",
        "Metafield definition of type 'id' is required when using custom ids.",
    );
    e.path = Some(path);
    e
}

fn create(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let input = args
        .get("definition")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| {
        input
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let type_name = text("type");
    // `id` fields must be unique; the capability defaults on and cannot be switched off for them.
    let unique = input
        .get("capabilities")
        .and_then(|c| c.get("uniqueValues"))
        .and_then(|u| u.get("enabled"))
        .and_then(Value::as_bool);
    if type_name == "id" && unique == Some(false) {
        return Ok(
            json!({"createdDefinition": null, "userErrors": [{"field": ["definition"], "message": "Capability unique_values is required for type id but is disabled", "code": "CAPABILITY_REQUIRED_BUT_DISABLED"}]}),
        );
    }
    let owner = text("ownerType");
    let namespace = input
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("custom")
        .to_string();
    let key = text("key");
    if st
        .metafield_definitions
        .iter()
        .any(|d| d.owner_type == owner && d.namespace == namespace && d.key == key)
    {
        // No capture shows Shopify's answer to a repeated definition; say so rather than invent one.
        return Err(FieldError::new(
            "EMULATOR_UNSUPPORTED_FIELD",
            "The emulator does not model redefining an existing metafield definition.",
        ));
    }
    let d = MetafieldDefinition {
        id: st.next_id(),
        owner_type: owner,
        namespace,
        key,
        name: text("name"),
        unique_values: unique.unwrap_or(type_name == "id"),
        type_name,
    };
    let answer = json!({"createdDefinition": definition_json(&d), "userErrors": []});
    st.metafield_definitions.push(d);
    st.touch();
    Ok(answer)
}

/// Metafield-definition root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    match field {
        "metafieldDefinitionCreate" => Some(create(st, args)),
        "metafieldsSet" => Some(Ok(set(st, args))),
        "metafieldsDelete" => Some(Ok(delete(st, args))),
        _ => None,
    }
}

/// Loads a metafield definition.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    (ty == "MetafieldDefinition")
        .then(|| st.metafield_definitions.iter().find(|d| d.id == id))
        .flatten()
        .map(definition_json)
}

/// Most metafields one `metafieldsSet` takes.
const MAX_SET_INPUTS: usize = 25;
/// Namespaces that belong to Shopify.
const RESERVED_NAMESPACES: &[&str] = &["shopify_standard", "protected", "shopify-l10n-fields"];
/// The calling app's reserved namespace (`$app` resolves to it).
const APP_NAMESPACE: &str = "app--1";

/// The `MetafieldOwnerType` of a GID type (`ProductVariant` -> `PRODUCTVARIANT`).
fn owner_type_of(owner_gid: &str) -> String {
    owner_gid
        .strip_prefix("gid://shopify/")
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// `$app` and `$app:suffix` resolve to the calling app's namespace; an omitted namespace is the app's.
fn resolve_namespace(ns: Option<&str>) -> String {
    match ns {
        None => APP_NAMESPACE.to_string(),
        Some("$app") => APP_NAMESPACE.to_string(),
        Some(n) => match n.strip_prefix("$app:") {
            Some(rest) => format!("{APP_NAMESPACE}--{rest}"),
            None => n.to_string(),
        },
    }
}

/// The owner's canonical GID (as its own `id` field reads), when the store has it.
fn canonical_owner(st: &State, owner: &str) -> Option<String> {
    super::load(st, owner)?
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The owner's metafield list: products and customers keep theirs, other owners live in
/// [`State::owner_metafields`].
fn owner_list_mut<'a>(st: &'a mut State, owner: &str) -> Option<&'a mut Vec<Value>> {
    if let Some(id) = super::parse_gid(Some(&json!(owner)), "Product") {
        return st.products.get_mut(&id).map(|p| &mut p.metafields);
    }
    if let Some(id) = super::parse_gid(Some(&json!(owner)), "Customer") {
        return st.customers.get_mut(&id).map(|c| &mut c.metafields);
    }
    Some(st.owner_metafields.entry(owner.to_string()).or_default())
}

/// The metafields an owner object carries (its own list, else the shared map by its id).
fn owner_list<'a>(st: &'a State, obj: &'a Map<String, Value>) -> Option<&'a Vec<Value>> {
    if let Some(Value::Array(list)) = obj.get("metafields") {
        return Some(list);
    }
    let id = obj.get("id").and_then(Value::as_str)?;
    st.owner_metafields.get(id)
}

/// `metafield(namespace:, key:)` and `metafields(namespace:, keys:, first:, ...)` of an owner object.
pub fn owner_field(
    st: &State,
    obj: &Map<String, Value>,
    field: &str,
    args: &Map<String, Value>,
) -> Option<Value> {
    let owns = obj.contains_key("metafields")
        || obj
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| st.owner_metafields.contains_key(id));
    if !owns {
        return (field == "metafields").then(|| json!([]));
    }
    let list = owner_list(st, obj).cloned().unwrap_or_default();
    let ns = args
        .get("namespace")
        .and_then(Value::as_str)
        .map(|n| resolve_namespace(Some(n)));
    match field {
        "metafield" => {
            let key = args.get("key").and_then(Value::as_str)?;
            // `key` may carry the namespace (`namespace.key`).
            let (ns, key) = match (&ns, key.split_once('.')) {
                (None, Some((n, k))) => (Some(resolve_namespace(Some(n))), k),
                _ => (ns.clone(), key),
            };
            let ns = ns.unwrap_or_else(|| APP_NAMESPACE.to_string());
            Some(
                list.into_iter()
                    .find(|m| m["key"] == key && m["namespace"] == ns.as_str())
                    .unwrap_or(Value::Null),
            )
        }
        _ => {
            let keys: Option<Vec<String>> = args.get("keys").and_then(Value::as_array).map(|k| {
                k.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            });
            Some(Value::Array(
                list.into_iter()
                    .filter(|m| ns.as_ref().is_none_or(|n| m["namespace"] == n.as_str()))
                    .filter(|m| {
                        keys.as_ref().is_none_or(|ks| {
                            ks.iter().any(|k| {
                                format!(
                                    "{}.{}",
                                    m["namespace"].as_str().unwrap_or_default(),
                                    m["key"].as_str().unwrap_or_default()
                                ) == *k
                            })
                        })
                    })
                    .collect(),
            ))
        }
    }
}

/// A digest of what a metafield holds, for `compareDigest` checks.
fn digest(owner: &str, ns: &str, key: &str, value: &str, updated: &str) -> String {
    let mut h = Sha256::new();
    for part in [owner, ns, key, value, updated] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn set_error(
    i: Option<usize>,
    tail: Option<&str>,
    message: impl Into<String>,
    code: Option<&str>,
    element: Option<usize>,
) -> Value {
    let mut field = vec![json!("metafields")];
    if let Some(i) = i {
        field.push(json!(i.to_string()));
    }
    if let Some(t) = tail {
        field.push(json!(t));
    }
    json!({"field": field, "message": message.into(), "code": code, "elementIndex": element})
}

/// `metafieldsSet`: every input is checked first; any error leaves the store untouched.
fn set(st: &mut State, args: &Map<String, Value>) -> Value {
    let inputs: Vec<Map<String, Value>> = args
        .get("metafields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    if inputs.len() > MAX_SET_INPUTS {
        return json!({"metafields": [], "userErrors": [set_error(None, None,
            format!("Exceeded the maximum metafields input limit of {MAX_SET_INPUTS}."), Some("LESS_THAN_OR_EQUAL_TO"), None)]});
    }
    let mut errors = Vec::new();
    let mut planned = Vec::new();
    for (i, m) in inputs.iter().enumerate() {
        let text = |k: &str| m.get(k).and_then(Value::as_str);
        let owner_raw = text("ownerId").unwrap_or_default();
        let Some(owner) = canonical_owner(st, owner_raw) else {
            errors.push(set_error(
                Some(i),
                Some("ownerId"),
                "Owner does not exist.",
                Some("INVALID_VALUE"),
                None,
            ));
            continue;
        };
        let ns = resolve_namespace(text("namespace"));
        let key = text("key").unwrap_or_default().to_string();
        let before = errors.len();
        let ns_len = ns.chars().count();
        if ns_len < 3 {
            errors.push(set_error(
                Some(i),
                Some("namespace"),
                "Namespace is too short (minimum is 3 characters)",
                Some("TOO_SHORT"),
                None,
            ));
        } else if ns_len > 255 {
            errors.push(set_error(
                Some(i),
                Some("namespace"),
                "Namespace is too long (maximum is 255 characters)",
                Some("TOO_LONG"),
                None,
            ));
        } else if RESERVED_NAMESPACES.contains(&ns.as_str()) {
            errors.push(set_error(
                Some(i),
                Some("namespace"),
                format!("Namespace {ns} is a reserved namespace"),
                None,
                None,
            ));
        }
        let key_len = key.chars().count();
        if key_len < 2 {
            errors.push(set_error(
                Some(i),
                Some("key"),
                "Key is too short (minimum is 2 characters)",
                Some("TOO_SHORT"),
                None,
            ));
        } else if key_len > 64 {
            errors.push(set_error(
                Some(i),
                Some("key"),
                "Key is too long (maximum is 64 characters)",
                Some("TOO_LONG"),
                None,
            ));
        }
        if errors.len() > before {
            continue;
        }
        let owner_type = owner_type_of(&owner);
        let definition = st
            .metafield_definitions
            .iter()
            .find(|d| d.owner_type == owner_type && d.namespace == ns && d.key == key);
        let existing = owner_list_peek(st, &owner).and_then(|l| {
            l.iter()
                .find(|x| x["namespace"] == ns.as_str() && x["key"] == key.as_str())
                .cloned()
        });
        let ty = text("type")
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .or_else(|| definition.map(|d| d.type_name.clone()))
            .or_else(|| {
                existing
                    .as_ref()
                    .and_then(|x| x["type"].as_str().map(str::to_string))
            });
        let Some(ty) = ty else {
            errors.push(set_error(
                Some(i),
                Some("type"),
                "Type can't be blank",
                Some("BLANK"),
                None,
            ));
            continue;
        };
        let raw = text("value").unwrap_or_default();
        let exists = |g: &str| reference_exists(st, g);
        let checked = match metafield_values::check(&ty, raw, &exists) {
            Ok(c) => c,
            Err(r) => {
                errors.push(set_error(
                    Some(i),
                    Some("value"),
                    r.message,
                    Some("INVALID_VALUE"),
                    r.element,
                ));
                continue;
            }
        };
        // compareDigest: null means "must not exist yet"; a string must match the current digest.
        if let Some(d) = m.get("compareDigest") {
            let current = existing.as_ref().and_then(|x| x["compareDigest"].as_str());
            let stale = match d {
                Value::Null => current.is_some(),
                Value::String(s) => current != Some(s.as_str()),
                _ => true,
            };
            if let Value::String(s) = d
                && !(s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
            {
                errors.push(set_error(
                    Some(i),
                    None,
                    "Invalid `compareDigest` value.",
                    Some("INVALID_COMPARE_DIGEST"),
                    None,
                ));
                continue;
            }
            if stale {
                errors.push(set_error(Some(i), None, "The resource has been updated since it was loaded. Try again with an updated `compareDigest` value.", Some("STALE_OBJECT"), None));
                continue;
            }
        }
        planned.push((owner, ns, key, ty, checked, existing));
    }
    if !errors.is_empty() {
        return json!({"metafields": [], "userErrors": errors});
    }
    let now = st.now_str();
    let mut out = Vec::new();
    for (owner, ns, key, ty, checked, existing) in planned {
        let id = match existing
            .as_ref()
            .and_then(|x| super::parse_gid(x.get("id"), "Metafield"))
        {
            Some(id) => id,
            None => st.next_id(),
        };
        let created = existing
            .as_ref()
            .and_then(|x| x["createdAt"].as_str().map(str::to_string))
            .unwrap_or_else(|| now.clone());
        let owner_type = owner_type_of(&owner);
        let definition = st
            .metafield_definitions
            .iter()
            .find(|d| d.owner_type == owner_type && d.namespace == ns && d.key == key)
            .map(|d| super::reference("MetafieldDefinition", d.id))
            .unwrap_or(Value::Null);
        let mf = json!({"__typename": "Metafield", "id": gid("Metafield", id), "namespace": ns, "key": key,
            "type": ty, "value": checked.value, "jsonValue": checked.json,
            "compareDigest": digest(&owner, &ns, &key, &checked.value, &now),
            "createdAt": created, "updatedAt": now, "ownerType": owner_type,
            "owner": {"__ref": owner}, "definition": definition, "description": null});
        if let Some(list) = owner_list_mut(st, &owner) {
            match list
                .iter_mut()
                .find(|x| x["namespace"] == ns.as_str() && x["key"] == key.as_str())
            {
                Some(x) => *x = mf.clone(),
                None => list.push(mf.clone()),
            }
        }
        out.push(mf);
    }
    st.touch();
    json!({"metafields": out, "userErrors": []})
}

/// The owner's metafields, read-only.
fn owner_list_peek<'a>(st: &'a State, owner: &str) -> Option<&'a Vec<Value>> {
    if let Some(id) = super::parse_gid(Some(&json!(owner)), "Product") {
        return st.products.get(&id).map(|p| &p.metafields);
    }
    if let Some(id) = super::parse_gid(Some(&json!(owner)), "Customer") {
        return st.customers.get(&id).map(|c| &c.metafields);
    }
    st.owner_metafields.get(owner)
}

/// Whether a referenced record exists; `None` for record types the emulator does not keep.
fn reference_exists(st: &State, g: &str) -> Option<bool> {
    let ty = g.strip_prefix("gid://shopify/")?.split('/').next()?;
    match ty {
        "Product" | "ProductVariant" | "Customer" | "Location" | "Order" => {
            Some(super::load(st, g).is_some())
        }
        _ => None,
    }
}

/// `metafieldsDelete`: each identifier answers its own entry, or null when nothing was there.
fn delete(st: &mut State, args: &Map<String, Value>) -> Value {
    let inputs: Vec<Map<String, Value>> = args
        .get("metafields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    let mut deleted = Vec::new();
    for m in &inputs {
        let owner_raw = m.get("ownerId").and_then(Value::as_str).unwrap_or_default();
        let ns = resolve_namespace(m.get("namespace").and_then(Value::as_str));
        let key = m.get("key").and_then(Value::as_str).unwrap_or_default();
        let removed = canonical_owner(st, owner_raw).and_then(|owner| {
            let list = owner_list_mut(st, &owner)?;
            let pos = list
                .iter()
                .position(|x| x["namespace"] == ns.as_str() && x["key"] == key)?;
            list.remove(pos);
            Some(())
        });
        deleted.push(match removed {
            Some(()) => json!({"ownerId": owner_raw, "namespace": ns, "key": key}),
            None => Value::Null,
        });
    }
    if deleted.iter().any(|d| !d.is_null()) {
        st.touch();
    }
    json!({"deletedMetafields": deleted, "userErrors": []})
}
