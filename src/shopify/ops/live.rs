//! Reading back what Shopify holds for a sync's records, for drift checks and `plan --live`.
//!
//! One `nodes(ids:)` query per [`LIVE_BATCH`] records, selecting only the compared fields (see
//! [`crate::core::drift::compared_fields`]); metafields through aliased `metafield(namespace:, key:)` lookups.
//! Shopify charges such a query by its selection, not by the number of ids (as the captures show: two ids cost
//! what one does), so even a large catalogue costs a few points per 250 records. Every query goes through the
//! transport, so it waits for the store's shared cost budget like every write.
use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::core::config::ObjectKind;
use crate::core::drift::FieldPath;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

/// Ids per `nodes` query: Shopify's limit on an input list.
pub const LIVE_BATCH: usize = 250;

/// What a read found.
#[derive(Debug, Clone, Default)]
pub struct LiveRead {
    /// Shopify's values by record id, then by field name ([`FieldPath::name`]); a record Shopify no longer has
    /// is absent.
    pub records: HashMap<String, BTreeMap<String, Value>>,
    /// Requests sent.
    pub requests: u64,
    /// Query cost points Shopify charged (the requested cost when it reported no actual one).
    pub cost_points: f64,
}

/// The GraphQL type of `object`'s records and how each compared field is selected and read.
fn shape(object: ObjectKind) -> Option<&'static str> {
    match object {
        ObjectKind::Products => Some("Product"),
        ObjectKind::Customers => Some("Customer"),
        _ => None,
    }
}

/// The selection of one plain field on `object`, and the JSON pointer its value is read from.
fn selection(object: ObjectKind, field: &str) -> (String, String) {
    match (object, field) {
        (ObjectKind::Customers, "email") => (
            "defaultEmailAddress { emailAddress }".into(),
            "/defaultEmailAddress/emailAddress".into(),
        ),
        (ObjectKind::Customers, "phone") => (
            "defaultPhoneNumber { phoneNumber }".into(),
            "/defaultPhoneNumber/phoneNumber".into(),
        ),
        (_, "seo.title") => ("seo { title }".into(), "/seo/title".into()),
        (_, "seo.description") => ("seo { description }".into(), "/seo/description".into()),
        (_, f) => (f.to_string(), format!("/{f}")),
    }
}

/// The query reading `fields` of `object` records, and the variables its metafield lookups take. `None` for
/// objects that cannot be read back.
pub fn document(object: ObjectKind, fields: &[FieldPath]) -> Option<(String, Map<String, Value>)> {
    let ty = shape(object)?;
    let mut selections = Vec::new();
    let mut seo = Vec::new();
    let mut vars = vec!["$ids: [ID!]!".to_string()];
    let mut values = Map::new();
    let mut mf = 0;
    for f in fields {
        match f {
            FieldPath::Field(name) if name.starts_with("seo.") => {
                seo.push(name.trim_start_matches("seo.").to_string())
            }
            FieldPath::Field(name) => selections.push(selection(object, name).0),
            FieldPath::Metafield { namespace, key, .. } => {
                vars.push(format!("$ns{mf}: String!, $key{mf}: String!"));
                values.insert(format!("ns{mf}"), json!(namespace));
                values.insert(format!("key{mf}"), json!(key));
                selections.push(format!(
                    "mf{mf}: metafield(namespace: $ns{mf}, key: $key{mf}) {{ value }}"
                ));
                mf += 1;
            }
        }
    }
    if !seo.is_empty() {
        selections.push(format!("seo {{ {} }}", seo.join(" ")));
    }
    selections.sort();
    selections.dedup();
    let doc = format!(
        "query Live{ty}s({}) {{ nodes(ids: $ids) {{ __typename id ... on {ty} {{ {} }} }} }}",
        vars.join(", "),
        selections.join(" ")
    );
    Some((doc, values))
}

/// The compared values of one node as the query answered it.
fn values_of(object: ObjectKind, fields: &[FieldPath], node: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut mf = 0;
    for f in fields {
        let value = match f {
            FieldPath::Field(name) => node.pointer(&selection(object, name).1).cloned(),
            FieldPath::Metafield { .. } => {
                let v = node.pointer(&format!("/mf{mf}/value")).cloned();
                mf += 1;
                v
            }
        };
        out.insert(f.name(), value.unwrap_or(Value::Null));
    }
    out
}

/// Reads `fields` of the records `ids` (Shopify GIDs) of `object`. Any GraphQL error fails the read as a
/// whole: a record that could not be read must never be reported as deleted.
pub async fn read(
    t: &Transport,
    object: ObjectKind,
    fields: &[FieldPath],
    ids: &[String],
) -> Result<LiveRead, ShopifyError> {
    let Some((doc, variables)) = document(object, fields) else {
        return Err(ShopifyError::GraphQl(format!(
            "{object} records cannot be read back"
        )));
    };
    let ty = shape(object).unwrap_or_default();
    let mut out = LiveRead::default();
    // A first guess at the cost: the node, its nested objects and each metafield lookup.
    let expected = 2.0 + fields.len() as f64;
    for chunk in ids.chunks(LIVE_BATCH) {
        let mut vars = variables.clone();
        vars.insert("ids".into(), json!(chunk));
        let response = t
            .execute_costing(&doc, Value::Object(vars), Some(expected))
            .await?;
        out.requests += 1;
        if let Some(c) = &response.cost {
            out.cost_points += c.actual.unwrap_or(c.requested);
        }
        if let Some(e) = response.errors.first() {
            return Err(ShopifyError::GraphQl(format!(
                "reading {object} back: {}",
                e.get("message").and_then(Value::as_str).unwrap_or("error")
            )));
        }
        let Some(nodes) = response.data.get("nodes").and_then(Value::as_array) else {
            return Err(ShopifyError::Decode(
                "the answer to a nodes query has no `nodes` list".into(),
            ));
        };
        if nodes.len() != chunk.len() {
            return Err(ShopifyError::Decode(format!(
                "asked for {} records, Shopify answered {}",
                chunk.len(),
                nodes.len()
            )));
        }
        for (id, node) in chunk.iter().zip(nodes) {
            // A null, or a node of another type (an id reused elsewhere), is no record of this sync's object.
            if node.get("__typename").and_then(Value::as_str) == Some(ty) {
                out.records
                    .insert(id.clone(), values_of(object, fields, node));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use apollo_compiler::ExecutableDocument;

    use super::*;
    use crate::core::config::ApiVersion;
    use crate::core::drift::{CUSTOMER_FIELDS, PRODUCT_FIELDS};

    fn every(names: &[&str]) -> Vec<FieldPath> {
        let mut f: Vec<FieldPath> = names
            .iter()
            .map(|n| FieldPath::Field(n.to_string()))
            .collect();
        for i in 0..3 {
            f.push(FieldPath::Metafield {
                namespace: "custom".into(),
                key: format!("k{i}"),
                type_: "single_line_text_field".into(),
            });
        }
        f
    }

    #[test]
    fn live_documents_validate_against_every_supported_schema() {
        let mut failures = Vec::new();
        for version in ApiVersion::ALL {
            let schema = crate::schema::schema(version);
            for (object, names) in [
                (ObjectKind::Products, PRODUCT_FIELDS),
                (ObjectKind::Customers, CUSTOMER_FIELDS),
            ] {
                let (doc, _) = document(object, &every(names)).unwrap();
                if let Err(e) = ExecutableDocument::parse_and_validate(schema, &doc, "live.graphql")
                {
                    failures.push(format!("{object} @ {version}: {}", e.errors));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn values_are_read_under_their_field_names() {
        let fields = every(&["title", "seo.title", "email"]);
        let node = json!({"__typename": "Product", "id": "gid://shopify/Product/1", "title": "T",
            "seo": {"title": "S"}, "mf0": {"value": "a"}, "mf1": null});
        let v = values_of(ObjectKind::Products, &fields, &node);
        assert_eq!(v["title"], json!("T"));
        assert_eq!(v["seo.title"], json!("S"));
        assert_eq!(v["metafields.custom.k0"], json!("a"));
        assert_eq!(v["metafields.custom.k1"], Value::Null);
        let node = json!({"defaultEmailAddress": {"emailAddress": "a@b.c"}});
        let v = values_of(ObjectKind::Customers, &fields, &node);
        assert_eq!(v["email"], json!("a@b.c"));
    }
}
