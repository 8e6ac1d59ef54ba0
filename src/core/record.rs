//! Records as they go to Shopify: a [`Record`] is a warehouse row after field mapping, keyed by its primary key;
//! its [`RowHash`] is what the snapshot remembers of it. (Rows as they come out of the warehouse are
//! `source::SourceRow`.)
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A warehouse value, JSON-shaped: decimals arrive as exact strings, timestamps as RFC 3339 strings.
pub type Value = serde_json::Value;

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

/// A 128-bit digest of a record's mapped values and the mapping fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RowHash(pub [u8; 16]);

impl RowHash {
    /// Hashes `record`'s fields (in mapping order) together with the mapping `fingerprint`, so that a change of
    /// either makes the row changed. The key is not part of the hash: it is the lookup.
    pub fn of(fingerprint: &str, record: &Record) -> RowHash {
        let mut hasher = HashWriter(Sha256::new());
        hasher.0.update((fingerprint.len() as u64).to_le_bytes());
        hasher.0.update(fingerprint.as_bytes());
        // Writing into a hasher cannot fail, and serde_json only fails on non-string map keys, which a
        // `serde_json::Map` cannot hold; the fallback still yields a deterministic digest.
        if serde_json::to_writer(&mut hasher, &record.fields).is_err() {
            hasher.0.update(b"\xff");
        }
        let digest = hasher.0.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        RowHash(out)
    }

    /// Lowercase hex, as stored and shown.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Option<RowHash> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(RowHash(out))
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for RowHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowHash({})", self.to_hex())
    }
}

impl fmt::Display for RowHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for RowHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for RowHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RowHash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("a row hash is 32 hex digits"))
    }
}

/// A record's mapped fields as sent to Shopify.
pub type FieldValues = serde_json::Map<String, serde_json::Value>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn record(v: serde_json::Value) -> Record {
        let serde_json::Value::Object(fields) = v else {
            panic!("object")
        };
        Record {
            key: "k".into(),
            fields,
        }
    }

    #[test]
    fn hash_depends_on_values_order_and_fingerprint() {
        let a = record(json!({"a": 1, "b": "x"}));
        let b = record(json!({"b": "x", "a": 1}));
        assert_eq!(RowHash::of("m1", &a), RowHash::of("m1", &a.clone()));
        assert_ne!(RowHash::of("m1", &a), RowHash::of("m2", &a));
        assert_ne!(RowHash::of("m1", &a), RowHash::of("m1", &b));
        let h = RowHash::of("m1", &a);
        assert_eq!(RowHash::from_hex(&h.to_hex()), Some(h));
    }
}
