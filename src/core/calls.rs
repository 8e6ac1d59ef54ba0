//! The debugger log port: every request the Shopify client makes and what came back, tied to the run it was
//! part of and the primary keys it concerned.
//!
//! Two sides. [`CallLog`] is the sink the client reports calls to: it must never block or fail the caller
//! (an implementation buffers and drops rather than waits). [`CallStore`] is where recorded calls are kept
//! and read back (`shopsync debugger`); the state stores implement it, with a retention and a size cap.
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::redact::Redactor;
use super::state::{RunRecord, StateResult};

/// One HTTP request to Shopify and its answer (one attempt: a retried request is several calls).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCall {
    /// The run it belongs to, when it was made during one.
    pub run_id: Option<i64>,
    /// The sync it was made for (empty when not known).
    pub sync: String,
    /// When the request was sent.
    pub started_at: DateTime<Utc>,
    /// Until the answer was read (or the request failed).
    pub duration_us: u64,
    /// `POST`, `GET`, ...
    pub method: String,
    /// The URL (never carries the token: Shopify takes it in a header).
    pub url: String,
    /// The GraphQL operation's root field or name, e.g. `productSet`.
    pub operation: Option<String>,
    /// The GraphQL document.
    pub document: Option<String>,
    /// The GraphQL variables, as JSON text.
    pub variables: Option<String>,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The answer's body.
    pub response: Option<String>,
    /// What went wrong, as the client classified it.
    pub error: Option<String>,
    /// `extensions.cost.requestedQueryCost`.
    pub cost_requested: Option<f64>,
    /// `extensions.cost.actualQueryCost`.
    pub cost_actual: Option<f64>,
    /// The primary keys of the rows the request was about.
    pub keys: Vec<String>,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
}

impl ApiCall {
    /// Whether this call was a retry of an earlier one.
    pub fn is_retry(&self) -> bool {
        self.attempt > 1
    }

    /// Whether it failed (no answer, an HTTP error, or top-level GraphQL errors).
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.status.is_none_or(|s| s >= 400)
    }

    /// The bytes it takes in the log, counted against the size cap.
    pub fn size(&self) -> u64 {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        (self.url.len()
            + self.sync.len()
            + opt(&self.document)
            + opt(&self.variables)
            + opt(&self.response)
            + opt(&self.error)
            + self.keys.iter().map(|k| k.len() + 3).sum::<usize>()
            + 64) as u64
    }

    /// Every text field passed through `redactor` (done off the request path, before storing).
    pub fn redacted(mut self, redactor: &Redactor) -> ApiCall {
        let r = |s: String| redactor.redact_owned(s);
        self.url = redactor.redact_owned(self.url);
        self.document = self.document.map(r);
        self.variables = self.variables.map(r);
        self.response = self.response.map(r);
        self.error = self.error.map(r);
        self.keys = self.keys.into_iter().map(r).collect();
        self
    }
}

/// A call as stored, with its id in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCall {
    /// Its id in the log (increasing with time).
    pub id: i64,
    /// The call.
    #[serde(flatten)]
    pub call: ApiCall,
}

/// A run with what its calls add up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCalls {
    /// The run record.
    pub run: RunRecord,
    /// Calls kept for the run.
    pub calls: u64,
    /// Of those, failed ones.
    pub failed: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Actual cost of the calls, in points.
    pub cost: f64,
    /// Time spent in calls (summed; calls overlap).
    pub call_time_us: u64,
}

/// How long and how much of the debugger log is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Calls older than this are deleted.
    pub retention: Duration,
    /// At most this many calls per sync (the oldest go first).
    pub max_calls_per_sync: u64,
    /// At most this many bytes of calls per sync, as [`ApiCall::size`] counts (the oldest go first).
    pub max_bytes_per_sync: u64,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            retention: Duration::from_secs(7 * 24 * 3600),
            max_calls_per_sync: 200_000,
            max_bytes_per_sync: 256 * 1024 * 1024,
        }
    }
}

/// The sink the Shopify client reports calls to.
pub trait CallLog: Send + Sync {
    /// Records a call. Must return at once: implementations buffer, and drop (counting) rather than block.
    fn record(&self, call: ApiCall);
    /// A run of `sync` started: calls recorded for the sync from now on belong to `run_id`.
    fn run_started(&self, _sync: &str, _run_id: i64) {}
    /// The run ended: returns once every call recorded for it so far is stored (or dropped).
    fn run_finished<'a>(&'a self, _sync: &'a str, _run_id: i64) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Where recorded calls are kept and read back.
pub trait CallStore: Send + Sync {
    /// Appends calls in one transaction.
    fn append_calls<'a>(&'a self, calls: &'a [ApiCall]) -> BoxFuture<'a, StateResult<()>>;
    /// Deletes calls older than the retention and the oldest calls of syncs over the caps; returns how many.
    fn prune_calls<'a>(
        &'a self,
        limits: &'a CallLimits,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, StateResult<u64>>;
    /// Runs (of `sync`, or of every sync when `None`), newest first, with their call totals. A sync is named by
    /// its id (`namespace/name`) or by its name alone.
    fn run_calls_summary<'a>(
        &'a self,
        sync: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, StateResult<Vec<RunCalls>>>;
    /// The calls of a run, oldest first.
    fn calls_of_run<'a>(&'a self, run_id: i64) -> BoxFuture<'a, StateResult<Vec<StoredCall>>>;
    /// Every kept call about `key` of `sync` (id or name alone), oldest first.
    fn calls_for_key<'a>(
        &'a self,
        sync: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, StateResult<Vec<StoredCall>>>;
}

/// The GraphQL operation a document performs: its first root field (`productSet`), else its name.
pub fn operation_of(document: &str) -> Option<String> {
    let name = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let body = document[document.find('{')? + 1..].trim_start();
    let first = name(body);
    // `alias: field` (batched documents alias every field) -> keep the field after the alias.
    let field = match body[first.len()..].trim_start().strip_prefix(':') {
        Some(rest) => name(rest.trim_start()),
        None => first,
    };
    if field.is_empty() { None } else { Some(field) }
}

/// A run's calls as `shopsync debugger export` writes them (and the dashboard serves them), every text
/// passed through the redactor once more on the way out.
pub mod export {
    use super::StoredCall;
    use crate::redact::Redactor;

    /// `{"runId": ..., "calls": [...]}`, pretty-printed, with a final newline.
    pub fn to_json(run_id: i64, calls: &[StoredCall], redactor: &Redactor) -> String {
        let calls: Vec<StoredCall> = calls
            .iter()
            .map(|c| StoredCall {
                id: c.id,
                call: c.call.clone().redacted(redactor),
            })
            .collect();
        // Plain data (strings, numbers, options) always serialises.
        serde_json::to_string_pretty(&serde_json::json!({ "runId": run_id, "calls": calls }))
            .unwrap_or_default()
            + "\n"
    }

    /// The calls as CSV (RFC 4180 quoting), one row each, with a header.
    pub fn to_csv(calls: &[StoredCall], redactor: &Redactor) -> String {
        let mut out = String::from(
            "id,run_id,sync,started_at,duration_us,method,url,operation,status,attempt,cost_requested,cost_actual,keys,error,document,variables,response\n",
        );
        let opt = |v: Option<String>| v.unwrap_or_default();
        for c in calls {
            let call = c.call.clone().redacted(redactor);
            let fields = [
                c.id.to_string(),
                opt(call.run_id.map(|r| r.to_string())),
                call.sync,
                call.started_at.to_rfc3339(),
                call.duration_us.to_string(),
                call.method,
                call.url,
                opt(call.operation),
                opt(call.status.map(|s| s.to_string())),
                call.attempt.to_string(),
                opt(call.cost_requested.map(|v| v.to_string())),
                opt(call.cost_actual.map(|v| v.to_string())),
                call.keys.join(" "),
                opt(call.error),
                opt(call.document),
                opt(call.variables),
                opt(call.response),
            ];
            let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    fn csv_field(f: &str) -> String {
        if f.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", f.replace('"', "\"\""))
        } else {
            f.to_string()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::csv_field;

        #[test]
        fn csv_quotes_what_needs_it() {
            assert_eq!(csv_field("plain"), "plain");
            assert_eq!(csv_field("a,b"), "\"a,b\"");
            assert_eq!(csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_is_the_first_root_field() {
        assert_eq!(
            operation_of("mutation Set($input: ProductSetInput!) {\n  productSet(input: $input) { product { id } } }")
                .as_deref(),
            Some("productSet")
        );
        assert_eq!(operation_of("{ shop { name } }").as_deref(), Some("shop"));
        assert_eq!(
            operation_of("mutation B($a: X!) { m0: productSet(input: $a) { product { id } } m1: productSet(input: $b) { product { id } } }")
                .as_deref(),
            Some("productSet")
        );
        assert_eq!(
            operation_of("mutation { a:customerSet(input: {}) { customer { id } } }").as_deref(),
            Some("customerSet")
        );
        assert_eq!(operation_of("nothing here"), None);
    }

    #[test]
    fn redacted_covers_every_text_field() {
        let r = Redactor::new();
        r.add("secret-value-1");
        let call = ApiCall {
            run_id: Some(1),
            sync: "default/x".into(),
            started_at: DateTime::UNIX_EPOCH,
            duration_us: 1,
            method: "POST".into(),
            url: "https://u:pw12345@h/secret-value-1".into(),
            operation: None,
            document: Some("secret-value-1".into()),
            variables: Some("{\"a\":\"secret-value-1\"}".into()),
            status: Some(200),
            response: Some("secret-value-1".into()),
            error: Some("secret-value-1".into()),
            cost_requested: None,
            cost_actual: None,
            keys: vec!["secret-value-1".into()],
            attempt: 1,
        };
        let text = serde_json::to_string(&call.redacted(&r)).unwrap();
        assert!(!text.contains("secret-value-1"), "{text}");
        assert!(!text.contains("pw12345"), "{text}");
    }
}
