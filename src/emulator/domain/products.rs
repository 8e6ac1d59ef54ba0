//! Products, variants and options.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::inventory::{InventoryItem, InventoryLevel, apply_item_input, level_json};
use super::{FieldError, RootCtx, coded_error, gid, parse_gid, path, reference, user_error};
use crate::emulator::store::State;

/// A stored product.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Product {
    /// Numeric id.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Unique handle.
    pub handle: String,
    /// Status (ACTIVE, ARCHIVED, DRAFT).
    pub status: String,
    /// Vendor.
    pub vendor: String,
    /// Product type.
    pub product_type: String,
    /// HTML description.
    pub description_html: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Options: (name, values).
    pub options: Vec<(String, Vec<String>)>,
    /// Variant ids in position order.
    pub variant_ids: Vec<u64>,
    /// Taxonomy category GID.
    pub category: Option<String>,
    /// SEO title and description.
    pub seo: (Option<String>, Option<String>),
    /// Metafields as `Metafield` objects.
    pub metafields: Vec<Value>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
}

/// A category of Shopify's product taxonomy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaxonomyCategory {
    /// GID, e.g. `gid://shopify/TaxonomyCategory/aa-1-1`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Full path, e.g. `Apparel & Accessories > Clothing > Activewear`.
    pub full_name: String,
}

/// A stored variant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Variant {
    /// Numeric id.
    pub id: u64,
    /// Owning product.
    pub product_id: u64,
    /// Title ("Default Title" or option values joined by " / ").
    pub title: String,
    /// Price as a decimal string.
    pub price: String,
    /// Compare-at price.
    pub compare_at_price: Option<String>,
    /// SKU (mirrors the inventory item's).
    pub sku: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Selected option values: (option name, value).
    pub options: Vec<(String, String)>,
    /// Inventory item id.
    pub inventory_item_id: u64,
    /// DENY or CONTINUE.
    pub inventory_policy: String,
    /// Taxable flag.
    pub taxable: bool,
    /// Position (1-based).
    pub position: u32,
}

/// Shopify's handle derivation: lower-case, non-alphanumerics collapsed to single dashes.
pub fn handleize(title: &str) -> String {
    let mut out = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The Product object.
pub fn product_json(st: &State, p: &Product) -> Value {
    let variants: Vec<Value> = p
        .variant_ids
        .iter()
        .map(|v| reference("ProductVariant", *v))
        .collect();
    // Available stock of each variant whose item is tracked: untracked items count towards neither the
    // product's total nor its being out of stock.
    let tracked: Vec<i64> = p
        .variant_ids
        .iter()
        .filter_map(|v| st.variants.get(v))
        .filter(|v| {
            st.inventory_items
                .get(&v.inventory_item_id)
                .is_some_and(|i| i.tracked)
        })
        .map(|v| {
            st.levels_of_item(v.inventory_item_id)
                .filter(|l| !l.inactive)
                .map(|l| l.available)
                .sum::<i64>()
        })
        .collect();
    let total: i64 = tracked.iter().sum();
    let tracks = !tracked.is_empty();
    // A variant is out of stock when its item is tracked and nothing is available at its active levels.
    let out_of_stock = tracked.iter().any(|&available| available <= 0);
    let options: Vec<Value> = p
        .options
        .iter()
        .enumerate()
        .map(|(i, (name, values))| {
            json!({
                "__typename": "ProductOption",
                "id": gid("ProductOption", p.id * 10 + i as u64),
                "name": name,
                "position": i + 1,
                "values": values,
                "optionValues": values.iter().enumerate().map(|(j, v)| json!({
                    "id": gid("ProductOptionValue", (p.id * 10 + i as u64) * 1000 + j as u64),
                    "name": v,
                    "hasVariants": p.variant_ids.iter().filter_map(|id| st.variants.get(id)).any(|var| var.options.iter().any(|(n, val)| n == name && val == v)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "__typename": "Product",
        "id": gid("Product", p.id),
        "legacyResourceId": p.id.to_string(),
        "title": p.title,
        "handle": p.handle,
        "status": p.status,
        "vendor": p.vendor,
        "productType": p.product_type,
        "descriptionHtml": p.description_html,
        "description": p.description_html,
        "tags": p.tags,
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
        "options": options,
        "variants": variants,
        "variantsCount": {"count": p.variant_ids.len(), "precision": "EXACT"},
        "seo": {"title": p.seo.0, "description": p.seo.1},
        "totalInventory": total,
        "totalVariants": p.variant_ids.len(),
        "hasOutOfStockVariants": out_of_stock,
        "category": p.category.as_ref().map(|c| {
            let known = st.taxonomy.iter().find(|t| &t.id == c);
            json!({"__typename": "TaxonomyCategory", "id": c, "name": known.map(|t| t.name.clone()), "fullName": known.map(|t| t.full_name.clone())})
        }),
        "tracksInventory": tracks,
        "hasOnlyDefaultVariant": p.options.len() == 1 && p.options[0].1 == ["Default Title"],
        "metafields": p.metafields,
        // The emulator has no collections or media, so no product is in one or has any.
        "collections": [],
        "media": [],
    })
}

/// The ProductVariant object.
pub fn variant_json(st: &State, v: &Variant) -> Value {
    let qty: i64 = st
        .levels_of_item(v.inventory_item_id)
        // Deactivated levels no longer count as stock.
        .filter(|l| !l.inactive)
        .map(|l| l.available)
        .sum();
    json!({
        "__typename": "ProductVariant",
        "id": gid("ProductVariant", v.id),
        "legacyResourceId": v.id.to_string(),
        "title": v.title,
        "displayName": st.products.get(&v.product_id).map(|p| format!("{} - {}", p.title, v.title)),
        "price": v.price,
        "compareAtPrice": v.compare_at_price,
        "sku": st.inventory_items.get(&v.inventory_item_id).and_then(|i| i.sku.clone()),
        "barcode": v.barcode,
        "position": v.position,
        "inventoryPolicy": v.inventory_policy,
        "taxable": v.taxable,
        "inventoryQuantity": qty,
        "selectedOptions": v.options.iter().map(|(n, val)| json!({"name": n, "value": val})).collect::<Vec<_>>(),
        "inventoryItem": reference("InventoryItem", v.inventory_item_id),
        "product": reference("Product", v.product_id),
        "metafields": [],
    })
}

/// Loads a product-domain object.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    match ty {
        "Product" => st.products.get(&id).map(|p| product_json(st, p)),
        "ProductVariant" => st.variants.get(&id).map(|v| variant_json(st, v)),
        "ProductSetOperation" | "ProductDeleteOperation" => st.operations.get(&id).cloned(),
        _ => None,
    }
}

/// A free handle: a taken handle ending in a number gets the number incremented, others get `-1`, `-2`, ...
fn unique_handle(st: &State, base: &str, except: Option<u64>) -> String {
    let base = if base.is_empty() { "product" } else { base };
    let taken = |h: &str| match except {
        Some(id) => st.product_handles.held_by_other(h, id),
        None => st.product_by_handle(h).is_some(),
    };
    if !taken(base) {
        return base.to_string();
    }
    let digits = base.len() - base.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0
        && digits < 19
        && base.len() > digits
        && base.as_bytes()[base.len() - digits - 1] == b'-'
    {
        let (stem, num) = base.split_at(base.len() - digits);
        if let Ok(n) = num.parse::<u64>() {
            return (n + 1..)
                .map(|i| format!("{stem}{i}"))
                .find(|h| !taken(h))
                .unwrap_or_default();
        }
    }
    (1..)
        .map(|i| format!("{base}-{i}"))
        .find(|h| !taken(h))
        .unwrap_or_default()
}

/// Where errors point: productSet prefixes `input`, productCreate/Update use bare names.
#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    Plain,
    Set,
}

fn field(flavor: Flavor, parts: &[&str]) -> Vec<String> {
    let mut v = if flavor == Flavor::Set {
        vec!["input".to_string()]
    } else {
        vec![]
    };
    v.extend(parts.iter().map(|s| s.to_string()));
    v
}

fn err(flavor: Flavor, parts: &[&str], message: &str, code: &str) -> Value {
    if flavor == Flavor::Set {
        coded_error(Some(field(flavor, parts)), message, Some(code))
    } else {
        json!({"field": field(flavor, parts), "message": message})
    }
}

/// Applies scalar product fields; returns userErrors.
/// A category must be one of the taxonomy categories the emulator knows (seeded); the emulator has no copy
/// of Shopify's whole taxonomy, so it refuses to guess at others.
fn check_category(st: &State, input: &Map<String, Value>) -> Result<(), FieldError> {
    match input.get("category").and_then(Value::as_str) {
        Some(c) if !st.taxonomy.iter().any(|t| t.id == c) => Err(FieldError::new(
            "EMULATOR_UNSUPPORTED_FIELD",
            format!("The emulator's taxonomy has no category {c} (seed `taxonomy_categories`)."),
        )),
        _ => Ok(()),
    }
}

/// Upserts the input's metafields by namespace and key (new ones get ids from `ids`).
fn apply_metafields(p: &mut Product, input: &Map<String, Value>, ids: &mut impl FnMut() -> u64) {
    for m in input
        .get("metafields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ns = m
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("custom");
        let Some(key) = m.get("key").and_then(Value::as_str) else {
            continue;
        };
        let existing = p
            .metafields
            .iter_mut()
            .find(|x| x["namespace"] == ns && x["key"] == key);
        match existing {
            Some(x) => {
                for f in ["type", "value"] {
                    if let Some(v) = m.get(f) {
                        x[f] = v.clone();
                    }
                }
            }
            None => p.metafields.push(
                json!({"__typename": "Metafield", "id": gid("Metafield", ids()),
                "namespace": ns, "key": key, "type": m.get("type"), "value": m.get("value")}),
            ),
        }
    }
}

fn apply_scalars(
    st: &State,
    p: &mut Product,
    input: &Map<String, Value>,
    flavor: Flavor,
    creating: bool,
) -> Vec<Value> {
    let mut errors = Vec::new();
    let whole = |msg: &str| {
        if flavor == Flavor::Set {
            coded_error(Some(vec!["input".into()]), msg, Some("INVALID"))
        } else {
            json!({"field": ["input"], "message": msg})
        }
    };
    if let Some(t) = input.get("title").and_then(Value::as_str) {
        p.title = t.to_string();
    }
    if let Some(seo) = input.get("seo").and_then(Value::as_object) {
        let text = |k: &str| seo.get(k).and_then(Value::as_str).map(str::to_string);
        p.seo = (text("title"), text("description"));
    }
    if input.contains_key("category") {
        p.category = input
            .get("category")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if p.title.trim().is_empty() && (creating || input.contains_key("title")) {
        errors.push(err(flavor, &["title"], "Title can't be blank", "BLANK"));
    }
    if p.title.chars().count() > 255 {
        errors.push(if flavor == Flavor::Set { json!({"field": ["input", "title"], "message": "is too long (maximum is 255 characters)", "code": "INVALID"}) } else { json!({"field": ["title"], "message": "Title is too long (maximum is 255 characters)"}) });
    }
    for (key, label) in [("vendor", "Vendor"), ("productType", "Product type")] {
        if let Some(v) = input.get(key).and_then(Value::as_str) {
            if v.chars().count() > 255 {
                errors.push(whole(&format!(
                    "{label} is too long (maximum is 255 characters)"
                )));
                if key == "productType" {
                    errors.push(whole(
                        "Custom product type is too long (maximum is 255 characters)",
                    ));
                }
            }
            if key == "vendor" {
                p.vendor = v.to_string()
            } else {
                p.product_type = v.to_string()
            }
        }
    }
    if let Some(v) = input.get("descriptionHtml").and_then(Value::as_str) {
        p.description_html = v.to_string();
    }
    if let Some(v) = input.get("status").and_then(Value::as_str) {
        p.status = v.to_string();
    }
    if let Some(v) = input.get("tags").and_then(Value::as_array) {
        p.tags = super::customers::normalize_tags(v);
    }
    match input
        .get("handle")
        .and_then(Value::as_str)
        .filter(|h| !h.trim().is_empty())
    {
        Some(h) => {
            let normalized = handleize(h);
            // A handle with nothing usable falls back to a generated `product`, `product-1`, ...
            let normalized = if normalized.is_empty() {
                unique_handle(st, "product", Some(p.id).filter(|_| !creating))
            } else {
                normalized
            };
            if st.product_handles.held_by_other(&normalized, p.id) {
                errors.push(json!({"field": field(Flavor::Set, &["handle"]), "message": format!("Handle '{h}' already in use. Please provide a new handle.")}));
                if flavor == Flavor::Set
                    && let Some(o) = errors.last_mut().and_then(Value::as_object_mut)
                {
                    o.insert("code".into(), json!("HANDLE_NOT_UNIQUE"));
                }
            } else if normalized.chars().count() > 255 {
                errors.push(if flavor == Flavor::Set { whole("Handle is too long (maximum is 255 characters)") } else { json!({"field": ["handle"], "message": "Handle is too long (maximum is 255 characters)"}) });
            }
            p.handle = normalized;
        }
        None if creating || input.contains_key("handle") => {
            let base = handleize(&p.title);
            if base.chars().count() > 255 {
                errors.push(whole("Handle is too long (maximum is 255 characters)"));
            }
            p.handle = unique_handle(st, &base, Some(p.id).filter(|_| !creating));
        }
        None => {}
    }
    errors
}

/// Product options: (name, values).
type Options = Vec<(String, Vec<String>)>;

struct VariantPlan {
    options: Vec<(String, String)>,
    input: Map<String, Value>,
}

/// productSet variants/options: validates and returns the planned variants.
fn plan_variants(
    input: &Map<String, Value>,
    existing: Option<&Product>,
) -> Result<Option<(Options, Vec<VariantPlan>)>, Vec<Value>> {
    let variants = input.get("variants").and_then(Value::as_array);
    let options = input.get("productOptions").and_then(Value::as_array);
    match (variants, options) {
        (None, None) => Ok(None),
        (Some(_), None) if existing.is_some() => Err(vec![coded_error(
            Some(vec!["input".into()]),
            "Must specify product options when updating variants.",
            Some("PRODUCT_OPTIONS_INPUT_MISSING"),
        )]),
        (None, Some(_)) => Err(vec![coded_error(
            Some(vec!["input".into()]),
            "Must specify variants when updating options.",
            Some("VARIANTS_INPUT_MISSING"),
        )]),
        (variants, options) => {
            let mut opts: Vec<(String, Vec<String>)> = options
                .map(|o| {
                    o.iter()
                        .map(|opt| {
                            let name = opt
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("Title")
                                .to_string();
                            let values = opt
                                .get("values")
                                .and_then(Value::as_array)
                                .map(|vs| {
                                    vs.iter()
                                        .filter_map(|v| {
                                            v.get("name")
                                                .and_then(Value::as_str)
                                                .map(str::to_string)
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            (name, values)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut plans = Vec::new();
            let mut errors = Vec::new();
            let mut seen: Vec<String> = Vec::new();
            for (i, v) in variants.into_iter().flatten().enumerate() {
                let m = v.as_object().cloned().unwrap_or_default();
                let selected: Vec<(String, String)> = m
                    .get("optionValues")
                    .and_then(Value::as_array)
                    .map(|ov| {
                        ov.iter()
                            .map(|o| {
                                (
                                    o.get("optionName")
                                        .and_then(Value::as_str)
                                        .unwrap_or("Title")
                                        .to_string(),
                                    o.get("name")
                                        .and_then(Value::as_str)
                                        .unwrap_or("")
                                        .to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                for (n, val) in &selected {
                    match opts.iter_mut().find(|(on, _)| on == n) {
                        Some((_, vals)) if !vals.contains(val) => vals.push(val.clone()),
                        Some(_) => {}
                        None => opts.push((n.clone(), vec![val.clone()])),
                    }
                }
                let title = selected
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" / ");
                if seen.contains(&title) {
                    errors.push(json!({"field": ["input", "variants", i.to_string()], "message": format!("The variant '{title}' already exists. Please change at least one option value."), "code": "INVALID_VARIANT"}));
                }
                seen.push(title);
                if let Some(cost) = m
                    .get("inventoryItem")
                    .and_then(|ii| ii.get("cost"))
                    .and_then(|c| {
                        c.as_str()
                            .and_then(|s| s.parse::<f64>().ok())
                            .or_else(|| c.as_f64())
                    })
                {
                    let f = vec![
                        "input".to_string(),
                        "variants".into(),
                        i.to_string(),
                        "inventoryItem".into(),
                        "cost".into(),
                    ];
                    if cost < 0.0 {
                        errors.push(coded_error(
                            Some(f),
                            "Cost per item must be greater than or equal to 0",
                            Some("INVALID_VARIANT"),
                        ));
                    } else if cost >= 1e18 {
                        errors.push(coded_error(
                            Some(f),
                            "Cost per item must be less than 1000000000000000000",
                            Some("INVALID_VARIANT"),
                        ));
                    }
                }
                plans.push(VariantPlan {
                    options: selected,
                    input: m,
                });
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            if opts.len() > 3 {
                return Err(vec![coded_error(
                    Some(vec!["input".into(), "productOptions".into()]),
                    "Can only specify a maximum of 3 options",
                    Some("OPTIONS_OVER_LIMIT"),
                )]);
            }
            Ok(Some((opts, plans)))
        }
    }
}

fn create_variant(
    st: &mut State,
    product_id: u64,
    position: u32,
    options: Vec<(String, String)>,
    input: &Map<String, Value>,
) -> u64 {
    let vid = st.next_id();
    let iid = st.next_id();
    let title = if options.is_empty() {
        "Default Title".to_string()
    } else {
        options
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let options = if options.is_empty() {
        vec![("Title".into(), "Default Title".into())]
    } else {
        options
    };
    let mut item = InventoryItem {
        id: iid,
        variant_id: vid,
        tracked: false,
        requires_shipping: true,
        ..InventoryItem::default()
    };
    item.sku = input.get("sku").and_then(Value::as_str).map(str::to_string);
    if let Some(ii) = input.get("inventoryItem").and_then(Value::as_object) {
        let _ = apply_item_input(&mut item, ii, &[]);
    }
    let now = st.now_str();
    let price = input
        .get("price")
        .map(|p| {
            p.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| p.to_string())
        })
        .unwrap_or_else(|| "0.00".into());
    st.variants.insert(
        vid,
        Variant {
            id: vid,
            product_id,
            title,
            price,
            compare_at_price: input
                .get("compareAtPrice")
                .and_then(|p| p.as_str().map(str::to_string)),
            sku: item.sku.clone(),
            barcode: input
                .get("barcode")
                .and_then(Value::as_str)
                .map(str::to_string),
            options,
            inventory_item_id: iid,
            inventory_policy: input
                .get("inventoryPolicy")
                .and_then(Value::as_str)
                .unwrap_or("DENY")
                .to_string(),
            taxable: input
                .get("taxable")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            position,
        },
    );
    st.inventory_items.insert(iid, item);
    for q in input
        .get("inventoryQuantities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(loc) =
            parse_gid(q.get("locationId"), "Location").filter(|l| st.locations.contains_key(l))
        else {
            continue;
        };
        let qty = q.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let id = st.next_id();
        st.put_level(InventoryLevel {
            id,
            item_id: iid,
            location_id: loc,
            available: qty,
            on_hand: qty,
            updated_at: now.clone(),
            ..Default::default()
        });
    }
    vid
}

/// productSet on an existing variant: given fields replace the stored ones, the rest stay.
fn update_variant(
    st: &mut State,
    vid: u64,
    position: u32,
    options: Vec<(String, String)>,
    input: &Map<String, Value>,
) {
    let Some(mut v) = st.variants.get(&vid).cloned() else {
        return;
    };
    if !options.is_empty() {
        v.title = options
            .iter()
            .map(|(_, x)| x.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
        v.options = options;
    }
    v.position = position;
    if let Some(p) = input.get("price") {
        v.price = p
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| p.to_string());
    }
    if input.contains_key("compareAtPrice") {
        v.compare_at_price = input
            .get("compareAtPrice")
            .and_then(|p| p.as_str().map(str::to_string));
    }
    if input.contains_key("barcode") {
        v.barcode = input
            .get("barcode")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(x) = input.get("inventoryPolicy").and_then(Value::as_str) {
        v.inventory_policy = x.to_string();
    }
    if let Some(x) = input.get("taxable").and_then(Value::as_bool) {
        v.taxable = x;
    }
    let iid = v.inventory_item_id;
    if let Some(item) = st.inventory_items.get_mut(&iid) {
        if input.contains_key("sku") {
            item.sku = input.get("sku").and_then(Value::as_str).map(str::to_string);
        }
        if let Some(ii) = input.get("inventoryItem").and_then(Value::as_object) {
            let _ = apply_item_input(item, ii, &[]);
        }
        v.sku = item.sku.clone();
    }
    st.variants.insert(vid, v);
    let now = st.now_str();
    for q in input
        .get("inventoryQuantities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(loc) =
            parse_gid(q.get("locationId"), "Location").filter(|l| st.locations.contains_key(l))
        else {
            continue;
        };
        let qty = q.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let found = st.level_at(iid, loc);
        match found.and_then(|id| st.levels.get_mut(&id)) {
            Some(l) => {
                let name = match q.get("name").and_then(Value::as_str) {
                    Some("on_hand") => "on_hand",
                    _ => "available",
                };
                let delta = qty - l.quantity(name);
                l.apply(name, delta, &now);
            }
            None => {
                let id = st.next_id();
                st.put_level(InventoryLevel {
                    id,
                    item_id: iid,
                    location_id: loc,
                    available: qty,
                    on_hand: qty,
                    updated_at: now.clone(),
                    ..Default::default()
                });
            }
        }
    }
}

fn remove_variant(st: &mut State, vid: u64) {
    if let Some(v) = st.variants.remove(&vid) {
        st.inventory_items.remove(&v.inventory_item_id);
        st.remove_levels_of_item(v.inventory_item_id);
    }
}

fn product_set(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let synchronous = args
        .get("synchronous")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let fail = |errors: Vec<Value>| json!({"product": null, "productSetOperation": null, "userErrors": errors});
    let mut target = None;
    if let Some(ident) = args.get("identifier").and_then(Value::as_object) {
        if ident.get("customId").is_some_and(|v| !v.is_null()) {
            let mut e = FieldError::new(
                "NOT_FOUND",
                "Metafield definition of type 'id' is required when using custom ids.",
            );
            e.path = Some(vec![json!("productSet")]);
            return Err(e);
        }
        if input.get("id").is_some_and(|v| !v.is_null()) {
            return Ok(fail(vec![coded_error(
                Some(vec!["input".into()]),
                "The id field is not allowed if identifier is provided.",
                Some("ID_NOT_ALLOWED"),
            )]));
        }
        if let Some(idv) = ident.get("id").filter(|v| !v.is_null()) {
            match parse_gid(Some(idv), "Product").filter(|id| st.products.contains_key(id)) {
                Some(id) => target = Some(id),
                None => {
                    return Ok(fail(vec![coded_error(
                        Some(vec!["input".into()]),
                        "Resource matching the identifier was not found.",
                        Some("NOT_FOUND"),
                    )]));
                }
            }
        } else if let Some(h) = ident.get("handle").and_then(Value::as_str) {
            let Some(given) = input.get("handle").and_then(Value::as_str) else {
                return Ok(fail(vec![coded_error(
                    Some(vec!["input".into()]),
                    "The input field corresponding to the identifier is required.",
                    Some("MISSING_FIELD_REQUIRED"),
                )]));
            };
            if handleize(given) != handleize(h) {
                return Ok(fail(vec![coded_error(
                    Some(vec!["input".into()]),
                    "The identifier value does not match the value of the corresponding field in the input.",
                    Some("INPUT_MISMATCH"),
                )]));
            }
            target = st.product_by_handle(&handleize(h));
        }
    } else if let Some(idv) = input.get("id").filter(|v| !v.is_null()) {
        match parse_gid(Some(idv), "Product").filter(|id| st.products.contains_key(id)) {
            Some(id) => target = Some(id),
            None => {
                return Ok(fail(vec![coded_error(
                    Some(vec!["input".into(), "id".into()]),
                    "Product does not exist",
                    Some("PRODUCT_DOES_NOT_EXIST"),
                )]));
            }
        }
    }
    let creating = target.is_none();
    let existing = target.and_then(|id| st.products.get(&id)).cloned();
    let mut p = existing.clone().unwrap_or_else(|| Product {
        status: "ACTIVE".into(),
        ..Product::default()
    });
    check_category(st, &input)?;
    let mut errors = apply_scalars(st, &mut p, &input, Flavor::Set, creating);
    let scalar_errors = errors.len();
    let plan = match plan_variants(&input, existing.as_ref()) {
        Ok(plan) => plan,
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    if !errors.is_empty() {
        // A rejected update of an existing product's own fields answers with the product as it still is.
        if let Some(old) = existing.as_ref().filter(|_| errors.len() == scalar_errors) {
            return Ok(
                json!({"product": reference("Product", old.id), "productSetOperation": null, "userErrors": errors}),
            );
        }
        return Ok(fail(errors));
    }
    let now = st.now_str();
    if creating {
        p.id = st.next_id();
        p.created_at = now.clone();
    }
    p.updated_at = now;
    let pid = p.id;
    match plan {
        Some((opts, plans)) => {
            // Variants named by id are updated in place (keeping their inventory item); the rest of the
            // old variants go, and variants without an id are created.
            let old = std::mem::take(&mut p.variant_ids);
            let kept: Vec<Option<u64>> = plans
                .iter()
                .map(|v| {
                    parse_gid(v.input.get("id"), "ProductVariant").filter(|id| old.contains(id))
                })
                .collect();
            for o in old.iter().filter(|o| !kept.contains(&Some(**o))) {
                remove_variant(st, *o);
            }
            p.options = opts;
            for (i, (v, keep)) in plans.into_iter().zip(kept).enumerate() {
                let vid = match keep {
                    Some(vid) => {
                        update_variant(st, vid, i as u32 + 1, v.options, &v.input);
                        vid
                    }
                    None => create_variant(st, pid, i as u32 + 1, v.options, &v.input),
                };
                p.variant_ids.push(vid);
            }
        }
        None if creating => {
            p.options = vec![("Title".into(), vec!["Default Title".into()])];
            let vid = create_variant(st, pid, 1, vec![], &Map::new());
            p.variant_ids.push(vid);
        }
        None => {}
    }
    apply_metafields(&mut p, &input, &mut || st.next_id());
    st.put_product(p);
    st.touch();
    if !synchronous {
        let op_id = st.next_id();
        let op = json!({"__typename": "ProductSetOperation", "id": gid("ProductSetOperation", op_id), "status": "COMPLETE", "product": reference("Product", pid), "userErrors": []});
        st.operations.insert(op_id, op);
        return Ok(
            json!({"product": null, "productSetOperation": {"__typename": "ProductSetOperation", "id": gid("ProductSetOperation", op_id), "status": "CREATED", "product": null, "userErrors": []}, "userErrors": []}),
        );
    }
    Ok(json!({"product": reference("Product", pid), "productSetOperation": null, "userErrors": []}))
}

fn product_create(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let (input, legacy) = match (
        args.get("product").filter(|v| !v.is_null()),
        args.get("input").filter(|v| !v.is_null()),
    ) {
        (Some(p), None) => (p.as_object().cloned().unwrap_or_default(), false),
        (None, Some(i)) => (i.as_object().cloned().unwrap_or_default(), true),
        _ => {
            return Err(FieldError::new(
                "INVALID_FIELD_ARGUMENTS",
                "productCreate must include exactly one of the following arguments: input, product.",
            ));
        }
    };
    let shop = reference("Shop", 1);
    if legacy && input.get("id").is_some_and(|v| !v.is_null()) {
        return Ok(
            json!({"product": null, "shop": shop, "userErrors": [user_error(Some(&["input"]), "id cannot be specified during creation")]}),
        );
    }
    let mut p = Product {
        status: "ACTIVE".into(),
        ..Product::default()
    };
    check_category(st, &input)?;
    let errors = apply_scalars(st, &mut p, &input, Flavor::Plain, true);
    if !errors.is_empty() {
        return Ok(json!({"product": null, "shop": shop, "userErrors": errors}));
    }
    let now = st.now_str();
    p.id = st.next_id();
    p.created_at = now.clone();
    p.updated_at = now;
    let opts: Vec<(String, Vec<String>)> = input
        .get("productOptions")
        .and_then(Value::as_array)
        .map(|o| {
            o.iter()
                .map(|opt| {
                    (
                        opt.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("Title")
                            .to_string(),
                        opt.get("values")
                            .and_then(Value::as_array)
                            .map(|vs| {
                                vs.iter()
                                    .filter_map(|v| {
                                        v.get("name").and_then(Value::as_str).map(str::to_string)
                                    })
                                    .take(1)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let pid = p.id;
    let first: Vec<(String, String)> = opts
        .iter()
        .filter_map(|(n, v)| v.first().map(|x| (n.clone(), x.clone())))
        .collect();
    p.options = if opts.is_empty() {
        vec![("Title".into(), vec!["Default Title".into()])]
    } else {
        opts
    };
    let vid = create_variant(st, pid, 1, first, &Map::new());
    p.variant_ids.push(vid);
    apply_metafields(&mut p, &input, &mut || st.next_id());
    st.put_product(p);
    st.touch();
    Ok(json!({"product": reference("Product", pid), "shop": shop, "userErrors": []}))
}

/// `productDuplicate`: a copy with fresh variants and inventory items, titled `newTitle`, with the handle
/// that title derives (deduplicated like any new handle).
fn product_duplicate(st: &mut State, args: &Map<String, Value>) -> Value {
    let shop = reference("Shop", 1);
    let Some(src) = parse_gid(args.get("productId"), "Product")
        .and_then(|id| st.products.get(&id))
        .cloned()
    else {
        return json!({"newProduct": null, "imageJob": null, "productDuplicateOperation": null, "shop": shop,
            "userErrors": [user_error(Some(&["productId"]), "Product does not exist")]});
    };
    let title = args
        .get("newTitle")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let now = st.now_str();
    let pid = st.next_id();
    let mut p = Product {
        id: pid,
        handle: unique_handle(st, &handleize(&title), None),
        title,
        status: args
            .get("newStatus")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| src.status.clone()),
        variant_ids: vec![],
        created_at: now.clone(),
        updated_at: now,
        ..src.clone()
    };
    for vid in &src.variant_ids {
        let Some(v) = st.variants.get(vid).cloned() else {
            continue;
        };
        let new_vid = st.next_id();
        let new_iid = st.next_id();
        if let Some(item) = st.inventory_items.get(&v.inventory_item_id).cloned() {
            st.inventory_items.insert(
                new_iid,
                InventoryItem {
                    id: new_iid,
                    variant_id: new_vid,
                    ..item
                },
            );
        }
        st.variants.insert(
            new_vid,
            Variant {
                id: new_vid,
                product_id: pid,
                inventory_item_id: new_iid,
                ..v
            },
        );
        p.variant_ids.push(new_vid);
    }
    st.put_product(p);
    st.touch();
    json!({"newProduct": reference("Product", pid), "imageJob": null, "productDuplicateOperation": null, "shop": shop, "userErrors": []})
}

/// `productVariantsBulkReorder`: moves the given variants to their 1-based positions.
fn variants_reorder(st: &mut State, args: &Map<String, Value>) -> Value {
    let Some(mut p) = parse_gid(args.get("productId"), "Product")
        .and_then(|id| st.products.get(&id))
        .cloned()
    else {
        return json!({"product": null, "userErrors": [coded_error(Some(path(&["productId"])), "Product does not exist", Some("PRODUCT_DOES_NOT_EXIST"))]});
    };
    let positions = args
        .get("positions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut moves = Vec::new();
    for (i, pos) in positions.iter().enumerate() {
        let idx = i.to_string();
        let Some(vid) =
            parse_gid(pos.get("id"), "ProductVariant").filter(|v| p.variant_ids.contains(v))
        else {
            return json!({"product": null, "userErrors": [coded_error(Some(path(&["positions", &idx, "id"])), "Product variant does not exist", Some("MISSING_VARIANT"))]});
        };
        let at = pos.get("position").and_then(Value::as_i64).unwrap_or(0);
        if at < 1 {
            return json!({"product": null, "userErrors": [coded_error(Some(path(&["positions", &idx, "position"])), "Position is invalid", Some("INVALID_POSITION"))]});
        }
        moves.push((vid, at as usize));
    }
    for (vid, at) in moves {
        p.variant_ids.retain(|v| *v != vid);
        let at = (at - 1).min(p.variant_ids.len());
        p.variant_ids.insert(at, vid);
    }
    for (i, vid) in p.variant_ids.iter().enumerate() {
        if let Some(v) = st.variants.get_mut(vid) {
            v.position = i as u32 + 1;
        }
    }
    p.updated_at = st.now_str();
    let pid = p.id;
    st.put_product(p);
    st.touch();
    json!({"product": reference("Product", pid), "userErrors": []})
}

/// productOptionsCreate/Delete: the emulator answers the unknown-product case as Shopify does and reports
/// the option edits themselves as not implemented rather than guess at them.
fn options_mutation(
    st: &State,
    field: &str,
    args: &Map<String, Value>,
) -> Result<Value, FieldError> {
    if parse_gid(args.get("productId"), "Product").is_none_or(|id| !st.products.contains_key(&id)) {
        let err = coded_error(
            Some(path(&["productId"])),
            "Product does not exist",
            Some("PRODUCT_DOES_NOT_EXIST"),
        );
        return Ok(if field == "productOptionsDelete" {
            json!({"deletedOptionsIds": null, "product": null, "userErrors": [err]})
        } else {
            json!({"product": null, "userErrors": [err]})
        });
    }
    Err(FieldError::new(
        "EMULATOR_UNSUPPORTED_FIELD",
        format!("The emulator does not implement '{field}' on existing products."),
    ))
}

fn product_update(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let input = args
        .get("product")
        .or_else(|| args.get("input"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let ident = args.get("identifier").and_then(Value::as_object);
    let id = ident
        .and_then(|i| {
            parse_gid(i.get("id"), "Product").or_else(|| {
                i.get("handle")
                    .and_then(Value::as_str)
                    .and_then(|h| st.product_by_handle(&handleize(h)))
            })
        })
        .or_else(|| parse_gid(input.get("id"), "Product"));
    let Some(mut p) = id.and_then(|id| st.products.get(&id)).cloned() else {
        return Ok(
            json!({"product": null, "userErrors": [user_error(Some(&["id"]), "Product does not exist")]}),
        );
    };
    check_category(st, &input)?;
    let errors = apply_scalars(st, &mut p, &input, Flavor::Plain, false);
    if !errors.is_empty() {
        // Shopify answers a rejected update with the product as it still is.
        return Ok(json!({"product": reference("Product", p.id), "userErrors": errors}));
    }
    p.updated_at = st.now_str();
    let pid = p.id;
    apply_metafields(&mut p, &input, &mut || st.next_id());
    st.put_product(p);
    st.touch();
    Ok(json!({"product": reference("Product", pid), "userErrors": []}))
}

fn product_delete(st: &mut State, args: &Map<String, Value>) -> Value {
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let synchronous = args
        .get("synchronous")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let shop = reference("Shop", 1);
    let pid = parse_gid(input.get("id"), "Product");
    if pid.is_some_and(|id| st.pending_product_deletes.contains_key(&id)) {
        return json!({"deletedProductId": null, "productDeleteOperation": null, "shop": shop, "userErrors": [user_error(None, "Another operation already in progress. Please wait until current one is finished.")]});
    }
    if !synchronous && let Some(id) = pid.filter(|id| st.products.contains_key(id)) {
        // The product stays readable until the background job has run (see `settle_pending_deletes`).
        let op_id = st.next_id();
        let op = json!({"__typename": "ProductDeleteOperation", "id": gid("ProductDeleteOperation", op_id), "status": "ACTIVE", "deletedProductId": gid("Product", id), "product": null, "userErrors": []});
        st.operations.insert(op_id, op);
        let due = st.now.unwrap_or_else(chrono::Utc::now) + ASYNC_DELETE_DELAY;
        st.pending_product_deletes.insert(id, (op_id, due));
        st.touch();
        return json!({"deletedProductId": null, "productDeleteOperation": {"__typename": "ProductDeleteOperation", "id": gid("ProductDeleteOperation", op_id), "status": "CREATED", "deletedProductId": null, "product": null, "userErrors": []}, "shop": shop, "userErrors": []});
    }
    let Some(p) = pid.and_then(|id| st.remove_product(id)) else {
        return json!({"deletedProductId": null, "productDeleteOperation": null, "shop": shop, "userErrors": [user_error(Some(&["id"]), "Product does not exist")]});
    };
    for v in &p.variant_ids {
        remove_variant(st, *v);
    }
    st.touch();
    json!({"deletedProductId": gid("Product", p.id), "productDeleteOperation": null, "shop": shop, "userErrors": []})
}

/// How long an asynchronous productDelete runs in the background before the product is gone.
const ASYNC_DELETE_DELAY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Finishes the asynchronous deletions whose time has come (called before every root field).
pub fn settle_pending_deletes(st: &mut State) {
    let now = st.now.unwrap_or_else(chrono::Utc::now);
    let due: Vec<(u64, u64)> = st
        .pending_product_deletes
        .iter()
        .filter(|(_, (_, at))| *at <= now)
        .map(|(p, (op, _))| (*p, *op))
        .collect();
    for (pid, op) in due {
        st.pending_product_deletes.remove(&pid);
        if let Some(p) = st.remove_product(pid) {
            for v in &p.variant_ids {
                remove_variant(st, *v);
            }
        }
        if let Some(o) = st.operations.get_mut(&op) {
            o["status"] = json!("COMPLETE");
        }
        st.touch();
    }
}

/// Product root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    Some(match field {
        "productSet" => product_set(st, args),
        "productCreate" => product_create(st, args),
        "productUpdate" => product_update(st, args),
        "productDelete" => Ok(product_delete(st, args)),
        "productDuplicate" => Ok(product_duplicate(st, args)),
        "productVariantsBulkReorder" => Ok(variants_reorder(st, args)),
        "productOptionsCreate" | "productOptionsDelete" => options_mutation(st, field, args),
        "product" => Ok(parse_gid(args.get("id"), "Product")
            .and_then(|id| st.products.get(&id))
            .map(|p| product_json(st, p))
            .unwrap_or(Value::Null)),
        "productVariant" => Ok(parse_gid(args.get("id"), "ProductVariant")
            .and_then(|id| st.variants.get(&id))
            .map(|v| variant_json(st, v))
            .unwrap_or(Value::Null)),
        "productOperation" => Ok(args
            .get("id")
            .and_then(Value::as_str)
            .and_then(|g| super::load(st, g))
            .unwrap_or(Value::Null)),
        "productByHandle" => Ok(args
            .get("handle")
            .and_then(Value::as_str)
            .and_then(|h| st.product_by_handle(h))
            .and_then(|id| st.products.get(&id))
            .map(|p| product_json(st, p))
            .unwrap_or(Value::Null)),
        "productByIdentifier" => {
            let ident = args
                .get("identifier")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if ident.get("customId").is_some_and(|v| !v.is_null()) {
                let mut e = FieldError::new(
                    "NOT_FOUND",
                    "Metafield definition of type 'id' is required when using custom ids.",
                );
                e.path = Some(vec![json!("productByIdentifier")]);
                return Some(Err(e));
            }
            let found = parse_gid(ident.get("id"), "Product")
                .and_then(|id| st.products.get(&id))
                .or_else(|| {
                    ident
                        .get("handle")
                        .and_then(Value::as_str)
                        .and_then(|h| st.product_by_handle(h))
                        .and_then(|id| st.products.get(&id))
                });
            Ok(found.map(|p| product_json(st, p)).unwrap_or(Value::Null))
        }
        "products" => Ok(Value::Array(
            st.products.values().map(|p| product_json(st, p)).collect(),
        )),
        "productsCount" => Ok(json!({"count": st.products.len(), "precision": "EXACT"})),
        _ => return None,
    })
}

/// Levels of an item, for `InventoryItem.inventoryLevels`.
pub fn item_levels(st: &State, item: u64) -> Vec<Value> {
    st.levels_of_item(item).map(|l| level_json(st, l)).collect()
}
