//! Metafield values by type: the checks Shopify runs on `metafieldsSet` values and the stored `value` /
//! `jsonValue` forms it answers with (shopify.dev "List of data types"; the messages are the captured ones).
use serde_json::{Value, json};

/// A value that passed its type's checks: the stored string and its `jsonValue`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// `Metafield.value`.
    pub value: String,
    /// `Metafield.jsonValue`.
    pub json: Value,
}

/// Why a value was refused, with the list element it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The message after "Value ..." (the whole userError message).
    pub message: String,
    /// The offending list element.
    pub element: Option<usize>,
}

fn refuse(message: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
        element: None,
    }
}

/// Longest list Shopify stores in a `list.*` metafield.
const MAX_LIST: usize = 128;
/// Largest magnitude of a `number_decimal` integer part.
const MAX_DECIMAL: f64 = 9_999_999_999_999.0;
/// URL schemes a `url` or `link` value may use.
const SCHEMES: &[&str] = &["http", "https", "mailto", "sms", "tel"];

/// Measurement types and their units (shopify.dev, "measurement" data types).
fn measurement_units(ty: &str) -> Option<&'static [&'static str]> {
    Some(match ty {
        "dimension" => &[
            "in",
            "ft",
            "yd",
            "mm",
            "cm",
            "m",
            "inches",
            "feet",
            "yards",
            "millimeters",
            "centimeters",
            "meters",
        ],
        "weight" => &[
            "oz",
            "lb",
            "g",
            "kg",
            "ounces",
            "pounds",
            "grams",
            "kilograms",
        ],
        "volume" => &[
            "ml",
            "cl",
            "l",
            "m3",
            "us_fl_oz",
            "us_pt",
            "us_qt",
            "us_gal",
            "imp_fl_oz",
            "imp_pt",
            "imp_qt",
            "imp_gal",
            "milliliters",
            "centiliters",
            "liters",
            "cubic_meters",
        ],
        // The newer measurement types take their unit enum's values; the emulator accepts any unit name.
        "antenna_gain"
        | "area"
        | "battery_charge_capacity"
        | "battery_energy_capacity"
        | "capacitance"
        | "concentration"
        | "data_storage_capacity"
        | "data_transfer_rate"
        | "display_density"
        | "distance"
        | "duration"
        | "electric_current"
        | "electrical_resistance"
        | "energy"
        | "frequency"
        | "illuminance"
        | "inductance"
        | "luminous_flux"
        | "mass_flow_rate"
        | "power"
        | "pressure"
        | "resolution"
        | "rotational_speed"
        | "sound_level"
        | "speed"
        | "temperature"
        | "thermal_power"
        | "voltage"
        | "volumetric_flow_rate" => &[],
        _ => return None,
    })
}

/// The long unit name Shopify stores for a short one (`cm` -> `centimeters`).
fn long_unit(unit: &str) -> &str {
    match unit {
        "in" => "inches",
        "ft" => "feet",
        "yd" => "yards",
        "mm" => "millimeters",
        "cm" => "centimeters",
        "m" => "meters",
        "oz" => "ounces",
        "lb" => "pounds",
        "g" => "grams",
        "kg" => "kilograms",
        "ml" => "milliliters",
        "cl" => "centiliters",
        "l" => "liters",
        "m3" => "cubic_meters",
        u => u,
    }
}

/// The short unit name list `jsonValue`s of the legacy measurement types carry (`centimeters` -> `cm`).
fn short_unit(unit: &str) -> &str {
    match unit {
        "inches" => "in",
        "feet" => "ft",
        "yards" => "yd",
        "millimeters" => "mm",
        "centimeters" => "cm",
        "meters" => "m",
        "ounces" => "oz",
        "pounds" => "lb",
        "grams" => "g",
        "kilograms" => "kg",
        "milliliters" => "ml",
        "centiliters" => "cl",
        "liters" => "l",
        "cubic_meters" => "m3",
        u => u,
    }
}

/// A float as Ruby prints it: whole numbers keep one decimal (`5.0`).
fn ruby_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// A float as a JSON number, integral when whole.
fn json_number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Checks `raw` against `ty` (`single_line_text_field`, `list.weight`, ...) and answers the stored forms.
/// `exists` says whether a referenced GID names a record of the store (`None`: not a type the emulator
/// keeps, so any well-formed GID is accepted).
pub fn check(
    ty: &str,
    raw: &str,
    exists: &dyn Fn(&str) -> Option<bool>,
) -> Result<Checked, Refusal> {
    if let Some(inner) = ty.strip_prefix("list.") {
        return check_list(inner, raw, exists);
    }
    let one = scalar(ty, raw, exists, false)?;
    Ok(Checked {
        value: one.0,
        json: one.1,
    })
}

fn check_list(
    inner: &str,
    raw: &str,
    exists: &dyn Fn(&str) -> Option<bool>,
) -> Result<Checked, Refusal> {
    if raw.trim().is_empty() {
        return Err(refuse("Value can't be blank."));
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(refuse("Value must be an array."));
    };
    if items.len() > MAX_LIST {
        return Err(refuse(format!("Value has more than {MAX_LIST} elements.")));
    }
    let mut stored = Vec::new();
    let mut jsons = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let (value, json) = scalar(inner, &text, exists, true).map_err(|mut r| {
            if !inner.ends_with("_reference") {
                r.element = Some(i);
            }
            r
        })?;
        stored.push(value);
        jsons.push(json);
    }
    // Elements are stored as JSON: strings stay strings, structured values are embedded.
    let parts: Vec<String> = stored
        .iter()
        .zip(&jsons)
        .map(|(v, j)| match j {
            Value::Object(_) | Value::Bool(_) | Value::Array(_) => v.clone(),
            Value::Number(_) if inner == "number_integer" => v.clone(),
            _ => Value::String(v.clone()).to_string(),
        })
        .collect();
    Ok(Checked {
        value: format!("[{}]", parts.join(",")),
        json: Value::Array(jsons),
    })
}

/// One value of a scalar type: (stored value, jsonValue). `in_list` selects the list element forms.
fn scalar(
    ty: &str,
    raw: &str,
    exists: &dyn Fn(&str) -> Option<bool>,
    in_list: bool,
) -> Result<(String, Value), Refusal> {
    let text = || (raw.to_string(), json!(raw));
    match ty {
        "single_line_text_field" => {
            if raw.is_empty() {
                Err(refuse("Value can't be blank."))
            } else if raw.contains('\n') || raw.contains('\r') {
                Err(refuse("Value must be a single line text string."))
            } else {
                Ok(text())
            }
        }
        "multi_line_text_field" | "string" => {
            if raw.trim().is_empty() {
                Err(refuse("Value can't be blank."))
            } else {
                Ok(text())
            }
        }
        "boolean" => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => Ok(("true".into(), json!(true))),
            // Shopify answers a false boolean's jsonValue as the string "false" (captured).
            "false" | "f" | "0" => Ok((
                "false".into(),
                if in_list {
                    json!(false)
                } else {
                    json!("false")
                },
            )),
            _ => Err(refuse("Value must be true or false.")),
        },
        "number_integer" | "integer" => {
            let re = regex::Regex::new(r"^-?[0-9]+(\.0+)?$").expect("static regex");
            if !re.is_match(raw.trim()) {
                return Err(refuse("Value must be an integer."));
            }
            let whole = raw.trim().split('.').next().unwrap_or("0");
            let n: i64 = whole
                .parse()
                .map_err(|_| refuse("Value must be an integer."))?;
            Ok((n.to_string(), json!(n)))
        }
        "number_decimal" => {
            let t = raw.trim();
            let re = regex::Regex::new(r"^[-+]?[0-9]+(\.[0-9]+)?$").expect("static regex");
            let x: f64 = t
                .parse()
                .ok()
                .filter(|_| re.is_match(t))
                .ok_or_else(|| refuse("Value must be a decimal."))?;
            if x.abs() > MAX_DECIMAL {
                return Err(refuse("Value can't exceed 9999999999999."));
            }
            // Nine decimal places are kept.
            let rounded = format!("{:.9}", x);
            let s = rounded
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string();
            Ok((s.clone(), json!(s)))
        }
        "color" => {
            let re =
                regex::Regex::new(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$").expect("static regex");
            if re.is_match(raw) {
                Ok(text())
            } else {
                Err(refuse("Value must be a hex color code."))
            }
        }
        "date" => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(|d| {
                let s = d.format("%Y-%m-%d").to_string();
                (s.clone(), json!(s))
            })
            .map_err(|_| refuse("Value must be in YYYY-MM-DD format.")),
        "date_time" => {
            let parsed = chrono::DateTime::parse_from_rfc3339(raw)
                .ok()
                .or_else(|| chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%:z").ok())
                .or_else(|| {
                    [
                        "%Y-%m-%dT%H:%M:%S",
                        "%Y-%m-%dT%H:%M:%S%.f",
                        "%Y-%m-%dT%H:%M",
                    ]
                    .iter()
                    .find_map(|f| chrono::NaiveDateTime::parse_from_str(raw, f).ok())
                    .map(|n| n.and_utc().fixed_offset())
                });
            match parsed {
                Some(d) => {
                    let s = d.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
                    Ok((s.clone(), json!(s)))
                }
                None => Err(refuse(
                    "Value must be in \u{201c}YYYY-MM-DDTHH:MM:SS\u{201d} format. For example: 2022-06-01T15:30:00",
                )),
            }
        }
        "url" => check_url(raw).map(|_| text()),
        "link" => {
            let v: Value =
                serde_json::from_str(raw).map_err(|_| refuse("Value must be a valid link."))?;
            let url_ok = v
                .get("url")
                .and_then(Value::as_str)
                .is_some_and(|u| check_url(u).is_ok());
            if !v.is_object() || !url_ok {
                return Err(refuse("Value must be a valid link."));
            }
            Ok((v.to_string(), v))
        }
        "json" | "rich_text_field" => {
            if raw.trim().is_empty() {
                return Err(refuse("Value can't be blank."));
            }
            let v: Value = serde_json::from_str(raw)
                .map_err(|e| refuse(format!("Value is invalid JSON: {e}.")))?;
            Ok((v.to_string(), v))
        }
        "money" => check_money(raw),
        "rating" => {
            let v: Value = serde_json::from_str(raw)
                .map_err(|_| refuse("Value must be a stringified JSON object with value, scale_min and scale_max fields."))?;
            let (Some(value), Some(min), Some(max)) = (
                v.get("value").and_then(number_of),
                v.get("scale_min").and_then(number_of),
                v.get("scale_max").and_then(number_of),
            ) else {
                return Err(refuse(
                    "Value must be a stringified JSON object with value, scale_min and scale_max fields.",
                ));
            };
            let field = |k: &str| match &v[k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if value > max {
                return Err(refuse(format!(
                    "Value has a maximum of {}.",
                    field("scale_max")
                )));
            }
            if value < min {
                return Err(refuse(format!(
                    "Value has a minimum of {}.",
                    field("scale_min")
                )));
            }
            let out = json!({"scale_min": field("scale_min"), "scale_max": field("scale_max"), "value": field("value")});
            Ok((out.to_string(), out))
        }
        t if t.ends_with("_reference") => {
            let expected = reference_type(t);
            let well_formed = raw
                .strip_prefix("gid://shopify/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(ty, id)| {
                    expected.is_none_or(|e| e == ty) && id.parse::<u64>().is_ok()
                });
            let found = well_formed && exists(raw).unwrap_or(true);
            if found {
                Ok(text())
            } else {
                // Shopify reports a missing reference on the whole value, without an element index.
                Err(Refusal {
                    message: format!("Value references non-existent resource {raw}."),
                    element: None,
                })
            }
        }
        t if measurement_units(t).is_some() => check_measurement(t, raw, in_list),
        // Types the emulator has no rule for keep the value as given.
        _ => {
            if raw.is_empty() {
                Err(refuse("Value can't be blank."))
            } else {
                Ok(text())
            }
        }
    }
}

/// The GID type a `*_reference` metafield type names, when the emulator knows it.
fn reference_type(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "product_reference" => "Product",
        "variant_reference" => "ProductVariant",
        "customer_reference" => "Customer",
        "collection_reference" => "Collection",
        "metaobject_reference" | "mixed_reference" => "Metaobject",
        "page_reference" => "Page",
        "company_reference" => "Company",
        _ => return None,
    })
}

fn check_url(raw: &str) -> Result<(), Refusal> {
    let scheme = raw.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme {
        Some(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            if SCHEMES.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(refuse(
                    "Value must be one of the following URL schemes: http, https, mailto, sms, tel.",
                ))
            }
        }
        _ => Err(refuse(
            "Value cannot have an empty scheme (protocol), must include one of the following URL schemes: [\"http\", \"https\", \"mailto\", \"sms\", \"tel\"].'",
        )),
    }
}

/// ISO 4217 currency codes in circulation.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL";
/// Largest money amount a metafield holds.
const MAX_MONEY: f64 = 1e18;

fn check_money(raw: &str) -> Result<(String, Value), Refusal> {
    let shape = || {
        refuse(
            "Value must be a stringified JSON object with amount (numeric) and currency_code (string matching the shop's currency) fields.",
        )
    };
    let v: Value = serde_json::from_str(raw).map_err(|_| shape())?;
    let (Some(amount), Some(code)) = (v.get("amount"), v.get("currency_code")) else {
        return Err(shape());
    };
    let code = code.as_str().unwrap_or_default();
    if code.is_empty() {
        return Err(refuse("Value must have a currency code."));
    }
    let Some(x) = number_of(amount) else {
        return Err(refuse("Value must have a numeric amount."));
    };
    if !CURRENCIES.split(' ').any(|c| c == code) {
        return Err(refuse(format!(
            "Value contains an invalid currency, {code}."
        )));
    }
    // Compared on the digits: an f64 cannot tell 10^18 from 10^18 + 1.
    let digits = match amount {
        Value::String(s) => s.trim().trim_start_matches(['-', '+']).to_string(),
        other => other.to_string().trim_start_matches('-').to_string(),
    };
    let whole = digits
        .split('.')
        .next()
        .unwrap_or("")
        .trim_start_matches('0');
    let over = whole.len() > 19 || (whole.len() == 19 && whole > "1000000000000000000");
    if over || x.abs() > MAX_MONEY {
        return Err(refuse("Value must be within +/-1000000000000000000."));
    }
    let amount = match amount {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let out = json!({"amount": amount, "currency_code": code});
    Ok((out.to_string(), out))
}

fn check_measurement(ty: &str, raw: &str, in_list: bool) -> Result<(String, Value), Refusal> {
    let units = measurement_units(ty).unwrap_or(&[]);
    let v: Value = serde_json::from_str(raw).map_err(|_| {
        refuse("Value must be a stringified JSON object with value and unit fields.")
    })?;
    let x = v
        .get("value")
        .and_then(number_of)
        .filter(|x| *x >= 0.0)
        .ok_or_else(|| refuse("Value must be a non-negative number."))?;
    let unit = v
        .get("unit")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let known = if units.is_empty() {
        !unit.is_empty() && unit.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    } else {
        units.contains(&unit.as_str())
    };
    if !known {
        return Err(refuse("Value must be a supported unit."));
    }
    let long = long_unit(&unit).to_string();
    let stored = format!(
        "{{\"value\":{},\"unit\":\"{}\"}}",
        ruby_float(x),
        long.to_ascii_uppercase()
    );
    // List elements answer their jsonValue with the unit as a lower-case (short, for the legacy types) name.
    let json_unit = if in_list {
        short_unit(&long).to_string()
    } else {
        long.to_ascii_uppercase()
    };
    Ok((stored, json!({"value": json_number(x), "unit": json_unit})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ty: &str, raw: &str) -> Checked {
        check(ty, raw, &|_| Some(true)).unwrap()
    }
    fn err(ty: &str, raw: &str) -> String {
        check(ty, raw, &|_| Some(false)).unwrap_err().message
    }

    #[test]
    fn normalises_values_by_type() {
        assert_eq!(ok("boolean", " TRUE ").value, "true");
        assert_eq!(ok("number_integer", "5.000").json, json!(5));
        assert_eq!(ok("number_decimal", "1.1234567891").value, "1.123456789");
        assert_eq!(
            ok("date_time", "2024-01-01T12:30:00").value,
            "2024-01-01T12:30:00+00:00"
        );
        assert_eq!(
            ok("weight", r#"{"value":2.5,"unit":"kilograms"}"#).value,
            r#"{"value":2.5,"unit":"KILOGRAMS"}"#
        );
        assert_eq!(
            ok("list.weight", r#"[{"value":2,"unit":"kilograms"}]"#).json,
            json!([{"value": 2, "unit": "kg"}])
        );
        assert_eq!(ok("list.number_decimal", "[10.4]").value, r#"["10.4"]"#);
    }

    #[test]
    fn refuses_values_with_shopify_messages() {
        assert_eq!(err("boolean", "yes"), "Value must be true or false.");
        assert_eq!(err("number_integer", "+5"), "Value must be an integer.");
        assert_eq!(err("color", "blue"), "Value must be a hex color code.");
        assert_eq!(
            err("product_reference", "gid://shopify/Product/1"),
            "Value references non-existent resource gid://shopify/Product/1."
        );
        let r = check("list.number_integer", r#"[1,"x"]"#, &|_| None).unwrap_err();
        assert_eq!(r.element, Some(1));
    }
}
