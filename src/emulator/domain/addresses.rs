//! Customer mailing addresses: customerAddressCreate/Update/Delete, customerUpdateDefaultAddress and the
//! `addresses` lists of customerCreate/Update/Set, with Shopify's normalisation and validation.
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use super::customers::Customer;
use super::geo;
use super::{FieldError, parse_gid, user_error};
use crate::emulator::store::State;

/// Text fields of `MailingAddressInput` and the label Shopify's messages give them.
const TEXT_FIELDS: &[(&str, &str)] = &[
    ("firstName", "First name"),
    ("lastName", "Last name"),
    ("address1", "Address1"),
    ("address2", "Address2"),
    ("city", "City"),
    ("company", "Company"),
    ("zip", "Zip"),
    ("phone", "Phone"),
];

/// The gid of a stored address.
pub fn address_gid(id: u64) -> String {
    format!("gid://shopify/MailingAddress/{id}?model_name=CustomerAddress")
}

/// The numeric id of a stored address.
pub fn address_id(a: &Value) -> Option<u64> {
    parse_gid(a.get("id"), "MailingAddress")
}

/// The stored form of a `MailingAddress` object as a read returned it (seeding a recorded store).
pub fn stored(a: &Value) -> Value {
    let mut m = Map::new();
    for k in [
        "id",
        "firstName",
        "lastName",
        "address1",
        "address2",
        "city",
        "company",
        "country",
        "countryCodeV2",
        "province",
        "provinceCode",
        "zip",
        "phone",
    ] {
        m.insert(k.into(), a.get(k).cloned().unwrap_or(Value::Null));
    }
    Value::Object(m)
}

/// The `MailingAddress` object of a stored address.
pub fn to_json(a: &Value) -> Value {
    let mut m = a.as_object().cloned().unwrap_or_default();
    m.insert("__typename".into(), json!("MailingAddress"));
    let src = m.clone();
    let s = |k: &str| src.get(k).and_then(Value::as_str).map(str::to_string);
    let name = [s("firstName"), s("lastName")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let local = [s("city"), s("provinceCode")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    // A city-state's city repeats its country name, which Shopify shows once.
    let area = [Some(local).filter(|l| !l.is_empty()), s("country")]
        .into_iter()
        .flatten()
        .fold(Vec::<String>::new(), |mut acc, x| {
            if !acc.contains(&x) {
                acc.push(x);
            }
            acc
        })
        .join(", ");
    m.insert(
        "countryCode".into(),
        m.get("countryCodeV2").cloned().unwrap_or(Value::Null),
    );
    m.insert(
        "name".into(),
        if name.is_empty() {
            Value::Null
        } else {
            json!(name)
        },
    );
    m.insert(
        "formattedArea".into(),
        if area.is_empty() {
            Value::Null
        } else {
            json!(area)
        },
    );
    let lines: Vec<String> = ["company", "address1", "address2"]
        .iter()
        .filter_map(|k| s(k))
        .chain(
            [s("city"), s("provinceCode"), s("zip")]
                .into_iter()
                .flatten()
                .reduce(|a, b| format!("{a} {b}")),
        )
        .chain(s("country"))
        .collect();
    m.insert("formatted".into(), json!(lines));
    Value::Object(m)
}

fn html_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"<[^>]*>").unwrap_or_else(|e| panic!("{e}")))
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)(https?://|www\.)\S").unwrap_or_else(|e| panic!("{e}")))
}

fn has_emoji(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(u32::from(c), 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0xFE0F))
}

/// Address phones: E.164 when the text is a phone number (completed with the country's calling code when
/// it has no `+`), otherwise kept as given.
fn normalize_phone(raw: &str, country: Option<&str>) -> String {
    let t = raw.trim();
    let phone_chars = t
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if !phone_chars || digits.len() < 5 {
        return t.to_string();
    }
    if t.starts_with('+') {
        return format!("+{digits}");
    }
    match geo::calling_code(country) {
        Some(cc) if !(cc == "1" && digits.len() == 11 && digits.starts_with('1')) => {
            format!("+{cc}{digits}")
        }
        Some(_) => format!("+{digits}"),
        None => t.to_string(),
    }
}

fn err(prefix: &[String], key: &str, message: String) -> Value {
    let mut field = prefix.to_vec();
    field.push(key.to_string());
    json!({"field": field, "message": message})
}

/// Applies `input` (a `MailingAddressInput`) onto `base`, returning the normalised address or userErrors
/// whose fields start with `prefix`.
pub fn build(
    base: Option<&Value>,
    input: &Map<String, Value>,
    customer: &Customer,
    prefix: &[String],
) -> Result<Value, Vec<Value>> {
    let mut a = base.and_then(Value::as_object).cloned().unwrap_or_else(|| {
        let mut m = Map::new();
        for k in [
            "firstName",
            "lastName",
            "address1",
            "address2",
            "city",
            "company",
            "country",
            "countryCodeV2",
            "province",
            "provinceCode",
            "zip",
            "phone",
        ] {
            m.insert(k.into(), Value::Null);
        }
        m
    });
    let mut errors = Vec::new();
    // Country first: phones are completed with its calling code.
    let code_given = input.get("countryCode").and_then(Value::as_str);
    let name_given = input
        .get("country")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(code) = code_given {
        match geo::country_name(code) {
            Some(n) => {
                a.insert("countryCodeV2".into(), json!(code));
                a.insert("country".into(), json!(n));
            }
            None => errors.push(err(prefix, "country", "Country is invalid".into())),
        }
    } else if let Some(name) = name_given {
        match geo::country_by_name(name) {
            Some((code, n)) => {
                a.insert("countryCodeV2".into(), json!(code));
                a.insert("country".into(), json!(n));
            }
            None => errors.push(err(prefix, "country", "Country is invalid".into())),
        }
    }
    let country = a
        .get("countryCodeV2")
        .and_then(Value::as_str)
        .map(str::to_string);
    for (key, label) in TEXT_FIELDS {
        let Some(v) = input.get(*key) else { continue };
        let text = v.as_str().map(str::trim).filter(|s| !s.is_empty());
        let Some(text) = text else {
            // Blank names fall back to the customer's below; other blanks clear the field.
            a.insert((*key).into(), Value::Null);
            continue;
        };
        let problem = if text.chars().count() > 255 {
            Some(format!("{label} is too long (maximum is 255 characters)"))
        } else if html_re().is_match(text) {
            Some(format!("{label} cannot contain HTML tags"))
        } else if url_re().is_match(text) {
            Some(format!("{label} cannot contain URL"))
        } else if has_emoji(text) {
            Some(format!("{label} cannot contain emojis"))
        } else {
            None
        };
        if let Some(m) = problem {
            errors.push(err(prefix, key, m));
            continue;
        }
        let value = if *key == "phone" {
            normalize_phone(text, country.as_deref())
        } else {
            text.to_string()
        };
        a.insert((*key).into(), json!(value));
    }
    // Province: validated against the country's list when Shopify keeps one, dropped otherwise.
    let province_given = ["provinceCode", "province"]
        .iter()
        .find_map(|k| input.get(*k))
        .map(|v| {
            v.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
    let province = match province_given {
        Some(p) => p,
        None => a
            .get("provinceCode")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let list = country.as_deref().and_then(geo::provinces);
    match (province, list) {
        (Some(p), Some(list)) => match list
            .iter()
            .find(|(c, n)| c.eq_ignore_ascii_case(&p) || n.eq_ignore_ascii_case(&p))
        {
            Some((c, n)) => {
                a.insert("provinceCode".into(), json!(c));
                a.insert("province".into(), json!(n));
            }
            None => errors.push(err(prefix, "province", "Province is invalid".into())),
        },
        _ => {
            a.insert("provinceCode".into(), Value::Null);
            a.insert("province".into(), Value::Null);
        }
    }
    for (key, own) in [
        ("firstName", &customer.first_name),
        ("lastName", &customer.last_name),
    ] {
        if a.get(key).is_none_or(Value::is_null) {
            a.insert(key.into(), json!(own));
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(a))
    } else {
        Err(errors)
    }
}

/// Whether an input carries no address at all (every text blank, no country).
pub fn is_blank(input: &Map<String, Value>) -> bool {
    input
        .iter()
        .filter(|(k, _)| k.as_str() != "id")
        .all(|(_, v)| v.as_str().is_none_or(|s| s.trim().is_empty()))
}

fn same(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("id");
        m
    };
    strip(a) == strip(b)
}

/// Adds `addr` (built, without id) to `c` unless an identical one exists; returns whether it was added.
pub fn push_new(st: &mut State, c: &mut Customer, mut addr: Value) -> Option<u64> {
    if c.addresses.iter().any(|x| same(x, &addr)) {
        return None;
    }
    let id = st.next_id();
    addr["id"] = json!(address_gid(id));
    c.addresses.push(addr);
    if c.default_address.is_none() {
        c.default_address = Some(id);
    }
    Some(id)
}

/// The customer holding address `id`.
fn owner(st: &State, id: u64) -> Option<u64> {
    st.customers
        .values()
        .find(|c| c.addresses.iter().any(|a| address_id(a) == Some(id)))
        .map(|c| c.id)
}

fn invalid_id() -> FieldError {
    FieldError::new("RESOURCE_NOT_FOUND", "invalid id")
}

/// Looks up `(customer, address)` for the mutations taking both ids: an address unknown to the shop is a
/// top-level error, an unknown customer or one not holding the address a userError.
fn locate(st: &State, args: &Map<String, Value>) -> Result<Result<(u64, u64), Value>, FieldError> {
    let addr = parse_gid(args.get("addressId"), "MailingAddress");
    let holder = addr.and_then(|a| owner(st, a));
    let (Some(addr), Some(holder)) = (addr, holder) else {
        return Err(invalid_id());
    };
    let Some(customer) =
        parse_gid(args.get("customerId"), "Customer").filter(|c| st.customers.contains_key(c))
    else {
        return Ok(Err(user_error(
            Some(&["customerId"]),
            "Customer does not exist",
        )));
    };
    if customer != holder {
        return Ok(Err(user_error(
            Some(&["addressId"]),
            "Address does not exist",
        )));
    }
    Ok(Ok((customer, addr)))
}

fn save(st: &mut State, mut c: Customer) {
    c.updated_at = st.now_str();
    st.put_customer(c);
    st.touch();
}

fn address_of(st: &State, customer: u64, addr: u64) -> Value {
    st.customers
        .get(&customer)
        .and_then(|c| c.addresses.iter().find(|a| address_id(a) == Some(addr)))
        .map(to_json)
        .unwrap_or(Value::Null)
}

/// Address root mutations; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
) -> Option<Result<Value, FieldError>> {
    let input = args
        .get("address")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let set_default = args.get("setAsDefault").and_then(Value::as_bool) == Some(true);
    Some(Ok(match field {
        "customerAddressCreate" => {
            let Some(mut c) = parse_gid(args.get("customerId"), "Customer")
                .and_then(|id| st.customers.get(&id))
                .cloned()
            else {
                return Some(Ok(json!({"address": null, "userErrors": [
                    user_error(Some(&["customerId"]), "Customer does not exist")]})));
            };
            let addr = match build(None, &input, &c, &["address".to_string()]) {
                Ok(a) => a,
                Err(e) => return Some(Ok(json!({"address": null, "userErrors": e}))),
            };
            let Some(id) = push_new(st, &mut c, addr) else {
                return Some(Ok(json!({"address": null, "userErrors": [
                    user_error(Some(&["address"]), "Address already exists")]})));
            };
            if set_default {
                c.default_address = Some(id);
            }
            let cid = c.id;
            save(st, c);
            json!({"address": address_of(st, cid, id), "userErrors": []})
        }
        "customerAddressUpdate" => {
            let (cid, aid) = match locate(st, args) {
                Err(e) => return Some(Err(e)),
                Ok(Err(ue)) => return Some(Ok(json!({"address": null, "userErrors": [ue]}))),
                Ok(Ok(x)) => x,
            };
            if input.contains_key("id") && parse_gid(input.get("id"), "MailingAddress") != Some(aid)
            {
                return Some(Ok(json!({"address": null, "userErrors": [user_error(
                    Some(&["addressId"]),
                    "The id of the address does not match the id in the input",
                )]})));
            }
            let Some(mut c) = st.customers.get(&cid).cloned() else {
                return Some(Err(invalid_id()));
            };
            let Some(pos) = c.addresses.iter().position(|a| address_id(a) == Some(aid)) else {
                return Some(Err(invalid_id()));
            };
            let built = build(
                Some(&c.addresses[pos]),
                &input,
                &c,
                &["address".to_string()],
            );
            match built {
                Ok(a) => c.addresses[pos] = a,
                Err(e) => return Some(Ok(json!({"address": null, "userErrors": e}))),
            }
            if set_default {
                c.default_address = Some(aid);
            }
            save(st, c);
            json!({"address": address_of(st, cid, aid), "userErrors": []})
        }
        "customerAddressDelete" => {
            let (cid, aid) = match locate(st, args) {
                Err(e) => return Some(Err(e)),
                Ok(Err(ue)) => {
                    return Some(Ok(json!({"deletedAddressId": null, "userErrors": [ue]})));
                }
                Ok(Ok(x)) => x,
            };
            let Some(mut c) = st.customers.get(&cid).cloned() else {
                return Some(Err(invalid_id()));
            };
            c.addresses.retain(|a| address_id(a) != Some(aid));
            if c.default_address == Some(aid) {
                c.default_address = c.addresses.first().and_then(address_id);
            }
            save(st, c);
            json!({"deletedAddressId": address_gid(aid), "userErrors": []})
        }
        "customerUpdateDefaultAddress" => match locate(st, args) {
            Err(e) => return Some(Err(e)),
            Ok(Err(ue)) => {
                // A customer that exists is still returned, unchanged, next to the error.
                let customer = parse_gid(args.get("customerId"), "Customer")
                    .filter(|c| st.customers.contains_key(c))
                    .map(|c| super::reference("Customer", c));
                json!({"customer": customer, "userErrors": [ue]})
            }
            Ok(Ok((cid, aid))) => {
                if let Some(mut c) = st.customers.get(&cid).cloned() {
                    c.default_address = Some(aid);
                    save(st, c);
                }
                json!({"customer": super::reference("Customer", cid), "userErrors": []})
            }
        },
        _ => return None,
    }))
}

/// Sets `c`'s addresses from a customer input's `addresses` list: entries with an `id` update that address
/// (keeping the fields they omit), others are new; with `replace` (customerUpdate, customerSet) the list is
/// the whole set, otherwise (customerCreate) it adds to it.
pub fn apply_list(
    st: &mut State,
    c: &mut Customer,
    list: &[Value],
    replace: bool,
    reject_blank: bool,
    prefix: &[String],
) -> Vec<Value> {
    let mut errors = Vec::new();
    let mut built: Vec<(Option<u64>, Value)> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let mut p = prefix.to_vec();
        p.push(i.to_string());
        let input = item.as_object().cloned().unwrap_or_default();
        if reject_blank && is_blank(&input) {
            errors.push(json!({"field": p, "message": "Customer address cannot be blank."}));
            continue;
        }
        let target = parse_gid(input.get("id"), "MailingAddress");
        let base = target.and_then(|t| c.addresses.iter().find(|a| address_id(a) == Some(t)));
        if input.get("id").is_some_and(|v| !v.is_null()) && base.is_none() {
            p.push("id".into());
            errors.push(json!({"field": p, "message": "Customer address does not exist"}));
            continue;
        }
        match build(base, &input, c, &p) {
            Ok(a) => built.push((base.and(target), a)),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let previous = std::mem::take(&mut c.addresses);
    let previous_default = c.default_address.take();
    if !replace {
        c.addresses = previous.clone();
        c.default_address = previous_default;
    }
    for (target, mut a) in built {
        match target.filter(|t| previous.iter().any(|x| address_id(x) == Some(*t))) {
            // An entry naming an existing address keeps that address (and its id).
            Some(t) => {
                a["id"] = json!(address_gid(t));
                match c.addresses.iter().position(|x| address_id(x) == Some(t)) {
                    Some(pos) => c.addresses[pos] = a,
                    None => c.addresses.push(a),
                }
            }
            None => {
                push_new(st, c, a);
            }
        }
    }
    // The default survives when its address does, otherwise the first address takes over.
    c.default_address = previous_default
        .filter(|d| c.addresses.iter().any(|a| address_id(a) == Some(*d)))
        .or_else(|| c.addresses.first().and_then(address_id));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_and_validate_like_shopify() {
        let c = Customer {
            first_name: Some("Hermes".into()),
            last_name: Some("Default".into()),
            ..Customer::default()
        };
        let input = json!({"address1": " 1 Main St ", "city": "Ottawa", "countryCode": "CA",
            "provinceCode": "ON", "phone": "+1 (613) 450-4538"});
        let a = build(None, input.as_object().unwrap(), &c, &["address".into()]).unwrap();
        let shown = to_json(&a);
        assert_eq!(shown["address1"], "1 Main St");
        assert_eq!(shown["province"], "Ontario");
        assert_eq!(shown["country"], "Canada");
        assert_eq!(shown["phone"], "+16134504538");
        assert_eq!(shown["name"], "Hermes Default");
        assert_eq!(shown["formattedArea"], "Ottawa ON, Canada");
        let wrong = json!({"countryCode": "US", "provinceCode": "ON"});
        let errs = build(None, wrong.as_object().unwrap(), &c, &["address".into()]).unwrap_err();
        assert_eq!(errs[0]["field"], json!(["address", "province"]));
        assert_eq!(errs[0]["message"], "Province is invalid");
        let html = json!({"city": "<script>"});
        let errs = build(None, html.as_object().unwrap(), &c, &["address".into()]).unwrap_err();
        assert_eq!(errs[0]["message"], "City cannot contain HTML tags");
    }
}
