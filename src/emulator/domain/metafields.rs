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
    /// Description.
    pub description: Option<String>,
    /// Validation rules (`name`, `value`), in the order given.
    pub validations: Vec<(String, String)>,
    /// Position among pinned definitions (`None` when unpinned).
    pub pinned_position: Option<i64>,
    /// Whether the smart-collection-condition capability is on.
    pub smart_collection_condition: bool,
    /// Whether the admin-filterable capability is on.
    pub admin_filterable: bool,
}

/// Types a smart collection condition can test (Shopify's "Use metafields in smart collections": true/false,
/// integer, decimal, rating, single line text and metaobject references).
fn smart_collection_eligible(ty: &str) -> bool {
    matches!(
        ty,
        "boolean"
            | "number_integer"
            | "number_decimal"
            | "rating"
            | "single_line_text_field"
            | "metaobject_reference"
            | "list.metaobject_reference"
            | "list.single_line_text_field"
            | "list.number_integer"
            | "list.number_decimal"
    )
}

/// Types admin filters cannot use (free-form documents).
fn admin_filterable_eligible(ty: &str) -> bool {
    !matches!(ty, "json" | "rich_text_field" | "multi_line_text_field")
}

fn definition_json(st: &State, d: &MetafieldDefinition) -> Value {
    let count = metafields_of_definition(st, d).len();
    json!({
        "__typename": "MetafieldDefinition",
        "id": gid("MetafieldDefinition", d.id),
        "namespace": d.namespace,
        "key": d.key,
        "name": d.name,
        "description": d.description,
        "ownerType": d.owner_type,
        "type": {"__typename": "MetafieldDefinitionType", "name": d.type_name, "category": type_category(&d.type_name)},
        "validations": d.validations.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "pinnedPosition": d.pinned_position,
        // Values are checked when they are written, so every stored value is valid.
        "validationStatus": "ALL_VALID",
        "metafieldsCount": count,
        "capabilities": {
            "uniqueValues": {"enabled": d.unique_values, "eligible": d.type_name == "id" || d.type_name.ends_with("_field")},
            "smartCollectionCondition": {"enabled": d.smart_collection_condition, "eligible": smart_collection_eligible(&d.type_name)},
            "adminFilterable": {"enabled": d.admin_filterable, "eligible": admin_filterable_eligible(&d.type_name),
                "status": if d.admin_filterable { "FILTERABLE" } else { "NOT_FILTERABLE" }},
        },
    })
}

/// (owner, metafield index) of every stored metafield a definition governs.
fn metafields_of_definition(st: &State, d: &MetafieldDefinition) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let lists = st
        .products
        .iter()
        .map(|(id, p)| (gid("Product", *id), &p.metafields))
        .chain(
            st.customers
                .iter()
                .map(|(id, c)| (gid("Customer", *id), &c.metafields)),
        )
        .chain(st.owner_metafields.iter().map(|(o, l)| (o.clone(), l)));
    for (owner, list) in lists {
        if owner_type_of(&owner) != d.owner_type {
            continue;
        }
        for (i, m) in list.iter().enumerate() {
            if m["namespace"] == d.namespace.as_str() && m["key"] == d.key.as_str() {
                out.push((owner.clone(), i));
            }
        }
    }
    out
}

/// A definition's `validations` input as (name, value) pairs.
fn validations_input(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| {
            Some((
                x.get("name")?.as_str()?.to_string(),
                x.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ))
        })
        .collect()
}

/// The `enabled` flag of capability `name` in a definition input.
fn capability_input(input: &Map<String, Value>, name: &str) -> Option<bool> {
    input
        .get("capabilities")
        .and_then(|c| c.get(name))
        .and_then(|u| u.get("enabled"))
        .and_then(Value::as_bool)
}

/// Checks a text value against its definition's `min`/`max` length rules.
fn check_validations(d: &MetafieldDefinition, value: &str) -> Option<String> {
    if !matches!(
        d.type_name.as_str(),
        "single_line_text_field" | "multi_line_text_field"
    ) {
        return None;
    }
    let len = value.chars().count();
    for (name, bound) in &d.validations {
        let Ok(n) = bound.parse::<usize>() else {
            continue;
        };
        match name.as_str() {
            "max" if len > n => return Some(format!("Value has a maximum length of {n}.")),
            "min" if len < n => return Some(format!("Value has a minimum length of {n}.")),
            _ => {}
        }
    }
    None
}

/// Finds a definition by `{ownerType, namespace, key}`.
fn find_definition<'a>(
    st: &'a State,
    owner: &str,
    namespace: &str,
    key: &str,
) -> Option<&'a MetafieldDefinition> {
    st.metafield_definitions
        .iter()
        .find(|d| d.owner_type == owner && d.namespace == namespace && d.key == key)
}

/// The definition an `identifier` (ownerType, namespace defaulting to `custom`, key) or an `id` argument names.
fn named_definition<'a>(
    st: &'a State,
    args: &Map<String, Value>,
) -> Option<&'a MetafieldDefinition> {
    match args.get("identifier").and_then(Value::as_object) {
        Some(i) => {
            let text = |field: &str| i.get(field).and_then(Value::as_str);
            let ns = resolve_namespace(st, Some(text("namespace").unwrap_or("custom")));
            find_definition(
                st,
                text("ownerType").unwrap_or_default(),
                &ns,
                text("key").unwrap_or_default(),
            )
        }
        None => super::parse_gid(args.get("id"), "MetafieldDefinition")
            .and_then(|id| st.metafield_definitions.iter().find(|d| d.id == id)),
    }
}

/// `metafieldDefinitionUpdate`: the definition is named by ownerType, namespace and key (which cannot
/// change: naming another one finds none); name, description, validations, pin and capabilities change.
fn update(st: &mut State, args: &Map<String, Value>) -> Value {
    let input = args
        .get("definition")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default();
    let namespace = input
        .get("namespace")
        .and_then(Value::as_str)
        .map(|n| resolve_namespace(st, Some(n)))
        .unwrap_or_else(|| "custom".to_string());
    let Some(idx) = st.metafield_definitions.iter().position(|d| {
        d.owner_type == text("ownerType") && d.namespace == namespace && d.key == text("key")
    }) else {
        return json!({"updatedDefinition": null, "userErrors": [{"field": ["definition"], "message": "Definition not found.", "code": "NOT_FOUND"}], "validationJob": null});
    };
    let d = &mut st.metafield_definitions[idx];
    if let Some(n) = input.get("name").and_then(Value::as_str) {
        d.name = n.to_string();
    }
    if let Some(v) = input.get("description") {
        d.description = v.as_str().map(str::to_string);
    }
    if input.contains_key("pin") || input.contains_key("pinnedPosition") {
        // Pinning is not modelled beyond the flag; an unpinned definition reads null.
    }
    if let Some(u) = capability_input(&input, "uniqueValues") {
        d.unique_values = u;
    }
    if let Some(u) = capability_input(&input, "smartCollectionCondition") {
        d.smart_collection_condition = u;
    }
    if let Some(u) = capability_input(&input, "adminFilterable") {
        d.admin_filterable = u;
    }
    let mut job = Value::Null;
    if input.contains_key("validations") {
        let v = validations_input(input.get("validations"));
        if v != d.validations {
            d.validations = v;
            // Changed rules re-check existing values in a background job.
            job = json!({"__typename": "Job", "id": gid("Job", 0), "done": false, "query": null});
        }
    }
    let d = d.clone();
    if !job.is_null() {
        let id = st.next_id();
        job["id"] = json!(gid("Job", id));
    }
    st.touch();
    json!({"updatedDefinition": definition_json(st, &d), "userErrors": [], "validationJob": job})
}

/// `metafieldDefinitionDelete`: with `deleteAllAssociatedMetafields` the values go too; without it they
/// stay, no longer tied to a definition.
fn delete_definition(st: &mut State, args: &Map<String, Value>) -> Value {
    let found = named_definition(st, args).map(|d| d.id);
    let Some(idx) = found.and_then(|id| st.metafield_definitions.iter().position(|d| d.id == id))
    else {
        return json!({"deletedDefinitionId": null, "deletedDefinition": null, "userErrors": [{"field": ["id"], "message": "Definition not found.", "code": "NOT_FOUND"}]});
    };
    let with_values = args
        .get("deleteAllAssociatedMetafields")
        .and_then(Value::as_bool)
        == Some(true);
    let refuse = |message: &str, code: &str| json!({"deletedDefinitionId": null, "deletedDefinition": null, "userErrors": [{"field": null, "message": message, "code": code}]});
    let d = &st.metafield_definitions[idx];
    // Values an app reserved, and references, cannot be left behind without a definition.
    if !with_values && d.namespace.starts_with("app--") {
        return refuse(
            "Deleting a definition in a reserved namespace must have deleteAllAssociatedMetafields set to true.",
            "RESERVED_NAMESPACE_ORPHANED_METAFIELDS",
        );
    }
    if !with_values && d.type_name.ends_with("_reference") {
        return refuse(
            "Deleting a reference type metafield definition requires deletion of its associated metafields.",
            "REFERENCE_TYPE_DELETION_ERROR",
        );
    }
    let d = st.metafield_definitions.remove(idx);
    if with_values {
        let (ns, key) = (d.namespace.clone(), d.key.clone());
        let owners: Vec<String> = metafields_of_definition(st, &d)
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        for owner in owners {
            if let Some(list) = owner_list_mut(st, &owner) {
                list.retain(|m| !(m["namespace"] == ns.as_str() && m["key"] == key.as_str()));
            }
        }
    } else {
        let owners: Vec<String> = metafields_of_definition(st, &d)
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        for owner in owners {
            if let Some(list) = owner_list_mut(st, &owner) {
                for m in list.iter_mut().filter(|m| {
                    m["namespace"] == d.namespace.as_str() && m["key"] == d.key.as_str()
                }) {
                    m["definition"] = Value::Null;
                }
            }
        }
    }
    st.touch();
    json!({"deletedDefinitionId": gid("MetafieldDefinition", d.id),
        "deletedDefinition": {"__typename": "MetafieldDefinitionIdentifier", "ownerType": d.owner_type, "namespace": d.namespace, "key": d.key},
        "userErrors": []})
}

/// `metafieldDefinition(id:)` / `metafieldDefinition(identifier:)`.
fn definition_read(st: &State, args: &Map<String, Value>) -> Value {
    let found = named_definition(st, args);
    found.map(|d| definition_json(st, d)).unwrap_or(Value::Null)
}

/// `metafieldDefinitions(ownerType:, namespace:, key:)` (paged by the connection layer).
fn definitions_list(st: &State, args: &Map<String, Value>) -> Value {
    let owner = args.get("ownerType").and_then(Value::as_str);
    let ns = args
        .get("namespace")
        .and_then(Value::as_str)
        .map(|n| resolve_namespace(st, Some(n)));
    let key = args.get("key").and_then(Value::as_str);
    Value::Array(
        st.metafield_definitions
            .iter()
            .filter(|d| owner.is_none_or(|o| d.owner_type == o))
            .filter(|d| ns.as_ref().is_none_or(|n| &d.namespace == n))
            .filter(|d| key.is_none_or(|k| d.key == k))
            .map(|d| definition_json(st, d))
            .collect(),
    )
}

/// The category Shopify files a metafield type under (`MetafieldDefinitionType.category`).
fn type_category(ty: &str) -> &'static str {
    let base = ty.strip_prefix("list.").unwrap_or(ty);
    match base {
        "single_line_text_field" | "multi_line_text_field" | "rich_text_field" => "TEXT",
        "id" => "ID",
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
    let namespace = resolve_namespace(
        st,
        Some(
            input
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("custom"),
        ),
    );
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
        description: input
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        validations: validations_input(input.get("validations")),
        pinned_position: None,
        smart_collection_condition: capability_input(&input, "smartCollectionCondition")
            .unwrap_or(false),
        admin_filterable: capability_input(&input, "adminFilterable").unwrap_or(false),
        type_name,
    };
    let answer = json!({"createdDefinition": definition_json(st, &d), "userErrors": []});
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
        "metafieldDefinitionUpdate" => Some(Ok(update(st, args))),
        "metafieldDefinitionDelete" => Some(Ok(delete_definition(st, args))),
        "metafieldDefinition" => Some(Ok(definition_read(st, args))),
        "metafieldDefinitions" => Some(Ok(definitions_list(st, args))),
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
        .map(|d| definition_json(st, d))
}

/// Most metafields one `metafieldsSet` takes.
const MAX_SET_INPUTS: usize = 25;
/// Namespaces that belong to Shopify.
const RESERVED_NAMESPACES: &[&str] = &["shopify_standard", "protected", "shopify-l10n-fields"];
/// Shopify's answer to a namespace reserved by another app.
const NOT_AUTHORIZED: &str =
    "Access to this namespace and key on Metafields for this resource type is not allowed.";

/// Whether `ns` is reserved by an app other than the caller (`app--<other id>[--...]`).
fn foreign_app_namespace(st: &State, ns: &str) -> bool {
    ns.strip_prefix("app--")
        .and_then(|rest| rest.split("--").next())
        .and_then(|id| id.parse::<u64>().ok())
        .is_some_and(|id| id != st.app_id)
}

/// The calling app's reserved namespace (`$app` resolves to it).
fn app_namespace(st: &State) -> String {
    format!("app--{}", st.app_id)
}

/// The `MetafieldOwnerType` of a GID type (`ProductVariant` -> `PRODUCTVARIANT`).
fn owner_type_of(owner_gid: &str) -> String {
    owner_gid
        .strip_prefix("gid://shopify/")
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// `$app` and `$app:suffix` resolve to the calling app's namespace; an omitted namespace is the app's.
fn resolve_namespace(st: &State, ns: Option<&str>) -> String {
    match ns {
        None => app_namespace(st),
        Some("$app") => app_namespace(st),
        Some(n) => match n.strip_prefix("$app:") {
            Some(rest) => format!("{}--{rest}", app_namespace(st)),
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
        .map(|n| resolve_namespace(st, Some(n)));
    match field {
        "metafield" => {
            let key = args.get("key").and_then(Value::as_str)?;
            // `key` may carry the namespace (`namespace.key`).
            let (ns, key) = match (&ns, key.split_once('.')) {
                (None, Some((n, k))) => (Some(resolve_namespace(st, Some(n))), k),
                _ => (ns.clone(), key),
            };
            let ns = ns.unwrap_or_else(|| app_namespace(st));
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
        let ns = resolve_namespace(st, text("namespace"));
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
        } else if foreign_app_namespace(st, &ns) {
            errors.push(set_error(
                Some(i),
                None,
                NOT_AUTHORIZED,
                Some("APP_NOT_AUTHORIZED"),
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
        if let Some(message) = definition.and_then(|d| check_validations(d, &checked.value)) {
            errors.push(set_error(
                Some(i),
                Some("value"),
                message,
                Some("INVALID_VALUE"),
                None,
            ));
            continue;
        }
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
    // Another app's reserved namespace refuses the whole request.
    if inputs.iter().any(|m| {
        foreign_app_namespace(
            st,
            &resolve_namespace(st, m.get("namespace").and_then(Value::as_str)),
        )
    }) {
        return json!({"deletedMetafields": [], "userErrors": [{"field": ["metafields"], "message": NOT_AUTHORIZED}]});
    }
    let mut deleted = Vec::new();
    for m in &inputs {
        let owner_raw = m.get("ownerId").and_then(Value::as_str).unwrap_or_default();
        let ns = resolve_namespace(st, m.get("namespace").and_then(Value::as_str));
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
