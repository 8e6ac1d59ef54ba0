//! Field mapping: a warehouse row becomes the values shopsync sends to Shopify.
//!
//! A mapping is compiled once per run against the query's columns (so a missing column fails the run before
//! anything is sent, naming the sync and the column), then applied to each row. Problems with one row's data
//! reject that row only, with a code and a message naming the column.
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::{
    FieldMapping, MappingSource, MappingTarget, NullPolicy, SyncConfig, ValueFormat,
};
use super::record::{Record, RejectionCode, RowRejection, primary_key};
use super::source::WarehouseError;
use super::source::{Columns, SourceRow};

/// Why a mapping cannot run against a query's result at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// A column the sync needs is not in the result.
    #[error(
        "sync {sync}: the query returns no column {column:?} (needed for {purpose}); it returns: {available}"
    )]
    MissingColumn {
        /// The sync.
        sync: String,
        /// The missing column.
        column: String,
        /// What needs it: the primary key, the match key or a mapping.
        purpose: String,
        /// The columns the query does return.
        available: String,
    },
}

/// A mapping resolved against a result's columns.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    primary_key: usize,
    primary_key_name: String,
    match_column: Option<(usize, String)>,
    steps: Vec<Step>,
    target: super::config::Target,
}

#[derive(Debug, Clone)]
struct Step {
    target: MappingTarget,
    source: CompiledSource,
    format: ValueFormat,
    on_null: NullPolicy,
}

#[derive(Debug, Clone)]
enum CompiledSource {
    Column { index: usize, name: String },
    Static(Value),
}

/// Resolves `config`'s columns in `columns` (the query's result header).
pub fn compile(config: &SyncConfig, columns: &Columns) -> Result<CompiledMapping, MappingError> {
    let find = |column: &str, purpose: &str| {
        columns
            .position(column)
            .ok_or_else(|| MappingError::MissingColumn {
                sync: config.id.clone(),
                column: column.to_string(),
                purpose: purpose.to_string(),
                available: columns.names().join(", "),
            })
    };
    let primary_key = find(&config.primary_key, "the primary key")?;
    let match_column = match &config.match_column {
        Some(c) => Some((find(c, "match.column")?, c.clone())),
        None => None,
    };
    let steps = config
        .mappings
        .iter()
        .map(|m: &FieldMapping| {
            let source = match &m.source {
                MappingSource::Column(c) => CompiledSource::Column {
                    index: find(c, &format!("the mapping to {}", describe(&m.target)))?,
                    name: c.clone(),
                },
                MappingSource::Static(v) => CompiledSource::Static(v.clone()),
            };
            Ok(Step {
                target: m.target.clone(),
                source,
                format: m.format,
                on_null: m.on_null,
            })
        })
        .collect::<Result<Vec<_>, MappingError>>()?;
    Ok(CompiledMapping {
        primary_key,
        primary_key_name: config.primary_key.clone(),
        match_column,
        steps,
        target: config.target,
    })
}

fn describe(t: &MappingTarget) -> String {
    match t {
        MappingTarget::Field(f) => f.clone(),
        MappingTarget::Metafield { namespace, key, .. } => format!("metafield {namespace}.{key}"),
    }
}

impl CompiledMapping {
    /// The row's primary key, decoding only that column; `None` when it is NULL or not a scalar (mapping the
    /// whole row then rejects it with the reason).
    pub fn key_of(&self, row: &SourceRow) -> Result<Option<String>, WarehouseError> {
        Ok(row
            .value(self.primary_key)?
            .and_then(|v| primary_key(&self.primary_key_name, &v).ok()))
    }

    /// Maps one row (values in column order). The match column's value, when the spec names one, is sent
    /// under `match_field`.
    pub fn apply(
        &self,
        values: &[Value],
        match_field: Option<&str>,
    ) -> Result<Record, RowRejection> {
        let key = primary_key(
            &self.primary_key_name,
            values.get(self.primary_key).unwrap_or(&Value::Null),
        )?;
        let mut fields = Map::new();
        let mut metafields = Vec::new();
        for step in &self.steps {
            let (raw, column) = match &step.source {
                CompiledSource::Column { index, name } => (
                    values.get(*index).cloned().unwrap_or(Value::Null),
                    Some(name.as_str()),
                ),
                CompiledSource::Static(v) => (v.clone(), None),
            };
            let value = convert(raw, step.format, column).map_err(|message| {
                RowRejection::new(Some(key.clone()), RejectionCode::Mapping, message)
            })?;
            if value.is_null() && step.on_null == NullPolicy::Keep {
                // Not sent: Shopify keeps what it has.
                continue;
            }
            match &step.target {
                // A NULL is sent as null, which clears the field.
                MappingTarget::Field(path) => insert_path(&mut fields, path, value),
                MappingTarget::Metafield {
                    namespace,
                    key,
                    type_,
                } => {
                    // Shopify takes every metafield value as a string; a NULL stays null, which the client
                    // turns into a delete of the metafield.
                    let mut mf = Map::new();
                    mf.insert("namespace".into(), Value::String(namespace.clone()));
                    mf.insert("key".into(), Value::String(key.clone()));
                    mf.insert("type".into(), Value::String(type_.clone()));
                    let text = (!value.is_null()).then(|| Value::String(metafield_text(&value)));
                    mf.insert("value".into(), text.unwrap_or(Value::Null));
                    metafields.push(Value::Object(mf));
                }
            }
        }
        if let (Some((index, name)), Some(field)) = (&self.match_column, match_field) {
            match values.get(*index) {
                None | Some(Value::Null) => {
                    return Err(RowRejection::new(
                        Some(key),
                        RejectionCode::Mapping,
                        format!(
                            "match column {name:?} is NULL, so the row cannot be matched to a record"
                        ),
                    ));
                }
                Some(v) => {
                    fields.entry(field.to_string()).or_insert_with(|| v.clone());
                }
            }
        }
        if !metafields.is_empty() {
            fields.insert("metafields".into(), Value::Array(metafields));
        }
        // Ids arrive as numbers or gids; Shopify takes one gid, and a gid of another type is this row's error.
        super::ids::normalize_fields(self.target, &mut fields).map_err(|e| {
            RowRejection::new(Some(key.clone()), RejectionCode::Mapping, e.to_string())
        })?;
        Ok(Record { key, fields })
    }
}

fn metafield_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The most text one mapped value may hold, in bytes (a string, or the JSON text of a `json` column). Far above
/// what any Shopify text field takes (titles stop at 255 characters), so a bigger value is a data error; refusing
/// it also bounds what a batch of rows holds in memory.
pub const MAX_VALUE_BYTES: usize = 4 << 20;

fn convert(value: Value, format: ValueFormat, column: Option<&str>) -> Result<Value, String> {
    let name = column.unwrap_or("(static value)");
    let too_big = |len: usize| {
        format!(
            "column {name:?} holds {len} bytes; at most {MAX_VALUE_BYTES} bytes are sent per value"
        )
    };
    let converted = match (format, value) {
        (ValueFormat::Json, Value::String(text)) if text.len() > MAX_VALUE_BYTES => {
            return Err(too_big(text.len()));
        }
        // serde_json refuses nesting deeper than 128 levels, so hostile JSON cannot exhaust the stack.
        (ValueFormat::Json, Value::String(text)) => serde_json::from_str(&text)
            .map_err(|e| format!("column {name:?} is not valid JSON: {e}"))?,
        (ValueFormat::String, Value::Null) => Value::Null,
        (ValueFormat::String, Value::String(s)) => Value::String(s),
        (ValueFormat::String, other) => Value::String(other.to_string()),
        (_, v) => v,
    };
    match &converted {
        Value::String(s) if s.len() > MAX_VALUE_BYTES => Err(too_big(s.len())),
        _ => Ok(converted),
    }
}

/// Inserts `value` at a dotted path, creating intermediate objects.
pub(crate) fn insert_path(fields: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            fields.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = fields
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// A fingerprint of everything in the config that shapes what is sent: when it changes, every row counts as
/// changed on the next run.
pub fn fingerprint(config: &SyncConfig) -> String {
    let shape = serde_json::json!({
        "target": config.target,
        "mode": config.mode,
        "match": config.match_key,
        "matchColumn": config.match_column,
        "mappings": config.mappings,
    });
    hex_digest(shape.to_string().as_bytes())
}

/// A digest of what identifies a sync's records: the primary key column, the target and how rows find their
/// record. Keys stored under one identity mean nothing under another, so a change re-baselines the sync instead
/// of removing every old key.
pub fn identity(config: &SyncConfig) -> String {
    let shape = serde_json::json!({
        "primaryKey": config.primary_key,
        "target": config.target,
        "match": config.match_key,
        "matchColumn": config.match_column,
    });
    hex_digest(shape.to_string().as_bytes())
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::*;
    use crate::state::RowHash;

    fn config(mappings: Vec<FieldMapping>) -> SyncConfig {
        SyncConfig {
            id: "default/customers".into(),
            destination: "demo".into(),
            query: "SELECT 1".into(),
            query_timeout: Duration::from_secs(60),
            primary_key: "id".into(),
            target: Target::Object(ObjectKind::Customers),
            mode: SyncMode::Upsert,
            match_key: Some(MatchKey::Email),
            match_column: None,
            mappings,
            delete_behavior: DeleteBehavior::DoNothing,
            delete_matched: false,
            delete_guard: DeleteGuard::DEFAULT,
            on_duplicate_key: OnDuplicateKey::RejectRows,
            bulk_threshold: 5000,
            schedule: Schedule::Manual,
            suspend: false,
            drift: Default::default(),
            management: Default::default(),
        }
    }

    fn col(c: &str, to: &str) -> FieldMapping {
        FieldMapping {
            target: MappingTarget::Field(to.into()),
            source: MappingSource::Column(c.into()),
            format: ValueFormat::Auto,
            on_null: NullPolicy::Clear,
        }
    }

    fn cols(names: &[&str]) -> Columns {
        Columns::new(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn maps_columns_statics_nested_paths_and_metafields() {
        let mut m = vec![col("email", "email"), col("title", "seo.title")];
        m.push(FieldMapping {
            target: MappingTarget::Field("tags".into()),
            source: MappingSource::Static(json!(["vip"])),
            format: ValueFormat::Auto,
            on_null: NullPolicy::Clear,
        });
        m.push(FieldMapping {
            target: MappingTarget::Metafield {
                namespace: "custom".into(),
                key: "tier".into(),
                type_: "number_integer".into(),
            },
            source: MappingSource::Column("tier".into()),
            format: ValueFormat::Auto,
            on_null: NullPolicy::Clear,
        });
        let compiled = compile(&config(m), &cols(&["id", "email", "title", "tier"])).unwrap();
        let row = compiled
            .apply(
                &[json!(7), json!("a@example.com"), json!("Hi"), json!(3)],
                None,
            )
            .unwrap();
        assert_eq!(row.key, "7");
        assert_eq!(
            Value::Object(row.fields),
            json!({"email": "a@example.com", "seo": {"title": "Hi"}, "tags": ["vip"],
                   "metafields": [{"namespace": "custom", "key": "tier", "type": "number_integer", "value": "3"}]})
        );
    }

    #[test]
    fn missing_columns_fail_before_any_row_naming_sync_and_column() {
        let err =
            compile(&config(vec![col("mail", "email")]), &cols(&["id", "email"])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("default/customers")
                && text.contains("\"mail\"")
                && text.contains("email"),
            "{text}"
        );
        let err = compile(&config(vec![]), &cols(&["key"])).unwrap_err();
        assert!(err.to_string().contains("primary key"), "{err}");
    }

    #[test]
    fn bad_rows_are_rejected_with_codes() {
        let mut m = vec![col("variants", "variants")];
        m[0].format = ValueFormat::Json;
        let compiled = compile(&config(m), &cols(&["id", "variants"])).unwrap();
        let err = compiled
            .apply(&[Value::Null, json!("[]")], None)
            .unwrap_err();
        assert_eq!(err.code, RejectionCode::NullPrimaryKey);
        let err = compiled
            .apply(&[json!("k"), json!("[{")], None)
            .unwrap_err();
        assert_eq!(err.code, RejectionCode::Mapping);
        assert!(err.message.contains("\"variants\""));
        let ok = compiled
            .apply(&[json!("k"), json!("[{\"sku\":\"A\"}]")], None)
            .unwrap();
        assert_eq!(ok.fields["variants"], json!([{"sku": "A"}]));
    }

    #[test]
    fn hashes_change_with_values_and_with_the_mapping() {
        let a = config(vec![col("email", "email")]);
        let b = config(vec![col("email", "email"), col("email", "note")]);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let ca = compile(&a, &cols(&["id", "email"])).unwrap();
        let r1 = ca.apply(&[json!(1), json!("x@example.com")], None).unwrap();
        let r2 = ca.apply(&[json!(1), json!("y@example.com")], None).unwrap();
        let fa = fingerprint(&a);
        assert_ne!(RowHash::of(&fa, &r1), RowHash::of(&fa, &r2));
        assert_eq!(RowHash::of(&fa, &r1), RowHash::of(&fa, &r1.clone()));
        assert_ne!(RowHash::of(&fa, &r1), RowHash::of(&fingerprint(&b), &r1));
    }

    #[test]
    fn match_column_supplies_the_match_field() {
        let mut c = config(vec![col("sku", "sku")]);
        c.match_column = Some("item".into());
        let compiled = compile(&c, &cols(&["id", "item", "sku"])).unwrap();
        let row = compiled
            .apply(&[json!(1), json!("1"), json!("S")], Some("id"))
            .unwrap();
        assert_eq!(row.fields["id"], json!("gid://shopify/Customer/1"));
        let err = compiled
            .apply(&[json!(1), Value::Null, json!("S")], Some("id"))
            .unwrap_err();
        assert_eq!(err.code, RejectionCode::Mapping);
    }

    #[test]
    fn id_fields_take_numbers_and_refuse_gids_of_another_type() {
        let mut c = config(vec![col("cid", "id")]);
        c.match_key = Some(MatchKey::Id);
        let compiled = compile(&c, &cols(&["id", "cid"])).unwrap();
        let row = compiled.apply(&[json!(1), json!(9002)], None).unwrap();
        assert_eq!(row.fields["id"], json!("gid://shopify/Customer/9002"));
        let err = compiled
            .apply(&[json!(1), json!("gid://shopify/Product/9002")], None)
            .unwrap_err();
        assert_eq!(err.code, RejectionCode::Mapping);
        assert!(err.message.starts_with("id: "), "{}", err.message);
        assert!(
            err.message.contains("Product id, not a Customer id"),
            "{}",
            err.message
        );
    }
}
