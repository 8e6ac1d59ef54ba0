//! Turns apollo-compiler diagnostics into Shopify's (graphql-ruby style) top-level errors.
use apollo_compiler::ExecutableDocument;
use apollo_compiler::validation::{DiagnosticList, Valid, WithErrors};
use regex::Regex;
use serde_json::{Value, json};
use std::sync::OnceLock;

use apollo_compiler::Schema;

/// Parses and validates `query` against `schema`, or returns Shopify-shaped errors.
pub fn parse_and_validate(
    schema: &Valid<Schema>,
    query: &str,
) -> Result<Valid<ExecutableDocument>, Vec<Value>> {
    ExecutableDocument::parse_and_validate(schema, query, "query.graphql")
        .map_err(|WithErrors { errors, .. }| to_errors(&errors))
}

fn to_errors(list: &DiagnosticList) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen_syntax = false;
    // apollo also flags the emptied parent selection of an unknown field; graphql-ruby reports only the field.
    let has_undefined = list
        .iter()
        .any(|d| d.error.unstable_error_name() == Some("UndefinedField"));
    for diag in list.iter() {
        let name = diag.error.unstable_error_name();
        if has_undefined && name == Some("MissingSubselection") {
            continue;
        }
        let text = diag.error.to_string();
        let locations = diag
            .line_column_range()
            .map(|r| json!([{"line": r.start.line, "column": r.start.column}]))
            .unwrap_or_else(|| json!([]));
        if text.starts_with("syntax error") || name.is_none() && text.contains("syntax") {
            // graphql-ruby reports one parse error per document.
            if seen_syntax {
                continue;
            }
            seen_syntax = true;
            let at = diag
                .line_column_range()
                .map(|r| format!(" at [{}, {}]", r.start.line, r.start.column))
                .unwrap_or_default();
            out.push(json!({"message": format!("{text}{at}"), "locations": locations, "extensions": {"code": "PARSE_ERROR"}}));
            continue;
        }
        out.push(shape(name.unwrap_or("Validation"), &text, locations));
    }
    out
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).unwrap_or_else(|e| panic!("static regex {pat}: {e}")))
}

fn shape(name: &str, text: &str, locations: Value) -> Value {
    static UNDEF_FIELD: OnceLock<Regex> = OnceLock::new();
    static REQ_ARG: OnceLock<Regex> = OnceLock::new();
    static UNDEF_ARG: OnceLock<Regex> = OnceLock::new();
    static UNDEF_VAR: OnceLock<Regex> = OnceLock::new();
    static UNUSED_VAR: OnceLock<Regex> = OnceLock::new();
    match name {
        "UndefinedField" => {
            if let Some(c) = re(
                &UNDEF_FIELD,
                r"type `([^`]+)` does not have a field `([^`]+)`",
            )
            .captures(text)
            {
                return json!({
                    "message": format!("Field '{}' doesn't exist on type '{}'", &c[2], &c[1]),
                    "locations": locations,
                    "extensions": {"code": "undefinedField", "typeName": &c[1], "fieldName": &c[2]},
                });
            }
        }
        "RequiredArgument" => {
            if let Some(c) = re(
                &REQ_ARG,
                r"argument `([A-Za-z_]+)\.([A-Za-z_]+)\(([A-Za-z_]+):\)` is not provided",
            )
            .captures(text)
            {
                return json!({
                    "message": format!("Field '{}' is missing required arguments: {}", &c[2], &c[3]),
                    "locations": locations,
                    "extensions": {"code": "missingRequiredArguments", "className": "Field", "name": &c[2], "arguments": &c[3]},
                });
            }
        }
        "UndefinedArgument" => {
            if let Some(c) = re(
                &UNDEF_ARG,
                r"argument `([^`]+)` is not supported by `([A-Za-z_]+)\.([A-Za-z_]+)`",
            )
            .captures(text)
            {
                return json!({
                    "message": format!("Field '{}' doesn't accept argument '{}'", &c[3], &c[1]),
                    "locations": locations,
                    "extensions": {"code": "argumentNotAccepted", "name": &c[3], "typeName": "Field", "argumentName": &c[1]},
                });
            }
        }
        "UndefinedVariable" => {
            if let Some(c) = re(&UNDEF_VAR, r"variable `\$([^`]+)` is not defined").captures(text) {
                return json!({
                    "message": format!("Variable ${} is used by anonymous query but not declared", &c[1]),
                    "locations": locations,
                    "extensions": {"code": "variableNotDefined", "variableName": &c[1]},
                });
            }
        }
        "UnusedVariable" => {
            if let Some(c) = re(&UNUSED_VAR, r"unused variable: `\$([^`]+)`").captures(text) {
                return json!({
                    "message": format!("Variable ${} is declared by anonymous query but not used", &c[1]),
                    "locations": locations,
                    "extensions": {"code": "variableNotUsed", "variableName": &c[1]},
                });
            }
        }
        "MissingSubselection" => {
            return json!({"message": text, "locations": locations, "extensions": {"code": "selectionMismatch"}});
        }
        "SubselectionOnScalarType" | "SubselectionOnEnumType" => {
            return json!({"message": text, "locations": locations, "extensions": {"code": "selectionMismatch"}});
        }
        "UnsupportedValueType"
        | "IntCoercionError"
        | "FloatCoercionError"
        | "UndefinedEnumValue"
        | "UndefinedInputValue" => {
            return json!({"message": text, "locations": locations, "extensions": {"code": "argumentLiteralsIncompatible"}});
        }
        _ => {}
    }
    json!({"message": text, "locations": locations, "extensions": {"code": lower_camel(name)}})
}

fn lower_camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ApiVersion;

    #[test]
    fn undefined_field_has_graphql_ruby_shape() {
        let schema = crate::schema::schema(ApiVersion::V2026_04);
        let errs = parse_and_validate(
            schema,
            "mutation { customerDelete(input: {id: \"x\"}) { userErrors { code } } }",
        )
        .unwrap_err();
        assert_eq!(
            errs[0]["message"],
            "Field 'code' doesn't exist on type 'UserError'"
        );
        assert_eq!(errs[0]["extensions"]["code"], "undefinedField");
        let errs = parse_and_validate(schema, "query {").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0]["extensions"]["code"], "PARSE_ERROR");
    }
}
