//! The destination check: who the shop is and which scopes the token holds.
use serde_json::{Value, json};

use super::documents;
use crate::shopify::{ShopifyError, Transport};

/// What the shop query tells about a store and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopInfo {
    /// The shop's name.
    pub name: String,
    /// `x.myshopify.com`.
    pub domain: String,
    /// The plan's public name, e.g. `Shopify Plus`.
    pub plan: Option<String>,
    /// The access scopes the token grants, sorted.
    pub scopes: Vec<String>,
}

impl ShopInfo {
    /// The scope groups of `required` (alternatives per group) that none of the granted scopes satisfies.
    pub fn missing<'a>(&self, required: &[&'a [&'a str]]) -> Vec<&'a [&'a str]> {
        required
            .iter()
            .filter(|alternatives| {
                !alternatives
                    .iter()
                    .any(|s| self.scopes.iter().any(|g| g == s))
            })
            .copied()
            .collect()
    }
}

/// Sends the cheap shop query (a few points) and reads the answer.
pub async fn shop_info(transport: &Transport) -> Result<ShopInfo, ShopifyError> {
    let response = transport.execute(documents::SHOP, json!({})).await?;
    let data = &response.data;
    let text = |pointer: &str| {
        data.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let name = text("/shop/name")
        .ok_or_else(|| ShopifyError::Decode("the shop query returned no shop name".into()))?;
    let mut scopes: Vec<String> = data
        .pointer("/currentAppInstallation/accessScopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("handle").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    scopes.sort();
    Ok(ShopInfo {
        name,
        domain: text("/shop/myshopifyDomain").unwrap_or_default(),
        plan: text("/shop/plan/publicDisplayName"),
        scopes,
    })
}
