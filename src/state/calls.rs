//! What both stores share for the debugger log: reading a call row back, the sync-name rule and the size caps.
use chrono::{DateTime, Utc};

use crate::core::calls::{ApiCall, StoredCall};
use crate::core::state::StateError;

use super::corrupt;

/// Columns of a call row, timestamps already converted.
pub(super) struct CallRow {
    pub id: i64,
    pub run_id: Option<i64>,
    pub sync: String,
    pub started_at: DateTime<Utc>,
    pub duration_us: i64,
    pub method: String,
    pub url: String,
    pub operation: Option<String>,
    pub document: Option<String>,
    pub variables: Option<String>,
    pub status: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub cost_requested: Option<f64>,
    pub cost_actual: Option<f64>,
    pub keys: String,
    pub attempt: i32,
}

impl CallRow {
    pub fn into_call(self) -> Result<StoredCall, StateError> {
        let what = format!("call {}", self.id);
        let keys: Vec<String> = serde_json::from_str(&self.keys)
            .map_err(|e| corrupt(&self.sync, &what, format!("keys: {e}")))?;
        Ok(StoredCall {
            id: self.id,
            call: ApiCall {
                run_id: self.run_id,
                sync: self.sync,
                started_at: self.started_at,
                duration_us: u64::try_from(self.duration_us).unwrap_or(0),
                method: self.method,
                url: self.url,
                operation: self.operation,
                document: self.document,
                variables: self.variables,
                status: self.status.and_then(|s| u16::try_from(s).ok()),
                response: self.response,
                error: self.error,
                cost_requested: self.cost_requested,
                cost_actual: self.cost_actual,
                keys,
                attempt: u32::try_from(self.attempt).unwrap_or(0),
            },
        })
    }
}

/// The keys of a call as stored (a JSON array).
pub(super) fn keys_json(call: &ApiCall) -> String {
    // A list of strings always serialises.
    serde_json::to_string(&call.keys).unwrap_or_else(|_| "[]".to_owned())
}

/// The size a call counts for, as stored.
pub(super) fn size_of(call: &ApiCall) -> i64 {
    i64::try_from(call.size()).unwrap_or(i64::MAX)
}

/// A count or byte limit as a bind value.
pub(super) fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
