//! The shop's in-memory state and everything shared between requests.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clock::Clock;
use super::config::EmulatorConfig;
use super::domain::customers::Customer;
use super::domain::discounts::{BulkCreation, Discount};
use super::domain::fulfillment::{Fulfillment, FulfillmentEvent, FulfillmentOrder, Order};
use super::domain::inventory::{InventoryItem, InventoryLevel, Location};
use super::domain::products::{Product, Variant};
use super::throttle::{CostBucket, RequestBucket};

/// Every resource of the shop. Maps are keyed by the numeric part of the GID.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Shop name.
    pub shop_name: String,
    /// The plan's display name (`shop.plan`), set from the emulator's plan at start.
    #[serde(skip)]
    pub plan_name: String,
    /// Access scopes granted to the calling app (`currentAppInstallation.accessScopes`); absent means every
    /// scope shopsync can use, as a custom app configured for it would have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_scopes: Option<Vec<String>>,
    /// Next numeric id to hand out (shared by all resource types, like a database sequence).
    pub next_id: u64,
    /// Bumped by every change; the write counter compares it around each mutation.
    pub revision: u64,
    /// Current time of the request being served (set by the pipeline; not part of the shop).
    #[serde(skip)]
    pub now: Option<DateTime<Utc>>,
    /// API version of the request being served (not part of the shop).
    #[serde(skip)]
    pub api_version: Option<crate::core::config::ApiVersion>,
    /// The emulator's own base URL, for staged-upload targets and result files.
    #[serde(skip)]
    pub base_url: String,
    /// Staged uploads by key.
    #[serde(skip)]
    pub staged: BTreeMap<String, Vec<u8>>,
    /// Bulk operations.
    pub bulk_operations: BTreeMap<u64, super::bulk::BulkOperation>,
    /// Customers.
    pub customers: BTreeMap<u64, Customer>,
    /// Customer id by normalised email and by E.164 phone (uniqueness checks stay O(log n)).
    #[serde(skip)]
    pub customer_keys: BTreeMap<String, u64>,
    /// Products.
    pub products: BTreeMap<u64, Product>,
    /// Product id by handle: handle lookups and uniqueness checks run once per productSet, so a bulk
    /// operation over n products stays O(n log n). Kept by [`State::put_product`] and
    /// [`State::remove_product`].
    #[serde(skip)]
    pub product_handles: BTreeMap<String, u64>,
    /// Product variants.
    pub variants: BTreeMap<u64, Variant>,
    /// Inventory items (one per variant).
    pub inventory_items: BTreeMap<u64, InventoryItem>,
    /// Locations.
    pub locations: BTreeMap<u64, Location>,
    /// Inventory levels, keyed by level id.
    pub levels: BTreeMap<u64, InventoryLevel>,
    /// Discounts (code and automatic).
    pub discounts: BTreeMap<u64, Discount>,
    /// Metafield definitions.
    #[serde(default)]
    pub metafield_definitions: Vec<super::domain::metafields::MetafieldDefinition>,
    /// Metafields of owners that do not keep their own list (the shop, variants, locations, orders, ...),
    /// by the owner's GID.
    #[serde(default)]
    pub owner_metafields: BTreeMap<String, Vec<Value>>,
    /// Taxonomy categories the emulator knows (products name one as `category`).
    #[serde(default)]
    pub taxonomy: Vec<super::domain::products::TaxonomyCategory>,
    /// Shopify Functions deployed on the shop (app discounts name one by id or handle).
    #[serde(default)]
    pub functions: Vec<super::domain::discounts::ShopifyFunction>,
    /// Redeem-code bulk creations.
    pub bulk_creations: BTreeMap<u64, BulkCreation>,
    /// Orders.
    pub orders: BTreeMap<u64, Order>,
    /// Fulfillment orders.
    pub fulfillment_orders: BTreeMap<u64, FulfillmentOrder>,
    /// Fulfillments.
    pub fulfillments: BTreeMap<u64, Fulfillment>,
    /// Fulfillment events.
    pub fulfillment_events: BTreeMap<u64, FulfillmentEvent>,
    /// Asynchronous product deletions still running: product id -> (operation id, when it finishes).
    #[serde(default)]
    pub pending_product_deletes: BTreeMap<u64, (u64, DateTime<Utc>)>,
    /// Asynchronous product operations, as their GraphQL objects.
    pub operations: BTreeMap<u64, Value>,
    /// Idempotency keys seen on inventory mutations: key -> (arguments fingerprint, stored response).
    pub idempotency: BTreeMap<String, (String, Value)>,
}

impl State {
    /// An empty shop with one default location, like a new development store.
    pub fn new() -> Self {
        let mut s = State {
            shop_name: "emulator".into(),
            next_id: 1_000_001,
            ..State::default()
        };
        let id = s.next_id();
        s.locations.insert(id, Location::new(id, "Shop location"));
        s
    }

    /// Hands out the next numeric id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Rebuilds [`State::customer_keys`] from the customers.
    pub fn reindex_customers(&mut self) {
        self.customer_keys = self
            .customers
            .values()
            .flat_map(|c| {
                [
                    c.email.clone().map(|e| (format!("e:{e}"), c.id)),
                    c.phone.clone().map(|p| (format!("p:{p}"), c.id)),
                ]
            })
            .flatten()
            .collect();
    }

    /// Rebuilds [`State::product_handles`] from the products.
    pub fn reindex_products(&mut self) {
        let mut index = BTreeMap::new();
        for p in self.products.values() {
            index.entry(p.handle.clone()).or_insert(p.id);
        }
        self.product_handles = index;
    }

    /// The product with exactly this handle, if any.
    pub fn product_by_handle(&self, handle: &str) -> Option<u64> {
        self.product_handles.get(handle).copied()
    }

    /// Stores `p` (new or changed), keeping the handle index.
    pub fn put_product(&mut self, p: Product) {
        if let Some(old) = self.products.get(&p.id)
            && old.handle != p.handle
            && self.product_handles.get(&old.handle) == Some(&p.id)
        {
            let old = old.handle.clone();
            self.product_handles.remove(&old);
        }
        self.product_handles.entry(p.handle.clone()).or_insert(p.id);
        self.products.insert(p.id, p);
    }

    /// Removes a product, keeping the handle index.
    pub fn remove_product(&mut self, id: u64) -> Option<Product> {
        let p = self.products.remove(&id)?;
        if self.product_handles.get(&p.handle) == Some(&id) {
            self.product_handles.remove(&p.handle);
            // Another product may hold the same handle (seeded data); it takes the index entry.
            if let Some(other) = self.products.values().find(|o| o.handle == p.handle) {
                self.product_handles.insert(other.handle.clone(), other.id);
            }
        }
        Some(p)
    }

    /// The customer holding `email` (normalised) or `phone` (E.164), if any.
    pub fn customer_by_key(&self, email: Option<&str>, phone: Option<&str>) -> Option<u64> {
        match (email, phone) {
            (Some(e), _) => self.customer_keys.get(&format!("e:{e}")).copied(),
            (None, Some(p)) => self.customer_keys.get(&format!("p:{p}")).copied(),
            _ => None,
        }
    }

    /// Records that the state changed.
    pub fn touch(&mut self) {
        self.revision += 1;
    }

    /// The request time as Shopify prints it (`2026-07-04T23:37:19Z`).
    pub fn now_str(&self) -> String {
        self.now
            .unwrap_or_else(Utc::now)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// Fault injection settings, changed through `/__emulator/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fraction (0..1) of API requests answered with a 5xx.
    pub error_rate: f64,
    /// Extra latency added to every API request, in milliseconds.
    pub latency_ms: u64,
    /// Fraction (0..1) of API requests whose connection is dropped mid-answer, before they are applied.
    pub drop_rate: f64,
    /// Fraction (0..1) of API requests that are applied and whose connection then dies before the answer:
    /// the write happened, the client cannot know it.
    pub drop_after_apply_rate: f64,
    /// When non-zero, every API request is applied and its answer held back this long (milliseconds), so a
    /// client whose timeout is shorter gives up on a write that happened.
    pub timeout_after_apply_ms: u64,
    /// When set, every GraphQL request is THROTTLED (the bucket is kept empty).
    pub force_throttle: bool,
    /// When set, bulk mutation operations started from then on fail (`FAILED`, `INTERNAL_SERVER_ERROR`)
    /// after this many lines, with those lines' results as partial data.
    pub bulk_fail_after_lines: Option<u64>,
    /// Time each line of a bulk mutation operation takes, in milliseconds (operations stay RUNNING longer).
    pub bulk_line_delay_ms: u64,
}

/// Whether the shop answers normally.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ShopStatus {
    /// Normal.
    #[default]
    Active,
    /// 423 Locked.
    Locked,
    /// 402 Payment Required ("Unavailable Shop").
    Frozen,
}

/// Mutable per-shop data behind one lock (requests are short and never await while holding it).
#[derive(Debug)]
pub struct Inner {
    /// Resources.
    pub state: State,
    /// GraphQL leaky bucket.
    pub bucket: CostBucket,
    /// REST leaky bucket.
    pub rest: RequestBucket,
    /// Fault injection.
    pub faults: Faults,
    /// Mutations that changed state.
    pub writes: u64,
    /// Locked/frozen switch.
    pub status: ShopStatus,
    /// Whether buckets are charged.
    pub throttling: bool,
    /// The state seeded at start, restored by reset.
    pub baseline: State,
}

/// What all request handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Static settings.
    pub config: EmulatorConfig,
    /// Injectable clock.
    pub clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl Shared {
    /// A shop with `state` as its baseline.
    pub fn new(config: EmulatorConfig, clock: Arc<dyn Clock>, state: State) -> Self {
        let now = clock.elapsed();
        let plan = config.plan;
        let inner = Inner {
            baseline: state.clone(),
            state,
            bucket: CostBucket::new(plan.bucket_size(), plan.restore_rate(), now),
            rest: RequestBucket::new(40, plan.rest_leak_rate(), now),
            faults: Faults::default(),
            writes: 0,
            status: ShopStatus::Active,
            throttling: config.throttling,
        };
        Shared {
            config,
            clock,
            inner: Mutex::new(inner),
        }
    }

    /// Locks the shop. A poisoned lock is recovered: every handler leaves the state consistent between steps.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restores the baseline state, full buckets, no faults, zero writes.
    pub fn reset(&self) {
        let now = self.clock.elapsed();
        let plan = self.config.plan;
        let mut g = self.lock();
        g.state = g.baseline.clone();
        g.bucket = CostBucket::new(plan.bucket_size(), plan.restore_rate(), now);
        g.rest = RequestBucket::new(40, plan.rest_leak_rate(), now);
        g.faults = Faults::default();
        g.writes = 0;
        g.status = ShopStatus::Active;
    }
}
