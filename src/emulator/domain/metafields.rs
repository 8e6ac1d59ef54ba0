//! Metafields of products and customers (`metafieldsSet`, `metafieldsDelete`) and metafield definitions
//! (`metafieldDefinitionCreate`), which custom ids (`identifier.customId`) rely on.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, gid, parse_gid};
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
        "type": {"__typename": "MetafieldDefinitionType", "name": d.type_name},
        "capabilities": {"uniqueValues": {"enabled": d.unique_values, "eligible": d.type_name == "id" || d.type_name.ends_with("_field")}},
    })
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

/// The metafields of the product or customer `owner` names, when it exists.
fn owner_metafields<'a>(st: &'a mut State, owner: Option<&Value>) -> Option<&'a mut Vec<Value>> {
    if let Some(id) = parse_gid(owner, "Product") {
        return st.products.get_mut(&id).map(|p| &mut p.metafields);
    }
    let id = parse_gid(owner, "Customer")?;
    st.customers.get_mut(&id).map(|c| &mut c.metafields)
}

/// Shopify's limit of metafields per `metafieldsSet` call.
const SET_LIMIT: usize = 25;

/// `metafieldsSet`: creates or updates each metafield by owner, namespace and key, all or none (an unknown owner
/// rejects the whole call, naming each such element).
fn set(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let inputs = args
        .get("metafields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.len() > SET_LIMIT {
        return Ok(
            json!({"metafields": null, "userErrors": [{"field": ["metafields"],
            "message": format!("Exceeded the maximum metafields input limit of {SET_LIMIT}."),
            "code": "LESS_THAN_OR_EQUAL_TO", "elementIndex": null}]}),
        );
    }
    let missing: Vec<Value> = (0..inputs.len())
        .filter(|&i| owner_metafields(st, inputs[i].get("ownerId")).is_none())
        .map(|i| {
            json!({"field": ["metafields", i.to_string(), "ownerId"],
            "message": "Owner does not exist.", "code": "INVALID_VALUE", "elementIndex": null})
        })
        .collect();
    if !missing.is_empty() {
        return Ok(json!({"metafields": null, "userErrors": missing}));
    }
    let mut out = Vec::with_capacity(inputs.len());
    for m in &inputs {
        let namespace = m.get("namespace").and_then(Value::as_str).unwrap_or("$app");
        let key = m.get("key").and_then(Value::as_str).unwrap_or_default();
        let new_id = st.next_id();
        let Some(list) = owner_metafields(st, m.get("ownerId")) else {
            continue;
        };
        let entry = match list
            .iter_mut()
            .find(|x| x["namespace"] == namespace && x["key"] == key)
        {
            Some(x) => x,
            None => {
                list.push(
                    json!({"__typename": "Metafield", "id": gid("Metafield", new_id),
                    "namespace": namespace, "key": key}),
                );
                let last = list.len() - 1;
                &mut list[last]
            }
        };
        for f in ["type", "value"] {
            if let Some(v) = m.get(f) {
                entry[f] = v.clone();
            }
        }
        out.push(entry.clone());
    }
    st.touch();
    Ok(json!({"metafields": out, "userErrors": []}))
}

/// `metafieldsDelete`: removes each metafield; an absent one (or an unknown owner) answers null in its place,
/// with no user error (as captured).
fn delete(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let inputs = args
        .get("metafields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut deleted = Vec::with_capacity(inputs.len());
    for m in &inputs {
        let (namespace, key) = (m.get("namespace").cloned(), m.get("key").cloned());
        let removed = owner_metafields(st, m.get("ownerId")).is_some_and(|list| {
            let before = list.len();
            list.retain(|x| {
                Some(&x["namespace"]) != namespace.as_ref() || Some(&x["key"]) != key.as_ref()
            });
            list.len() < before
        });
        deleted.push(if removed {
            json!({"key": key, "namespace": namespace, "ownerId": m.get("ownerId")})
        } else {
            Value::Null
        });
    }
    st.touch();
    Ok(json!({"deletedMetafields": deleted, "userErrors": []}))
}

/// Metafield root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    match field {
        "metafieldDefinitionCreate" => Some(create(st, args)),
        "metafieldsSet" => Some(set(st, args)),
        "metafieldsDelete" => Some(delete(st, args)),
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
