//! Discount codes of an existing code discount ("price rule"): added with `discountRedeemCodeBulkAdd`, whose
//! per-code results arrive asynchronously.
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::documents::{DISCOUNT_BULK_CREATION, DISCOUNT_CODES_BULK_ADD};
use super::{call, rejection, require, succeeded};
use crate::core::config::{SyncConfig, SyncMode};
use crate::core::write::WriteOutcome;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

/// How long to wait for Shopify to finish creating codes before reporting the outcome as unknown.
const CREATION_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) async fn write_code(
    t: &Transport,
    sync: &SyncConfig,
    key: String,
    fields: Map<String, Value>,
    known_id: Option<String>,
) -> Result<WriteOutcome, ShopifyError> {
    let (discount, code) = match (
        require(&key, &fields, "priceRuleId"),
        require(&key, &fields, "code"),
    ) {
        (Ok(d), Ok(c)) => (d, c),
        (Err(r), _) | (_, Err(r)) => return Ok(r),
    };
    if sync.mode == SyncMode::Update || known_id.is_some() {
        // GraphQL cannot rename a redeem code; the REST endpoint that can is not part of this client yet.
        return Ok(WriteOutcome::Rejected {
            key,
            code: Some("UNSUPPORTED_OPERATION".into()),
            field: vec!["code".into()],
            message:
                "changing an existing discount code is not supported yet; codes are insert-only"
                    .into(),
        });
    }
    let payload = call(
        t,
        DISCOUNT_CODES_BULK_ADD,
        json!({ "discountId": discount, "codes": [{ "code": code }] }),
        "discountRedeemCodeBulkAdd",
    )
    .await?;
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    let Some(creation) = payload
        .pointer("/bulkCreation/id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(WriteOutcome::Unknown {
            key,
            message: "Shopify accepted the codes but returned no bulk creation".into(),
        });
    };
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let state = call(
            t,
            DISCOUNT_BULK_CREATION,
            json!({ "id": creation }),
            "discountRedeemCodeBulkCreation",
        )
        .await?;
        if state.get("done").and_then(Value::as_bool) == Some(true) {
            let nodes = state
                .pointer("/codes/nodes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let Some(node) = nodes
                .iter()
                .find(|n| n.get("code").and_then(Value::as_str) == Some(code.as_str()))
            else {
                return Ok(WriteOutcome::Unknown {
                    key,
                    message: format!("code {code:?} missing from the creation result"),
                });
            };
            let errors = json!({ "userErrors": node.get("errors").cloned().unwrap_or(Value::Array(vec![])) });
            if let Some(rejected) = rejection(&key, &errors) {
                return Ok(rejected);
            }
            let id = node
                .pointer("/discountRedeemCode/id")
                .and_then(Value::as_str)
                .map(str::to_string);
            return Ok(succeeded(key, id, true));
        }
        if started.elapsed() > CREATION_TIMEOUT {
            return Ok(WriteOutcome::Unknown {
                key,
                message: format!("code creation {creation} did not finish in time"),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
