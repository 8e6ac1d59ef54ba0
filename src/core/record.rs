//! Rows as they come out of the warehouse, and records as they go to Shopify.
//!
//! A [`SourceRow`] is positional: its values line up with a shared [`Columns`] header, so a million rows do not
//! repeat a million copies of the column names. A [`Record`] is a row after field mapping, keyed by its primary key.
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::source::WarehouseError;
use crate::state::RowHash;

/// A warehouse value, JSON-shaped: decimals arrive as exact strings, timestamps as RFC 3339 strings.
pub type Value = serde_json::Value;

/// The names of a result's columns, in query order, with lookup by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    names: Vec<String>,
    positions: HashMap<String, usize>,
}

impl Columns {
    /// Builds the header; when a name repeats, lookups by name find its first position.
    pub fn new(names: Vec<String>) -> Self {
        let mut positions = HashMap::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            positions.entry(name.clone()).or_insert(i);
        }
        Self { names, positions }
    }

    /// The column names in query order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many columns the result has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the result has no columns at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The position of a column by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    /// The value of the named column among a row's `values`; `None` when the column does not exist.
    pub fn get<'r>(&self, values: &'r [Value], name: &str) -> Option<&'r Value> {
        self.position(name).and_then(|i| values.get(i))
    }

    /// The names from `required` that this header lacks, in the order given.
    pub fn missing<'a>(&self, required: &'a [String]) -> Vec<&'a str> {
        required
            .iter()
            .filter(|name| self.position(name).is_none())
            .map(String::as_str)
            .collect()
    }
}

/// A shared column header: every row of one result points at the same one.
pub type SharedColumns = Arc<Columns>;

/// One warehouse row, positional against its [`Columns`]: values the adapter decoded, or the adapter's raw row,
/// decoded only when asked.
///
/// A raw row carries a digest of its bytes as read (seeded by [`StreamRequest::digest_seed`], so it covers the
/// mapping too): when the digest matches the one stored for the key, the row is unchanged and the plan never
/// decodes it. That is what keeps a million-row plan close to the cost of merely reading the rows.
///
/// [`StreamRequest::digest_seed`]: crate::source::StreamRequest::digest_seed
#[derive(Debug)]
pub struct SourceRow {
    cells: Cells,
    digest: Option<RowHash>,
}

#[derive(Debug)]
enum Cells {
    Values(Vec<Value>),
    Raw(Box<dyn RawRow>),
}

/// A row in a warehouse adapter's own form (its wire bytes), decoded on demand.
pub trait RawRow: Send + fmt::Debug {
    /// Decodes one column; errors name the sync and the column.
    fn value(&self, column: usize) -> Result<Value, WarehouseError>;
    /// Decodes every column, in order.
    fn values(&self) -> Result<Vec<Value>, WarehouseError>;
}

impl SourceRow {
    /// A decoded row, without a digest.
    pub fn new(values: Vec<Value>) -> Self {
        Self::decoded_with_digest(values, None)
    }

    /// A raw row with the digest of its bytes (`None` when the request asked for no digest).
    pub fn raw(row: Box<dyn RawRow>, digest: Option<RowHash>) -> Self {
        Self {
            cells: Cells::Raw(row),
            digest,
        }
    }

    /// A decoded row with the digest of its bytes as read.
    pub fn decoded_with_digest(values: Vec<Value>, digest: Option<RowHash>) -> Self {
        Self {
            cells: Cells::Values(values),
            digest,
        }
    }

    /// The digest of the row as read, when the adapter computed one.
    pub fn digest(&self) -> Option<RowHash> {
        self.digest
    }

    /// One column's value (`None` past the last column), decoding only that column of a raw row.
    pub fn value(&self, column: usize) -> Result<Option<Cow<'_, Value>>, WarehouseError> {
        match &self.cells {
            Cells::Values(values) => Ok(values.get(column).map(Cow::Borrowed)),
            Cells::Raw(row) => row.value(column).map(|v| Some(Cow::Owned(v))),
        }
    }

    /// Every value, in column order.
    pub fn into_values(self) -> Result<Vec<Value>, WarehouseError> {
        match self.cells {
            Cells::Values(values) => Ok(values),
            Cells::Raw(row) => row.values(),
        }
    }
}

/// A row after field mapping: the payload shopsync sends to Shopify, under its primary key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The primary key, as text.
    pub key: String,
    /// The mapped fields, in mapping order (the order is part of the hash, so it must be deterministic).
    pub fields: serde_json::Map<String, Value>,
}

/// Why a row was not turned into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionCode {
    /// The primary key column is NULL.
    NullPrimaryKey,
    /// Several rows share the primary key: every one of them is rejected.
    DuplicatePrimaryKey,
    /// The field mapping could not be applied to the row.
    Mapping,
    /// A value has a type the mapping cannot use.
    Type,
}

impl RejectionCode {
    /// The stable code shown in reports, e.g. `NULL_PRIMARY_KEY`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::NullPrimaryKey => "NULL_PRIMARY_KEY",
            RejectionCode::DuplicatePrimaryKey => "DUPLICATE_PRIMARY_KEY",
            RejectionCode::Mapping => "MAPPING",
            RejectionCode::Type => "TYPE",
        }
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row that did not become a record, with a message that names the column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRejection {
    /// The primary key when it is known (it is not for `NULL_PRIMARY_KEY`).
    pub key: Option<String>,
    /// The reason, as a stable code.
    pub code: RejectionCode,
    /// A human message that names the column.
    pub message: String,
}

impl RowRejection {
    /// A rejection with a code and message.
    pub fn new(key: Option<String>, code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            key,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{} (key {key}): {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

/// Turns a primary-key value into its text form: strings as they are, numbers and booleans as written;
/// NULL rejects the row with `NULL_PRIMARY_KEY`, and arrays or objects with `TYPE`.
pub fn primary_key(column: &str, value: &Value) -> Result<String, RowRejection> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(RowRejection::new(
            None,
            RejectionCode::NullPrimaryKey,
            format!("primary key column `{column}` is NULL"),
        )),
        Value::Array(_) | Value::Object(_) => Err(RowRejection::new(
            None,
            RejectionCode::Type,
            format!("primary key column `{column}` holds an array or object, not a scalar"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_find_by_name_and_report_missing() {
        let cols = Columns::new(vec!["id".into(), "email".into()]);
        let row = vec![json!(1), json!("a@b.c")];
        assert_eq!(cols.get(&row, "email"), Some(&json!("a@b.c")));
        assert_eq!(cols.get(&row, "phone"), None);
        assert_eq!(cols.missing(&["id".into(), "phone".into()]), vec!["phone"]);
    }

    #[test]
    fn primary_key_text_forms() {
        assert_eq!(
            primary_key("id", &json!(12345678901234_i64)).unwrap(),
            "12345678901234"
        );
        assert_eq!(primary_key("id", &json!("x")).unwrap(), "x");
        let err = primary_key("id", &Value::Null).unwrap_err();
        assert_eq!(err.code, RejectionCode::NullPrimaryKey);
        assert!(err.message.contains("`id`"));
    }
}
