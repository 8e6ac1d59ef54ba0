//! What a run did: the [`RunReport`] the engine returns, which the CLI prints, the controller writes to the
//! status and the alert rules read.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A row Shopify (or the mapping) refused, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// The primary key, when the row had one.
    pub key: Option<String>,
    /// Shopify's or shopsync's code.
    pub code: Option<String>,
    /// The field blamed, as a path.
    pub field: Vec<String>,
    /// The message.
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The sync.
    pub sync: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub status: RunStatus,
    /// Counters for the status and the summary table.
    pub stats: RunStats,
    /// Writes sent to Shopify (creates, updates, deletes, events, actions).
    pub writes: u64,
    /// Records created.
    pub created: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Rows insert mode left alone because their record exists.
    pub skipped: u64,
    /// Rejected rows, at most [`RunReport::MAX_REJECTIONS`] of them.
    pub rejections: Vec<RejectedRow>,
    /// Keys whose outcome is unknown (sent, but the answer was lost); never resent blindly.
    pub unknown: Vec<String>,
    /// Why deletes were refused, when the delete guard tripped.
    pub refused_deletes: Option<String>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
    /// What the run's drift check found and did, when one ran (`spec.drift`, or an observe-only run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::DriftSummary>,
    /// An observe-only run (`spec.managementPolicy: Observe`): the counters say what a run would do; nothing
    /// was written.
    #[serde(default)]
    pub observed: bool,
}

impl RunReport {
    /// Rejections kept in a report; the count is in the stats.
    pub const MAX_REJECTIONS: usize = 100;

    /// The report of a run that starts now: nothing done yet.
    pub fn started(sync: &str, started_at: DateTime<Utc>) -> RunReport {
        RunReport {
            sync: sync.to_string(),
            started_at,
            finished_at: started_at,
            status: RunStatus::Running,
            stats: RunStats::default(),
            writes: 0,
            created: 0,
            deleted: 0,
            skipped: 0,
            rejections: Vec::new(),
            unknown: Vec::new(),
            refused_deletes: None,
            error: None,
            drift: None,
            observed: false,
        }
    }

    /// The report of a run that failed before the engine could start it (no warehouse, no credentials).
    pub fn failed(
        sync: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        error: String,
    ) -> RunReport {
        RunReport {
            finished_at,
            status: RunStatus::Failed,
            error: Some(error),
            ..RunReport::started(sync, started_at)
        }
    }

    /// Whether the delete guard refused this run's deletes: the run applied everything else, deleted nothing,
    /// and is not a success.
    pub fn guard_tripped(&self) -> bool {
        self.refused_deletes.is_some()
    }

    /// The run took this long.
    pub fn duration(&self) -> Duration {
        (self.finished_at - self.started_at)
            .to_std()
            .unwrap_or_default()
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (or its process died; the lock's expiry tells).
    Running,
    /// Every row succeeded.
    Succeeded,
    /// The run finished but some rows were rejected.
    PartiallySucceeded,
    /// The run failed as a whole.
    Failed,
}

impl RunStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::PartiallySucceeded => "partially_succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::PartiallySucceeded,
            RunStatus::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Rows the query returned.
    pub rows_queried: u64,
    /// Keys new since the last run.
    pub added: u64,
    /// Keys whose values (or mapping) changed.
    pub changed: u64,
    /// Keys that left the result set.
    pub removed: u64,
    /// Keys sent and accepted.
    pub succeeded: u64,
    /// Rows rejected (by the mapping or by Shopify).
    pub rejected: u64,
}

/// One row of a sync's run history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The store's id of the run.
    pub id: i64,
    /// The sync.
    pub sync: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it did.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub status: RunStatus,
    /// Its counters.
    pub stats: RunStats,
    /// The run's error when it failed.
    pub error: Option<String>,
}
