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
