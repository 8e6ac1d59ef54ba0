//! Parity suite: replays real Shopify captures (tests/captures, recipe in its README.md) against the emulator
//! and compares answers after normalising ids, timestamps, cursors and costs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use shopsync::emulator::seed::Fixture;
use shopsync::emulator::{Emulator, RunningEmulator};

/// Minimum share of passing targets among the domains shopsync drives (customers, products, inventory,
/// discounts, fulfillment), set from what passes today on the whole shared corpus so that regressions
/// fail the suite (744/1098 on 2026-12-08 after the discounts work; about two targets below it).
const SHOPSYNC_DOMAINS_THRESHOLD: f64 = 0.675;

/// Minimum share of passing targets over every domain (953..955/1421 on 2026-12-08 after the discounts
/// work; bulk operations vary by two targets between runs with completion timing, the threshold sits about
/// two targets below the lower count).
const ALL_DOMAINS_THRESHOLD: f64 = 0.669;

/// Cases in shopsync's domains that do not match, and why (tests/captures/README.md, PARITY, has the
/// long form). Printed next to the difference so every failing case carries its reason.
const KNOWN_GAPS: &[(&str, &str)] = &[
    (
        "customer-by-identifier-read::customer-by-identifier-data",
        "a store customer with 13 real orders (numberOfOrders, amountSpent, addresses): orders are not linked to customers",
    ),
    (
        "customer-create-live-parity::downstream-read-data",
        "customersCount is the size of the recording store (1296 customers)",
    ),
    (
        "customer-delete-live-parity::downstream-read-data",
        "customersCount is the size of the recording store (1296 customers)",
    ),
    (
        "customers-search-read::customers-search-data",
        "the page depends on the recording store's other customers (order by their update times, hasNextPage)",
    ),
    (
        "product-update-live-parity::mutation-data",
        "onlineStorePreviewUrl is a signed link from Shopify's online store preview service",
    ),
    (
        "collection-create-blank-title-user-errors",
        "collections are not modelled",
    ),
    (
        "fulfillment-order-move-multi-line::locations-hydrate",
        "the recording store has more locations than the page (hasNextPage)",
    ),
    (
        "fulfillment-order-move-validation::hydrate-location-baseline",
        "the recording store's full location list (fulfillment-service locations excluded) is not in the capture",
    ),
    (
        "fulfillment-order-move-validation::submit-request-setup",
        "fulfillmentOrderSubmitFulfillmentRequest and fulfillment-service (3PL) locations are not modelled",
    ),
    (
        "fulfillment-order-move-validation::submitted-move-user-errors",
        "needs a fulfillment order submitted to a 3PL fulfillment service (not modelled)",
    ),
];

fn known_gap(case: &str) -> Option<&'static str> {
    KNOWN_GAPS
        .iter()
        .find(|(k, _)| case.contains(k))
        .map(|(_, why)| *why)
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn replay_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    // Every API version directory (2025-01, 2026-04, 2026-07, ...), each holding one directory per domain.
    for version in std::fs::read_dir(captures_dir()).unwrap() {
        let vdir = version.unwrap().path();
        if !vdir.is_dir() {
            continue;
        }
        for domain in std::fs::read_dir(&vdir).unwrap() {
            for f in std::fs::read_dir(domain.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if p.to_string_lossy().ends_with(".replay.json") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// The recording store's currency, as its shop reads (`shop { currencyCode }` in any capture's
/// `upstreamCalls`) show it: every capture comes from the same store, so a capture without such a read
/// still has that currency. `None` unless the reads agree on one currency.
fn recorded_store_currency() -> Option<&'static str> {
    static CURRENCY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CURRENCY
        .get_or_init(|| {
            let mut seen = std::collections::BTreeSet::new();
            for replay in replay_files() {
                let raw = replay.to_string_lossy().replace(".replay.json", ".json");
                let Some(capture) = std::fs::read(&raw)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                else {
                    continue;
                };
                for call in capture["upstreamCalls"].as_array().into_iter().flatten() {
                    if let Some(c) =
                        call["response"]["body"]["data"]["shop"]["currencyCode"].as_str()
                    {
                        seen.insert(c.to_string());
                    }
                }
            }
            (seen.len() == 1).then(|| seen.into_iter().next()).flatten()
        })
        .as_deref()
}

/// Parses `$.a.b[0]['c'][*]` into segments; `None` segment = wildcard.
fn segments(path: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let p = path.strip_prefix('$').unwrap_or(path);
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                out.push(if name == "*" { None } else { Some(name) });
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim_matches('\'').trim_matches('"').to_string();
                out.push(if inner == "*" { None } else { Some(inner) });
            }
            _ => {}
        }
    }
    out
}

fn get_all<'a>(v: &'a Value, segs: &[Option<String>]) -> Vec<&'a Value> {
    let Some((first, rest)) = segs.split_first() else {
        return vec![v];
    };
    match first {
        None => match v {
            Value::Array(a) => a.iter().flat_map(|x| get_all(x, rest)).collect(),
            Value::Object(m) => m.values().flat_map(|x| get_all(x, rest)).collect(),
            _ => vec![],
        },
        Some(k) => {
            let next = match v {
                Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
                Value::Object(m) => m.get(k),
                _ => None,
            };
            next.map(|n| get_all(n, rest)).unwrap_or_default()
        }
    }
}

fn get(v: &Value, path: &str) -> Option<Value> {
    get_all(v, &segments(path)).first().map(|x| (*x).clone())
}

fn set_all(v: &mut Value, segs: &[Option<String>], f: &dyn Fn(&mut Value)) {
    let Some((first, rest)) = segs.split_first() else {
        f(v);
        return;
    };
    match (first, v) {
        (None, Value::Array(a)) => a.iter_mut().for_each(|x| set_all(x, rest, f)),
        (None, Value::Object(m)) => m.values_mut().for_each(|x| set_all(x, rest, f)),
        (Some(k), Value::Array(a)) => {
            if let Some(x) = k.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                set_all(x, rest, f)
            }
        }
        (Some(k), Value::Object(m)) => {
            if let Some(x) = m.get_mut(k) {
                set_all(x, rest, f)
            }
        }
        _ => {}
    }
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
}

/// Ids keep their type, timestamps and cursors become placeholders, costs are dropped.
fn normalise(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("gid://shopify/") => {
            let rest = &s["gid://shopify/".len()..];
            let ty = rest.split('/').next().unwrap_or("");
            Value::String(format!("gid://shopify/{ty}/<id>"))
        }
        Value::String(s) if is_timestamp(s) => Value::String("<timestamp>".into()),
        Value::String(s) if s.contains("gid://shopify/") => {
            let re =
                regex::Regex::new(r"gid://shopify/([A-Za-z]+)/[0-9]+(\?[a-z_]+=[0-9]+)?").unwrap();
            Value::String(re.replace_all(s, "gid://shopify/$1/<id>").into_owned())
        }
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "cost")
                .map(|(k, v)| {
                    let nv = if matches!(k.as_str(), "cursor" | "startCursor" | "endCursor")
                        && v.is_string()
                    {
                        json!("<cursor>")
                    } else {
                        normalise(v)
                    };
                    (k.clone(), nv)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn matcher_ok(matcher: &str, v: &Value) -> bool {
    let s = v.as_str();
    match matcher {
        "iso-timestamp" => s.is_some_and(is_timestamp),
        "non-empty-string" | "any-string" => {
            s.is_some_and(|s| matcher == "any-string" || !s.is_empty())
        }
        "any-number" => v.is_number(),
        "null" => v.is_null(),
        m if m.starts_with("shopify-gid:") => {
            s.is_some_and(|s| s.starts_with(&format!("gid://shopify/{}/", &m[12..])))
        }
        m if m.starts_with("regex:") => s.is_some_and(|s| {
            regex::Regex::new(&m[6..])
                .map(|r| r.is_match(s))
                .unwrap_or(false)
        }),
        _ => true,
    }
}

/// Replaces `{"fromPrimaryProxyPath"}`, `{"fromProxyResponse", "path"}` and `{"fromCapturePath"}` values.
fn substitute(
    v: &Value,
    capture: &Value,
    primary: &Value,
    named: &BTreeMap<String, Value>,
) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(p) = m.get("fromPrimaryProxyPath").and_then(Value::as_str) {
                return get(primary, p).unwrap_or(Value::Null);
            }
            if let (Some(n), Some(p)) = (
                m.get("fromProxyResponse").and_then(Value::as_str),
                m.get("path").and_then(Value::as_str),
            ) {
                return named.get(n).and_then(|r| get(r, p)).unwrap_or(Value::Null);
            }
            if let Some(p) = m.get("fromCapturePath").and_then(Value::as_str) {
                return get(capture, p).unwrap_or(Value::Null);
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, capture, primary, named)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, capture, primary, named))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn send(
    emu: &RunningEmulator,
    version: &str,
    doc: &str,
    vars: &Value,
    op: Option<&Value>,
) -> Value {
    let mut body = json!({"query": doc, "variables": vars});
    if let Some(op) = op {
        body["operationName"] = op.clone();
    }
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/admin/api/{version}/graphql.json",
            emu.base_url()
        ))
        .header("X-Shopify-Access-Token", emu.token())
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap_or(Value::Null)
}

fn domain_of(file: &Path) -> String {
    let dir = file
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = file
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match dir.as_str() {
        "products" if name.starts_with("inventory") => "inventory".into(),
        "shipping-fulfillments" => "fulfillment".into(),
        "metafield-definitions" => "metafields".into(),
        d => d.to_string(),
    }
}

fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if x.contains_key(k) != y.contains_key(k) {
                    return Some(format!(
                        "{path}.{k}: shopify {} vs emulator {}",
                        short(va),
                        short(vb)
                    ));
                }
                if let Some(d) = first_difference(va, vb, &format!("{path}.{k}")) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!(
            "{path}: shopify {} vs emulator {}",
            short(a),
            short(b)
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        format!("{}...", &s[..160])
    } else {
        s
    }
}

/// Mirrors what the recording store already had and the captures refer to: its name and its locations
/// (ids and names), so that location ids in captured variables resolve.
fn seed_from_capture(capture: &Value, raw_capture: &Value, replay: &Value) -> Fixture {
    let mut locations: BTreeMap<u64, String> = BTreeMap::new();
    fn walk(v: &Value, out: &mut BTreeMap<u64, String>) {
        match v {
            Value::Object(m) => {
                if let Some(id) = m
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.strip_prefix("gid://shopify/Location/"))
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    let name = m.get("name").and_then(Value::as_str).map(str::to_string);
                    let e = out.entry(id).or_insert_with(|| format!("Location {id}"));
                    if let Some(n) = name {
                        *e = n;
                    }
                }
                // Ids a recording names as invalid/unknown/missing are ones the store must not have.
                m.iter()
                    .filter(|(k, _)| {
                        let k = k.to_ascii_lowercase();
                        !["invalid", "unknown", "missing"]
                            .iter()
                            .any(|p| k.starts_with(p))
                    })
                    .for_each(|(_, x)| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::String(s) => {
                let re = regex::Regex::new(r"gid://shopify/Location/([0-9]+)").unwrap();
                for c in re.captures_iter(s) {
                    if let Ok(id) = c[1].parse::<u64>() {
                        out.entry(id).or_insert_with(|| format!("Location {id}"));
                    }
                }
            }
            _ => {}
        }
    }
    walk(capture, &mut locations);
    // Messages name the location the recording used ("... stocked at My Custom Location ...").
    let text = capture.to_string();
    let only_one = locations.len() == 1;
    if let Some(c) = regex::Regex::new(r"stocked at ([A-Za-z0-9 ]+?) because")
        .unwrap()
        .captures(&text)
        && only_one
        && let Some(v) = locations.values_mut().next()
    {
        *v = c[1].to_string();
    }
    let mut doc = json!({"shop": {"name": "harry-test-heelo"}});
    if let Some(id) = recorded_app_id(capture) {
        doc["shop"]["app_id"] = json!(id);
    }
    // Orders the recording created before its steps (ids, fulfillment orders and their line items).
    let num = |v: &Value| {
        v.as_str()
            .and_then(|s| s.rsplit('/').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let mut orders = Vec::new();
    let mut recorded: Vec<Value> = Vec::new();
    for c in capture.as_array().into_iter().flatten() {
        let m = &c["metadata"];
        recorded.extend(m["createdOrders"].as_array().cloned().unwrap_or_default());
        if m["createdOrder"].is_object() {
            recorded.push(m["createdOrder"].clone());
        }
    }
    for o in &recorded {
        // The order as the recording's own upstream read found it (with every fulfillment order it had by
        // then) wins over the creation-time metadata.
        if let Some(seed) = o["id"]
            .as_str()
            .and_then(|g| first_upstream_with_id(raw_capture, g, "fulfillmentOrders"))
            .and_then(|h| order_seed_from_read(h, &locations))
        {
            orders.push(seed);
            continue;
        }
        let fo = o.get("fulfillmentOrder");
        let fo_id = num(&o["fulfillmentOrderId"]).or_else(|| fo.and_then(|f| num(&f["id"])));
        let mut line_ids: Vec<u64> = o["fulfillmentOrderLineItemIds"]
            .as_array()
            .map(|a| a.iter().filter_map(num).collect())
            .unwrap_or_default();
        line_ids.extend(num(&o["fulfillmentOrderLineItemId"]));
        if let Some(nodes) = fo.and_then(|f| f["lineItems"]["nodes"].as_array()) {
            line_ids.extend(nodes.iter().filter_map(|n| num(&n["id"])));
        }
        // Otherwise the fulfillment order as the recording first read it.
        if line_ids.is_empty()
            && let Some(nodes) = fo_id
                .and_then(|id| {
                    first_object_with_id(
                        capture,
                        &format!("gid://shopify/FulfillmentOrder/{id}"),
                        "lineItems",
                    )
                })
                .and_then(|f| f["lineItems"]["nodes"].as_array())
        {
            line_ids.extend(nodes.iter().filter_map(|n| num(&n["id"])));
        }
        if line_ids.is_empty() {
            line_ids.push(0);
        }
        let loc = num(&o["assignedLocationId"])
            .or_else(|| fo.and_then(|f| num(&f["assignedLocation"]["location"]["id"])));
        // Titles and quantities as the recording first showed them.
        let lines: Vec<Value> = line_ids
            .iter()
            .map(|id| {
                let found = first_object_with_id(
                    capture,
                    &format!("gid://shopify/FulfillmentOrderLineItem/{id}"),
                    "totalQuantity",
                );
                let qty = found.and_then(|o| o["totalQuantity"].as_i64()).unwrap_or(1);
                let title = found
                    .and_then(|o| o["lineItem"]["title"].as_str())
                    .unwrap_or("Recorded item");
                json!({"title": title, "quantity": qty})
            })
            .collect();
        let mut fo_seed = json!({"id": fo_id, "line_item_ids": line_ids.iter().filter(|i| **i != 0).collect::<Vec<_>>()});
        if let Some(l) = loc.filter(|l| locations.contains_key(l)) {
            fo_seed["location_id"] = json!(l);
        }
        // The status the recording's upstream read saw before the replayed requests.
        if let Some(status) = fo_id
            .and_then(|id| {
                first_upstream_with_id(
                    raw_capture,
                    &format!("gid://shopify/FulfillmentOrder/{id}"),
                    "status",
                )
            })
            .and_then(|f| f["status"].as_str())
        {
            fo_seed["status"] = json!(status);
        }
        // The order's name as the recording showed it when the metadata omits it.
        let name = o["name"].as_str().map(str::to_string).or_else(|| {
            o["id"].as_str().and_then(|g| {
                first_object_with_id(capture, g, "name")
                    .and_then(|x| x["name"].as_str().map(str::to_string))
            })
        });
        orders.push(json!({"id": num(&o["id"]), "name": name, "line_items": lines, "fulfillment_orders": [fo_seed]}));
    }
    if !orders.is_empty() {
        doc["orders"] = Value::Array(orders);
    }
    let customers = recorded_customers(raw_capture, replay);
    if !customers.is_empty() {
        doc["customers"] = Value::Array(customers);
    }

    if !locations.is_empty() {
        doc["locations"] = Value::Array(
            locations
                .into_iter()
                .map(|(id, name)| json!({"id": id, "name": name}))
                .collect(),
        );
    }
    // Shopify Functions the recording looked up (app discounts name them).
    let mut functions = Vec::new();
    for call in raw_capture["upstreamCalls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let body = &call["response"]["body"]["data"]["shopifyFunctions"]["nodes"];
        for f in body.as_array().into_iter().flatten() {
            functions.push(json!({"id": f["id"], "handle": f["handle"], "title": f["title"], "api_type": f["apiType"]}));
        }
    }
    if !functions.is_empty() {
        doc["functions"] = Value::Array(functions);
    }
    // Code discounts the recording store already had: a uniqueness check (`codeDiscountNodeByCode`)
    // that found a node. Only the code and id are known; the code stands in for the title.
    let mut discounts = Vec::new();
    for call in raw_capture["upstreamCalls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let node = &call["response"]["body"]["data"]["codeDiscountNodeByCode"];
        if let (Some(id), Some(code)) = (node["id"].as_str(), call["variables"]["code"].as_str()) {
            discounts.push(json!({"id": num(&json!(id)), "title": code, "codes": [code]}));
        }
    }
    if !discounts.is_empty() {
        doc["discounts"] = Value::Array(discounts);
    }
    // The shop's currency: the capture's own shop read, else the recording store's.
    if let Some(currency) = raw_capture["upstreamCalls"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| c["response"]["body"]["data"]["shop"]["currencyCode"].as_str())
        .map(str::to_string)
        .or_else(|| recorded_store_currency().map(str::to_string))
    {
        doc["shop"]["currency_code"] = json!(currency);
    }
    // Customer segments the recording read (discount buyer contexts name them).
    let mut segments = Vec::new();
    for call in raw_capture["upstreamCalls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let nodes = &call["response"]["body"]["data"]["nodes"];
        for n in nodes.as_array().into_iter().flatten() {
            if n["__typename"] == "Segment"
                && let Some(id) = num(&n["id"])
            {
                segments.push(
                    json!({"id": id, "name": n["name"].as_str().unwrap_or_default(),
                    "query": n["query"].as_str().unwrap_or_default(),
                    "creation_date": n["creationDate"], "last_edit_date": n["lastEditDate"]}),
                );
            }
        }
    }
    if !segments.is_empty() {
        doc["segments"] = Value::Array(segments);
    }
    // Taxonomy categories the recording resolved.
    let mut categories = Vec::new();
    for call in raw_capture["upstreamCalls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let node = &call["response"]["body"]["data"]["node"];
        if node["__typename"] == "TaxonomyCategory" {
            categories.push(
                json!({"id": node["id"], "name": node["name"], "full_name": node["fullName"]}),
            );
        }
    }
    if !categories.is_empty() {
        doc["taxonomy_categories"] = Value::Array(categories);
    }
    let bulk = recorded_bulk_operations(raw_capture, replay);
    if !bulk.is_empty() {
        doc["bulk_operations"] = Value::Array(bulk);
    }
    let products = recorded_products(raw_capture, replay, &doc);
    if !products.is_empty() {
        doc["products"] = Value::Array(products);
    }
    Fixture::parse(doc.to_string().as_bytes(), "capture seed").unwrap()
}

/// The recording app's id, as Shopify's answers show it in the app's reserved namespaces (`app--<id>`).
fn recorded_app_id(capture: &Value) -> Option<u64> {
    fn walk(v: &Value, in_answer: bool, out: &mut Option<u64>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let answer = in_answer || k == "response" || k == "data";
                    if answer
                        && k == "namespace"
                        && let Some(id) = x
                            .as_str()
                            .and_then(|s| s.strip_prefix("app--"))
                            .and_then(|r| r.split("--").next())
                            .and_then(|n| n.parse::<u64>().ok())
                    {
                        out.get_or_insert(id);
                    }
                    walk(x, answer, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, in_answer, out)),
            _ => {}
        }
    }
    let mut out = None;
    walk(capture, false, &mut out);
    out
}

/// Customers the recording store already held: what the capture's upstream hydrate reads returned for
/// them, minus those a replayed request creates itself.
fn recorded_customers(capture: &Value, replay: &Value) -> Vec<Value> {
    fn created(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for root in ["customerCreate", "customerSet"] {
                    if let Some(id) = m.get(root).and_then(|r| r["customer"]["id"].as_str()) {
                        out.insert(id.to_string());
                    }
                }
                m.values().for_each(|x| created(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| created(x, out)),
            _ => {}
        }
    }
    let mut replayed = std::collections::BTreeSet::new();
    for s in replay["scenarios"].as_array().into_iter().flatten() {
        for t in s["targets"].as_array().into_iter().flatten() {
            if let Some(v) = t["capturePath"].as_str().and_then(|p| get(capture, p)) {
                created(&v, &mut replayed);
            }
        }
    }
    fn hydrated(v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                if let Some(id) = m
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| s.starts_with("gid://shopify/Customer/"))
                    && (m.contains_key("email") || m.contains_key("phone"))
                {
                    out.entry(id.to_string()).or_insert_with(|| v.clone());
                }
                m.values().for_each(|x| hydrated(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| hydrated(x, out)),
            _ => {}
        }
    }
    let mut found = BTreeMap::new();
    for call in capture["upstreamCalls"].as_array().into_iter().flatten() {
        hydrated(&call["response"], &mut found);
    }
    found
        .into_iter()
        .filter(|(id, _)| !replayed.contains(id))
        .filter_map(|(id, c)| {
            let n = id.rsplit('/').next()?.parse::<u64>().ok()?;
            let tags = c["tags"].as_array().cloned().unwrap_or_default();
            let addresses = c["addressesV2"]["nodes"]
                .as_array()
                .or_else(|| c["addresses"].as_array())
                .cloned()
                .unwrap_or_default();
            let email = c["email"]
                .as_str()
                .or_else(|| c["defaultEmailAddress"]["emailAddress"].as_str());
            let phone = c["phone"]
                .as_str()
                .or_else(|| c["defaultPhoneNumber"]["phoneNumber"].as_str());
            let consent = |v: &Value| v.get("marketingState").map(|_| v.clone());
            // A read that did not ask for the names takes them from the capture's first object that has them.
            let name = |field: &str| {
                if c.get(field).is_some() {
                    return c[field].clone();
                }
                first_object_with_id(capture, &id, field)
                    .map(|o| o[field].clone())
                    .unwrap_or(Value::Null)
            };
            Some(json!({"id": n, "email": email, "phone": phone,
                "email_consent": consent(&c["defaultEmailAddress"]),
                "sms_consent": consent(&c["defaultPhoneNumber"]),
                "first_name": name("firstName"), "last_name": name("lastName"), "tags": tags,
                "has_orders": c["canDelete"] == json!(false),
                "tax_exempt": c["taxExempt"].as_bool().unwrap_or(false),
                "tax_exemptions": c["taxExemptions"].as_array().cloned().unwrap_or_default(),
                "note": c["note"], "addresses": addresses,
                "default_address_id": c["defaultAddress"]["id"]}))
        })
        .collect()
}

/// Bulk operations the recording store already had: every one the capture shows (as first shown),
/// minus those a replayed request starts itself.
fn recorded_bulk_operations(capture: &Value, replay: &Value) -> Vec<Value> {
    fn walk(v: &Value, out: &mut BTreeMap<u64, Value>) {
        match v {
            Value::Object(m) => {
                if let Some(id) = m
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.strip_prefix("gid://shopify/BulkOperation/"))
                    .and_then(|n| n.parse::<u64>().ok())
                    && m.get("status").is_some_and(Value::is_string)
                {
                    out.entry(id).or_insert_with(|| {
                        json!({"id": id, "status": m["status"], "type": m.get("type"),
                            "query": m.get("query"), "created_at": m.get("createdAt")})
                    });
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut found = BTreeMap::new();
    walk(capture, &mut found);
    let created = replay_created(
        capture,
        replay,
        &["bulkOperationRunMutation", "bulkOperationRunQuery"],
        "bulkOperation",
    );
    // An operation a replayed answer shows as just CREATED is one the replay starts itself.
    let mut started = BTreeMap::new();
    for s in replay["scenarios"].as_array().into_iter().flatten() {
        for t in s["targets"].as_array().into_iter().flatten() {
            if let Some(v) = t["capturePath"].as_str().and_then(|p| get(capture, p)) {
                walk(&v, &mut started);
            }
        }
    }
    found
        .into_iter()
        .filter(|(id, _)| !created.contains(&format!("gid://shopify/BulkOperation/{id}")))
        .filter(|(id, _)| started.get(id).is_none_or(|v| v["status"] != "CREATED"))
        .map(|(_, v)| v)
        .collect()
}

/// Ids that a replayed request creates itself (`<root>.<key>.id` in the captured answers of the targets).
fn replay_created(
    capture: &Value,
    replay: &Value,
    roots: &[&str],
    key: &str,
) -> std::collections::BTreeSet<String> {
    fn walk(v: &Value, roots: &[&str], key: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for root in roots {
                    if let Some(id) = m.get(*root).and_then(|r| r[key]["id"].as_str()) {
                        out.insert(id.to_string());
                    }
                }
                m.values().for_each(|x| walk(x, roots, key, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, roots, key, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for s in replay["scenarios"].as_array().into_iter().flatten() {
        for t in s["targets"].as_array().into_iter().flatten() {
            if let Some(v) = t["capturePath"].as_str().and_then(|p| get(capture, p)) {
                walk(&v, roots, key, &mut out);
            }
        }
    }
    out
}

/// Products (with their variants, inventory items and stock) the recording store already held, as the
/// capture's upstream hydrate reads returned them, minus those a replayed request creates itself.
fn recorded_products(capture: &Value, replay: &Value, doc: &Value) -> Vec<Value> {
    #[derive(Default)]
    struct Seen {
        products: BTreeMap<u64, Value>,
        // variant -> (product, inventory item, fields)
        variants: BTreeMap<u64, (Option<u64>, Option<u64>, Value)>,
        tracked: BTreeMap<u64, bool>,
        // item -> location -> available
        stock: BTreeMap<u64, BTreeMap<u64, i64>>,
    }
    fn id_of(v: &Value, ty: &str) -> Option<u64> {
        v["id"]
            .as_str()?
            .strip_prefix(&format!("gid://shopify/{ty}/"))?
            .split('?')
            .next()?
            .parse()
            .ok()
    }
    fn walk(
        v: &Value,
        product: Option<u64>,
        variant: Option<u64>,
        item: Option<u64>,
        seen: &mut Seen,
    ) {
        match v {
            Value::Object(m) => {
                let (mut product, mut variant, mut item) = (product, variant, item);
                if let Some(p) = id_of(v, "Product") {
                    let e = seen.products.entry(p).or_insert_with(|| json!({}));
                    for k in ["title", "handle", "status", "vendor"] {
                        if let Some(x) = m.get(k).filter(|x| x.is_string()) {
                            e[k] = x.clone();
                        }
                    }
                    if let Some(var) = variant {
                        seen.variants.entry(var).or_default().0 = Some(p);
                    }
                    product = Some(p);
                } else if let Some(var) = id_of(v, "ProductVariant") {
                    let e = seen.variants.entry(var).or_default();
                    if e.2.is_null() {
                        e.2 = json!({});
                    }
                    for k in ["sku", "price", "title"] {
                        if let Some(x) = m.get(k).filter(|x| x.is_string()) {
                            e.2[k] = x.clone();
                        }
                    }
                    if product.is_some() && variant.is_none() {
                        e.0 = e.0.or(product);
                    }
                    if item.is_some() {
                        e.1 = e.1.or(item);
                    }
                    variant = Some(var);
                    product = e.0;
                } else if let Some(i) = id_of(v, "InventoryItem") {
                    if let Some(t) = m.get("tracked").and_then(Value::as_bool) {
                        seen.tracked.insert(i, t);
                    }
                    if let Some(var) = variant {
                        seen.variants.entry(var).or_default().1 = Some(i);
                    }
                    item = Some(i);
                } else if let (Some(i), Some(loc)) =
                    (item, m.get("location").and_then(|l| id_of(l, "Location")))
                {
                    let available = m["quantities"]
                        .as_array()
                        .and_then(|q| q.iter().find(|x| x["name"] == "available"))
                        .and_then(|x| x["quantity"].as_i64())
                        .or_else(|| m.get("available").and_then(Value::as_i64));
                    if let Some(a) = available {
                        seen.stock.entry(i).or_default().entry(loc).or_insert(a);
                    }
                }
                m.values()
                    .for_each(|x| walk(x, product, variant, item, seen));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, product, variant, item, seen)),
            _ => {}
        }
    }
    let mut seen = Seen::default();
    for call in capture["upstreamCalls"].as_array().into_iter().flatten() {
        // Only the first read of a record is the state before the replay.
        let mut one = Seen::default();
        walk(&call["response"], None, None, None, &mut one);
        // Per field: a first read that selected only `id` must not hide the title a later read shows.
        for (k, v) in one.products {
            let e = seen.products.entry(k).or_insert_with(|| json!({}));
            for (f, x) in v.as_object().into_iter().flatten() {
                if e.get(f).is_none() {
                    e[f] = x.clone();
                }
            }
        }
        for (k, v) in one.variants {
            let e = seen.variants.entry(k).or_insert((None, None, json!({})));
            e.0 = e.0.or(v.0);
            e.1 = e.1.or(v.1);
        }
        for (k, v) in one.tracked {
            seen.tracked.entry(k).or_insert(v);
        }
        for (k, v) in one.stock {
            let e = seen.stock.entry(k).or_default();
            for (l, q) in v {
                e.entry(l).or_insert(q);
            }
        }
    }
    let created = replay_created(
        capture,
        replay,
        &["productCreate", "productSet", "productDuplicate"],
        "product",
    );
    let location_name = |id: u64| {
        doc["locations"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["id"] == json!(id))
            .and_then(|l| l["name"].as_str().map(str::to_string))
    };
    seen.products
        .iter()
        .filter(|(id, _)| !created.contains(&format!("gid://shopify/Product/{id}")))
        .filter_map(|(id, p)| {
            let variants: Vec<Value> = seen
                .variants
                .iter()
                .filter(|(_, v)| v.0 == Some(*id))
                .map(|(vid, (_, item, f))| {
                    let inventory: BTreeMap<String, i64> = item
                        .and_then(|i| seen.stock.get(&i))
                        .map(|s| s.iter().filter_map(|(l, q)| Some((location_name(*l)?, *q))).collect())
                        .unwrap_or_default();
                    json!({"id": vid, "inventory_item_id": item, "sku": f["sku"], "price": f["price"],
                        "option": f["title"], "inventory": inventory,
                        "tracked": item.and_then(|i| seen.tracked.get(&i))})
                })
                .collect();
            let title = p["title"].as_str()?;
            Some(json!({"id": id, "title": title, "handle": p["handle"], "status": p["status"],
                "vendor": p["vendor"], "variants": variants}))
        })
        .collect()
}

/// The first object of the capture's upstream reads whose `id` is `gid` and that carries `field`.
fn first_upstream_with_id<'a>(capture: &'a Value, gid: &str, field: &str) -> Option<&'a Value> {
    capture["upstreamCalls"]
        .as_array()?
        .iter()
        .find_map(|c| first_object_with_id(&c["response"], gid, field))
}

/// An order seed from an order as a read returned it: its line items and every fulfillment order with
/// ids, status, location and quantities.
fn order_seed_from_read(order: &Value, locations: &BTreeMap<u64, String>) -> Option<Value> {
    let num = |v: &Value| {
        v.as_str()
            .and_then(|s| s.rsplit('/').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let fos = order["fulfillmentOrders"]["nodes"].as_array()?;
    let mut line_ids: Vec<u64> = Vec::new();
    let mut lines = Vec::new();
    for fo in fos {
        for n in fo["lineItems"]["nodes"].as_array().into_iter().flatten() {
            let li = &n["lineItem"];
            if let Some(id) = num(&li["id"]).filter(|id| !line_ids.contains(id)) {
                line_ids.push(id);
                lines.push(json!({"title": li["title"], "quantity": li["quantity"]}));
            }
        }
    }
    let fo_seeds: Vec<Value> = fos
        .iter()
        .map(|fo| {
            let nodes: Vec<&Value> = fo["lineItems"]["nodes"].as_array().into_iter().flatten().collect();
            let mut seed = json!({
                "id": num(&fo["id"]),
                "status": fo["status"],
                "request_status": fo["requestStatus"],
                "line_item_ids": nodes.iter().filter_map(|n| num(&n["id"])).collect::<Vec<_>>(),
                "line_items": nodes.iter().filter_map(|n| num(&n["lineItem"]["id"]).and_then(|id| line_ids.iter().position(|x| *x == id))).collect::<Vec<_>>(),
                "quantities": nodes.iter().map(|n| n["totalQuantity"].as_i64().unwrap_or(0)).collect::<Vec<_>>(),
            });
            if let Some(l) = num(&fo["assignedLocation"]["location"]["id"]).filter(|l| locations.contains_key(l)) {
                seed["location_id"] = json!(l);
            }
            seed
        })
        .filter(|f| !f["line_items"].as_array().is_some_and(Vec::is_empty))
        .collect();
    if lines.is_empty() || fo_seeds.is_empty() {
        return None;
    }
    Some(
        json!({"id": num(&order["id"]), "name": order["name"], "line_items": lines, "fulfillment_orders": fo_seeds}),
    )
}

/// The first object in `v` whose `id` is `gid` and that carries `field`.
fn first_object_with_id<'a>(v: &'a Value, gid: &str, field: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => {
            if m.get("id").and_then(Value::as_str) == Some(gid) && m.contains_key(field) {
                return Some(v);
            }
            m.values().find_map(|x| first_object_with_id(x, gid, field))
        }
        Value::Array(a) => a.iter().find_map(|x| first_object_with_id(x, gid, field)),
        _ => None,
    }
}

/// Learns which emulator GID stands for which recorded GID by walking Shopify's and the emulator's answers
/// side by side.
fn learn_ids(expected: &Value, actual: &Value, map: &mut BTreeMap<String, String>) {
    match (expected, actual) {
        (Value::String(e), Value::String(a))
            if e.starts_with("gid://shopify/") && a.starts_with("gid://shopify/") && e != a =>
        {
            let ty = |s: &str| s.split('/').nth(3).map(str::to_string);
            if ty(e) == ty(a) {
                map.insert(e.clone(), a.clone());
            }
        }
        (Value::Object(x), Value::Object(y)) => x.iter().for_each(|(k, v)| {
            if let Some(w) = y.get(k) {
                learn_ids(v, w, map)
            }
        }),
        (Value::Array(x), Value::Array(y)) => {
            x.iter().zip(y).for_each(|(v, w)| learn_ids(v, w, map))
        }
        _ => {}
    }
}

/// Rewrites recorded GIDs in request variables to the emulator's equivalents.
fn translate_ids(v: &Value, map: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(map.get(s).cloned().unwrap_or_else(|| s.clone())),
        Value::Array(a) => Value::Array(a.iter().map(|x| translate_ids(x, map)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), translate_ids(x, map)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Which emulator GID stands for each inventory level the recording store already had: the seed gives
/// every level of an item at a location anew, so the recorded level (its item and location) is looked up.
async fn seeded_level_ids(
    emu: &RunningEmulator,
    version: &str,
    capture: &Value,
) -> BTreeMap<String, String> {
    fn walk(v: &Value, out: &mut BTreeMap<String, (String, String)>) {
        match v {
            Value::Object(m) => {
                if let (Some(id), Some(loc)) = (
                    m.get("id")
                        .and_then(Value::as_str)
                        .filter(|s| s.starts_with("gid://shopify/InventoryLevel/")),
                    m.get("location")
                        .and_then(|l| l["id"].as_str())
                        .filter(|s| s.starts_with("gid://shopify/Location/")),
                ) && let Some(item) = id.split("inventory_item_id=").nth(1)
                {
                    out.entry(id.to_string()).or_insert_with(|| {
                        (
                            format!("gid://shopify/InventoryItem/{item}"),
                            loc.to_string(),
                        )
                    });
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut recorded = BTreeMap::new();
    walk(&capture["upstreamCalls"], &mut recorded);
    let doc = "query($id: ID!) { inventoryItem(id: $id) { inventoryLevels(first: 250, includeInactive: true) { nodes { id location { id } } } } }";
    let mut seeded: BTreeMap<String, Value> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (level, (item, loc)) in recorded {
        if !seeded.contains_key(&item) {
            let answer = send(emu, version, doc, &json!({"id": item}), None).await;
            seeded.insert(item.clone(), answer);
        }
        let nodes = &seeded[&item]["data"]["inventoryItem"]["inventoryLevels"]["nodes"];
        if let Some(found) = nodes
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["location"]["id"] == loc.as_str())
            .and_then(|n| n["id"].as_str())
        {
            out.insert(level, found.to_string());
        }
    }
    out
}

struct Outcome {
    domain: String,
    case: String,
    failure: Option<String>,
}

async fn run_file(file: &Path, out: &mut Vec<Outcome>) {
    let replay: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let capture_name = replay["capture"].as_str().unwrap();
    let capture: Value =
        serde_json::from_str(&std::fs::read_to_string(file.with_file_name(capture_name)).unwrap())
            .unwrap();
    let dir_version = file
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let domain = domain_of(file);
    for scenario in replay["scenarios"].as_array().unwrap() {
        let emu = Emulator::builder()
            .seed(seed_from_capture(
                &json!([capture.clone(), replay.clone()]),
                &capture,
                &replay,
            ))
            .start_on_loopback()
            .await
            .unwrap();
        let primary_req = &scenario["primaryRequest"];
        let version_of = |req: &Value| {
            req["apiVersion"]
                .as_str()
                .or(primary_req["apiVersion"].as_str())
                .unwrap_or(&dir_version)
                .to_string()
        };
        let mut named: BTreeMap<String, Value> = BTreeMap::new();
        let mut ids: BTreeMap<String, String> =
            seeded_level_ids(&emu, &dir_version, &capture).await;
        let run_req = |req: &Value| {
            let doc = req["document"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    req["documentCapturePath"]
                        .as_str()
                        .and_then(|p| get(&capture, p))
                        .and_then(|v| v.as_str().map(str::to_string))
                })
                .unwrap_or_default();
            let vars = match req["variablesCapturePath"].as_str() {
                Some(p) => get(&capture, p).unwrap_or(json!({})),
                None => req.get("variables").cloned().unwrap_or(json!({})),
            };
            (doc, vars)
        };
        // The primary request runs first, once; its answer feeds the targets and their substitutions.
        let primary = {
            let (pdoc, pvars) = run_req(primary_req);
            let pvars = substitute(&pvars, &capture, &Value::Null, &named);
            let op = primary_req.get("operationName");
            send(&emu, &version_of(primary_req), &pdoc, &pvars, op).await
        };
        for target in scenario["targets"].as_array().unwrap() {
            let name = target["name"].as_str().unwrap_or("?").to_string();
            let case = format!(
                "{}::{}::{}",
                file.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace(".replay.json", ""),
                scenario["scenario"].as_str().unwrap_or("?"),
                name
            );
            let req = if target["request"].is_null() {
                primary_req
            } else {
                &target["request"]
            };
            let (doc, vars) = run_req(req);
            let primary_answer = primary.clone();
            let vars = translate_ids(&substitute(&vars, &capture, &primary_answer, &named), &ids);
            let response = if target["request"].is_null() {
                primary_answer
            } else {
                send(
                    &emu,
                    &version_of(req),
                    &doc,
                    &vars,
                    req.get("operationName"),
                )
                .await
            };
            named.insert(name.clone(), response.clone());
            let expected = get(&capture, target["capturePath"].as_str().unwrap_or("$"));
            let actual =
                get(&response, target["proxyPath"].as_str().unwrap_or("$")).unwrap_or(Value::Null);
            if let Some(e) = &expected {
                learn_ids(e, &actual, &mut ids);
            }
            let Some(expected) = expected else {
                out.push(Outcome {
                    domain: domain.clone(),
                    case,
                    failure: Some("capture path missing".into()),
                });
                continue;
            };
            let (mut expected, mut actual) = (expected, actual);
            let mut diffs: Vec<(String, String)> = Vec::new();
            for d in scenario["expectedDifferences"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    target["expectedDifferences"]
                        .as_array()
                        .into_iter()
                        .flatten(),
                )
            {
                let (Some(p), Some(m)) =
                    (d["path"].as_str(), d["matcher"].as_str().or(Some("any")))
                else {
                    continue;
                };
                diffs.push((p.to_string(), m.to_string()));
            }
            let mut matcher_failure = None;
            for (p, m) in &diffs {
                let segs = segments(p);
                for v in get_all(&actual, &segs) {
                    if !matcher_ok(m, v) && matcher_failure.is_none() {
                        matcher_failure = Some(format!("{p}: {} does not match {m}", short(v)));
                    }
                }
                set_all(&mut expected, &segs, &|v| {
                    *v = json!("<expected-difference>")
                });
                set_all(&mut actual, &segs, &|v| *v = json!("<expected-difference>"));
            }
            for p in target["excludedPaths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                set_all(&mut expected, &segments(p), &|v| *v = Value::Null);
                set_all(&mut actual, &segments(p), &|v| *v = Value::Null);
            }
            let (expected, actual) = match target["selectedPaths"].as_array() {
                Some(sel) if !sel.is_empty() => {
                    let pick = |v: &Value| {
                        Value::Array(
                            sel.iter()
                                .filter_map(Value::as_str)
                                .map(|p| get(v, p).unwrap_or(json!("<absent>")))
                                .collect(),
                        )
                    };
                    (pick(&expected), pick(&actual))
                }
                _ => (expected, actual),
            };
            let failure = matcher_failure
                .or_else(|| first_difference(&normalise(&expected), &normalise(&actual), "$"));
            // PARITY_DUMP=1 prints both sides of failing targets (debugging aid).
            if failure.is_some() && std::env::var_os("PARITY_DUMP").is_some() {
                println!(
                    "--- {case}\n  request vars: {}\n  shopify:  {}\n  emulator: {}\n  raw emulator: {}",
                    vars,
                    normalise(&expected),
                    normalise(&actual),
                    response
                );
            }
            out.push(Outcome {
                domain: domain.clone(),
                case,
                failure,
            });
        }
        emu.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_replay_with_parity() {
    let mut outcomes = Vec::new();
    // PARITY_FILTER=substring replays only the matching capture files (debugging aid).
    let filter = std::env::var("PARITY_FILTER").unwrap_or_default();
    for file in replay_files() {
        if !file.to_string_lossy().contains(&filter) {
            continue;
        }
        run_file(&file, &mut outcomes).await;
    }
    let mut per_domain: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let e = per_domain.entry(o.domain.clone()).or_default();
        e.1 += 1;
        if o.failure.is_none() {
            e.0 += 1;
        }
    }
    println!("parity per domain (passed/total):");
    for (d, (p, t)) in &per_domain {
        println!(
            "  {d:<16} {p:>3}/{t:<3} {:>5.1}%",
            100.0 * *p as f64 / *t as f64
        );
    }
    println!("failing cases:");
    for o in outcomes.iter().filter(|o| o.failure.is_some()) {
        let why = known_gap(&o.case)
            .map(|w| format!(" -- known: {w}"))
            .unwrap_or_default();
        println!(
            "  [{}] {}: {}{why}",
            o.domain,
            o.case,
            o.failure.as_deref().unwrap_or("")
        );
    }
    let shopsync = [
        "customers",
        "products",
        "inventory",
        "discounts",
        "fulfillment",
    ];
    let (p, t) = per_domain
        .iter()
        .filter(|(d, _)| shopsync.contains(&d.as_str()))
        .fold((0, 0), |(p, t), (_, (a, b))| (p + a, t + b));
    let rate = p as f64 / t.max(1) as f64;
    println!("shopsync domains: {p}/{t} = {:.1}%", 100.0 * rate);
    let (all_p, all_t) = per_domain
        .values()
        .fold((0, 0), |(p, t), (a, b)| (p + a, t + b));
    let all_rate = all_p as f64 / all_t.max(1) as f64;
    println!("all domains: {all_p}/{all_t} = {:.1}%", 100.0 * all_rate);
    assert!(t > 0, "no captures replayed");
    assert!(
        !filter.is_empty() || all_rate >= ALL_DOMAINS_THRESHOLD,
        "parity {all_rate:.3} over all domains fell below {ALL_DOMAINS_THRESHOLD}"
    );
    assert!(
        !filter.is_empty() || rate >= SHOPSYNC_DOMAINS_THRESHOLD,
        "parity {rate:.3} fell below {SHOPSYNC_DOMAINS_THRESHOLD}"
    );
    let _ = Map::<String, Value>::new();
}
