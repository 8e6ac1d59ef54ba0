//! Throughput benchmark: simple mutations against a loopback emulator with throttling off.
use std::time::Instant;

use serde_json::json;

use super::error::EmulatorError;
use super::server::Emulator;
use crate::core::config::ApiVersion;

/// The outcome of [`bench_mutations`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Mutations sent (and answered without errors).
    pub mutations: usize,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Mutations per second.
    pub per_second: f64,
}

/// Sends `n` `customerCreate` mutations from `concurrency` clients and measures the rate.
pub async fn bench_mutations(n: usize, concurrency: usize) -> Result<BenchReport, EmulatorError> {
    let concurrency = concurrency.max(1);
    let emu = Emulator::builder()
        .throttling(false)
        .start_on_loopback()
        .await?;
    let url = emu.graphql_url(ApiVersion::DEFAULT);
    let token = emu.token().to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| EmulatorError::Bench(e.to_string()))?;
    let query = "mutation C($input: CustomerInput!) { customerCreate(input: $input) { customer { id } userErrors { field message } } }";
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let count = n / concurrency + usize::from(w < n % concurrency);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let body = json!({"query": query, "variables": {"input": {"email": format!("bench-{w}-{i}@example.com")}}});
                let resp = client
                    .post(&url)
                    .header("X-Shopify-Access-Token", &token)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| EmulatorError::Bench(e.to_string()))?;
                let v: serde_json::Value = resp.json().await.map_err(|e| EmulatorError::Bench(e.to_string()))?;
                if v.get("errors").is_some() || v["data"]["customerCreate"]["userErrors"].as_array().is_none_or(|a| !a.is_empty()) {
                    return Err(EmulatorError::Bench(format!("unexpected answer: {v}")));
                }
            }
            Ok::<usize, EmulatorError>(count)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.map_err(|e| EmulatorError::Bench(e.to_string()))??;
    }
    let seconds = start.elapsed().as_secs_f64();
    emu.shutdown().await?;
    Ok(BenchReport {
        mutations: done,
        concurrency,
        seconds,
        per_second: done as f64 / seconds.max(f64::EPSILON),
    })
}

/// The outcome of [`bench_bulk`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BulkBenchReport {
    /// `customerSet` lines run (over every pass).
    pub lines: usize,
    /// Passes over the same customers: the first creates them, later ones update them by email.
    pub passes: usize,
    /// Bulk operations (files are split below Shopify's 100 MB cap, as the client splits them).
    pub operations: usize,
    /// Lines whose result carried a customer and no userErrors.
    pub succeeded: usize,
    /// Seconds from each operation's start to its completion, summed (uploads and result downloads excluded).
    pub processing_seconds: f64,
    /// Lines processed per second of `processing_seconds`.
    pub lines_per_second: f64,
    /// Wall time of the whole benchmark, uploads and result checks included.
    pub seconds: f64,
    /// Customers in the store at the end.
    pub customers: usize,
    /// Peak resident memory of the process (emulator and client together), from /proc/self/status.
    pub peak_rss_mib: Option<f64>,
}

/// The `customerSet` document shopsync sends in bulk (identifier by email).
const CUSTOMER_SET: &str = "mutation CustomerSet($input: CustomerSetInput!, $identifier: CustomerSetIdentifiers) { customerSet(input: $input, identifier: $identifier) { customer { id } userErrors { code field message } } }";

/// Runs `lines` `customerSet` lines (upsert by email) through bulk mutation operations on a loopback emulator,
/// `passes` times over the same customers, and measures how fast the emulator processes them.
pub async fn bench_bulk(lines: usize, passes: usize) -> Result<BulkBenchReport, EmulatorError> {
    let bench = |e: &dyn std::fmt::Display| EmulatorError::Bench(e.to_string());
    let emu = Emulator::builder()
        .throttling(false)
        .start_on_loopback()
        .await?;
    let client = BenchClient {
        http: reqwest::Client::new(),
        url: emu.graphql_url(ApiVersion::DEFAULT),
        token: emu.token().to_string(),
    };
    // Below the cap with room for the multipart envelope, as the client's own split does.
    let max_file = super::bulk::MAX_FILE - 1024 * 1024;
    let start = Instant::now();
    let (mut operations, mut succeeded, mut processing) = (0, 0, 0.0);
    for pass in 0..passes.max(1) {
        let mut next = 0;
        while next < lines {
            let mut file = Vec::new();
            while next < lines {
                let email = format!("bench-{next:07}@example.com");
                let line = json!({
                    "input": {"email": email, "firstName": format!("First{next}"), "lastName": format!("Pass{pass}"), "tags": ["bench"]},
                    "identifier": {"email": email},
                })
                .to_string();
                if !file.is_empty() && file.len() + line.len() + 1 > max_file {
                    break;
                }
                file.extend_from_slice(line.as_bytes());
                file.push(b'\n');
                next += 1;
            }
            let key = client.stage(&file).await?;
            drop(file);
            let started = Instant::now();
            let id = client.run(&key).await?;
            let url = client.wait(&id).await?;
            processing += started.elapsed().as_secs_f64();
            operations += 1;
            let results = client
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| bench(&e))?
                .text()
                .await
                .map_err(|e| bench(&e))?;
            for line in results.lines() {
                let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bench(&e))?;
                let payload = &v["data"]["customerSet"];
                if payload["customer"]["id"].is_string()
                    && payload["userErrors"].as_array().is_some_and(Vec::is_empty)
                {
                    succeeded += 1;
                }
            }
        }
    }
    let count = client
        .call(json!({"query": "{ customersCount { count } }"}))
        .await?;
    let customers = count["data"]["customersCount"]["count"]
        .as_u64()
        .unwrap_or(0) as usize;
    let seconds = start.elapsed().as_secs_f64();
    emu.shutdown().await?;
    let total = lines * passes.max(1);
    Ok(BulkBenchReport {
        lines: total,
        passes: passes.max(1),
        operations,
        succeeded,
        processing_seconds: processing,
        lines_per_second: total as f64 / processing.max(f64::EPSILON),
        seconds,
        customers,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// `VmHWM` of this process in MiB (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The few Admin API calls the bulk benchmark makes.
struct BenchClient {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl BenchClient {
    async fn call(&self, body: serde_json::Value) -> Result<serde_json::Value, EmulatorError> {
        let v: serde_json::Value = self
            .http
            .post(&self.url)
            .header("X-Shopify-Access-Token", &self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| EmulatorError::Bench(e.to_string()))?
            .json()
            .await
            .map_err(|e| EmulatorError::Bench(e.to_string()))?;
        if v.get("errors").is_some() {
            return Err(EmulatorError::Bench(format!("unexpected answer: {v}")));
        }
        Ok(v)
    }

    /// Uploads `file` to a staged target; answers its key.
    async fn stage(&self, file: &[u8]) -> Result<String, EmulatorError> {
        let v = self
            .call(json!({
                "query": "mutation S($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) { stagedTargets { url parameters { name value } } userErrors { message } } }",
                "variables": {"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "bench.jsonl", "mimeType": "text/jsonl", "httpMethod": "POST"}]},
            }))
            .await?;
        let target = &v["data"]["stagedUploadsCreate"]["stagedTargets"][0];
        let url = target["url"].as_str().unwrap_or_default().to_string();
        let params: Vec<(String, String)> = target["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let key = params
            .iter()
            .find(|(n, _)| n == "key")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| EmulatorError::Bench(format!("staged target without a key: {v}")))?;
        let boundary = "shopsync-bench-boundary";
        let mut body = Vec::with_capacity(file.len() + 1024);
        for (name, value) in &params {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jsonl\"\r\nContent-Type: text/jsonl\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let resp = self
            .http
            .post(&url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| EmulatorError::Bench(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(EmulatorError::Bench(format!(
                "staged upload answered {}",
                resp.status()
            )));
        }
        Ok(key)
    }

    /// Starts the bulk mutation over the staged file; answers the operation's id.
    async fn run(&self, key: &str) -> Result<String, EmulatorError> {
        let v = self
            .call(json!({
                "query": "mutation R($m: String!, $p: String!) { bulkOperationRunMutation(mutation: $m, stagedUploadPath: $p) { bulkOperation { id } userErrors { message } } }",
                "variables": {"m": CUSTOMER_SET, "p": key},
            }))
            .await?;
        v["data"]["bulkOperationRunMutation"]["bulkOperation"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| EmulatorError::Bench(format!("bulk operation not started: {v}")))
    }

    /// Polls the operation until it is done; answers its result URL.
    async fn wait(&self, id: &str) -> Result<String, EmulatorError> {
        let started = Instant::now();
        let mut reported = Instant::now();
        loop {
            let v = self
                .call(json!({
                    "query": "query B($id: ID!) { node(id: $id) { ... on BulkOperation { status url objectCount } } }",
                    "variables": {"id": id},
                }))
                .await?;
            let op = &v["data"]["node"];
            // Progress on stderr, so a run stopped early still tells how far it got.
            if reported.elapsed().as_secs() >= 10 {
                eprintln!(
                    "{id}: {} lines after {:.0} s",
                    op["objectCount"].as_str().unwrap_or("?"),
                    started.elapsed().as_secs_f64()
                );
                reported = Instant::now();
            }
            match op["status"].as_str() {
                Some("COMPLETED") => {
                    return op["url"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| EmulatorError::Bench(format!("no result url: {v}")));
                }
                Some("CREATED" | "RUNNING") => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                _ => return Err(EmulatorError::Bench(format!("bulk operation ended: {v}"))),
            }
        }
    }
}
