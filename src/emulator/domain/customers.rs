//! Customers: customerCreate/Update/Set/Delete, customer, customerByIdentifier, customers(query:).
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, RootCtx, gid, metafields, parse_gid, reference, user_error};
use crate::emulator::store::State;

/// A stored customer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    /// Numeric id.
    pub id: u64,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Normalised email.
    pub email: Option<String>,
    /// E.164 phone.
    pub phone: Option<String>,
    /// Locale, `en` by default.
    pub locale: String,
    /// Note.
    pub note: Option<String>,
    /// Tags, de-duplicated and sorted.
    pub tags: Vec<String>,
    /// Tax exempt flag.
    pub tax_exempt: bool,
    /// Tax exemptions.
    pub tax_exemptions: Vec<String>,
    /// Addresses as given (MailingAddressInput shape).
    pub addresses: Vec<Value>,
    /// Whether orders reference the customer (blocks deletion).
    pub has_orders: bool,
    /// Metafields as `Metafield` objects.
    pub metafields: Vec<Value>,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
}

/// The Customer object as the executor projects it.
pub fn to_json(_st: &State, c: &Customer) -> Value {
    let display = match (&c.first_name, &c.last_name) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(f), None) => f.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => c
            .email
            .clone()
            .or_else(|| c.phone.clone())
            .unwrap_or_default(),
    };
    let addresses: Vec<Value> = c
        .addresses
        .iter()
        .enumerate()
        .map(|(i, a)| address_json(c.id, i, a))
        .collect();
    json!({
        "__typename": "Customer",
        "id": gid("Customer", c.id),
        "legacyResourceId": c.id.to_string(),
        "firstName": c.first_name,
        "lastName": c.last_name,
        "displayName": display,
        "email": c.email,
        "phone": c.phone,
        "locale": c.locale,
        "note": c.note,
        "verifiedEmail": c.email.is_some(),
        "validEmailAddress": c.email.is_some(),
        "taxExempt": c.tax_exempt,
        "taxExemptions": c.tax_exemptions,
        "tags": c.tags,
        "state": "DISABLED",
        "canDelete": !c.has_orders,
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "metafields": c.metafields,
        "numberOfOrders": "0",
        "amountSpent": {"amount": "0.0", "currencyCode": "USD"},
        "defaultEmailAddress": c.email.as_ref().map(|e| json!({"emailAddress": e, "marketingState": "NOT_SUBSCRIBED"})),
        "defaultPhoneNumber": c.phone.as_ref().map(|p| json!({"phoneNumber": p, "marketingState": "NOT_SUBSCRIBED"})),
        "defaultAddress": addresses.first().cloned(),
        "addresses": addresses,
        "addressesV2": addresses,
    })
}

fn address_json(customer: u64, i: usize, a: &Value) -> Value {
    let mut m = a.as_object().cloned().unwrap_or_default();
    m.insert("__typename".into(), json!("MailingAddress"));
    m.insert(
        "id".into(),
        json!(format!(
            "gid://shopify/MailingAddress/{}?model_name=CustomerAddress",
            customer * 100 + i as u64
        )),
    );
    let area: Vec<String> = ["city", "province", "country"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_str).map(str::to_string))
        .collect();
    m.insert(
        "formattedArea".into(),
        json!(if area.is_empty() {
            Value::Null
        } else {
            json!(area.join(", "))
        }),
    );
    Value::Object(m)
}

fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$").unwrap_or_else(|e| panic!("{e}")))
}

/// Shopify strips whitespace and lower-cases emails.
pub fn normalize_email(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
}

/// Normalises a phone to E.164 (`+14155550123`), or `None` when it cannot be one.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let plus = trimmed.starts_with('+');
    if trimmed
        .chars()
        .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
    {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    match (plus, digits.len()) {
        (true, 8..=15) if !digits.starts_with('0') => Some(format!("+{digits}")),
        (false, 10) => Some(format!("+1{digits}")),
        (false, 11) if digits.starts_with('1') => Some(format!("+{digits}")),
        _ => None,
    }
}

fn locale_ok(l: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$").unwrap_or_else(|e| panic!("{e}"))
    })
    .is_match(l)
}

/// Tags as Shopify stores them: comma-split, trimmed, case-insensitively de-duplicated, sorted.
pub fn normalize_tags(raw: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw.iter().filter_map(Value::as_str) {
        for part in t.split(',') {
            let p = part.trim();
            if !p.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(p)) {
                out.push(p.to_string());
            }
        }
    }
    out.sort_by_key(|t| t.to_lowercase());
    out
}

/// Where a validation error is reported: customerCreate/Update use bare field names, customerSet prefixes
/// them with `input`.
#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    Plain,
    Set,
}

impl Flavor {
    fn field(self, name: &str) -> Vec<String> {
        match self {
            Flavor::Plain => vec![name.to_string()],
            Flavor::Set => vec!["input".into(), name.to_string()],
        }
    }
    fn err(self, name: &str, message: &str) -> Value {
        let e = json!({"field": self.field(name), "message": message});
        if self == Flavor::Set {
            with_code(e, code_for(message))
        } else {
            e
        }
    }
}

fn with_code(mut e: Value, code: Option<&str>) -> Value {
    if let Some(o) = e.as_object_mut() {
        o.insert("code".into(), json!(code));
    }
    e
}

fn code_for(message: &str) -> Option<&'static str> {
    if message.ends_with("has already been taken") {
        Some("TAKEN")
    } else if message.contains("is too long") {
        Some("TOO_LONG")
    } else if message.ends_with("is invalid") {
        Some("INVALID")
    } else {
        None
    }
}

/// Applies `input` onto `c`, returning userErrors (nothing is stored on error).
fn apply(st: &State, c: &mut Customer, input: &Map<String, Value>, flavor: Flavor) -> Vec<Value> {
    let mut errors = Vec::new();
    for (key, label) in [("firstName", "First name"), ("lastName", "Last name")] {
        if let Some(v) = input.get(key) {
            let s = v.as_str().map(str::to_string);
            if s.as_ref().is_some_and(|s| s.chars().count() > 255) {
                errors.push(flavor.err(
                    key,
                    &format!("{label} is too long (maximum is 255 characters)"),
                ));
            }
            let s = s.filter(|s| !s.trim().is_empty());
            if key == "firstName" {
                c.first_name = s
            } else {
                c.last_name = s
            }
        }
    }
    if let Some(v) = input.get("email") {
        match v.as_str().map(normalize_email).filter(|e| !e.is_empty()) {
            None => c.email = None,
            Some(e) => {
                if e.chars().count() > 255 {
                    // Shopify reports the length and the format check (long local parts fail it too).
                    errors
                        .push(flavor.err("email", "Email is too long (maximum is 255 characters)"));
                    errors.push(flavor.err("email", "Email is invalid"));
                } else if !email_re().is_match(&e) {
                    errors.push(flavor.err("email", "Email is invalid"));
                } else if st.customer_emails.held_by_other(&e, c.id) {
                    errors.push(flavor.err("email", "Email has already been taken"));
                }
                c.email = Some(e);
            }
        }
    }
    if let Some(v) = input.get("phone") {
        match v.as_str().filter(|p| !p.trim().is_empty()) {
            None => c.phone = None,
            Some(raw) => match normalize_phone(raw) {
                None => errors.push(flavor.err("phone", "Phone is invalid")),
                Some(p) => {
                    if st.customer_phones.held_by_other(&p, c.id) {
                        errors.push(flavor.err("phone", "Phone has already been taken"));
                    }
                    c.phone = Some(p);
                }
            },
        }
    }
    if let Some(v) = input.get("locale").and_then(Value::as_str) {
        if locale_ok(v) {
            c.locale = v.to_string();
        } else {
            errors.push(flavor.err("locale", "Locale is invalid"));
        }
    }
    if let Some(v) = input.get("note") {
        let n = v.as_str().map(str::to_string);
        if n.as_ref().is_some_and(|n| n.chars().count() > 5000) {
            errors.push(flavor.err("note", "Note is too long (maximum is 5000 characters)"));
        }
        c.note = n;
    }
    if let Some(v) = input.get("tags") {
        let tags = normalize_tags(v.as_array().map(Vec::as_slice).unwrap_or_default());
        if tags.len() > 250 {
            errors.push(flavor.err("tags", "Tags cannot be more than 250"));
        } else if tags.iter().any(|t| t.chars().count() > 255) {
            errors.push(flavor.err("tags", "Tags is too long (maximum is 255 characters)"));
        }
        c.tags = tags;
    }
    if let Some(v) = input.get("taxExempt") {
        match v.as_bool() {
            Some(b) => c.tax_exempt = b,
            None if flavor == Flavor::Set => {
                errors.push(flavor.err("taxExempt", "Tax exempt is of unexpected type NilClass"))
            }
            None => {}
        }
    }
    if let Some(v) = input.get("taxExemptions").and_then(Value::as_array) {
        c.tax_exemptions = v
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
    }
    if let Some(v) = input.get("addresses")
        && let Some(list) = v.as_array()
    {
        c.addresses = list.clone();
    }
    errors
}

fn has_identity(c: &Customer) -> bool {
    c.first_name.is_some() || c.last_name.is_some() || c.email.is_some() || c.phone.is_some()
}

fn payload(st: &State, customer: Option<u64>, errors: Vec<Value>) -> Value {
    json!({
        "customer": customer.and_then(|id| st.customers.get(&id)).map(|c| to_json(st, c)),
        "userErrors": errors,
    })
}

fn store(st: &mut State, mut c: Customer, create: bool) -> u64 {
    let now = st.now_str();
    if create {
        c.id = st.next_id();
        c.created_at = now.clone();
        if c.locale.is_empty() {
            c.locale = "en".into();
        }
    }
    c.updated_at = now;
    let id = c.id;
    st.put_customer(c);
    st.touch();
    id
}

fn create(st: &mut State, input: &Map<String, Value>) -> Value {
    if input.get("id").is_some_and(|v| !v.is_null()) {
        return payload(
            st,
            None,
            vec![user_error(Some(&["id"]), "Cannot specify ID on creation")],
        );
    }
    let mut c = Customer::default();
    let errors = apply(st, &mut c, input, Flavor::Plain);
    if !errors.is_empty() {
        return payload(st, None, errors);
    }
    if !has_identity(&c) {
        return payload(
            st,
            None,
            vec![user_error(
                None,
                "A name, phone number, or email address must be present",
            )],
        );
    }
    let id = store(st, c, true);
    payload(st, Some(id), vec![])
}

fn update(st: &mut State, input: &Map<String, Value>) -> Value {
    let Some(existing) = parse_gid(input.get("id"), "Customer")
        .and_then(|id| st.customers.get(&id))
        .cloned()
    else {
        return payload(
            st,
            None,
            vec![user_error(Some(&["id"]), "Customer does not exist")],
        );
    };
    let mut c = existing;
    let errors = apply(st, &mut c, input, Flavor::Plain);
    if !errors.is_empty() {
        return payload(st, None, errors);
    }
    if !has_identity(&c) {
        return payload(
            st,
            None,
            vec![user_error(
                None,
                "A name, phone number, or email address must be present",
            )],
        );
    }
    let id = store(st, c, false);
    payload(st, Some(id), vec![])
}

fn set_err(message: &str, code: &str) -> Value {
    json!({"field": ["input"], "message": message, "code": code})
}

fn set(st: &mut State, args: &Map<String, Value>) -> Result<Value, FieldError> {
    let input = args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let identifier = args.get("identifier").and_then(Value::as_object);
    let mut target: Option<u64> = None;
    let mut custom_id: Option<(String, String, String)> = None;
    if let Some(ident) = identifier {
        if let Some(cid) = ident.get("customId").and_then(Value::as_object) {
            let Some(def) = metafields::custom_id_definition(st, "CUSTOMER", cid) else {
                return Err(metafields::missing_definition(vec![json!("customerSet")]));
            };
            let value = cid
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            target = by_custom_id(st, &def.namespace, &def.key, &value);
            custom_id = Some((def.namespace.clone(), def.key.clone(), value));
        }
        if input.get("id").is_some_and(|v| !v.is_null()) {
            return Ok(payload(
                st,
                None,
                vec![set_err(
                    "The id field is not allowed if identifier is provided.",
                    "ID_NOT_ALLOWED",
                )],
            ));
        }
        if let Some(idv) = ident.get("id").filter(|v| !v.is_null()) {
            match parse_gid(Some(idv), "Customer").filter(|id| st.customers.contains_key(id)) {
                Some(id) => target = Some(id),
                None => {
                    return Ok(payload(
                        st,
                        None,
                        vec![set_err(
                            "Resource matching the identifier was not found.",
                            "NOT_FOUND",
                        )],
                    ));
                }
            }
        } else {
            for key in ["email", "phone"] {
                let Some(want) = ident.get(key).and_then(Value::as_str) else {
                    continue;
                };
                let Some(given) = input.get(key).and_then(Value::as_str) else {
                    return Ok(payload(
                        st,
                        None,
                        vec![set_err(
                            "The input field corresponding to the identifier is required.",
                            "MISSING_FIELD_REQUIRED",
                        )],
                    ));
                };
                let (want_n, given_n) = if key == "email" {
                    (Some(normalize_email(want)), Some(normalize_email(given)))
                } else {
                    (normalize_phone(want), normalize_phone(given))
                };
                if want_n != given_n {
                    return Ok(payload(
                        st,
                        None,
                        vec![set_err(
                            "The identifier value does not match the value of the corresponding field in the input.",
                            "INPUT_MISMATCH",
                        )],
                    ));
                }
                target = match (key, want_n.as_deref()) {
                    ("email", Some(e)) => st.customer_by_email(e),
                    (_, Some(p)) => st.customer_by_phone(p),
                    // A blank phone normalises to none; the first customer without a phone matched it
                    // before the indexes existed, and still does (a rare case, so the scan stays).
                    (_, None) => st
                        .customers
                        .values()
                        .find(|c| c.phone.is_none())
                        .map(|c| c.id),
                };
            }
        }
    }
    let creating = target.is_none();
    let mut c = target
        .and_then(|id| st.customers.get(&id))
        .cloned()
        .unwrap_or_default();
    let errors = apply(st, &mut c, &input, Flavor::Set);
    if !errors.is_empty() {
        return Ok(payload(st, None, errors));
    }
    if !has_identity(&c) {
        return Ok(payload(
            st,
            None,
            vec![
                json!({"field": ["input"], "message": "A name, phone number, or email address must be present", "code": "INVALID"}),
            ],
        ));
    }
    let id = store(st, c, creating);
    // A customer created (or matched) through a custom id carries it as an `id` metafield.
    if let Some((ns, key, value)) = custom_id {
        let mf_id = st.next_id();
        if let Some(c) = st.customers.get_mut(&id)
            && !c
                .metafields
                .iter()
                .any(|m| m["namespace"] == ns && m["key"] == key)
        {
            c.metafields.push(
                json!({"__typename": "Metafield", "id": gid("Metafield", mf_id),
                "namespace": ns, "key": key, "type": "id", "value": value}),
            );
        }
    }
    Ok(payload(st, Some(id), vec![]))
}

/// The customer whose `namespace.key` metafield holds `value`.
fn by_custom_id(st: &State, namespace: &str, key: &str, value: &str) -> Option<u64> {
    st.customers
        .values()
        .find(|c| {
            c.metafields
                .iter()
                .any(|m| m["namespace"] == namespace && m["key"] == key && m["value"] == value)
        })
        .map(|c| c.id)
}

fn delete(st: &mut State, input: &Map<String, Value>) -> Value {
    let shop = reference("Shop", 1);
    match parse_gid(input.get("id"), "Customer").and_then(|id| st.customers.get(&id)) {
        None => {
            json!({"deletedCustomerId": null, "shop": shop, "userErrors": [user_error(Some(&["id"]), "Customer can't be found")]})
        }
        Some(c) if c.has_orders => json!({
            "deletedCustomerId": null, "shop": shop,
            "userErrors": [user_error(Some(&["id"]), "Customer can\u{2019}t be deleted because they have associated orders")],
        }),
        Some(c) => {
            let id = c.id;
            st.remove_customer(id);
            st.touch();
            json!({"deletedCustomerId": gid("Customer", id), "shop": shop, "userErrors": []})
        }
    }
}

/// `customerMerge`: customer two survives with its own fields plus customer one's tags; customer one is
/// gone at once (Shopify finishes the job asynchronously, so `job.done` is false).
fn merge(st: &mut State, args: &Map<String, Value>) -> Value {
    let fail = |field: &str| {
        json!({"resultingCustomerId": null, "job": null, "userErrors": [
            {"field": [field], "message": "Customer does not exist", "code": "INVALID_CUSTOMER_ID"}]})
    };
    let one =
        parse_gid(args.get("customerOneId"), "Customer").filter(|id| st.customers.contains_key(id));
    let two =
        parse_gid(args.get("customerTwoId"), "Customer").filter(|id| st.customers.contains_key(id));
    let (Some(one), Some(two)) = (one, two) else {
        return fail(if one.is_none() {
            "customerOneId"
        } else {
            "customerTwoId"
        });
    };
    if one == two {
        return json!({"resultingCustomerId": null, "job": null, "userErrors": [
            {"field": ["customerTwoId"], "message": "Customers must be different", "code": "INVALID_CUSTOMER"}]});
    }
    let Some(source) = st.remove_customer(one) else {
        return fail("customerOneId");
    };
    if let Some(target) = st.customers.get(&two).cloned() {
        let mut merged = target;
        let mut tags: Vec<Value> = merged.tags.iter().map(|t| json!(t)).collect();
        tags.extend(source.tags.iter().map(|t| json!(t)));
        merged.tags = normalize_tags(&tags);
        merged.has_orders |= source.has_orders;
        store(st, merged, false);
    }
    let job = st.next_id();
    json!({"resultingCustomerId": gid("Customer", two), "job": {"__typename": "Job", "id": gid("Job", job), "done": false}, "userErrors": []})
}

/// Evaluates a small subset of Shopify's search syntax: `field:value` terms (email, phone, first_name,
/// last_name, tag, id) and bare words, joined by AND.
fn matches(c: &Customer, query: &str) -> bool {
    query
        .split_whitespace()
        .filter(|t| *t != "AND")
        .all(|term| {
            let (field, value) = term.split_once(':').unwrap_or(("", term));
            let value = value.trim_matches('"').to_lowercase();
            let eq = |s: &Option<String>| s.as_ref().is_some_and(|s| s.to_lowercase() == value);
            match field {
                "email" => eq(&c.email),
                "phone" => c.phone.as_deref() == normalize_phone(&value).as_deref(),
                "first_name" => eq(&c.first_name),
                "last_name" => eq(&c.last_name),
                "tag" => c.tags.iter().any(|t| t.to_lowercase() == value),
                "id" => c.id.to_string() == value,
                // Every emulated customer is DISABLED (no accounts are invited or enabled).
                "state" => value == "disabled",
                _ => [&c.email, &c.first_name, &c.last_name, &c.phone]
                    .iter()
                    .any(|f| {
                        f.as_ref()
                            .is_some_and(|s| s.to_lowercase().contains(&value))
                    }),
            }
        })
}

/// Customer root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    _cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    let input = || {
        args.get("input")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    Some(match field {
        "customerCreate" => Ok(create(st, &input())),
        "customerUpdate" => Ok(update(st, &input())),
        "customerSet" => set(st, args),
        "customerDelete" => Ok(delete(st, &input())),
        "customerMerge" => Ok(merge(st, args)),
        "customer" => Ok(parse_gid(args.get("id"), "Customer")
            .and_then(|id| st.customers.get(&id))
            .map(|c| to_json(st, c))
            .unwrap_or(Value::Null)),
        "customerByIdentifier" => {
            let ident = args
                .get("identifier")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let found = if let Some(cid) = ident.get("customId").and_then(Value::as_object) {
                let Some(def) = metafields::custom_id_definition(st, "CUSTOMER", cid) else {
                    return Some(Err(metafields::missing_definition(vec![
                        json!("customerByIdentifier"),
                        json!("customId"),
                    ])));
                };
                let value = cid.get("value").and_then(Value::as_str).unwrap_or_default();
                by_custom_id(st, &def.namespace, &def.key, value)
                    .and_then(|id| st.customers.get(&id))
            } else if let Some(id) = parse_gid(ident.get("id"), "Customer") {
                st.customers.get(&id)
            } else if let Some(e) = ident.get("emailAddress").and_then(Value::as_str) {
                st.customer_by_email(&normalize_email(e))
                    .and_then(|id| st.customers.get(&id))
            } else if let Some(p) = ident.get("phoneNumber").and_then(Value::as_str) {
                normalize_phone(p)
                    .and_then(|p| st.customer_by_phone(&p))
                    .and_then(|id| st.customers.get(&id))
            } else {
                None
            };
            Ok(found.map(|c| to_json(st, c)).unwrap_or(Value::Null))
        }
        "customers" => {
            let q = args.get("query").and_then(Value::as_str).unwrap_or("");
            Ok(Value::Array(
                st.customers
                    .values()
                    .filter(|c| matches(c, q))
                    .map(|c| to_json(st, c))
                    .collect(),
            ))
        }
        "customersCount" => {
            let q = args.get("query").and_then(Value::as_str).unwrap_or("");
            Ok(
                json!({"count": st.customers.values().filter(|c| matches(c, q)).count(), "precision": "EXACT"}),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::adopt::{Identifier, normalize};
    use proptest::prelude::*;

    proptest! {
        /// The adoption report (`core::adopt`) reads emails, phones and handles as this store keeps them: the
        /// same phone in E.164, the same email for every address the store accepts, the same handle.
        #[test]
        fn the_adoption_report_normalises_as_the_store_does(raw in prop_oneof![
            "[ A-Za-z0-9@.+()_-]{0,24}",
            " ?[A-Za-z0-9. ]{1,6}@[A-Za-z0-9-]{1,6}\\.[A-Za-z]{2,3} ?",
            " ?\\+?[0-9 ().-]{8,18}",
        ]) {
            prop_assert_eq!(normalize(Identifier::Phone, &raw), normalize_phone(&raw));
            let stored = normalize_email(&raw);
            if email_re().is_match(&stored) {
                prop_assert_eq!(normalize(Identifier::Email, &raw), Some(stored));
            }
            let handle = super::super::products::handleize(&raw);
            prop_assert_eq!(normalize(Identifier::Handle, &raw), (!handle.is_empty()).then_some(handle));
        }
    }

    #[test]
    fn phones_and_emails_normalise_like_shopify() {
        assert_eq!(
            normalize_phone("+1 (415) 555-0123").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(normalize_phone("abc"), None);
        assert_eq!(
            normalize_email(" Foo Bar@Example.com "),
            "foobar@example.com"
        );
        assert!(!email_re().is_match("foo@"));
        assert!(!email_re().is_match("@bar.com"));
        assert_eq!(
            normalize_tags(&[json!("set"), json!("create,Set")]),
            vec!["create", "set"]
        );
    }
}
