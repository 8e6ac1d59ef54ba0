//! GraphQL over HTTP to one store, inside its cost budget, with bounded retries.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use serde_json::{Value, json};

use super::budget::{CostBudget, ThrottleStatus};
use super::context::RequestContext;
use super::error::{ErrorClass, ShopifyError};
use crate::core::calls::{ApiCall, CallLog, operation_of};
use crate::core::config::ApiVersion;

/// Where and as whom to call the Admin API.
#[derive(Clone)]
pub struct Store {
    /// `https://{store}.myshopify.com`, or the destination's endpoint override.
    pub base_url: String,
    /// The API version in the URL.
    pub version: ApiVersion,
    /// The Admin API access token. Never logged, never put in errors.
    pub token: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Store {
    /// The GraphQL endpoint.
    pub fn graphql_url(&self) -> String {
        format!(
            "{}/admin/api/{}/graphql.json",
            self.base_url.trim_end_matches('/'),
            self.version
        )
    }

    /// The base URL for a store name such as `acme` or `acme.myshopify.com`.
    pub fn default_base_url(store: &str) -> String {
        let host = if store.ends_with(".myshopify.com") {
            store.to_string()
        } else {
            format!("{store}.myshopify.com")
        };
        format!("https://{host}")
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts for retryable failures (network, 5xx, 429), including the first.
    pub max_attempts: u32,
    /// The first backoff; each later one doubles, with full jitter.
    pub base_delay: Duration,
    /// The longest single backoff.
    pub max_delay: Duration,
    /// THROTTLED answers tolerated per request before giving up (each waits as Shopify says).
    pub max_throttled: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(15),
            max_throttled: 20,
            timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let jitter: f64 = rand::rng().random_range(0.0..=1.0);
        exp.mul_f64(jitter).max(Duration::from_millis(10))
    }
}

/// The cost Shopify reported for a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryCost {
    /// Cost charged up front.
    pub requested: f64,
    /// Cost after execution (None when the request did not run).
    pub actual: Option<f64>,
    /// The bucket after the request.
    pub throttle_status: Option<ThrottleStatus>,
}

/// A GraphQL answer that carried data.
#[derive(Debug, Clone)]
pub struct GraphqlResponse {
    /// `data`.
    pub data: Value,
    /// Field-level errors that came with data (e.g. `ACCESS_DENIED` on one field).
    pub errors: Vec<Value>,
    /// `extensions.cost`.
    pub cost: Option<QueryCost>,
}

/// A GraphQL client for one store.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    store: Store,
    budget: Arc<CostBudget>,
    retry: RetryPolicy,
    /// Requested cost last seen per document, so the budget reserves what Shopify will charge.
    costs: Arc<Mutex<HashMap<u64, f64>>>,
    /// Where every request and answer is reported (the debugger log), if anywhere.
    call_log: Option<Arc<dyn CallLog>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("store", &self.store)
            .field("retry", &self.retry)
            .field("call_log", &self.call_log.is_some())
            .finish_non_exhaustive()
    }
}

/// An HTTP answer, before it is interpreted.
struct RawAnswer {
    status: u16,
    retry_after: Option<Duration>,
    text: String,
}

impl Transport {
    /// A client for `store` spending from `budget` (share one budget between all syncs of a store).
    pub fn new(
        store: Store,
        budget: Arc<CostBudget>,
        retry: RetryPolicy,
    ) -> Result<Transport, ShopifyError> {
        let http = crate::tls::http_client()
            .map_err(|e| ShopifyError::Network {
                url: store.graphql_url(),
                message: e.to_string(),
            })?
            .timeout(retry.timeout)
            .user_agent(concat!("shopsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ShopifyError::Network {
                url: store.graphql_url(),
                message: e.to_string(),
            })?;
        Ok(Transport {
            http,
            store,
            budget,
            retry,
            costs: Arc::new(Mutex::new(HashMap::new())),
            call_log: None,
        })
    }

    /// Reports every request this client makes, and its answer, to `log` (the debugger log). Requests made
    /// inside a [`RequestContext`] carry its sync and keys.
    pub fn with_call_log(mut self, log: Arc<dyn CallLog>) -> Transport {
        self.call_log = Some(log);
        self
    }

    /// The sink requests are reported to, for other HTTP calls made on behalf of this store (staged uploads,
    /// bulk results) to report theirs.
    pub fn call_log(&self) -> Option<&Arc<dyn CallLog>> {
        self.call_log.as_ref()
    }

    /// This client with one attempt per request: a request that fails in a way that may have reached Shopify
    /// (a lost connection, a timeout, a 5xx) is never sent again here. For writes Shopify cannot deduplicate,
    /// whose caller first reads whether the write took effect. THROTTLED answers, which Shopify gives before
    /// executing anything, are still waited out and retried.
    pub fn without_resends(&self) -> Transport {
        let mut once = self.clone();
        once.retry.max_attempts = 1;
        once
    }

    /// The store this client calls.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The shared budget.
    pub fn budget(&self) -> &Arc<CostBudget> {
        &self.budget
    }

    fn expected_cost(&self, query: &str, guess: Option<f64>) -> (u64, f64) {
        let key = fxhash(query);
        let known = self.costs.lock().ok().and_then(|m| m.get(&key).copied());
        // Unknown documents: a mutation costs 10; queries are charged by their selections, so guess higher.
        let guess = guess.unwrap_or(if query.trim_start().starts_with("mutation") {
            10.0
        } else {
            50.0
        });
        (key, known.unwrap_or(guess))
    }

    /// Runs one GraphQL document, waiting for budget, retrying what is retryable.
    pub async fn execute(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<GraphqlResponse, ShopifyError> {
        self.execute_costing(query, variables, None).await
    }

    /// [`Transport::execute`] for a document whose cost is not yet known, reserving `expected` points for its
    /// first run (a batch of several mutations costs their sum); later runs reserve what Shopify charged.
    pub async fn execute_costing(
        &self,
        query: &str,
        variables: Value,
        expected: Option<f64>,
    ) -> Result<GraphqlResponse, ShopifyError> {
        let body = json!({ "query": query, "variables": variables });
        let (key, mut cost) = self.expected_cost(query, expected);
        let mut attempts = 0u32;
        let mut throttles = 0u32;
        // Every request sent, throttled ones included: the debugger log numbers attempts with it.
        let mut sent = 0u32;
        loop {
            let reserved = loop {
                match self.budget.reserve(cost, Instant::now()) {
                    Ok(r) => break r,
                    Err(wait) => tokio::time::sleep(wait).await,
                }
            };
            attempts += 1;
            sent += 1;
            let result = self.send_once(query, &body, sent).await;
            match result {
                Ok((response, requested)) => {
                    if let Some(c) = &response.cost {
                        self.budget
                            .settle(&reserved, c.actual, c.throttle_status, Instant::now());
                    } else {
                        self.budget.release(&reserved, Instant::now());
                    }
                    if let (Some(r), Ok(mut m)) = (requested, self.costs.lock()) {
                        m.insert(key, r);
                    }
                    return Ok(response);
                }
                Err(Failure {
                    error: ShopifyError::Throttled { wait },
                    requested,
                    status,
                }) => {
                    self.budget.throttled(&reserved, status, Instant::now());
                    if let Some(r) = requested {
                        cost = r;
                        if let Ok(mut m) = self.costs.lock() {
                            m.insert(key, r);
                        }
                    }
                    throttles += 1;
                    if throttles > self.retry.max_throttled {
                        return Err(ShopifyError::Exhausted {
                            attempts: attempts + throttles,
                            last: Box::new(ShopifyError::Throttled { wait }),
                        });
                    }
                    attempts -= 1;
                    tokio::time::sleep(wait).await;
                }
                Err(Failure { error, .. }) => {
                    self.budget.release(&reserved, Instant::now());
                    let delay = match error.class() {
                        ErrorClass::Permanent => return Err(error),
                        ErrorClass::RateLimited(d) => d,
                        ErrorClass::Retryable => self.retry.backoff(attempts - 1),
                    };
                    if attempts >= self.retry.max_attempts {
                        return Err(ShopifyError::Exhausted {
                            attempts,
                            last: Box::new(error),
                        });
                    }
                    tracing::debug!(attempt = attempts, ?delay, %error, "retrying Shopify request");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// POSTs a multipart form to a staged upload target (the signed fields, then the file, as Shopify's
    /// storage requires), retrying what is retryable. Returns the answer's body. The target is signed, so the
    /// Admin API token is not sent.
    pub async fn upload_form(
        &self,
        url: &str,
        fields: &[(String, String)],
        file_name: &str,
        file: &[u8],
    ) -> Result<String, ShopifyError> {
        let boundary = format!("shopsync-{:016x}", rand::rng().random::<u64>());
        let mut body = Vec::with_capacity(file.len() + 512);
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/jsonl\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.plain_request("POST", url, Some((content_type, body)))
            .await
    }

    /// GETs a file Shopify points to (a bulk operation's results), retrying what is retryable.
    pub async fn download(&self, url: &str) -> Result<String, ShopifyError> {
        self.plain_request("GET", url, None).await
    }

    /// Sends one legacy REST Admin request (`path` below `/admin/api/{version}/`, e.g.
    /// `price_rules/1/discount_codes/2.json`) with the token, for the few writes GraphQL cannot do. REST has its
    /// own request-count bucket, not the GraphQL cost budget: a 429 waits its `Retry-After`. Returns the status
    /// and JSON body of a 2xx, 404 or 422 answer (the last two are the row's business); other answers are
    /// classified as for GraphQL.
    pub async fn rest_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ShopifyError> {
        let url = format!(
            "{}/admin/api/{}/{}",
            self.store.base_url.trim_end_matches('/'),
            self.store.version,
            path.trim_start_matches('/')
        );
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let at = Utc::now();
            let started = Instant::now();
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("X-Shopify-Access-Token", &self.store.token);
            if let Some(b) = body {
                request = request.json(b);
            }
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .and_then(|s| Duration::try_from_secs_f64(s).ok());
                    match response.text().await {
                        Ok(text) => Ok(RawAnswer {
                            status,
                            retry_after,
                            text,
                        }),
                        Err(e) => Err(describe_reqwest(&e)),
                    }
                }
                Err(e) => Err(describe_reqwest(&e)),
            };
            let outcome: Result<(u16, Value), ShopifyError> = match &answer {
                Ok(raw) => match raw.status {
                    200..=299 | 404 | 422 => serde_json::from_str(&raw.text)
                        .map(|v| (raw.status, v))
                        .map_err(|e| {
                            ShopifyError::Decode(format!(
                                "{method} {url}: {e}: {}",
                                truncate(&raw.text, 200)
                            ))
                        }),
                    401 => Err(ShopifyError::Unauthorized),
                    402 => Err(ShopifyError::PaymentRequired),
                    403 => Err(ShopifyError::Forbidden(error_text(&raw.text))),
                    423 => Err(ShopifyError::Locked),
                    status @ (429 | 500..=599) => Err(ShopifyError::Unavailable {
                        status,
                        retry_after: raw.retry_after,
                    }),
                    other => Err(ShopifyError::Decode(format!(
                        "{method} {url}: unexpected HTTP {other}: {}",
                        error_text(&raw.text)
                    ))),
                },
                Err(message) => Err(ShopifyError::Network {
                    url: url.clone(),
                    message: message.clone(),
                }),
            };
            self.record_plain(method.as_str(), &url, (at, started), attempt, |call| {
                call.variables = body.map(Value::to_string);
                call.status = answer.as_ref().ok().map(|r| r.status);
                call.response = answer.as_ref().ok().map(|r| r.text.clone());
                call.error = outcome.as_ref().err().map(ToString::to_string);
            });
            let error = match outcome {
                Ok(ok) => return Ok(ok),
                Err(e) => e,
            };
            let delay = match error.class() {
                ErrorClass::Permanent => return Err(error),
                ErrorClass::RateLimited(d) => d,
                ErrorClass::Retryable => self.retry.backoff(attempt - 1),
            };
            if attempt >= self.retry.max_attempts {
                return Err(ShopifyError::Exhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Reports one non-GraphQL request to the call log, if there is one; `fill` adds what the answer says
    /// (only called when something is logged).
    fn record_plain(
        &self,
        method: &str,
        url: &str,
        (at, started): (chrono::DateTime<Utc>, Instant),
        attempt: u32,
        fill: impl FnOnce(&mut ApiCall),
    ) {
        let Some(log) = &self.call_log else {
            return;
        };
        let context = RequestContext::current().unwrap_or_default();
        let mut call = ApiCall {
            run_id: None,
            sync: context.sync.to_string(),
            started_at: at,
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            method: method.to_string(),
            url: url.to_string(),
            operation: None,
            document: None,
            variables: None,
            status: None,
            response: None,
            error: None,
            cost_requested: None,
            cost_actual: None,
            keys: context.keys,
            attempt,
        };
        fill(&mut call);
        log.record(call);
    }

    async fn plain_request(
        &self,
        method: &str,
        url: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<String, ShopifyError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let at = Utc::now();
            let started = Instant::now();
            let request = match &body {
                Some((content_type, bytes)) => self
                    .http
                    .post(url)
                    .header("content-type", content_type)
                    .body(bytes.clone()),
                None => self.http.get(url),
            };
            let result = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.text().await {
                        Ok(text) => Ok((status, text)),
                        Err(e) => Err(describe_reqwest(&e)),
                    }
                }
                Err(e) => Err(describe_reqwest(&e)),
            };
            let error = match &result {
                Ok((status, _)) if (200..300).contains(status) => None,
                Ok((429, _)) | Ok((500..=599, _)) => Some(ShopifyError::Unavailable {
                    status: result.as_ref().map(|r| r.0).unwrap_or(500),
                    retry_after: None,
                }),
                Ok((status, text)) => Some(ShopifyError::Decode(format!(
                    "{method} {url}: HTTP {status}: {}",
                    truncate(text, 200)
                ))),
                Err(message) => Some(ShopifyError::Network {
                    url: url.to_string(),
                    message: message.clone(),
                }),
            };
            self.record_plain(method, url, (at, started), attempt, |call| {
                call.status = result.as_ref().ok().map(|r| r.0);
                // Result files can be large: the log keeps their start.
                call.response = result.as_ref().ok().map(|r| truncate(&r.1, 4096));
                call.error = error.as_ref().map(ToString::to_string);
            });
            let Some(error) = error else {
                return result.map(|r| r.1).map_err(|m| ShopifyError::Network {
                    url: url.to_string(),
                    message: m,
                });
            };
            if error.class() == ErrorClass::Permanent {
                return Err(error);
            }
            if attempt >= self.retry.max_attempts {
                return Err(ShopifyError::Exhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            tokio::time::sleep(self.retry.backoff(attempt - 1)).await;
        }
    }

    async fn send_once(
        &self,
        query: &str,
        body: &Value,
        attempt: u32,
    ) -> Result<(GraphqlResponse, Option<f64>), Failure> {
        let url = self.store.graphql_url();
        let Some(log) = &self.call_log else {
            let raw = self.send_raw(&url, body).await?;
            return interpret(url, &raw);
        };
        let at = Utc::now();
        let started = Instant::now();
        let (result, answer) = match self.send_raw(&url, body).await {
            Ok(raw) => (interpret(url.clone(), &raw), Some(raw)),
            Err(f) => (Err(f), None),
        };
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let context = RequestContext::current().unwrap_or_default();
        let (cost_requested, cost_actual) = match &result {
            Ok((r, _)) => (r.cost.map(|c| c.requested), r.cost.and_then(|c| c.actual)),
            Err(f) => (f.requested, None),
        };
        log.record(ApiCall {
            run_id: None,
            sync: context.sync.to_string(),
            started_at: at,
            duration_us,
            method: "POST".into(),
            url,
            operation: operation_of(query),
            document: Some(query.to_string()),
            variables: body.get("variables").map(Value::to_string),
            status: answer.as_ref().map(|a| a.status),
            response: answer.map(|a| a.text),
            error: result.as_ref().err().map(|f| f.error.to_string()),
            cost_requested,
            cost_actual,
            keys: context.keys,
            attempt,
        });
        result
    }

    async fn send_raw(&self, url: &str, body: &Value) -> Result<RawAnswer, Failure> {
        let response = self
            .http
            .post(url)
            .header("X-Shopify-Access-Token", &self.store.token)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                Failure::from(ShopifyError::Network {
                    url: url.to_string(),
                    message: describe_reqwest(&e),
                })
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok());
        let text = read_bounded(response, url).await?;
        Ok(RawAnswer {
            status,
            retry_after,
            text,
        })
    }
}

/// The largest Admin API answer read: far above the answer to any document shopsync sends (a batch of upserts, a
/// page of events), so that a broken proxy or a hostile endpoint cannot make a run hold gigabytes.
pub const MAX_ANSWER_BYTES: usize = 32 << 20;

/// The body of `response`, refused past [`MAX_ANSWER_BYTES`].
async fn read_bounded(mut response: reqwest::Response, url: &str) -> Result<String, Failure> {
    let too_big = || {
        Failure::from(ShopifyError::Decode(format!(
            "the answer from {url} is larger than {MAX_ANSWER_BYTES} bytes"
        )))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            Failure::from(ShopifyError::Network {
                url: url.to_string(),
                message: describe_reqwest(&e),
            })
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// What an HTTP answer means: the response, or the classified failure.
fn interpret(url: String, raw: &RawAnswer) -> Result<(GraphqlResponse, Option<f64>), Failure> {
    let RawAnswer {
        status,
        retry_after,
        ref text,
    } = *raw;
    match status {
        200 => {}
        401 => return Err(ShopifyError::Unauthorized.into()),
        402 => return Err(ShopifyError::PaymentRequired.into()),
        403 => return Err(ShopifyError::Forbidden(error_text(text)).into()),
        404 => return Err(ShopifyError::NotFound { url }.into()),
        423 => return Err(ShopifyError::Locked.into()),
        429 | 500..=599 => {
            return Err(ShopifyError::Unavailable {
                status,
                retry_after,
            }
            .into());
        }
        other => {
            return Err(ShopifyError::Decode(format!(
                "unexpected HTTP {other}: {}",
                error_text(text)
            ))
            .into());
        }
    }
    let json: Value = serde_json::from_str(text).map_err(|e| {
        Failure::from(ShopifyError::Decode(format!(
            "{e}: {}",
            truncate(text, 200)
        )))
    })?;
    let cost = json.pointer("/extensions/cost").map(|c| QueryCost {
        requested: c
            .get("requestedQueryCost")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        actual: c.get("actualQueryCost").and_then(Value::as_f64),
        throttle_status: c
            .get("throttleStatus")
            .and_then(|s| serde_json::from_value(s.clone()).ok()),
    });
    let requested = cost.map(|c| c.requested);
    let errors: Vec<Value> = json
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let code_of = |e: &Value| {
        e.pointer("/extensions/code")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if errors
        .iter()
        .any(|e| code_of(e).as_deref() == Some("THROTTLED"))
    {
        let status = cost.and_then(|c| c.throttle_status);
        let wait = match (status, requested) {
            (Some(s), Some(r)) if s.restore_rate > 0.0 => {
                Duration::from_secs_f64(((r - s.currently_available) / s.restore_rate).max(0.05))
            }
            _ => Duration::from_secs(1),
        };
        return Err(Failure {
            error: ShopifyError::Throttled { wait },
            requested,
            status,
        });
    }
    if let Some(e) = errors
        .iter()
        .find(|e| code_of(e).as_deref() == Some("MAX_COST_EXCEEDED"))
    {
        let cost = e
            .pointer("/extensions/cost")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let max = e
            .pointer("/extensions/maxCost")
            .and_then(Value::as_u64)
            .unwrap_or(1000);
        return Err(ShopifyError::MaxCostExceeded { cost, max }.into());
    }
    let data = json.get("data").cloned().unwrap_or(Value::Null);
    if data.is_null() && !errors.is_empty() {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| {
                let msg = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                match code_of(e) {
                    Some(code) => format!("{msg} ({code})"),
                    None => msg.to_string(),
                }
            })
            .collect();
        return Err(ShopifyError::GraphQl(messages.join("; ")).into());
    }
    Ok((GraphqlResponse { data, errors, cost }, requested))
}

struct Failure {
    error: ShopifyError,
    requested: Option<f64>,
    status: Option<ThrottleStatus>,
}

impl From<ShopifyError> for Failure {
    fn from(error: ShopifyError) -> Self {
        Failure {
            error,
            requested: None,
            status: None,
        }
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL, which is fine (no token in it); add the source chain for detail.
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn error_text(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors").map(|e| {
                e.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string())
            })
        })
        .unwrap_or_else(|| truncate(body, 200))
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let cut = (0..=n).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    format!("{}…", &s[..cut])
}

fn fxhash(s: &str) -> u64 {
    // FNV-1a: stable and cheap; only used as a cache key.
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}
