//! What a request is about, passed from the operations down to the transport without threading it through
//! every call: the sync and the primary keys of the rows a request concerns, for the debugger log.
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The sync and the rows the requests made inside [`RequestContext::scope`] are about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The sync's id (`namespace/name`).
    pub sync: Arc<str>,
    /// The primary keys of the rows (one for a single-row write; several for a batched one).
    pub keys: Vec<String>,
}

impl RequestContext {
    /// A context for `keys` of `sync`.
    pub fn new(sync: Arc<str>, keys: Vec<String>) -> RequestContext {
        RequestContext { sync, keys }
    }

    /// Runs `f` with this context: every request the transport makes inside it is recorded with it.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CONTEXT.scope(self, f).await
    }

    /// The context of the running task, if any.
    pub fn current() -> Option<RequestContext> {
        CONTEXT.try_with(Clone::clone).ok()
    }
}
