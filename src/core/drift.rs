//! Drift: what Shopify holds now against what the sync last applied and what the warehouse wants.
//!
//! Every mapped field that can be read back is compared three ways: the warehouse's value (`wanted`), the value
//! shopsync last applied (`last`, kept in the state since the plan review work) and Shopify's current value
//! (`live`). A field is in sync when all agree, an update when only the warehouse moved, drift when only Shopify
//! moved, a conflict when both moved apart. A record is as bad as its worst field, or missing when Shopify no
//! longer has it.
//!
//! "The warehouse moved" follows the engine's own decision: a row is changed when its hash differs from the
//! snapshot's, so a value adopted from Shopify (see [`adopt`]) does not turn into an update while the row stays
//! as it was. Everything here is pure; reading Shopify and the state is the adapters' work.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{DriftPolicy, FieldMapping, MappingTarget, ObjectKind, Target};
use super::record::FieldValues;

/// Top-level product fields shopsync reads back (`Product` has them under the same names; `seo.*` is nested).
pub const PRODUCT_FIELDS: &[&str] = &[
    "title",
    "handle",
    "descriptionHtml",
    "vendor",
    "productType",
    "status",
    "tags",
    "seo.title",
    "seo.description",
];

/// Customer fields shopsync reads back (email and phone through `defaultEmailAddress`/`defaultPhoneNumber`).
pub const CUSTOMER_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "email",
    "phone",
    "note",
    "tags",
    "locale",
    "taxExempt",
];

/// One mapped field that a drift check compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldPath {
    /// A field of the record, dotted for nested ones (`seo.title`).
    Field(String),
    /// A metafield of the record.
    Metafield {
        /// Its namespace.
        namespace: String,
        /// Its key.
        key: String,
        /// Its type (values of `json` and list types compare as JSON).
        #[serde(rename = "type")]
        type_: String,
    },
}

impl FieldPath {
    /// The name reports use: `title`, `seo.title`, `metafields.custom.season`.
    pub fn name(&self) -> String {
        match self {
            FieldPath::Field(p) => p.clone(),
            FieldPath::Metafield { namespace, key, .. } => format!("metafields.{namespace}.{key}"),
        }
    }

    /// This field's value in a record's mapped fields (as sent, or as last applied); `None` when absent.
    pub fn get<'a>(&self, fields: &'a FieldValues) -> Option<&'a Value> {
        match self {
            FieldPath::Field(path) => {
                let mut parts = path.split('.');
                let mut current = fields.get(parts.next()?)?;
                for part in parts {
                    current = current.as_object()?.get(part)?;
                }
                Some(current)
            }
            FieldPath::Metafield { namespace, key, .. } => fields
                .get("metafields")?
                .as_array()?
                .iter()
                .find(|m| {
                    m.get("namespace").and_then(Value::as_str) == Some(namespace)
                        && m.get("key").and_then(Value::as_str) == Some(key)
                })?
                .get("value"),
        }
    }

    /// Sets this field's value in `fields`, creating what the path needs.
    pub fn set(&self, fields: &mut FieldValues, value: Value) {
        match self {
            FieldPath::Field(path) => super::mapping::insert_path(fields, path, value),
            FieldPath::Metafield {
                namespace,
                key,
                type_,
            } => {
                let list = fields
                    .entry("metafields")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !list.is_array() {
                    *list = Value::Array(Vec::new());
                }
                let Value::Array(list) = list else { return };
                let found = list.iter_mut().find(|m| {
                    m.get("namespace").and_then(Value::as_str) == Some(namespace)
                        && m.get("key").and_then(Value::as_str) == Some(key)
                });
                match found.and_then(Value::as_object_mut) {
                    Some(m) => {
                        m.insert("value".into(), value);
                    }
                    None => {
                        let mut m = Map::new();
                        m.insert("namespace".into(), Value::String(namespace.clone()));
                        m.insert("key".into(), Value::String(key.clone()));
                        m.insert("type".into(), Value::String(type_.clone()));
                        m.insert("value".into(), value);
                        list.push(Value::Object(m));
                    }
                }
            }
        }
    }
}

/// The fields of a sync that a drift check compares, and the mapped ones it cannot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Compared {
    /// Compared fields, in mapping order.
    pub fields: Vec<FieldPath>,
    /// Mapped fields that cannot be read back and compared (variants, options, addresses, ...).
    pub not_compared: Vec<String>,
}

/// Which of `mappings` a drift check of `target` compares; `Err` says why the target has no live comparison.
pub fn compared_fields(target: Target, mappings: &[FieldMapping]) -> Result<Compared, String> {
    let readable = match target {
        Target::Object(ObjectKind::Products) => PRODUCT_FIELDS,
        Target::Object(ObjectKind::Customers) => CUSTOMER_FIELDS,
        other => {
            return Err(format!(
                "live comparison not supported for {other}: only products and customers can be read back"
            ));
        }
    };
    let mut out = Compared::default();
    for m in mappings {
        match &m.target {
            MappingTarget::Field(f) if readable.contains(&f.as_str()) => {
                out.fields.push(FieldPath::Field(f.clone()))
            }
            MappingTarget::Field(f) => out.not_compared.push(f.clone()),
            MappingTarget::Metafield {
                namespace,
                key,
                type_,
            } => out.fields.push(FieldPath::Metafield {
                namespace: namespace.clone(),
                key: key.clone(),
                type_: type_.clone(),
            }),
        }
    }
    out.fields.sort();
    out.fields.dedup();
    Ok(out)
}

/// A value in the form two values compare in: absent, null and empty text are one; tags are a sorted set
/// whether sent as a list or as comma-separated text; emails compare case-insensitively, phones by digits and
/// `+`, enums (`status`) by upper case; numbers and text by their text; JSON metafields as JSON.
pub fn comparable(path: &FieldPath, value: Option<&Value>) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Null => None,
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        other => Some(other.to_string()),
    };
    let as_text = |t: Option<String>| match t {
        Some(t) if !t.is_empty() => Value::String(t),
        _ => Value::Null,
    };
    match path {
        FieldPath::Field(name) => match name.as_str() {
            "tags" => {
                let mut tags: Vec<String> = match value {
                    Value::Array(items) => items.iter().filter_map(text).collect(),
                    Value::String(s) => s.split(',').map(|t| t.trim().to_string()).collect(),
                    Value::Null => Vec::new(),
                    other => vec![other.to_string()],
                };
                tags.retain(|t| !t.is_empty());
                tags.sort();
                tags.dedup();
                if tags.is_empty() {
                    Value::Null
                } else {
                    Value::Array(tags.into_iter().map(Value::String).collect())
                }
            }
            "email" => as_text(text(value).map(|t| t.to_lowercase())),
            "phone" => as_text(text(value).map(|t| {
                t.chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect()
            })),
            "status" => as_text(text(value).map(|t| t.to_uppercase())),
            _ => match value {
                Value::Array(_) | Value::Object(_) => value.clone(),
                _ => as_text(text(value)),
            },
        },
        FieldPath::Metafield { type_, .. } => {
            let t = text(value);
            let structured = type_ == "json" || type_.starts_with("list.") || type_ == "rating";
            match t {
                Some(t) if structured => match serde_json::from_str(&t) {
                    Ok(v) => v,
                    Err(_) => as_text(Some(t)),
                },
                t => as_text(t),
            }
        }
    }
}

/// How one field stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum FieldState {
    /// Shopify holds what was last applied, and the warehouse wants nothing new (or both moved to one value).
    #[default]
    InSync,
    /// The warehouse changed it; Shopify still holds what was last applied.
    Update,
    /// Shopify changed it; the warehouse did not.
    Drift,
    /// Both changed it, to different values.
    Conflict,
}

/// Classifies one field from its three comparable values (see [`comparable`]).
pub fn classify_field(wanted: &Value, last: &Value, live: &Value) -> FieldState {
    let warehouse_moved = wanted != last;
    let shopify_moved = live != last;
    match (warehouse_moved, shopify_moved) {
        (false, false) => FieldState::InSync,
        (true, false) => FieldState::Update,
        (false, true) => FieldState::Drift,
        // Both moved to the same value: nothing to do, nothing lost.
        (true, true) if wanted == live => FieldState::InSync,
        (true, true) => FieldState::Conflict,
    }
}

/// How one record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Every compared field is in sync and the warehouse row is unchanged.
    InSync,
    /// The warehouse changed the row; Shopify holds what was last applied.
    Update,
    /// Shopify changed at least one field; the warehouse did not.
    Drift,
    /// Shopify and the warehouse changed at least one field to different values.
    Conflict,
    /// The record was deleted in Shopify.
    Missing,
    /// The state keeps no last applied values for the key (synced before they were kept): drift cannot be told
    /// from an update. The next write records them.
    Unknown,
}

impl RecordState {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::InSync => "in sync",
            RecordState::Update => "update",
            RecordState::Drift => "drift",
            RecordState::Conflict => "conflict",
            RecordState::Missing => "missing",
            RecordState::Unknown => "unknown",
        }
    }
}

/// One compared field of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    /// The field's name (see [`FieldPath::name`]).
    pub field: String,
    /// How it stands.
    pub state: FieldState,
    /// What the warehouse wants (for an unchanged row: what was last applied).
    pub warehouse: Value,
    /// What shopsync last applied (or adopted).
    pub last_applied: Value,
    /// What Shopify holds now.
    pub shopify: Value,
}

/// One record's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDrift {
    /// The primary key.
    pub key: String,
    /// The Shopify record.
    pub shopify_id: String,
    /// How it stands.
    pub state: RecordState,
    /// The fields that are not in sync (all of them are compared; in-sync ones are left out).
    pub fields: Vec<FieldDrift>,
}

impl RecordDrift {
    /// The drifted fields (Shopify moved, the warehouse did not).
    pub fn drifted(&self) -> impl Iterator<Item = &FieldDrift> {
        self.fields.iter().filter(|f| f.state == FieldState::Drift)
    }
}

/// What the classification of one record needs.
#[derive(Debug, Clone, Copy)]
pub struct RecordInput<'a> {
    /// The primary key.
    pub key: &'a str,
    /// The Shopify record the snapshot names.
    pub shopify_id: &'a str,
    /// Whether the plan sends the row (its hash changed, or it is retried).
    pub changed: bool,
    /// The row's mapped values when the plan sends it; `None` for an unchanged row.
    pub wanted: Option<&'a FieldValues>,
    /// What was last applied; `None` when the state keeps no values for the key.
    pub last: Option<&'a FieldValues>,
    /// Shopify's current values by field name (see [`FieldPath::name`]); `None` when the record is gone.
    pub live: Option<&'a BTreeMap<String, Value>>,
}

/// Classifies one record over the compared `fields`.
pub fn classify_record(fields: &[FieldPath], input: RecordInput<'_>) -> RecordDrift {
    let mut record = RecordDrift {
        key: input.key.to_string(),
        shopify_id: input.shopify_id.to_string(),
        state: RecordState::InSync,
        fields: Vec::new(),
    };
    let Some(live) = input.live else {
        record.state = RecordState::Missing;
        return record;
    };
    let Some(last) = input.last else {
        record.state = RecordState::Unknown;
        return record;
    };
    let mut worst = FieldState::InSync;
    for path in fields {
        let last_v = comparable(path, path.get(last));
        // An unchanged row wants what was last applied, by the engine's own reckoning (its hash is unchanged).
        let wanted_v = match input.wanted.filter(|_| input.changed) {
            Some(w) => comparable(path, path.get(w)),
            None => last_v.clone(),
        };
        let live_v = comparable(path, live.get(&path.name()));
        let state = classify_field(&wanted_v, &last_v, &live_v);
        worst = worst.max(state);
        if state != FieldState::InSync {
            record.fields.push(FieldDrift {
                field: path.name(),
                state,
                warehouse: wanted_v,
                last_applied: last_v,
                shopify: live_v,
            });
        }
    }
    record.state = match worst {
        FieldState::Conflict => RecordState::Conflict,
        FieldState::Drift => RecordState::Drift,
        // A changed row is written even when no compared field moved (a variant did, say).
        FieldState::Update => RecordState::Update,
        FieldState::InSync if input.changed => RecordState::Update,
        FieldState::InSync => RecordState::InSync,
    };
    record
}

/// The last applied values with Shopify's value taken for every drifted field of `record`: what the state
/// keeps after adopting the drift. Nothing is written to Shopify.
pub fn adopt(last: &FieldValues, record: &RecordDrift, fields: &[FieldPath]) -> FieldValues {
    let mut out = last.clone();
    for d in record.drifted() {
        if let Some(path) = fields.iter().find(|p| p.name() == d.field) {
            path.set(&mut out, d.shopify.clone());
        }
    }
    out
}

/// Counts of a drift check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftCounts {
    /// Records compared (the sync's records with a Shopify id).
    pub checked: u64,
    /// In sync.
    pub in_sync: u64,
    /// The warehouse changed them.
    pub update: u64,
    /// Shopify changed them.
    pub drift: u64,
    /// Both changed them.
    pub conflict: u64,
    /// Deleted in Shopify.
    pub missing: u64,
    /// No last applied values to compare with.
    pub unknown: u64,
}

impl DriftCounts {
    /// Counts one record.
    pub fn add(&mut self, state: RecordState) {
        self.checked += 1;
        match state {
            RecordState::InSync => self.in_sync += 1,
            RecordState::Update => self.update += 1,
            RecordState::Drift => self.drift += 1,
            RecordState::Conflict => self.conflict += 1,
            RecordState::Missing => self.missing += 1,
            RecordState::Unknown => self.unknown += 1,
        }
    }

    /// Records whose Shopify side no longer matches what was applied: drift, conflicts and missing records.
    pub fn drifted_records(&self) -> u64 {
        self.drift + self.conflict + self.missing
    }
}

/// What a drift check found and did, as a run reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftSummary {
    /// The policy applied.
    pub policy: DriftPolicy,
    /// The counts.
    pub counts: DriftCounts,
    /// Drifted records whose warehouse values were sent again (overwrite).
    pub overwritten: u64,
    /// Drifted records whose Shopify values were accepted into the state (adopt).
    pub adopted: u64,
    /// Why the check could not be made (an object without live comparison, Shopify unreachable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The first records that are not in sync, at most [`DriftSummary::MAX_RECORDS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordDrift>,
    /// Shopify query cost points the check spent.
    pub cost_points: f64,
}

impl DriftSummary {
    /// Records kept in a summary; the counts cover all.
    pub const MAX_RECORDS: usize = 50;

    /// A check that could not be made, and why.
    pub fn skipped(policy: DriftPolicy, reason: impl Into<String>) -> DriftSummary {
        DriftSummary {
            policy,
            counts: DriftCounts::default(),
            overwritten: 0,
            adopted: 0,
            skipped: Some(reason.into()),
            records: Vec::new(),
            cost_points: 0.0,
        }
    }

    /// One line for logs and events: `3 drifted, 1 conflict, 0 missing of 120 checked`.
    pub fn line(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("drift check skipped: {why}");
        }
        let c = &self.counts;
        let mut s = format!(
            "{} drifted, {} in conflict, {} missing of {} checked ({} to update)",
            c.drift, c.conflict, c.missing, c.checked, c.update
        );
        if self.overwritten > 0 {
            s.push_str(&format!("; {} overwritten", self.overwritten));
        }
        if self.adopted > 0 {
            s.push_str(&format!("; {} adopted", self.adopted));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> FieldValues {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn title() -> Vec<FieldPath> {
        vec![FieldPath::Field("title".into())]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            "[a-c]{0,2}".prop_map(Value::String),
            (0i64..3).prop_map(|n| json!(n)),
        ]
    }

    proptest! {
        /// Drift and conflicts need Shopify to differ from the last applied value; updates and conflicts need
        /// the warehouse to; agreement of all three is always in sync.
        #[test]
        fn field_laws(w in value(), l in value(), s in value()) {
            let p = FieldPath::Field("title".into());
            let (w, l, s) = (comparable(&p, Some(&w)), comparable(&p, Some(&l)), comparable(&p, Some(&s)));
            let state = classify_field(&w, &l, &s);
            if s == l {
                prop_assert!(matches!(state, FieldState::InSync | FieldState::Update));
            }
            if w == l {
                prop_assert!(matches!(state, FieldState::InSync | FieldState::Drift));
            }
            if w == s {
                prop_assert!(state != FieldState::Conflict);
            }
            prop_assert_eq!(state == FieldState::Conflict, w != l && s != l && w != s);
            prop_assert_eq!(state == FieldState::Drift, w == l && s != l);
        }

        /// A record is missing exactly when Shopify has none; an unchanged row is never an update or a
        /// conflict; the record's state is its worst field's; adopting the drift leaves nothing drifted.
        #[test]
        fn record_laws(
            w in value(), l in value(), s in value(), changed in any::<bool>(), gone in any::<bool>(),
        ) {
            let fields = title();
            let wanted = obj(json!({"title": w}));
            let last = obj(json!({"title": l}));
            let live: BTreeMap<String, Value> = [("title".to_string(), s)].into();
            let input = RecordInput {
                key: "k", shopify_id: "gid://shopify/Product/1", changed,
                wanted: Some(&wanted), last: Some(&last), live: (!gone).then_some(&live),
            };
            let r = classify_record(&fields, input);
            prop_assert_eq!(r.state == RecordState::Missing, gone);
            if gone { return Ok(()); }
            if !changed {
                prop_assert!(matches!(r.state, RecordState::InSync | RecordState::Drift));
            }
            let worst = r.fields.iter().map(|f| f.state).max().unwrap_or_default();
            let expected = match worst {
                FieldState::Conflict => RecordState::Conflict,
                FieldState::Drift => RecordState::Drift,
                FieldState::Update => RecordState::Update,
                FieldState::InSync if changed => RecordState::Update,
                FieldState::InSync => RecordState::InSync,
            };
            prop_assert_eq!(r.state, expected);
            let adopted = adopt(&last, &r, &fields);
            let again = classify_record(&fields, RecordInput { last: Some(&adopted), ..input });
            prop_assert!(again.drifted().next().is_none());
        }
    }

    #[test]
    fn values_compare_the_way_shopify_stores_them() {
        let tags = FieldPath::Field("tags".into());
        assert_eq!(
            comparable(&tags, Some(&json!("b, a"))),
            comparable(&tags, Some(&json!(["a", "b"])))
        );
        let email = FieldPath::Field("email".into());
        assert_eq!(
            comparable(&email, Some(&json!("A@Example.com"))),
            comparable(&email, Some(&json!("a@example.com")))
        );
        let phone = FieldPath::Field("phone".into());
        assert_eq!(
            comparable(&phone, Some(&json!("+1 (555) 010-0100"))),
            comparable(&phone, Some(&json!("+15550100100")))
        );
        let status = FieldPath::Field("status".into());
        assert_eq!(comparable(&status, Some(&json!("active"))), json!("ACTIVE"));
        let note = FieldPath::Field("note".into());
        assert_eq!(comparable(&note, Some(&json!(""))), Value::Null);
        assert_eq!(comparable(&note, None), Value::Null);
        assert_ne!(
            comparable(&note, Some(&json!("a"))),
            comparable(&note, Some(&json!("b")))
        );
        let mf = FieldPath::Metafield {
            namespace: "custom".into(),
            key: "specs".into(),
            type_: "json".into(),
        };
        assert_eq!(
            comparable(&mf, Some(&json!("{\"a\": 1}"))),
            comparable(&mf, Some(&json!("{\"a\":1}")))
        );
        let number = FieldPath::Metafield {
            namespace: "custom".into(),
            key: "n".into(),
            type_: "number_integer".into(),
        };
        assert_eq!(
            comparable(&number, Some(&json!(5))),
            comparable(&number, Some(&json!("5")))
        );
    }

    #[test]
    fn metafields_are_read_and_adopted_in_the_mapped_shape() {
        let path = FieldPath::Metafield {
            namespace: "custom".into(),
            key: "season".into(),
            type_: "single_line_text_field".into(),
        };
        let last = obj(json!({"title": "T", "metafields": [
            {"namespace": "custom", "key": "season", "type": "single_line_text_field", "value": "summer"}
        ]}));
        assert_eq!(path.get(&last), Some(&json!("summer")));
        let live: BTreeMap<String, Value> = [
            ("title".to_string(), json!("T")),
            (path.name(), json!("winter")),
        ]
        .into();
        let fields = vec![FieldPath::Field("title".into()), path.clone()];
        let r = classify_record(
            &fields,
            RecordInput {
                key: "k",
                shopify_id: "gid://shopify/Product/1",
                changed: false,
                wanted: None,
                last: Some(&last),
                live: Some(&live),
            },
        );
        assert_eq!(r.state, RecordState::Drift);
        assert_eq!(r.fields.len(), 1);
        assert_eq!(r.fields[0].field, "metafields.custom.season");
        assert_eq!(r.fields[0].last_applied, json!("summer"));
        assert_eq!(r.fields[0].shopify, json!("winter"));
        let adopted = adopt(&last, &r, &fields);
        assert_eq!(path.get(&adopted), Some(&json!("winter")));
        assert_eq!(adopted["title"], json!("T"));
    }

    #[test]
    fn only_products_and_customers_compare() {
        let m = |to: &str| FieldMapping {
            target: MappingTarget::Field(to.into()),
            source: super::super::config::MappingSource::Column("c".into()),
            format: super::super::config::ValueFormat::Auto,
            on_null: Default::default(),
        };
        let c = compared_fields(
            Target::Object(ObjectKind::Products),
            &[m("title"), m("variants"), m("seo.title")],
        )
        .unwrap();
        assert_eq!(c.not_compared, vec!["variants".to_string()]);
        assert_eq!(c.fields.len(), 2);
        let err = compared_fields(
            Target::Object(ObjectKind::InventoryLevels),
            &[m("quantity")],
        )
        .unwrap_err();
        assert!(err.contains("live comparison not supported for inventoryLevels"));
    }
}
