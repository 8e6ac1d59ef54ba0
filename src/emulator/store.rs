//! The shop's in-memory state and everything shared between requests.
use std::collections::{BTreeMap, BTreeSet};
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
use super::index::KeyIndex;
use super::throttle::{CostBucket, RequestBucket};

/// Every resource of the shop. Maps are keyed by the numeric part of the GID.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Shop name.
    pub shop_name: String,
    /// The shop's currency (`shop.currencyCode`, the currency of its money amounts); USD when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
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
    /// Staged uploads by key (shared with the operations reading them, never copied).
    #[serde(skip)]
    pub staged: BTreeMap<String, axum::body::Bytes>,
    /// Bulk operations.
    pub bulk_operations: BTreeMap<u64, super::bulk::BulkOperation>,
    /// Customers.
    pub customers: BTreeMap<u64, Customer>,
    /// Store credit accounts by id.
    #[serde(default)]
    pub store_credit_accounts: BTreeMap<u64, super::domain::store_credit::StoreCreditAccount>,
    /// Customer ids by normalised email, kept by [`State::put_customer`] and [`State::remove_customer`]
    /// (lookups and uniqueness checks stay O(log n)).
    #[serde(skip)]
    pub customer_emails: KeyIndex,
    /// Customer ids by E.164 phone, kept as [`State::customer_emails`].
    #[serde(skip)]
    pub customer_phones: KeyIndex,
    /// Products.
    pub products: BTreeMap<u64, Product>,
    /// Product id by handle: handle lookups and uniqueness checks run once per productSet, so a bulk
    /// operation over n products stays O(n log n). Kept by [`State::put_product`] and
    /// [`State::remove_product`].
    #[serde(skip)]
    pub product_handles: KeyIndex,
    /// Product variants.
    pub variants: BTreeMap<u64, Variant>,
    /// Inventory items (one per variant).
    pub inventory_items: BTreeMap<u64, InventoryItem>,
    /// Locations.
    pub locations: BTreeMap<u64, Location>,
    /// Inventory levels, keyed by level id.
    pub levels: BTreeMap<u64, InventoryLevel>,
    /// (inventory item, location, level id) of every level: an item's levels without scanning them all.
    /// Kept by [`State::put_level`] and [`State::remove_levels_of_item`].
    #[serde(skip)]
    pub level_keys: BTreeSet<(u64, u64, u64)>,
    /// Discounts (code and automatic).
    pub discounts: BTreeMap<u64, Discount>,
    /// (ASCII-lowercased code, discount id, code id) of every redeem code: codes are unique across the shop
    /// ignoring case. Kept by [`State::put_discount`], [`State::remove_discount`] and the code helpers.
    #[serde(skip)]
    pub discount_codes: BTreeSet<(String, u64, u64)>,
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
    /// Customer segments the shop has (seeded; discounts name them).
    #[serde(default)]
    pub segments: BTreeMap<u64, super::domain::discounts::CustomerSegment>,
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
    /// The calling app's id: its reserved metafield namespace is `app--<id>` (`$app` resolves to it).
    #[serde(default = "default_app_id")]
    pub app_id: u64,
    /// Inventory transfers.
    #[serde(default)]
    pub inventory_transfers: BTreeMap<u64, super::domain::transfers::Transfer>,
    /// Inventory shipments.
    #[serde(default)]
    pub inventory_shipments: BTreeMap<u64, super::domain::transfers::Shipment>,
}

fn default_app_id() -> u64 {
    1
}

impl State {
    /// An empty shop with one default location, like a new development store.
    pub fn new() -> Self {
        let mut s = State {
            shop_name: "emulator".into(),
            next_id: 1_000_001,
            app_id: default_app_id(),
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

    /// Rebuilds every index from the records (after records were inserted directly, as seeding does).
    pub fn reindex(&mut self) {
        self.customer_emails = KeyIndex::default();
        self.customer_phones = KeyIndex::default();
        for c in self.customers.values() {
            if let Some(e) = &c.email {
                self.customer_emails.insert(e, c.id);
            }
            if let Some(p) = &c.phone {
                self.customer_phones.insert(p, c.id);
            }
        }
        self.product_handles = KeyIndex::default();
        for p in self.products.values() {
            self.product_handles.insert(&p.handle, p.id);
        }
        self.level_keys = self
            .levels
            .values()
            .map(|l| (l.item_id, l.location_id, l.id))
            .collect();
        self.discount_codes = self
            .discounts
            .values()
            .flat_map(|d| {
                d.codes
                    .iter()
                    .map(|(cid, code)| (code.to_ascii_lowercase(), d.id, *cid))
            })
            .collect();
    }

    /// The shop's currency code (USD unless seeded otherwise).
    pub fn currency(&self) -> &str {
        self.currency_code.as_deref().unwrap_or("USD")
    }

    /// (discount id, code id) of every redeem code equal to `code` ignoring ASCII case, lowest discount first.
    pub fn discount_code_holders(&self, code: &str) -> Vec<(u64, u64)> {
        let key = code.to_ascii_lowercase();
        self.discount_codes
            .range((key.clone(), 0, 0)..=(key, u64::MAX, u64::MAX))
            .map(|(_, d, c)| (*d, *c))
            .collect()
    }

    /// Stores `d` (new or changed), keeping the code index.
    pub fn put_discount(&mut self, d: Discount) {
        if let Some(old) = self.discounts.get(&d.id) {
            for (cid, code) in &old.codes {
                self.discount_codes
                    .remove(&(code.to_ascii_lowercase(), old.id, *cid));
            }
        }
        for (cid, code) in &d.codes {
            self.discount_codes
                .insert((code.to_ascii_lowercase(), d.id, *cid));
        }
        self.discounts.insert(d.id, d);
    }

    /// Removes a discount, keeping the code index.
    pub fn remove_discount(&mut self, id: u64) -> Option<Discount> {
        let d = self.discounts.remove(&id)?;
        for (cid, code) in &d.codes {
            self.discount_codes
                .remove(&(code.to_ascii_lowercase(), id, *cid));
        }
        Some(d)
    }

    /// Adds redeem code `cid` to discount `did` (nothing happens when the discount does not exist).
    pub fn add_discount_code(&mut self, did: u64, cid: u64, code: String) {
        if let Some(d) = self.discounts.get_mut(&did) {
            self.discount_codes
                .insert((code.to_ascii_lowercase(), did, cid));
            d.codes.push((cid, code));
        }
    }

    /// Gives redeem code `cid` of discount `did` a new text.
    pub fn rename_discount_code(&mut self, did: u64, cid: u64, code: String) {
        if let Some(d) = self.discounts.get_mut(&did)
            && let Some(entry) = d.codes.iter_mut().find(|(c, _)| *c == cid)
        {
            self.discount_codes
                .remove(&(entry.1.to_ascii_lowercase(), did, cid));
            self.discount_codes
                .insert((code.to_ascii_lowercase(), did, cid));
            entry.1 = code;
        }
    }

    /// Removes the redeem codes of discount `did` whose ids are in `ids`.
    pub fn remove_discount_codes(&mut self, did: u64, ids: &[u64]) {
        if let Some(d) = self.discounts.get_mut(&did) {
            for (cid, code) in d.codes.iter().filter(|(c, _)| ids.contains(c)) {
                self.discount_codes
                    .remove(&(code.to_ascii_lowercase(), did, *cid));
            }
            d.codes.retain(|(id, _)| !ids.contains(id));
        }
    }

    /// Whether every index says what rebuilding it from the records would (tests check this after each
    /// kind of change).
    pub fn indexes_consistent(&self) -> bool {
        let mut fresh = State {
            customers: self.customers.clone(),
            products: self.products.clone(),
            levels: self.levels.clone(),
            discounts: self.discounts.clone(),
            ..State::default()
        };
        fresh.reindex();
        fresh.customer_emails == self.customer_emails
            && fresh.customer_phones == self.customer_phones
            && fresh.product_handles == self.product_handles
            && fresh.level_keys == self.level_keys
            && fresh.discount_codes == self.discount_codes
    }

    /// The product with exactly this handle, if any (the lowest id when seeded data holds it twice).
    pub fn product_by_handle(&self, handle: &str) -> Option<u64> {
        self.product_handles.first(handle)
    }

    /// Stores `p` (new or changed), keeping the handle index.
    pub fn put_product(&mut self, p: Product) {
        if let Some(old) = self.products.get(&p.id) {
            self.product_handles.remove(&old.handle, p.id);
        }
        self.product_handles.insert(&p.handle, p.id);
        self.products.insert(p.id, p);
    }

    /// Removes a product, keeping the handle index.
    pub fn remove_product(&mut self, id: u64) -> Option<Product> {
        let p = self.products.remove(&id)?;
        self.product_handles.remove(&p.handle, id);
        Some(p)
    }

    /// The customer holding `email` (normalised), if any (the lowest id when seeded data holds it twice).
    pub fn customer_by_email(&self, email: &str) -> Option<u64> {
        self.customer_emails.first(email)
    }

    /// The customer holding `phone` (E.164), if any.
    pub fn customer_by_phone(&self, phone: &str) -> Option<u64> {
        self.customer_phones.first(phone)
    }

    /// Stores `c` (new or changed), keeping the email and phone indexes.
    pub fn put_customer(&mut self, c: Customer) {
        if let Some(old) = self.customers.get(&c.id) {
            if let Some(e) = &old.email {
                self.customer_emails.remove(e, c.id);
            }
            if let Some(p) = &old.phone {
                self.customer_phones.remove(p, c.id);
            }
        }
        if let Some(e) = &c.email {
            self.customer_emails.insert(e, c.id);
        }
        if let Some(p) = &c.phone {
            self.customer_phones.insert(p, c.id);
        }
        self.customers.insert(c.id, c);
    }

    /// Removes a customer, keeping the email and phone indexes.
    pub fn remove_customer(&mut self, id: u64) -> Option<Customer> {
        let c = self.customers.remove(&id)?;
        if let Some(e) = &c.email {
            self.customer_emails.remove(e, id);
        }
        if let Some(p) = &c.phone {
            self.customer_phones.remove(p, id);
        }
        Some(c)
    }

    /// Stores a new level, keeping the (item, location) index. Levels never move to another item or
    /// location once stored.
    pub fn put_level(&mut self, level: InventoryLevel) {
        if let Some(old) = self.levels.get(&level.id) {
            self.level_keys
                .remove(&(old.item_id, old.location_id, old.id));
        }
        self.level_keys
            .insert((level.item_id, level.location_id, level.id));
        self.levels.insert(level.id, level);
    }

    /// The level of `item` at `location` (the lowest id should seeded data hold two).
    pub fn level_at(&self, item: u64, location: u64) -> Option<u64> {
        self.level_keys
            .range((item, location, 0)..=(item, location, u64::MAX))
            .next()
            .map(|k| k.2)
    }

    /// Ids of `item`'s levels, in id order (the order the store lists them in).
    pub fn level_ids_of_item(&self, item: u64) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .level_keys
            .range((item, 0, 0)..=(item, u64::MAX, u64::MAX))
            .map(|k| k.2)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// `item`'s levels, in id order.
    pub fn levels_of_item(&self, item: u64) -> impl Iterator<Item = &InventoryLevel> {
        self.level_ids_of_item(item)
            .into_iter()
            .filter_map(|id| self.levels.get(&id))
    }

    /// Removes every level of `item`.
    pub fn remove_levels_of_item(&mut self, item: u64) {
        for id in self.level_ids_of_item(item) {
            if let Some(l) = self.levels.remove(&id) {
                self.level_keys.remove(&(l.item_id, l.location_id, l.id));
            }
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
    /// When non-empty, the request faults above (`error_rate`, `drop_rate`, `drop_after_apply_rate`,
    /// `timeout_after_apply_ms`, `latency_ms`) strike only GraphQL requests with one of these root fields (e.g.
    /// `bulkOperationRunMutation`), and no REST request.
    pub operations: Vec<String>,
}

impl Faults {
    /// Whether the request faults strike a request whose root fields are `fields` (`None`: a REST request).
    pub fn strike(&self, fields: Option<&[String]>) -> bool {
        self.operations.is_empty()
            || fields.is_some_and(|f| f.iter().any(|name| self.operations.contains(name)))
    }
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
