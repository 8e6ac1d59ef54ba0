//! The debugger log's writer: takes calls from the Shopify client without ever making it wait, redacts them
//! and appends them to a [`CallStore`] in batches on a task of its own.
//!
//! The queue between the two is bounded, in calls and in bytes: when the writer falls behind, calls are dropped
//! and counted rather than slowing the sync. Retention and the size caps are enforced when the recorder starts, at the end of
//! every run and every [`PRUNE_EVERY`] calls.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::core::calls::{ApiCall, CallLimits, CallLog, CallStore};
use crate::core::redact::Redactor;

/// Calls waiting for the writer before new ones are dropped.
pub const QUEUE: usize = 16_384;
/// Bytes of calls (as [`ApiCall::size`] counts them) waiting for the writer before new ones are dropped: a
/// bulk run's calls are large (every row's key, whole answers), and the queue must not grow with the run.
pub const QUEUE_BYTES: u64 = 32 * 1024 * 1024;
/// Calls per append (one transaction).
pub const BATCH: usize = 500;
/// Calls written between two enforcements of the caps during a long run.
pub const PRUNE_EVERY: u64 = 20_000;

enum Message {
    Call(Box<ApiCall>),
    Flush(oneshot::Sender<()>),
}

struct Shared {
    /// The run each sync is in, as the engine announced it.
    runs: Mutex<HashMap<String, RunTally>>,
    dropped: AtomicU64,
    stored: AtomicU64,
    /// Bytes of the calls in the queue.
    queued: AtomicU64,
}

#[derive(Clone, Copy)]
struct RunTally {
    run_id: i64,
    dropped_before: u64,
}

/// A [`CallLog`] that stores calls in a [`CallStore`] asynchronously. Cheap to clone: clones share the queue.
#[derive(Clone)]
pub struct CallRecorder {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecorder")
            .field("stored", &self.stored())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl CallRecorder {
    /// Starts the writer task (on the current tokio runtime) over `store`, keeping what `limits` allow and
    /// redacting every call with `redactor` before it is stored. The limits are enforced once right away.
    pub fn start(
        store: Arc<dyn CallStore>,
        limits: CallLimits,
        redactor: Redactor,
    ) -> CallRecorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared {
            runs: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            queued: AtomicU64::new(0),
        });
        tokio::spawn(writer(rx, store, limits, redactor, shared.clone()));
        CallRecorder { tx, shared }
    }

    /// Waits until every call recorded so far is stored (or dropped).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Calls dropped because the writer fell behind or the store refused them.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Calls stored.
    pub fn stored(&self) -> u64 {
        self.shared.stored.load(Ordering::Relaxed)
    }
}

impl CallLog for CallRecorder {
    fn record(&self, mut call: ApiCall) {
        if call.run_id.is_none()
            && let Ok(runs) = self.shared.runs.lock()
        {
            call.run_id = runs.get(&call.sync).map(|t| t.run_id);
        }
        let size = call.size();
        let queued = self.shared.queued.fetch_add(size, Ordering::Relaxed);
        if queued.saturating_add(size) > QUEUE_BYTES
            || self.tx.try_send(Message::Call(Box::new(call))).is_err()
        {
            self.shared.queued.fetch_sub(size, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn run_started(&self, sync: &str, run_id: i64) {
        if let Ok(mut runs) = self.shared.runs.lock() {
            runs.insert(
                sync.to_string(),
                RunTally {
                    run_id,
                    dropped_before: self.dropped(),
                },
            );
        }
    }

    fn run_finished<'a>(&'a self, sync: &'a str, run_id: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.flush().await;
            let tally = self.shared.runs.lock().ok().and_then(|mut runs| {
                // A later run of the same sync may have started already: only forget our own.
                let ours = runs.get(sync).is_some_and(|t| t.run_id == run_id);
                if ours { runs.remove(sync) } else { None }
            });
            if let Some(t) = tally {
                let dropped = self.dropped().saturating_sub(t.dropped_before);
                if dropped > 0 {
                    tracing::warn!(
                        sync,
                        run_id,
                        dropped,
                        "debugger log: calls were dropped because recording fell behind the sync"
                    );
                }
            }
        })
    }
}

async fn writer(
    mut rx: mpsc::Receiver<Message>,
    store: Arc<dyn CallStore>,
    limits: CallLimits,
    redactor: Redactor,
    shared: Arc<Shared>,
) {
    prune(&*store, &limits).await;
    let mut since_prune = 0u64;
    let mut batch: Vec<ApiCall> = Vec::with_capacity(BATCH);
    // The bytes of the calls in `batch` as they were queued: they count against `QUEUE_BYTES` until stored.
    let mut batch_bytes = 0u64;
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Call(call) => {
                    batch_bytes += call.size();
                    batch.push(call.redacted(&redactor));
                }
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match store.append_calls(&batch).await {
                Ok(()) => {
                    shared.stored.fetch_add(n, Ordering::Relaxed);
                    since_prune += n;
                }
                Err(e) => {
                    shared.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(error = %e, calls = n, "debugger log: could not store calls");
                }
            }
            batch.clear();
            shared.queued.fetch_sub(batch_bytes, Ordering::Relaxed);
            batch_bytes = 0;
        }
        if !flushes.is_empty() || since_prune >= PRUNE_EVERY {
            prune(&*store, &limits).await;
            since_prune = 0;
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn prune(store: &dyn CallStore, limits: &CallLimits) {
    if let Err(e) = store.prune_calls(limits, Utc::now()).await {
        tracing::warn!(error = %e, "debugger log: could not enforce retention");
    }
}
