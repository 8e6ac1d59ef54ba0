//! The warehouse port: run a model's query and stream its rows.
//!
//! Adapters (src/warehouse) implement [`Warehouse`]; the engine only sees this trait, so it can be driven by an
//! in-memory source in tests. Futures and streams are boxed to keep the trait usable as `dyn Warehouse`.
//!
//! A [`SourceRow`] is positional: its values line up with a shared [`Columns`] header, so a million rows do not
//! repeat a million copies of the column names.
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use thiserror::Error;

use crate::record::{RowHash, Value};

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

/// How a failure should be handled by whoever runs the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Trying again later may succeed (network, timeouts, a restarted server).
    Retryable,
    /// Trying again will fail the same way until someone changes the spec or the warehouse.
    Permanent,
}

/// What to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// The sync's name, used in every error message.
    pub sync: String,
    /// The model's SQL query.
    pub query: String,
    /// Server-side limit on the statement's run time.
    pub statement_timeout: Duration,
    /// Columns the mapping reads: a result without one of them fails before any row is read.
    pub required_columns: Vec<String>,
    /// Asks for a digest of every row as read, seeded with this text (the mapping's fingerprint): adapters that
    /// can hash their raw rows attach it (see [`SourceRow`]); others deliver rows without one.
    pub digest_seed: Option<String>,
    /// Whether every row will be read in full (a re-baseline maps them all): adapters that defer decoding then
    /// decode on their own task, in parallel with the consumer, instead of leaving it to the consumer.
    pub decode_all: bool,
}

impl StreamRequest {
    /// A request with a five-minute timeout and no required columns.
    pub fn new(sync: impl Into<String>, query: impl Into<String>) -> Self {
        Self {
            sync: sync.into(),
            query: query.into(),
            statement_timeout: Duration::from_secs(300),
            required_columns: Vec::new(),
            digest_seed: None,
            decode_all: false,
        }
    }

    /// Says whether every row will be decoded (see [`StreamRequest::decode_all`]).
    pub fn with_decode_all(mut self, decode_all: bool) -> Self {
        self.decode_all = decode_all;
        self
    }

    /// Asks for row digests seeded with `seed`.
    pub fn with_digest_seed(mut self, seed: impl Into<String>) -> Self {
        self.digest_seed = Some(seed.into());
        self
    }

    /// Sets the statement timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Sets the columns that must exist in the result.
    pub fn with_required_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_columns = columns.into_iter().map(Into::into).collect();
        self
    }
}

/// The stream of rows of one query.
pub type RowStream = BoxStream<'static, Result<SourceRow, WarehouseError>>;

/// A running query: its column header and its rows. Dropping it cancels the query.
pub struct RowSet {
    /// The result's columns, known before the first row.
    pub columns: SharedColumns,
    /// The rows, in warehouse order; after an error the stream ends.
    pub rows: RowStream,
}

impl fmt::Debug for RowSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowSet")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// A source of model rows.
pub trait Warehouse: Send + Sync {
    /// Starts the query read-only with the request's timeout, checks the required columns, and streams the rows.
    fn stream<'a>(
        &'a self,
        request: &'a StreamRequest,
    ) -> BoxFuture<'a, Result<RowSet, WarehouseError>>;
}

/// A warehouse failure; every variant names the sync, and the column where one is involved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WarehouseError {
    /// The connection URL cannot be used.
    #[error("sync `{sync}`: invalid warehouse URL: {message}")]
    InvalidUrl {
        /// The sync.
        sync: String,
        /// What is wrong (the URL itself is not repeated: it may hold a password).
        message: String,
    },
    /// The warehouse could not be reached or refused the login.
    #[error("sync `{sync}`: cannot connect to the warehouse: {message}")]
    Connect {
        /// The sync.
        sync: String,
        /// The driver's message.
        message: String,
    },
    /// The warehouse rejected the query.
    #[error("sync `{sync}`: the warehouse rejected the query: {message}")]
    Query {
        /// The sync.
        sync: String,
        /// The database's message.
        message: String,
    },
    /// The query ran longer than the statement timeout.
    #[error("sync `{sync}`: the query exceeded its statement timeout of {timeout:?}")]
    Timeout {
        /// The sync.
        sync: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The result lacks a column the mapping reads.
    #[error("sync `{sync}`: the query result has no column `{column}` (the mapping reads it)")]
    MissingColumn {
        /// The sync.
        sync: String,
        /// The missing column.
        column: String,
    },
    /// A column's type or value cannot be read without loss.
    #[error("sync `{sync}`: column `{column}`: {message}")]
    Type {
        /// The sync.
        sync: String,
        /// The column.
        column: String,
        /// What went wrong, with the database type.
        message: String,
    },
    /// The connection broke while rows were streaming.
    #[error("sync `{sync}`: the warehouse connection was lost while reading rows: {message}")]
    ConnectionLost {
        /// The sync.
        sync: String,
        /// The driver's message.
        message: String,
    },
}

impl WarehouseError {
    /// Whether a later attempt may succeed.
    pub fn class(&self) -> FailureClass {
        match self {
            WarehouseError::Connect { .. }
            | WarehouseError::Timeout { .. }
            | WarehouseError::ConnectionLost { .. } => FailureClass::Retryable,
            WarehouseError::InvalidUrl { .. }
            | WarehouseError::Query { .. }
            | WarehouseError::MissingColumn { .. }
            | WarehouseError::Type { .. } => FailureClass::Permanent,
        }
    }

    /// The sync the error belongs to.
    pub fn sync(&self) -> &str {
        match self {
            WarehouseError::InvalidUrl { sync, .. }
            | WarehouseError::Connect { sync, .. }
            | WarehouseError::Query { sync, .. }
            | WarehouseError::Timeout { sync, .. }
            | WarehouseError::MissingColumn { sync, .. }
            | WarehouseError::Type { sync, .. }
            | WarehouseError::ConnectionLost { sync, .. } => sync,
        }
    }
}

/// A source with the required columns and no rows: what a sync looks like once its model is gone, which is how
/// the controller deletes everything a sync synced when its resource is deleted with `deletionPolicy: Delete`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRows;

impl Warehouse for NoRows {
    fn stream<'a>(
        &'a self,
        request: &'a StreamRequest,
    ) -> BoxFuture<'a, Result<RowSet, WarehouseError>> {
        let columns = Columns::new(request.required_columns.clone());
        Box::pin(futures::future::ready(Ok(RowSet {
            columns: std::sync::Arc::new(columns),
            rows: Box::pin(futures::stream::empty()),
        })))
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
}
