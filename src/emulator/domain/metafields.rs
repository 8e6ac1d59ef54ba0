//! Metafield definitions (`metafieldDefinitionCreate`), which custom ids (`identifier.customId`) rely on.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

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

/// Metafield-definition root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    match field {
        "metafieldDefinitionCreate" => Some(create(st, args)),
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
