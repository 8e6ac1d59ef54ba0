//! Discount codes of an existing code discount ("price rule").
//!
//! - New codes are added with `discountRedeemCodeBulkAdd`, whose per-code results arrive asynchronously.
//! - A code is renamed with the REST discount-code endpoint (`PUT price_rules/{id}/discount_codes/{id}.json`):
//!   GraphQL has no mutation for one redeem code in the pinned versions (the `priceRuleDiscountCodeUpdate`
//!   mutation is gone since 2024-04; `discountCode*Update`'s `code` is the discount's own code, not one of many).
//! - A row without a known id is first looked up by its code (`codeDiscountNodeByCode`, case-insensitive as in
//!   Shopify): after a lost state, codes this sync added are re-matched instead of refused as "must be unique".
//! - In mode update, the usage settings of the code discount the code belongs to (`usageLimit`,
//!   `appliesOncePerCustomer`: [`DISCOUNT_USAGE_FIELDS`]) are changed with the update mutation of the discount's
//!   kind (`discountCodeBasicUpdate`, `…BxgyUpdate`, `…FreeShippingUpdate`, `…AppUpdate`), sending only the
//!   settings that differ from the discount's. They are the discount's, shared by all its codes.
//!
//! `priceRuleId` and `id` arrive as gids (`DiscountCodeNode`, `DiscountRedeemCode`; see [`crate::core::ids`]);
//! REST names the same records by their numbers.
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::documents::{
    CODE_DISCOUNT_BY_CODE, CODE_DISCOUNT_USAGE, DISCOUNT_BULK_CREATION, DISCOUNT_CODE_APP_UPDATE,
    DISCOUNT_CODE_BASIC_UPDATE, DISCOUNT_CODE_BXGY_UPDATE, DISCOUNT_CODE_FREE_SHIPPING_UPDATE,
    DISCOUNT_CODES_BULK_ADD,
};
use super::{call, id_of, not_found, rejection, require, succeeded, text};
use crate::core::config::{DISCOUNT_USAGE_FIELDS, SyncConfig, SyncMode};
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
    match (sync.mode, known_id.or_else(|| text(&fields, "id"))) {
        (SyncMode::Insert, Some(id)) => {
            return Ok(WriteOutcome::Skipped {
                key,
                shopify_id: Some(id),
                reason: "the code exists; mode insert never changes it".into(),
            });
        }
        (_, Some(id)) => {
            let row = key.clone();
            let renamed = rename(t, key, &discount, &id, &code).await?;
            if !matches!(renamed, WriteOutcome::Succeeded { .. }) {
                return Ok(renamed);
            }
            return Ok(set_usage(t, &row, &discount, &fields)
                .await?
                .unwrap_or(renamed));
        }
        (_, None) => {}
    }
    let found = find_by_code(t, &code).await?;
    match (sync.mode, found) {
        (_, Some((owner, _))) if owner != discount => {
            return Ok(WriteOutcome::Rejected {
                key,
                code: Some("TAKEN".into()),
                field: vec!["code".into()],
                message: format!(
                    "code {code:?} belongs to another discount ({owner}), not to {discount}"
                ),
            });
        }
        (SyncMode::Insert, Some((_, id))) => {
            return Ok(WriteOutcome::Skipped {
                key,
                shopify_id: id,
                reason: "the code exists on this discount; mode insert leaves it alone".into(),
            });
        }
        (_, Some((_, id))) => {
            return Ok(set_usage(t, &key, &discount, &fields)
                .await?
                .unwrap_or_else(|| succeeded(key, id, false)));
        }
        (SyncMode::Insert, None) => {}
        (_, None) => return Ok(not_found(&key, &format!("discount code {code:?}"))),
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

/// The code discount holding `code` (its node gid) and the redeem code's gid, if Shopify finds the code.
async fn find_by_code(
    t: &Transport,
    code: &str,
) -> Result<Option<(String, Option<String>)>, ShopifyError> {
    // A phrase, so that a code with spaces or colons is not read as search syntax.
    let search = format!("\"{}\"", code.replace('\\', "\\\\").replace('"', "\\\""));
    let node = call(
        t,
        CODE_DISCOUNT_BY_CODE,
        json!({ "code": code, "search": search }),
        "codeDiscountNodeByCode",
    )
    .await?;
    let Some(owner) = id_of(&node, "/id") else {
        return Ok(None);
    };
    let id = node
        .pointer("/codeDiscount/codes/nodes")
        .and_then(Value::as_array)
        .and_then(|nodes| {
            nodes.iter().find(|n| {
                n.get("code")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.eq_ignore_ascii_case(code))
            })
        })
        .and_then(|n| id_of(n, "/id"));
    Ok(Some((owner, id)))
}

/// Sets the usage settings the row maps on code discount `discount`; `None` when there was nothing to change or
/// Shopify took the change, else the row's rejection.
async fn set_usage(
    t: &Transport,
    key: &str,
    discount: &str,
    fields: &Map<String, Value>,
) -> Result<Option<WriteOutcome>, ShopifyError> {
    let wanted: Vec<(&str, &Value)> = DISCOUNT_USAGE_FIELDS
        .iter()
        .filter_map(|f| fields.get(*f).map(|v| (*f, v)))
        // A NULL flag sets nothing (NULL `usageLimit` is "no limit", a value of its own).
        .filter(|(f, v)| !(v.is_null() && *f == "appliesOncePerCustomer"))
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let node = call(
        t,
        CODE_DISCOUNT_USAGE,
        json!({ "id": discount }),
        "codeDiscountNode",
    )
    .await?;
    let current = node.get("codeDiscount").cloned().unwrap_or(Value::Null);
    let (document, root) = match current.get("__typename").and_then(Value::as_str) {
        Some("DiscountCodeBasic") => (DISCOUNT_CODE_BASIC_UPDATE, "discountCodeBasicUpdate"),
        Some("DiscountCodeBxgy") => (DISCOUNT_CODE_BXGY_UPDATE, "discountCodeBxgyUpdate"),
        Some("DiscountCodeFreeShipping") => (
            DISCOUNT_CODE_FREE_SHIPPING_UPDATE,
            "discountCodeFreeShippingUpdate",
        ),
        Some("DiscountCodeApp") => (DISCOUNT_CODE_APP_UPDATE, "discountCodeAppUpdate"),
        _ => return Ok(Some(not_found(key, &format!("code discount {discount}")))),
    };
    // Many codes share one discount: only a setting that differs is a write.
    let input: Map<String, Value> = wanted
        .into_iter()
        .filter(|(f, v)| current.get(*f) != Some(*v))
        .map(|(f, v)| (f.to_string(), v.clone()))
        .collect();
    if input.is_empty() {
        return Ok(None);
    }
    let payload = call(t, document, json!({ "id": discount, "input": input }), root).await?;
    Ok(rejection(key, &payload))
}

/// Renames redeem code `id` of `discount` to `code` through the REST discount-code endpoint.
async fn rename(
    t: &Transport,
    key: String,
    discount: &str,
    id: &str,
    code: &str,
) -> Result<WriteOutcome, ShopifyError> {
    let numbers = (
        crate::core::ids::parse_gid(discount),
        crate::core::ids::parse_gid(id),
    );
    let (Some((_, rule)), Some((_, code_id))) = numbers else {
        return Ok(WriteOutcome::Rejected {
            key,
            code: Some("INVALID".into()),
            field: vec!["id".into()],
            message: format!("{discount} / {id} do not name a discount and a code"),
        });
    };
    let (status, body) = t
        .rest_json(
            reqwest::Method::PUT,
            &format!("price_rules/{rule}/discount_codes/{code_id}.json"),
            Some(&json!({ "discount_code": { "id": code_id, "code": code } })),
        )
        .await?;
    match status {
        404 => Ok(not_found(
            &key,
            &format!("discount code {code_id} on price rule {rule}"),
        )),
        422 => {
            // Rails-style `{"errors": {"code": ["must be unique..."]}}`.
            let (field, messages) = body
                .get("errors")
                .and_then(Value::as_object)
                .and_then(|e| e.iter().next())
                .map(|(f, m)| {
                    let text = match m {
                        Value::Array(list) => list
                            .iter()
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join("; "),
                        Value::String(t) => t.clone(),
                        other => other.to_string(),
                    };
                    (f.clone(), text)
                })
                .unwrap_or_else(|| ("code".into(), body.to_string()));
            Ok(WriteOutcome::Rejected {
                key,
                code: Some("INVALID".into()),
                message: format!("{field} {messages}"),
                field: vec![field],
            })
        }
        _ => Ok(succeeded(
            key,
            Some(format!("gid://shopify/DiscountRedeemCode/{code_id}")),
            false,
        )),
    }
}
