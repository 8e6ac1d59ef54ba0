//! `ShopifyDestination`: a Shopify store and the credentials to write to it.
// kube's printcolumn(...) repeats keys such as type_ per column, which this lint misreads as duplicates.
#![allow(clippy::duplicated_attributes)]
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AlertSpec, SecretKeyRef};
use super::status::ShopifyDestinationStatus;

/// A Shopify store that syncs write to.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "shopsync.dev",
    version = "v1alpha1",
    kind = "ShopifyDestination",
    namespaced,
    status = "ShopifyDestinationStatus",
    shortname = "sdest",
    shortname = "shopifydest",
    category = "shopsync",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Store", type_ = "string", json_path = ".spec.store"),
    printcolumn(name = "API version", type_ = "string", json_path = ".spec.apiVersion"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("self.store.matches('^[a-z0-9][a-z0-9-]*(\\\\.myshopify\\\\.com)?$')").message("store must be the shop's myshopify name, such as acme or acme.myshopify.com").field_path(".store"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.apiVersion) || self.apiVersion in ['2026-01', '2026-04', '2026-07']").message("apiVersion must be a Shopify Admin API version shopsync supports: 2026-01, 2026-04 or 2026-07").field_path(".apiVersion"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.endpoint) || self.endpoint.matches('^https?://[^/ ]+(/.*)?$')").message("endpoint must be an http:// or https:// URL, such as https://proxy.example.com").field_path(".endpoint"))]
pub struct ShopifyDestinationSpec {
    /// The store's myshopify name, e.g. `acme` or `acme.myshopify.com`.
    #[schemars(length(min = 1, max = 255))]
    pub store: String,
    /// The Shopify Admin API version to use: 2026-01, 2026-04 or 2026-07 (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::api_version")]
    pub api_version: Option<String>,
    /// Overrides `https://{store}.myshopify.com`, e.g. for a proxy or the shopsync emulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
    /// How shopsync authenticates to the store.
    pub credentials: DestinationCredentials,
    /// Alert defaults for every sync that writes to this store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertSpec>,
}

/// Credentials of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationCredentials {
    /// The Secret key holding the Admin API access token (`shpat_...`) of a custom app installed on the store.
    pub access_token_secret_ref: SecretKeyRef,
}
