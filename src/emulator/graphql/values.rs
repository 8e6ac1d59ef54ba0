//! Input coercion: variables (with Shopify's INVALID_VARIABLE problems) and argument literals, both to JSON.
use apollo_compiler::ast::{Type, Value as AstValue};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Node, Schema};
use serde_json::{Map, Value, json};

/// Input objects Shopify treats as "exactly one field" (graphql-ruby `one_of`), though the SDL lacks `@oneOf`.
const ONE_OF_INPUTS: &[&str] = &["CustomerIdentifierInput", "ProductIdentifierInput"];

/// How a string that is no global id is explained (graphql-ruby repeats it as the problem's `message`).
pub const GLOBAL_ID_PROBLEM: &str = "Invalid global id";

/// One problem found while coercing a variable.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Path inside the variable value (object keys and list indices).
    pub path: Vec<Value>,
    /// graphql-ruby's explanation text.
    pub explanation: String,
}

/// Coerces a variable's JSON value to `ty`, collecting every problem rather than stopping at the first.
pub fn coerce_input(
    schema: &Schema,
    ty: &Type,
    value: Option<&Value>,
    path: &mut Vec<Value>,
    problems: &mut Vec<Problem>,
) -> Value {
    let value = match value {
        None | Some(Value::Null) => {
            if ty.is_non_null() {
                problems.push(Problem {
                    path: path.clone(),
                    explanation: "Expected value to not be null".into(),
                });
            }
            return Value::Null;
        }
        Some(v) => v,
    };
    if ty.is_list() {
        let item_ty = ty.item_type();
        return match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        path.push(json!(i));
                        let out = coerce_input(schema, item_ty, Some(v), path, problems);
                        path.pop();
                        out
                    })
                    .collect(),
            ),
            // Input coercion wraps a single item into a list.
            single => Value::Array(vec![coerce_input(
                schema,
                item_ty,
                Some(single),
                path,
                problems,
            )]),
        };
    }
    let name = ty.inner_named_type().as_str();
    match schema.types.get(name) {
        Some(ExtendedType::InputObject(def)) => {
            let Value::Object(given) = value else {
                problems.push(Problem {
                    path: path.clone(),
                    explanation: format!("Expected {} to be a key-value object.", short(value)),
                });
                return Value::Null;
            };
            let mut out = Map::new();
            for key in given.keys() {
                if !def.fields.contains_key(key.as_str()) {
                    path.push(json!(key));
                    problems.push(Problem {
                        path: path.clone(),
                        explanation: format!("Field is not defined on {name}"),
                    });
                    path.pop();
                }
            }
            for (fname, fdef) in &def.fields {
                let provided = given.get(fname.as_str());
                path.push(json!(fname.as_str()));
                match provided {
                    Some(v) => {
                        let c = coerce_input(schema, &fdef.ty, Some(v), path, problems);
                        out.insert(fname.to_string(), c);
                    }
                    None => {
                        if let Some(default) = &fdef.default_value {
                            out.insert(
                                fname.to_string(),
                                literal_to_json(schema, &fdef.ty, default, &Map::new()),
                            );
                        } else if fdef.ty.is_non_null() {
                            problems.push(Problem {
                                path: path.clone(),
                                explanation: "Expected value to not be null".into(),
                            });
                        }
                    }
                }
                path.pop();
            }
            if ONE_OF_INPUTS.contains(&name) {
                let n = given.values().filter(|v| !v.is_null()).count();
                if n != 1 {
                    problems.push(Problem {
                        path: path.clone(),
                        explanation: format!(
                            "'{name}' requires exactly one argument, but {n} were provided."
                        ),
                    });
                }
            }
            Value::Object(out)
        }
        Some(ExtendedType::Enum(def)) => match value {
            Value::String(s) if def.values.contains_key(s.as_str()) => value.clone(),
            other => {
                let allowed: Vec<&str> = def.values.keys().map(|k| k.as_str()).collect();
                problems.push(Problem {
                    path: path.clone(),
                    explanation: format!(
                        "Expected {} to be one of: {}",
                        short(other),
                        allowed.join(", ")
                    ),
                });
                Value::Null
            }
        },
        _ => coerce_scalar(name, value, path, problems),
    }
}

fn coerce_scalar(name: &str, value: &Value, path: &[Value], problems: &mut Vec<Problem>) -> Value {
    let ok = match name {
        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "Float" => value.is_number(),
        "Boolean" => value.is_boolean(),
        "String" => value.is_string(),
        "ID" => value.is_string() || value.is_i64(),
        "UnsignedInt64" => value.is_string() || value.as_u64().is_some(),
        "Decimal" | "Money" => value.is_string() || value.is_number(),
        "DateTime" | "Date" | "URL" | "HTML" | "FormattedString" | "ARN" | "Color"
        | "UtcOffset" => value.is_string(),
        // JSON and unknown custom scalars accept anything.
        _ => true,
    };
    if let (true, "ID", Some(s)) = (ok, name, value.as_str())
        && !super::validate::is_global_id(s)
    {
        problems.push(Problem {
            path: path.to_vec(),
            explanation: format!("{GLOBAL_ID_PROBLEM} '{s}'"),
        });
        return Value::Null;
    }
    if ok {
        if name == "ID" && value.is_i64() {
            return Value::String(value.to_string());
        }
        return value.clone();
    }
    problems.push(Problem {
        path: path.to_vec(),
        explanation: format!("Could not coerce value {} to {name}", short(value)),
    });
    Value::Null
}

/// JSON rendering used inside graphql-ruby explanations (`"STONES"`, `1.5`, ...).
fn short(v: &Value) -> String {
    match v {
        Value::Object(_) => "{...}".into(),
        other => other.to_string(),
    }
}

/// Converts a validated argument literal (variables substituted) to JSON, applying input-object defaults.
pub fn literal_to_json(
    schema: &Schema,
    ty: &Type,
    value: &Node<AstValue>,
    vars: &Map<String, Value>,
) -> Value {
    match value.as_ref() {
        AstValue::Null => Value::Null,
        AstValue::Variable(name) => vars.get(name.as_str()).cloned().unwrap_or(Value::Null),
        AstValue::Enum(e) => Value::String(e.to_string()),
        AstValue::String(s) => Value::String(s.clone()),
        AstValue::Boolean(b) => Value::Bool(*b),
        AstValue::Int(i) => {
            let text = i.as_str();
            if ty.inner_named_type().as_str() == "Float" {
                text.parse::<f64>().map(|f| json!(f)).unwrap_or(Value::Null)
            } else if matches!(
                ty.inner_named_type().as_str(),
                "ID" | "UnsignedInt64" | "Decimal" | "Money"
            ) {
                Value::String(text.to_string())
            } else {
                text.parse::<i64>().map(|n| json!(n)).unwrap_or(Value::Null)
            }
        }
        AstValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .map(|f| json!(f))
            .unwrap_or(Value::Null),
        AstValue::List(items) => {
            let item_ty = if ty.is_list() { ty.item_type() } else { ty };
            Value::Array(
                items
                    .iter()
                    .map(|v| literal_to_json(schema, item_ty, v, vars))
                    .collect(),
            )
        }
        AstValue::Object(fields) => {
            let mut out = Map::new();
            let def = match schema.types.get(ty.inner_named_type().as_str()) {
                Some(ExtendedType::InputObject(def)) => Some(def),
                _ => None,
            };
            for (k, v) in fields {
                let fty = def
                    .and_then(|d| d.fields.get(k.as_str()))
                    .map(|f| f.ty.as_ref().clone());
                let fty = fty.unwrap_or_else(|| Type::Named(apollo_compiler::name!("String")));
                out.insert(k.to_string(), literal_to_json(schema, &fty, v, vars));
            }
            if let Some(def) = def {
                for (fname, fdef) in &def.fields {
                    if !out.contains_key(fname.as_str())
                        && let Some(default) = &fdef.default_value
                    {
                        out.insert(
                            fname.to_string(),
                            literal_to_json(schema, &fdef.ty, default, vars),
                        );
                    }
                }
            }
            Value::Object(out)
        }
    }
}

/// Opaque Shopify-style cursors: base64 of `{"last_id":N,"last_value":N}`.
pub fn encode_cursor(id: u64) -> String {
    base64(format!("{{\"last_id\":{id},\"last_value\":{id}}}").as_bytes())
}

/// The id inside a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = unbase64(cursor)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("last_id")?.as_u64()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(input: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in input.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&x| x == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for id in [0, 1, 42, 10899685933362] {
            assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        }
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
