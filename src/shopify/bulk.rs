//! Bulk operations: large change sets of identified upserts go to Shopify as one JSONL file of variables
//! (staged upload, `bulkOperationRunMutation`, polling `bulkOperation(id:)`, the JSONL results mapped back to
//! rows by `__lineNumber`).
//!
//! What happens to each row, whatever goes wrong:
//! - the operation never started (the upload or `bulkOperationRunMutation` was refused): nothing was applied,
//!   so the rows go the ordinary way (batched requests);
//! - it finished: each result line gives its row's outcome, user errors reject the row; rows without a line
//!   (a failed or cancelled operation stops part way) are sent the ordinary way;
//! - its state cannot be learnt (polling keeps failing, or it outlives the wait): the rows it has no result
//!   for are reported unknown, naming the operation; the next run sends them again.
//!
//! Sending a row again never applies it twice: every bulk-eligible mutation names its record (id, handle,
//! email or phone) and sets absolute values, so a second application changes nothing more.
//!
//! Still, an operation is not started twice for the same rows. Each one is journaled in the state store before
//! it is submitted (its mutation, each line's key and digest, and which operation was current before it) and
//! again once Shopify names it; the engine forgets it once the outcomes are recorded. A run that finds a
//! journaled operation (the last one died, or lost Shopify's answer) takes it up: by the id it was given, or,
//! when the answer to `bulkOperationRunMutation` never came, as the current bulk mutation when that one is newer
//! than the journaled one and runs the same mutation. It waits for it and takes each row's outcome from its
//! results where the row still sends the same variables; the other rows are sent anew. The same look at
//! `currentBulkOperation` settles a lost answer within a run, instead of submitting again.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::context::RequestContext;
use super::error::ShopifyError;
use super::ops::batch::SetCall;
use super::ops::documents::{
    BULK_OPERATION, BULK_OPERATION_RUN_MUTATION, CURRENT_BULK_MUTATION, STAGED_UPLOADS_CREATE,
    SetMutation,
};
use super::transport::Transport;
use crate::core::config::SyncConfig;
use crate::core::state::{BulkJournal, BulkLine, StateError, StateStore};
use crate::core::write::{ApiFailure, WriteOutcome};

/// Shopify's largest bulk mutation file (100 MB); files are split below it.
pub const MAX_FILE: usize = 100 * 1024 * 1024;

/// How bulk operations are run.
#[derive(Debug, Clone)]
pub struct BulkSettings {
    /// The first wait between two polls; each later one doubles, up to `max_poll`.
    pub first_poll: Duration,
    /// The longest wait between two polls.
    pub max_poll: Duration,
    /// How long an operation may run before its rows are reported unknown (Shopify stops them at 24 hours).
    pub max_wait: Duration,
    /// How long to wait for a free slot while the shop runs as many bulk mutations as Shopify allows.
    pub busy_wait: Duration,
    /// Consecutive failed polls tolerated (each already retried by the transport).
    pub max_poll_failures: u32,
    /// The most bytes of variables in one operation.
    pub max_file: usize,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings {
            first_poll: Duration::from_millis(200),
            max_poll: Duration::from_secs(10),
            max_wait: Duration::from_secs(24 * 3600),
            busy_wait: Duration::from_secs(30 * 60),
            max_poll_failures: 5,
            max_file: MAX_FILE - 1024 * 1024,
        }
    }
}

/// Lost answers to `bulkOperationRunMutation` settled by looking at the current operation before giving up.
const MAX_LOST_STARTS: u32 = 5;

/// Where bulk operations are journaled (the state store), so that a run that died while one ran takes it up.
#[derive(Clone)]
pub struct Journal(pub Arc<dyn StateStore>);

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

/// Why a bulk operation gave no per-row results.
#[derive(Debug, thiserror::Error)]
enum BulkError {
    /// Nothing was applied: the rows can go another way.
    #[error("bulk operation not started: {0}")]
    NotStarted(ShopifyError),
    /// The operation ran, and whether each row without a result was applied cannot be known.
    #[error("bulk operation {id}: state unknown: {error}")]
    Lost {
        /// The operation.
        id: String,
        /// The last error.
        error: ShopifyError,
    },
    /// The store or the credentials are unusable: the run must stop.
    #[error("{0}")]
    FailsRun(ShopifyError),
    /// The journal could not be read or written: nothing may be submitted that could not be taken up again.
    #[error("bulk journal: {0}")]
    Journal(StateError),
}

/// What one operation, or all of them, gave: outcomes for rows with a result line, and the rows not applied.
pub(crate) struct Finished {
    /// Rows with a result line, and rows whose outcome was lost with their operation.
    pub outcomes: Vec<WriteOutcome>,
    /// Rows no operation applied: the caller sends them the ordinary way.
    pub unapplied: Vec<SetCall>,
}

/// One bulk operation's file of variables, built a row at a time: each row is turned into its JSONL line as it
/// comes, so a file holds its lines and the row each is for, never the rows' field maps.
#[derive(Debug, Default)]
pub(crate) struct BulkFile {
    jsonl: String,
    rows: Vec<Line>,
}

/// The row a line of a [`BulkFile`] is for.
#[derive(Debug)]
struct Line {
    key: String,
    kind: SetMutation,
    /// Where the line starts in the file.
    start: usize,
}

impl BulkFile {
    /// Adds `set` as the next line, unless the file would pass `max` bytes: then answers false and adds nothing
    /// (a file takes its first line whatever its size, so no row is ever refused by every file).
    pub(crate) fn push(&mut self, set: &SetCall, max: usize) -> bool {
        let line = set.variables().to_string();
        if !self.rows.is_empty() && self.jsonl.len() + line.len() + 1 > max {
            return false;
        }
        self.rows.push(Line {
            key: set.key.clone(),
            kind: set.kind,
            start: self.jsonl.len(),
        });
        self.jsonl.push_str(&line);
        self.jsonl.push('\n');
        true
    }

    /// Adds `set` as the next line whatever the file's size.
    fn push_any(&mut self, set: &SetCall) {
        self.push(set, usize::MAX);
    }

    /// How many rows the file holds.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the file holds no row.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `n`-th row's line of variables (without its newline).
    fn line(&self, n: usize) -> Option<&str> {
        let row = self.rows.get(n)?;
        let end = self.rows.get(n + 1).map_or(self.jsonl.len(), |r| r.start);
        self.jsonl
            .get(row.start..end)
            .map(|l| l.trim_end_matches('\n'))
    }

    /// The `n`-th row's call, read back from its line (for a row to send the ordinary way).
    fn set(&self, n: usize) -> Option<SetCall> {
        let row = self.rows.get(n)?;
        let end = self.rows.get(n + 1).map_or(self.jsonl.len(), |r| r.start);
        let mut variables: Value = serde_json::from_str(self.jsonl.get(row.start..end)?).ok()?;
        let Value::Object(input) = variables.get_mut("input")?.take() else {
            return None;
        };
        Some(SetCall {
            key: row.key.clone(),
            kind: row.kind,
            input,
            identifier: variables.get_mut("identifier")?.take(),
        })
    }

    /// Every row as a call again; a row whose line cannot be read back is rejected instead (it is retried on the
    /// next run).
    fn into_sets(self, outcomes: &mut Vec<WriteOutcome>) -> Vec<SetCall> {
        (0..self.rows.len())
            .filter_map(|n| match self.set(n) {
                Some(set) => Some(set),
                None => {
                    outcomes.push(unreadable(&self.rows[n].key));
                    None
                }
            })
            .collect()
    }
}

fn unreadable(key: &str) -> WriteOutcome {
    WriteOutcome::Rejected {
        key: key.to_string(),
        code: None,
        field: vec![],
        message: "the row's bulk line could not be read back; it is sent again on the next run"
            .into(),
    }
}

/// Applies one file through one bulk operation. `absent` names the keys whose record did not exist before:
/// journaled, so that a run taking the operation up still counts their writes as creations.
///
/// Applies one file through one bulk operation. Rows it did not apply (or that Shopify refused to take in bulk)
/// come back in [`Finished::unapplied`]; a failure of the whole run carries the outcomes so far.
pub(crate) async fn write_file(
    t: &Transport,
    settings: &BulkSettings,
    sync: &SyncConfig,
    file: BulkFile,
    journal: Option<&Journal>,
    absent: &HashSet<String>,
) -> Result<Finished, ApiFailure> {
    let mut outcomes = Vec::new();
    let mut unapplied = Vec::new();
    match run(t, settings, sync, &file, journal, absent).await {
        Ok(done) => {
            outcomes.extend(done.outcomes);
            unapplied.extend(done.unapplied);
        }
        Err(BulkError::NotStarted(e)) => {
            tracing::warn!(sync = %sync.id, error = %e, rows = file.len(), "bulk operation refused; sending its rows in batches");
            unapplied.extend(file.into_sets(&mut outcomes));
        }
        Err(e @ BulkError::Lost { .. }) => {
            let message = format!("{e}; the next run sends the row again");
            outcomes.extend(file.rows.into_iter().map(|row| WriteOutcome::Unknown {
                key: row.key,
                message: message.clone(),
            }));
        }
        Err(e @ (BulkError::FailsRun(_) | BulkError::Journal(_))) => {
            return Err(ApiFailure {
                message: e.to_string(),
                fails_run: true,
                retry_after: None,
                outcomes,
            });
        }
    }
    Ok(Finished {
        outcomes,
        unapplied,
    })
}

/// Splits rows into files of at most `max` bytes of JSONL (one file when they fit).
#[cfg(test)]
fn split(sets: Vec<SetCall>, max: usize) -> Vec<BulkFile> {
    let mut files = vec![BulkFile::default()];
    for set in sets {
        if let Some(file) = files.last_mut()
            && !file.push(&set, max)
        {
            let mut next = BulkFile::default();
            next.push(&set, max);
            files.push(next);
        }
    }
    files.retain(|f| !f.is_empty());
    files
}

/// Takes up, before `file` is sent, the operation an earlier run journaled and never recorded (see the module
/// docs): the rows of `file` it carried with the same variables get their outcome from its results; the file
/// of the others comes back to be sent.
pub(crate) async fn take_up(
    t: &Transport,
    settings: &BulkSettings,
    sync: &SyncConfig,
    journal: &Journal,
    file: BulkFile,
) -> Result<(Vec<WriteOutcome>, BulkFile), ApiFailure> {
    let mut outcomes = Vec::new();
    let sets = file.into_sets(&mut outcomes);
    match resume(t, settings, sync, journal, sets).await {
        Ok((done, rest)) => {
            outcomes.extend(done);
            let mut file = BulkFile::default();
            for set in &rest {
                // The rows came out of one file, so they fit in one again.
                file.push_any(set);
            }
            Ok((outcomes, file))
        }
        Err(e) => Err(ApiFailure {
            message: e.to_string(),
            fails_run: true,
            retry_after: None,
            outcomes,
        }),
    }
}

/// The digest of a row's line of variables, as journaled.
fn digest(line: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(line.as_bytes()))
}

/// Takes up the operation an earlier run journaled and never recorded (see the module docs): the rows of
/// `sets` it carried with the same variables get their outcome from its results; the others come back.
async fn resume(
    t: &Transport,
    settings: &BulkSettings,
    sync: &SyncConfig,
    journal: &Journal,
    sets: Vec<SetCall>,
) -> Result<(Vec<WriteOutcome>, Vec<SetCall>), BulkError> {
    let Some(entry) = journal
        .0
        .bulk_journal(&sync.id)
        .await
        .map_err(BulkError::Journal)?
    else {
        return Ok((Vec::new(), sets));
    };
    let quiet = RequestContext::new(sync.id.as_str().into(), Vec::new());
    let id = match &entry.operation {
        Some(id) => Some(id.clone()),
        None => match quiet
            .clone()
            .scope(adopt(t, entry.before.as_deref(), &entry.mutation))
            .await
        {
            Ok(id) => id,
            Err(e) if e.fails_run() => return Err(BulkError::FailsRun(e)),
            // Which operation is ours cannot be told now: its rows go again, which they allow.
            Err(e) => {
                tracing::warn!(sync = %sync.id, error = %e, "could not look for the journaled bulk operation; sending its rows again");
                return Ok((Vec::new(), sets));
            }
        },
    };
    let Some(id) = id else {
        tracing::info!(sync = %sync.id, "the journaled bulk operation never started; sending its rows again");
        journal
            .0
            .clear_bulk_journal(&sync.id)
            .await
            .map_err(BulkError::Journal)?;
        return Ok((Vec::new(), sets));
    };
    tracing::info!(sync = %sync.id, operation = %id, rows = entry.lines.len(), "taking up the bulk operation an earlier run started");
    let results = match quiet.scope(finish(t, settings, &id)).await {
        Ok((state, _)) if entry.operation.is_none() && !state.fits(entry.lines.len()) => {
            tracing::info!(sync = %sync.id, operation = %id, "the current bulk operation is not the journaled one; sending its rows again");
            String::new()
        }
        Ok((_, results)) => results,
        Err(e @ BulkError::FailsRun(_)) => return Err(e),
        Err(e) => {
            tracing::warn!(sync = %sync.id, error = %e, "the journaled bulk operation cannot be followed; sending its rows again");
            return Ok((Vec::new(), sets));
        }
    };
    let mut by_key: HashMap<&str, (&str, Value)> = HashMap::new();
    for line in results.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let journaled = line
            .get("__lineNumber")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| entry.lines.get(n));
        if let Some(l) = journaled {
            by_key.insert(l.key.as_str(), (l.digest.as_str(), line));
        }
    }
    let created: HashSet<&str> = entry.created.iter().map(String::as_str).collect();
    let mut outcomes = Vec::new();
    let mut rest = Vec::new();
    for set in sets {
        let taken = by_key
            .get(set.key.as_str())
            .filter(|(d, _)| *d == digest(&set.variables().to_string()))
            .and_then(|(_, line)| line_outcome(&set.key, set.kind, line));
        match taken {
            Some(mut outcome) => {
                if let WriteOutcome::Succeeded { created: c, .. } = &mut outcome {
                    *c |= created.contains(set.key.as_str());
                }
                outcomes.push(outcome);
            }
            None => rest.push(set),
        }
    }
    tracing::info!(sync = %sync.id, operation = %id, taken = outcomes.len(), again = rest.len(), "took up the bulk operation's results");
    Ok((outcomes, rest))
}

/// The id of the current bulk mutation, if any.
async fn current(t: &Transport) -> Result<Option<(String, String)>, ShopifyError> {
    let response = t.execute(CURRENT_BULK_MUTATION, json!({})).await?;
    let op = response
        .data
        .get("currentBulkOperation")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |f: &str| op.get(f).and_then(Value::as_str).map(str::to_string);
    Ok(text("id").map(|id| (id, text("query").unwrap_or_default())))
}

/// The current bulk mutation when it is one submitted after `before` was current, running `mutation`.
async fn adopt(
    t: &Transport,
    before: Option<&str>,
    mutation: &str,
) -> Result<Option<String>, ShopifyError> {
    Ok(current(t)
        .await?
        .filter(|(id, query)| Some(id.as_str()) != before && query == mutation)
        .map(|(id, _)| id))
}

/// Waits for the operation to end and downloads its results.
async fn finish(
    t: &Transport,
    settings: &BulkSettings,
    id: &str,
) -> Result<(Terminal, String), BulkError> {
    let state = poll(t, settings, id).await?;
    let results = match &state.results_url {
        Some(url) => t.download(url).await.map_err(|error| lost(id, error))?,
        None => String::new(),
    };
    Ok((state, results))
}

/// One bulk operation over `file`, from upload to per-row outcomes.
async fn run(
    t: &Transport,
    settings: &BulkSettings,
    sync: &SyncConfig,
    file: &BulkFile,
    journal: Option<&Journal>,
    absent: &HashSet<String>,
) -> Result<Finished, BulkError> {
    let Some(kind) = file.rows.first().map(|r| r.kind) else {
        return Ok(Finished {
            outcomes: Vec::new(),
            unapplied: Vec::new(),
        });
    };
    let lines = (0..file.len())
        .map(|n| BulkLine {
            key: file.rows[n].key.clone(),
            digest: digest(file.line(n).unwrap_or_default()),
        })
        .collect();
    // The upload and the start concern every row of the file; polls concern the operation only.
    let keys: Vec<String> = file.rows.iter().map(|r| r.key.clone()).collect();
    let context = RequestContext::new(sync.id.as_str().into(), keys);
    let path = context
        .clone()
        .scope(stage(t, file.jsonl.as_bytes()))
        .await
        .map_err(not_started)?;
    let mutation = kind.single();
    // What was current before: an operation newer than it, running this mutation, is this one.
    let before = context
        .clone()
        .scope(current(t))
        .await
        .map_err(not_started)?
        .map(|(id, _)| id);
    let mut entry = BulkJournal {
        mutation: mutation.to_string(),
        lines,
        created: file
            .rows
            .iter()
            .filter(|r| absent.contains(&r.key))
            .map(|r| r.key.clone())
            .collect(),
        before: before.clone(),
        operation: None,
    };
    if let Some(j) = journal {
        j.0.save_bulk_journal(&sync.id, &entry)
            .await
            .map_err(BulkError::Journal)?;
    }
    let (id, adopted) = context
        .scope(start(t, settings, mutation, &path, before.as_deref()))
        .await?;
    tracing::info!(sync = %sync.id, operation = %id, rows = file.len(), "bulk operation started");
    if let Some(j) = journal {
        entry.operation = Some(id.clone());
        // Without its id, the journal still finds the operation as the current one newer than `before`.
        if let Err(e) = j.0.save_bulk_journal(&sync.id, &entry).await {
            tracing::warn!(sync = %sync.id, operation = %id, error = %e, "could not journal the bulk operation's id");
        }
    }
    let quiet = RequestContext::new(sync.id.as_str().into(), Vec::new());
    let (state, results) = quiet.scope(finish(t, settings, &id)).await?;
    if adopted && !state.fits(file.len()) {
        // Another operation of the same mutation started meanwhile: ours never did.
        return Err(BulkError::NotStarted(ShopifyError::Decode(format!(
            "bulk operation {id} is not the one submitted"
        ))));
    }
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; file.len()];
    for line in results.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(n) = line
            .get("__lineNumber")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
        else {
            continue;
        };
        let (Some(row), Some(slot)) = (file.rows.get(n), outcomes.get_mut(n)) else {
            continue;
        };
        *slot = line_outcome(&row.key, row.kind, &line);
    }
    drop(results);
    if let Some(code) = &state.error_code
        && code == "ACCESS_DENIED"
    {
        return Err(BulkError::FailsRun(ShopifyError::Forbidden(format!(
            "bulk operation {id} failed with ACCESS_DENIED"
        ))));
    }
    let mut done = Finished {
        outcomes: Vec::with_capacity(file.len()),
        unapplied: Vec::new(),
    };
    for (n, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Some(o) => done.outcomes.push(o),
            // No result line: a failed or cancelled operation stopped before the row, or its line was lost.
            None => match file.set(n) {
                Some(set) => done.unapplied.push(set),
                None => done.outcomes.push(unreadable(&file.rows[n].key)),
            },
        }
    }
    if !done.unapplied.is_empty() {
        tracing::warn!(operation = %id, status = %state.status, error_code = ?state.error_code, rows = done.unapplied.len(), "bulk operation left rows without results; sending them in batches");
    }
    Ok(done)
}

/// A result line's outcome: the payload at the mutation's root, or the line's top-level errors (the
/// mutation did not run for it).
fn line_outcome(key: &str, kind: SetMutation, line: &Value) -> Option<WriteOutcome> {
    match line.pointer(&format!("/data/{}", kind.root())) {
        Some(payload) if payload.is_object() => {
            Some(super::ops::batch::outcome(key, kind, payload))
        }
        _ => {
            let errors = line.get("errors")?.as_array()?;
            let first = errors.first()?;
            Some(WriteOutcome::Rejected {
                key: key.to_string(),
                code: first
                    .pointer("/extensions/code")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                field: vec![],
                message: errors
                    .iter()
                    .filter_map(|e| e.get("message").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        }
    }
}

fn not_started(e: ShopifyError) -> BulkError {
    if e.fails_run() {
        BulkError::FailsRun(e)
    } else {
        BulkError::NotStarted(e)
    }
}

fn lost(id: &str, error: ShopifyError) -> BulkError {
    if error.fails_run() {
        BulkError::FailsRun(error)
    } else {
        BulkError::Lost {
            id: id.to_string(),
            error,
        }
    }
}

/// Uploads the variables file; returns its `stagedUploadPath`.
async fn stage(t: &Transport, jsonl: &[u8]) -> Result<String, ShopifyError> {
    let response = t
        .execute(
            STAGED_UPLOADS_CREATE,
            json!({ "input": [{
                "resource": "BULK_MUTATION_VARIABLES",
                "filename": "shopsync-bulk.jsonl",
                "mimeType": "text/jsonl",
                "httpMethod": "POST",
            }] }),
        )
        .await?;
    let payload = response
        .data
        .get("stagedUploadsCreate")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(message) = user_errors(&payload) {
        return Err(ShopifyError::GraphQl(format!(
            "stagedUploadsCreate: {message}"
        )));
    }
    let target = payload
        .pointer("/stagedTargets/0")
        .ok_or_else(|| ShopifyError::Decode("stagedUploadsCreate gave no target".into()))?;
    let url = target
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| ShopifyError::Decode("staged upload target without a url".into()))?;
    let fields: Vec<(String, String)> = target
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("value")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let key = fields
        .iter()
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.clone())
        .ok_or_else(|| ShopifyError::Decode("staged upload target without a key".into()))?;
    t.upload_form(url, &fields, "shopsync-bulk.jsonl", jsonl)
        .await?;
    Ok(key)
}

/// Starts the operation, waiting while the shop already runs as many bulk mutations as Shopify allows;
/// returns its id, and whether it was recognised rather than named by Shopify's answer. It is never resent
/// blindly: when an answer is lost, the current bulk mutation tells whether
/// it started (newer than `before`, running `mutation`).
async fn start(
    t: &Transport,
    settings: &BulkSettings,
    mutation: &str,
    path: &str,
    before: Option<&str>,
) -> Result<(String, bool), BulkError> {
    let began = Instant::now();
    let mut wait = settings.first_poll;
    let once = t.without_resends();
    let mut lost_answers = 0u32;
    loop {
        let sent = once
            .execute(
                BULK_OPERATION_RUN_MUTATION,
                json!({ "mutation": mutation, "path": path }),
            )
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if super::ops::batch::unknown_effect(&e) => {
                let unknown = |error| BulkError::Lost {
                    id: "(not known: the answer to bulkOperationRunMutation was lost)".into(),
                    error,
                };
                match adopt(t, before, mutation).await {
                    Ok(Some(id)) => {
                        tracing::info!(operation = %id, "the answer to bulkOperationRunMutation was lost; the operation had started");
                        return Ok((id, true));
                    }
                    Ok(None) if lost_answers < MAX_LOST_STARTS => {
                        lost_answers += 1;
                        tracing::debug!(error = %e, "bulkOperationRunMutation did not start an operation; sending it again");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(settings.max_poll);
                        continue;
                    }
                    // Nothing started: the rows may go the ordinary way.
                    Ok(None) => return Err(not_started(e)),
                    Err(e) if e.fails_run() => return Err(BulkError::FailsRun(e)),
                    Err(_) => return Err(unknown(e)),
                }
            }
            Err(e) => return Err(not_started(e)),
        };
        let payload = response
            .data
            .get("bulkOperationRunMutation")
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(id) = payload.pointer("/bulkOperation/id").and_then(Value::as_str) {
            return Ok((id.to_string(), false));
        }
        let busy = payload
            .get("userErrors")
            .and_then(Value::as_array)
            .is_some_and(|e| {
                e.iter()
                    .any(|e| e.get("code").and_then(Value::as_str) == Some("OPERATION_IN_PROGRESS"))
            });
        let message = user_errors(&payload)
            .unwrap_or_else(|| "bulkOperationRunMutation gave no operation".into());
        if !busy || began.elapsed() + wait > settings.busy_wait {
            return Err(BulkError::NotStarted(ShopifyError::GraphQl(format!(
                "bulkOperationRunMutation: {message}"
            ))));
        }
        tracing::info!(
            ?wait,
            "the shop runs its maximum of bulk mutations; waiting for a slot"
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(settings.max_poll);
    }
}

/// A finished operation.
struct Terminal {
    status: String,
    error_code: Option<String>,
    /// The results (all of them, or the partial data of a failed operation).
    results_url: Option<String>,
    /// The lines it processed.
    object_count: Option<u64>,
}

impl Terminal {
    /// Whether an operation recognised as the current one newer than the journaled one is really the one
    /// submitted with `lines` lines: a completed operation processed every line of its file.
    fn fits(&self, lines: usize) -> bool {
        self.status != "COMPLETED" || self.object_count == Some(lines as u64)
    }
}

/// Polls the operation until it ends.
async fn poll(t: &Transport, settings: &BulkSettings, id: &str) -> Result<Terminal, BulkError> {
    let began = Instant::now();
    let mut wait = settings.first_poll;
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(settings.max_poll);
        match t.execute(BULK_OPERATION, json!({ "id": id })).await {
            Ok(response) => {
                failures = 0;
                let op = response
                    .data
                    .get("bulkOperation")
                    .cloned()
                    .unwrap_or(Value::Null);
                let text = |f: &str| op.get(f).and_then(Value::as_str).map(str::to_string);
                let status = text("status").unwrap_or_default();
                match status.as_str() {
                    "COMPLETED" => {
                        return Ok(Terminal {
                            status,
                            error_code: text("errorCode"),
                            results_url: text("url"),
                            object_count: text("objectCount").and_then(|n| n.parse().ok()),
                        });
                    }
                    "FAILED" | "CANCELED" | "EXPIRED" => {
                        return Ok(Terminal {
                            status,
                            error_code: text("errorCode"),
                            results_url: text("partialDataUrl"),
                            object_count: text("objectCount").and_then(|n| n.parse().ok()),
                        });
                    }
                    "" if op.is_null() => {
                        return Err(BulkError::Lost {
                            id: id.to_string(),
                            error: ShopifyError::Decode(
                                "bulkOperation(id:) found no operation".into(),
                            ),
                        });
                    }
                    _ => {}
                }
            }
            Err(e) if e.fails_run() => return Err(BulkError::FailsRun(e)),
            Err(e) => {
                failures += 1;
                if failures >= settings.max_poll_failures {
                    return Err(lost(id, e));
                }
            }
        }
        if began.elapsed() > settings.max_wait {
            return Err(BulkError::Lost {
                id: id.to_string(),
                error: ShopifyError::Decode(format!("still running after {:?}", settings.max_wait)),
            });
        }
    }
}

/// The user errors of a payload as one message, if any.
fn user_errors(payload: &Value) -> Option<String> {
    let errors = payload.get("userErrors")?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    Some(
        errors
            .iter()
            .map(|e| {
                let message = e.get("message").and_then(Value::as_str).unwrap_or("error");
                match e.get("code").and_then(Value::as_str) {
                    Some(code) => format!("{message} ({code})"),
                    None => message.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn set(key: &str) -> SetCall {
        SetCall {
            key: key.into(),
            kind: SetMutation::ProductSet,
            input: Map::from_iter([("title".to_string(), json!(format!("Title {key}")))]),
            identifier: json!({ "handle": key }),
        }
    }

    #[test]
    fn files_split_below_the_size_cap_and_keep_order() {
        let sets: Vec<SetCall> = (0..10).map(|i| set(&format!("k{i}"))).collect();
        let line = sets[0].variables().to_string().len() + 1;
        let files = split(sets.clone(), line * 4);
        assert_eq!(
            files.iter().map(BulkFile::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        assert_eq!(files[2].rows[1].key, "k9");
        // Each line reads back as the row it was made from (rows an operation did not apply are sent again).
        assert_eq!(files[2].set(1).as_ref(), Some(&sets[9]));
        assert_eq!(files[0].set(0).as_ref(), Some(&sets[0]));
        assert_eq!(files[0].set(4), None);
        assert_eq!(split(vec![set("a")], 1).len(), 1, "a line is never dropped");
    }

    #[test]
    fn result_lines_map_to_outcomes() {
        let s = set("a");
        let ok = json!({"data": {"productSet": {"product": {"id": "gid://shopify/Product/1"}, "userErrors": []}}, "__lineNumber": 0});
        assert_eq!(
            line_outcome(&s.key, s.kind, &ok),
            Some(WriteOutcome::Succeeded {
                key: "a".into(),
                shopify_id: Some("gid://shopify/Product/1".into()),
                created: false
            })
        );
        let refused = json!({"data": {"productSet": {"product": null, "userErrors": [{"code": "INVALID", "field": ["input", "title"], "message": "Title can't be blank"}]}}, "__lineNumber": 0});
        assert!(matches!(
            line_outcome(&s.key, s.kind, &refused),
            Some(WriteOutcome::Rejected { code: Some(c), field, .. }) if c == "INVALID" && field == ["input", "title"]
        ));
        let errors = json!({"errors": [{"message": "Variable $input was provided invalid value", "extensions": {"code": "INVALID_VARIABLE"}}], "__lineNumber": 0});
        assert!(matches!(
            line_outcome(&s.key, s.kind, &errors),
            Some(WriteOutcome::Rejected { code: Some(c), .. }) if c == "INVALID_VARIABLE"
        ));
        assert_eq!(
            line_outcome(&s.key, s.kind, &json!({"__lineNumber": 0})),
            None
        );
    }
}
