//! Seed fixtures (YAML or JSON): shop, locations, customers, products, orders with fulfillment orders,
//! discounts. Everything gets fresh GIDs; records refer to each other by name/handle/sku.
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use super::domain::customers::{Customer, normalize_email, normalize_phone, normalize_tags};
use super::domain::discounts::Discount;
use super::domain::fulfillment::{Fulfillment, FulfillmentOrder, LineItem, Order};
use super::domain::inventory::{InventoryItem, InventoryLevel, Location};
use super::domain::products::{Product, Variant};
use super::error::EmulatorError;
use super::store::State;

/// A seed fixture.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fixture {
    /// Shop settings.
    pub shop: Option<ShopSeed>,
    /// Locations, by name or `{id, name}` (the first is the default; "Shop location" exists when none is given).
    pub locations: Vec<LocationSeed>,
    /// Customers.
    pub customers: Vec<CustomerSeed>,
    /// Products.
    pub products: Vec<ProductSeed>,
    /// Orders.
    pub orders: Vec<OrderSeed>,
    /// Code discounts (the GraphQL equivalent of a price rule with its codes).
    pub discounts: Vec<DiscountSeed>,
    /// Customer segments the shop has (discounts name them in their buyer context).
    pub segments: Vec<super::domain::discounts::CustomerSegment>,
    /// Shopify Functions deployed on the shop (for app discounts).
    pub functions: Vec<super::domain::discounts::ShopifyFunction>,
    /// Taxonomy categories products may name.
    pub taxonomy_categories: Vec<super::domain::products::TaxonomyCategory>,
    /// Bulk operations the shop already has (a running one blocks a new bulk mutation).
    pub bulk_operations: Vec<BulkOperationSeed>,
}

/// A bulk operation that exists before the emulator starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulkOperationSeed {
    /// Numeric id (the GID tail).
    pub id: Option<u64>,
    /// `BulkOperationStatus`; CREATED is taken as RUNNING (it was already picked up by the shop).
    pub status: Option<String>,
    /// QUERY or MUTATION.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The operation's query or mutation.
    pub query: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
}

/// A location: a name, or an explicit numeric id and name (to mirror a recorded store).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LocationSeed {
    /// Just a name; the id is allocated.
    Name(String),
    /// Explicit id and name.
    WithId {
        /// Numeric id (the GID tail).
        id: u64,
        /// Name.
        name: String,
        /// The handle of the calling app's fulfillment service this location belongs to (Shopify gives each
        /// service a location); absent for the merchant's own locations.
        #[serde(default)]
        fulfillment_service: Option<String>,
    },
}

/// Shop settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopSeed {
    /// Shop name.
    pub name: Option<String>,
    /// The calling app's id (its reserved metafield namespace is `app--<id>`).
    pub app_id: Option<u64>,
    /// The shop's currency code (USD when absent).
    pub currency_code: Option<String>,
}

/// A customer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerSeed {
    /// Explicit numeric id (to mirror a recorded store).
    pub id: Option<u64>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether the customer has orders (blocks deletion).
    pub has_orders: bool,
    /// Tax exempt flag.
    pub tax_exempt: bool,
    /// Tax exemptions (`TaxExemption` values).
    pub tax_exemptions: Vec<String>,
    /// Note.
    pub note: Option<String>,
    /// Addresses as `MailingAddress` objects (with their `id`), in order.
    pub addresses: Vec<serde_json::Value>,
    /// Gid of the default address.
    pub default_address_id: Option<String>,
    /// Email marketing consent as read (`defaultEmailAddress`: marketingState, marketingOptInLevel,
    /// marketingUpdatedAt).
    pub email_consent: Option<serde_json::Value>,
    /// SMS marketing consent as read (`defaultPhoneNumber`: the same plus marketingCollectedFrom).
    pub sms_consent: Option<serde_json::Value>,
}

/// A product.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProductSeed {
    /// Explicit numeric id (to mirror a recorded store).
    pub id: Option<u64>,
    /// Title.
    pub title: String,
    /// Handle (derived from the title when absent).
    pub handle: Option<String>,
    /// ACTIVE, DRAFT or ARCHIVED.
    pub status: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Variants (one default variant when empty).
    pub variants: Vec<VariantSeed>,
}

/// A variant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VariantSeed {
    /// Explicit numeric id (to mirror a recorded store).
    pub id: Option<u64>,
    /// Whether the inventory item tracks quantities (true by default).
    pub tracked: Option<bool>,
    /// SKU.
    pub sku: Option<String>,
    /// Price.
    pub price: Option<String>,
    /// Option value for the product's single "Title" option.
    pub option: Option<String>,
    /// Available quantity per location name.
    pub inventory: std::collections::BTreeMap<String, i64>,
    /// Explicit numeric id of the variant's inventory item (to give a warehouse stable ids to refer to).
    pub inventory_item_id: Option<u64>,
}

/// An order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderSeed {
    /// Explicit numeric id (to mirror a recorded store).
    pub id: Option<u64>,
    /// Name, e.g. `#1001`.
    pub name: Option<String>,
    /// Line items.
    pub line_items: Vec<LineItemSeed>,
    /// Fulfillment orders (one OPEN FO at the first location covering every line when empty).
    pub fulfillment_orders: Vec<FulfillmentOrderSeed>,
    /// Fulfillments (by status).
    pub fulfillments: Vec<FulfillmentSeed>,
}

/// A line item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineItemSeed {
    /// Title.
    pub title: String,
    /// Quantity.
    pub quantity: i64,
    /// SKU.
    pub sku: Option<String>,
}

/// A fulfillment order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FulfillmentOrderSeed {
    /// Explicit numeric id.
    pub id: Option<u64>,
    /// Explicit ids of its line items, in the order of `line_items`.
    pub line_item_ids: Vec<u64>,
    /// Quantities of its line items, in the order of `line_items` (the order line's quantity when absent).
    pub quantities: Vec<i64>,
    /// Location id (wins over `location`).
    pub location_id: Option<u64>,
    /// Location name (first location when absent).
    pub location: Option<String>,
    /// Status (OPEN by default; SCHEDULED, IN_PROGRESS, ON_HOLD, CLOSED, ...).
    pub status: Option<String>,
    /// Request status (UNSUBMITTED by default).
    pub request_status: Option<String>,
    /// Indices of the order's line items it covers (all when empty).
    pub line_items: Vec<usize>,
    /// For SCHEDULED FOs.
    pub fulfill_at: Option<String>,
}

/// A fulfillment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FulfillmentSeed {
    /// Explicit numeric id.
    pub id: Option<u64>,
    /// SUCCESS (default) or CANCELLED.
    pub status: Option<String>,
}

/// A basic code discount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscountSeed {
    /// Explicit numeric id of the code discount (`gid://shopify/DiscountCodeNode/<id>`).
    pub id: Option<u64>,
    /// Title.
    pub title: String,
    /// Redeem codes: the code, or `{id, code}` to give it a known id (as a recorded store has).
    pub codes: Vec<CodeSeed>,
    /// Start (defaults to seeding time).
    pub starts_at: Option<String>,
    /// Percentage 0..1.
    pub percentage: Option<f64>,
}

/// A redeem code of a seeded discount.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CodeSeed {
    /// Just the code; the id is allocated.
    Code(String),
    /// Explicit id and code.
    WithId {
        /// Numeric id (`gid://shopify/DiscountRedeemCode/<id>`).
        id: u64,
        /// The code.
        code: String,
    },
}

impl Fixture {
    /// Parses JSON or YAML; `source` names the file or request in errors.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Fixture, EmulatorError> {
        let err = |message: String| EmulatorError::Seed {
            source_name: source.to_string(),
            message,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| err(e.to_string()))
        } else {
            serde_yaml::from_str(text).map_err(|e| err(e.to_string()))
        }
    }

    /// Builds the shop state this fixture describes.
    pub fn build(&self, now: DateTime<Utc>) -> Result<State, EmulatorError> {
        let err = |message: String| EmulatorError::Seed {
            source_name: "fixture".into(),
            message,
        };
        let now_s = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut st = State::new();
        if let Some(name) = self.shop.as_ref().and_then(|s| s.name.clone()) {
            st.shop_name = name;
        }
        if let Some(c) = self.shop.as_ref().and_then(|s| s.currency_code.clone()) {
            st.currency_code = Some(c);
        }
        if let Some(id) = self.shop.as_ref().and_then(|s| s.app_id) {
            st.app_id = id;
        }
        if !self.locations.is_empty() {
            st.locations.clear();
            for l in &self.locations {
                let (id, name, service) = match l {
                    LocationSeed::Name(n) => (st.next_id(), n.clone(), None),
                    LocationSeed::WithId {
                        id,
                        name,
                        fulfillment_service,
                    } => (*id, name.clone(), fulfillment_service.clone()),
                };
                let mut location = Location::new(id, &name);
                location.fulfillment_service = service;
                st.locations.insert(id, location);
            }
        }
        let location_id = |st: &State, name: Option<&str>| -> Result<u64, EmulatorError> {
            match name {
                None => st
                    .locations
                    .keys()
                    .next()
                    .copied()
                    .ok_or_else(|| err("no location".into())),
                Some(n) => st
                    .locations
                    .values()
                    .find(|l| l.name == n)
                    .map(|l| l.id)
                    .ok_or_else(|| err(format!("unknown location `{n}`"))),
            }
        };
        for (i, c) in self.customers.iter().enumerate() {
            let id = c.id.unwrap_or_else(|| st.next_id());
            let phone = match &c.phone {
                Some(p) => Some(normalize_phone(p).ok_or_else(|| {
                    err(format!("customers[{i}].phone `{p}` is not a phone number"))
                })?),
                None => None,
            };
            st.customers.insert(
                id,
                Customer {
                    id,
                    email: c.email.as_deref().map(normalize_email),
                    phone,
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    tags: normalize_tags(
                        &c.tags
                            .iter()
                            .map(|t| serde_json::json!(t))
                            .collect::<Vec<_>>(),
                    ),
                    locale: "en".into(),
                    has_orders: c.has_orders,
                    tax_exempt: c.tax_exempt,
                    tax_exemptions: c.tax_exemptions.clone(),
                    note: c.note.clone(),
                    addresses: c
                        .addresses
                        .iter()
                        .filter(|a| a.get("id").is_some_and(serde_json::Value::is_string))
                        .map(super::domain::addresses::stored)
                        .collect(),
                    email_consent: c
                        .email_consent
                        .as_ref()
                        .and_then(super::domain::consent::from_read),
                    sms_consent: c
                        .sms_consent
                        .as_ref()
                        .and_then(super::domain::consent::from_read),
                    default_address: c
                        .default_address_id
                        .as_deref()
                        .and_then(|g| {
                            super::domain::parse_gid(Some(&serde_json::json!(g)), "MailingAddress")
                        })
                        .or_else(|| {
                            c.addresses.first().and_then(|a| {
                                super::domain::parse_gid(a.get("id"), "MailingAddress")
                            })
                        }),
                    created_at: now_s.clone(),
                    updated_at: now_s.clone(),
                    ..Customer::default()
                },
            );
        }
        for (pi, p) in self.products.iter().enumerate() {
            let pid = p.id.unwrap_or_else(|| st.next_id());
            let handle = p
                .handle
                .clone()
                .unwrap_or_else(|| super::domain::products::handleize(&p.title));
            let seeds = if p.variants.is_empty() {
                vec![VariantSeed::default()]
            } else {
                p.variants.clone()
            };
            let mut variant_ids = Vec::new();
            let mut values = Vec::new();
            for (vi, v) in seeds.iter().enumerate() {
                let vid = v.id.unwrap_or_else(|| st.next_id());
                let iid = v.inventory_item_id.unwrap_or_else(|| st.next_id());
                let value = v.option.clone().unwrap_or_else(|| {
                    if seeds.len() == 1 {
                        "Default Title".into()
                    } else {
                        format!("Option {}", vi + 1)
                    }
                });
                values.push(value.clone());
                st.variants.insert(
                    vid,
                    Variant {
                        id: vid,
                        product_id: pid,
                        title: value.clone(),
                        price: v.price.clone().unwrap_or_else(|| "0.00".into()),
                        sku: v.sku.clone(),
                        options: vec![("Title".into(), value)],
                        inventory_item_id: iid,
                        inventory_policy: "DENY".into(),
                        taxable: true,
                        position: vi as u32 + 1,
                        ..Variant::default()
                    },
                );
                st.inventory_items.insert(
                    iid,
                    InventoryItem {
                        id: iid,
                        variant_id: vid,
                        sku: v.sku.clone(),
                        tracked: v.tracked.unwrap_or(true),
                        requires_shipping: true,
                        ..InventoryItem::default()
                    },
                );
                for (loc, qty) in &v.inventory {
                    let lid = location_id(&st, Some(loc)).map_err(|_| {
                        err(format!(
                            "products[{pi}].variants[{vi}].inventory: unknown location `{loc}`"
                        ))
                    })?;
                    let level = st.next_id();
                    st.levels.insert(
                        level,
                        InventoryLevel {
                            id: level,
                            item_id: iid,
                            location_id: lid,
                            available: *qty,
                            on_hand: *qty,
                            updated_at: now_s.clone(),
                            ..Default::default()
                        },
                    );
                }
                variant_ids.push(vid);
            }
            st.products.insert(
                pid,
                Product {
                    id: pid,
                    title: p.title.clone(),
                    handle,
                    status: p.status.clone().unwrap_or_else(|| "ACTIVE".into()),
                    vendor: p.vendor.clone().unwrap_or_default(),
                    options: vec![("Title".into(), values)],
                    variant_ids,
                    created_at: now_s.clone(),
                    updated_at: now_s.clone(),
                    ..Product::default()
                },
            );
        }
        for (oi, o) in self.orders.iter().enumerate() {
            let oid = o.id.unwrap_or_else(|| st.next_id());
            let mut lines = Vec::new();
            for l in &o.line_items {
                lines.push(LineItem {
                    id: st.next_id(),
                    title: l.title.clone(),
                    quantity: l.quantity,
                    sku: l.sku.clone(),
                });
            }
            let fos = if o.fulfillment_orders.is_empty() {
                vec![FulfillmentOrderSeed::default()]
            } else {
                o.fulfillment_orders.clone()
            };
            for (fi, f) in fos.iter().enumerate() {
                let fid = f.id.unwrap_or_else(|| st.next_id());
                let lid = match f.location_id {
                    Some(id) if st.locations.contains_key(&id) => Ok(id),
                    Some(id) => Err(err(format!("unknown location id {id}"))),
                    None => location_id(&st, f.location.as_deref()),
                }
                .map_err(|e| err(format!("orders[{oi}].fulfillment_orders[{fi}]: {e}")))?;
                let idx: Vec<usize> = if f.line_items.is_empty() {
                    (0..lines.len()).collect()
                } else {
                    f.line_items.clone()
                };
                let mut fo_lines = Vec::new();
                for (pos, i) in idx.into_iter().enumerate() {
                    let l = lines.get(i).ok_or_else(|| {
                        err(format!(
                            "orders[{oi}].fulfillment_orders[{fi}].line_items: no line item {i}"
                        ))
                    })?;
                    // Explicit ids mirror a recorded store; the rest are allocated.
                    let line_id = match f.line_item_ids.get(pos) {
                        Some(id) => *id,
                        None => st.next_id(),
                    };
                    let qty = f.quantities.get(pos).copied().unwrap_or(l.quantity);
                    fo_lines.push((line_id, l.id, qty, qty));
                }
                st.fulfillment_orders.insert(
                    fid,
                    FulfillmentOrder {
                        id: fid,
                        order_id: oid,
                        location_id: lid,
                        status: f.status.clone().unwrap_or_else(|| "OPEN".into()),
                        request_status: f
                            .request_status
                            .clone()
                            .unwrap_or_else(|| "UNSUBMITTED".into()),
                        line_items: fo_lines,
                        fulfill_at: f.fulfill_at.clone(),
                        created_at: now_s.clone(),
                        updated_at: now_s.clone(),
                        ..FulfillmentOrder::default()
                    },
                );
            }
            for f in &o.fulfillments {
                let id = f.id.unwrap_or_else(|| st.next_id());
                let status = f.status.clone().unwrap_or_else(|| "SUCCESS".into());
                let display = if status == "CANCELLED" {
                    "CANCELED"
                } else {
                    "FULFILLED"
                };
                st.fulfillments.insert(
                    id,
                    Fulfillment {
                        id,
                        order_id: oid,
                        status,
                        display_status: display.into(),
                        created_at: now_s.clone(),
                        ..Fulfillment::default()
                    },
                );
            }
            st.orders.insert(
                oid,
                Order {
                    id: oid,
                    name: o.name.clone().unwrap_or_else(|| format!("#{}", 1001 + oi)),
                    line_items: lines,
                },
            );
        }
        for d in &self.discounts {
            let id = d.id.unwrap_or_else(|| st.next_id());
            let codes = d
                .codes
                .iter()
                .map(|c| match c {
                    CodeSeed::Code(code) => (st.next_id(), code.clone()),
                    CodeSeed::WithId { id, code } => (*id, code.clone()),
                })
                .collect();
            st.discounts.insert(
                id,
                Discount {
                    id,
                    title: d.title.clone(),
                    starts_at: Some(d.starts_at.clone().unwrap_or_else(|| now_s.clone())),
                    status: "ACTIVE".into(),
                    input: serde_json::json!({"customerGets": {"value": {"percentage": d.percentage.unwrap_or(0.1)}, "items": {"all": true}}}),
                    codes,
                    created_at: now_s.clone(),
                    ..Discount::default()
                },
            );
        }
        st.functions = self.functions.clone();
        st.segments = self.segments.iter().map(|s| (s.id, s.clone())).collect();
        st.taxonomy = self.taxonomy_categories.clone();
        for b in &self.bulk_operations {
            let id = b.id.unwrap_or_else(|| st.next_id());
            let status = match b.status.as_deref() {
                None | Some("CREATED") => "RUNNING".to_string(),
                Some(s) => s.to_string(),
            };
            let done = super::bulk::is_terminal(&status);
            st.bulk_operations.insert(
                id,
                super::bulk::BulkOperation {
                    id,
                    status,
                    kind: b.kind.clone().unwrap_or_else(|| "MUTATION".into()),
                    query: b.query.clone().unwrap_or_default(),
                    created_at: b.created_at.clone().unwrap_or_else(|| now_s.clone()),
                    completed_at: done.then(|| now_s.clone()),
                    ..Default::default()
                },
            );
        }
        st.reindex();
        // Explicit ids may sit above the sequence; keep new ids clear of them.
        let max = [
            st.orders.keys().max(),
            st.fulfillment_orders.keys().max(),
            st.fulfillments.keys().max(),
            st.locations.keys().max(),
            st.customers.keys().max(),
            st.products.keys().max(),
            st.variants.keys().max(),
            st.inventory_items.keys().max(),
            st.bulk_operations.keys().max(),
            st.fulfillment_orders
                .values()
                .flat_map(|f| f.line_items.iter().map(|l| &l.0))
                .max(),
        ]
        .into_iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
        st.next_id = st.next_id.max(max + 1);
        Ok(st)
    }
}
