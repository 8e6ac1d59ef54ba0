//! Turns apollo-compiler diagnostics into Shopify's (graphql-ruby style) top-level errors.
use apollo_compiler::ast::{Type, Value as AstValue};
use apollo_compiler::executable::{OperationType, Selection, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::{DiagnosticList, Valid, WithErrors};
use apollo_compiler::{ExecutableDocument, Node};
use regex::Regex;
use serde_json::{Value, json};
use std::sync::OnceLock;

use apollo_compiler::Schema;

/// Parses and validates `query` against `schema`, or returns Shopify-shaped errors.
pub fn parse_and_validate(
    schema: &Valid<Schema>,
    query: &str,
) -> Result<Valid<ExecutableDocument>, Vec<Value>> {
    match ExecutableDocument::parse_and_validate(schema, query, "query.graphql") {
        Ok(doc) => {
            // Literals apollo accepts may still fail Shopify's coercion (ids that are no global ids).
            let literals = literal_errors(schema, &doc);
            if literals.is_empty() {
                Ok(doc)
            } else {
                Err(literals.into_iter().map(|l| l.error).collect())
            }
        }
        Err(WithErrors { partial, errors }) => {
            // graphql-ruby requires a selection only on object and interface fields: a union field may
            // be selected bare (its value then prints as null or `{}`).
            let bare_unions = bare_union_fields(schema, &partial);
            let kept: Vec<_> = errors
                .iter()
                .filter(|d| {
                    !(d.error.unstable_error_name() == Some("MissingSubselection")
                        && d.line_column_range()
                            .is_some_and(|r| bare_unions.contains(&(r.start.line, r.start.column))))
                })
                .collect();
            if kept.is_empty() {
                return Ok(Valid::assume_valid(partial));
            }
            let literals = literal_errors(schema, &partial);
            let mut out = to_errors(&errors, literals, &bare_unions);
            attach_paths(query, &mut out);
            Err(out)
        }
    }
}

/// graphql-ruby locates validation errors by path too: the operation (`query Name`), the response keys
/// down to the node, inline fragments as `... on Type`. Errors apollo reports only by position get the path
/// of the field, argument or variable definition at that position.
fn attach_paths(query: &str, errors: &mut [Value]) {
    use apollo_compiler::ast;
    let Ok(doc) = ast::Document::parse(query, "query.graphql") else {
        return;
    };
    let mut at: Vec<((usize, usize), Vec<Value>)> = Vec::new();
    fn pos<T>(n: &Node<T>, doc: &ast::Document) -> Option<(usize, usize)> {
        n.line_column_range(&doc.sources)
            .map(|r| (r.start.line, r.start.column))
    }
    fn walk(
        doc: &ast::Document,
        set: &[ast::Selection],
        path: &mut Vec<Value>,
        at: &mut Vec<((usize, usize), Vec<Value>)>,
    ) {
        for sel in set {
            match sel {
                ast::Selection::Field(f) => {
                    path.push(json!(f.alias.as_ref().unwrap_or(&f.name).as_str()));
                    if let Some(p) = pos(f, doc) {
                        at.push((p, path.clone()));
                    }
                    for a in &f.arguments {
                        if let Some(p) = pos(a, doc) {
                            let mut ap = path.clone();
                            ap.push(json!(a.name.as_str()));
                            at.push((p, ap));
                        }
                    }
                    walk(doc, &f.selection_set, path, at);
                    path.pop();
                }
                ast::Selection::InlineFragment(i) => {
                    path.push(json!(match &i.type_condition {
                        Some(t) => format!("... on {t}"),
                        None => "...".to_string(),
                    }));
                    walk(doc, &i.selection_set, path, at);
                    path.pop();
                }
                ast::Selection::FragmentSpread(_) => {}
            }
        }
    }
    for def in &doc.definitions {
        match def {
            ast::Definition::OperationDefinition(op) => {
                let kind = match op.operation_type {
                    OperationType::Query => "query",
                    OperationType::Mutation => "mutation",
                    OperationType::Subscription => "subscription",
                };
                let head = match &op.name {
                    Some(n) => format!("{kind} {n}"),
                    None => kind.to_string(),
                };
                for v in &op.variables {
                    if let Some(p) = pos(v, &doc) {
                        at.push((p, vec![json!(head)]));
                    }
                }
                walk(&doc, &op.selection_set, &mut vec![json!(head)], &mut at);
            }
            ast::Definition::FragmentDefinition(f) => {
                let head = format!("fragment {}", f.name);
                walk(&doc, &f.selection_set, &mut vec![json!(head)], &mut at);
            }
            _ => {}
        }
    }
    for e in errors.iter_mut() {
        let Some(obj) = e.as_object_mut() else {
            continue;
        };
        if obj.contains_key("path") || obj["extensions"]["code"] == "PARSE_ERROR" {
            continue;
        }
        let loc = obj
            .get("locations")
            .and_then(|l| l.get(0))
            .and_then(|l| Some((l["line"].as_u64()? as usize, l["column"].as_u64()? as usize)));
        if let Some(path) = loc
            .and_then(|l| at.iter().find(|(p, _)| *p == l))
            .map(|(_, p)| p)
        {
            obj.insert("path".into(), json!(path));
        }
    }
}

/// Positions of union-typed fields selected without a selection set.
fn bare_union_fields(schema: &Schema, doc: &ExecutableDocument) -> Vec<(usize, usize)> {
    fn walk(
        schema: &Schema,
        doc: &ExecutableDocument,
        set: &SelectionSet,
        out: &mut Vec<(usize, usize)>,
    ) {
        for sel in &set.selections {
            match sel {
                Selection::Field(f) => {
                    let union = matches!(
                        schema.types.get(f.definition.ty.inner_named_type()),
                        Some(ExtendedType::Union(_))
                    );
                    if union
                        && f.selection_set.selections.is_empty()
                        && let Some(r) = f.line_column_range(&doc.sources)
                    {
                        out.push((r.start.line, r.start.column));
                    }
                    walk(schema, doc, &f.selection_set, out);
                }
                Selection::InlineFragment(i) => walk(schema, doc, &i.selection_set, out),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    for op in doc.operations.iter() {
        walk(schema, doc, &op.selection_set, &mut out);
    }
    for frag in doc.fragments.values() {
        walk(schema, doc, &frag.selection_set, &mut out);
    }
    out
}

/// Diagnostics about an argument literal's type, which graphql-ruby reports per argument instead.
const LITERAL_DIAGNOSTICS: &[&str] = &[
    "UnsupportedValueType",
    "IntCoercionError",
    "FloatCoercionError",
    "UndefinedEnumValue",
];

/// An argument literal of the wrong type, as graphql-ruby's `ArgumentLiteralsAreCompatible` reports it.
struct LiteralError {
    /// Field name and argument name when a field argument is an explicit null (apollo's RequiredArgument).
    null_field_arg: Option<(String, String)>,
    error: Value,
}

fn to_errors(
    list: &DiagnosticList,
    literals: Vec<LiteralError>,
    bare_unions: &[(usize, usize)],
) -> Vec<Value> {
    let mut out = Vec::new();
    let replace_literals = !literals.is_empty();
    let mut seen_syntax = false;
    // apollo also flags the emptied parent selection of an unknown field; graphql-ruby reports only the field.
    let has_undefined = list
        .iter()
        .any(|d| d.error.unstable_error_name() == Some("UndefinedField"));
    for diag in list.iter() {
        let name = diag.error.unstable_error_name();
        if name == Some("MissingSubselection")
            && (has_undefined
                || diag
                    .line_column_range()
                    .is_some_and(|r| bare_unions.contains(&(r.start.line, r.start.column))))
        {
            continue;
        }
        let text = diag.error.to_string();
        if replace_literals && name.is_some_and(|n| LITERAL_DIAGNOSTICS.contains(&n)) {
            continue;
        }
        // A required input field or argument given an explicit null: the literal's own error says so.
        static REQ_FIELD: OnceLock<Regex> = OnceLock::new();
        static REQ_ARG: OnceLock<Regex> = OnceLock::new();
        let missing = match name {
            Some("RequiredField") => Some(re(
                &REQ_FIELD,
                r"required field `([A-Za-z_]+)\.([A-Za-z_]+)` is not provided",
            )),
            Some("RequiredArgument") => Some(re(
                &REQ_ARG,
                r"argument `[A-Za-z_]+\.([A-Za-z_]+)\(([A-Za-z_]+):\)` is not provided",
            )),
            _ => None,
        };
        if let Some(c) = missing.and_then(|r| r.captures(&text))
            && literals.iter().any(|l| {
                l.null_field_arg
                    .as_ref()
                    .is_some_and(|(owner, arg)| owner == &c[1] && arg == &c[2])
            })
        {
            continue;
        }
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
    out.extend(literals.into_iter().map(|l| l.error));
    out
}

/// Walks every argument literal of the document (field arguments and the fields of input-object literals,
/// as graphql-ruby visits both as arguments) and reports each one whose own value does not fit its type.
fn literal_errors(schema: &Schema, doc: &ExecutableDocument) -> Vec<LiteralError> {
    let mut out = Vec::new();
    for op in doc.operations.iter() {
        let kind = match op.operation_type {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
        let head = match &op.name {
            Some(n) => format!("{kind} {n}"),
            None => kind.to_string(),
        };
        walk_selections(
            schema,
            doc,
            &op.selection_set,
            &mut vec![json!(head)],
            &mut out,
        );
    }
    for (name, frag) in &doc.fragments {
        let head = format!("fragment {name}");
        walk_selections(
            schema,
            doc,
            &frag.selection_set,
            &mut vec![json!(head)],
            &mut out,
        );
    }
    out
}

fn walk_selections(
    schema: &Schema,
    doc: &ExecutableDocument,
    set: &SelectionSet,
    path: &mut Vec<Value>,
    out: &mut Vec<LiteralError>,
) {
    for sel in &set.selections {
        match sel {
            Selection::Field(f) => {
                path.push(json!(f.response_key().as_str()));
                for arg in &f.arguments {
                    let Some(def) = f.definition.argument_by_name(&arg.name) else {
                        continue;
                    };
                    path.push(json!(arg.name.as_str()));
                    if !shallow_ok(schema, &def.ty, &arg.value) {
                        let loc = f
                            .line_column_range(&doc.sources)
                            .map(|r| json!([{"line": r.start.line, "column": r.start.column}]))
                            .unwrap_or_else(|| json!([]));
                        out.push(LiteralError {
                            null_field_arg: arg
                                .value
                                .is_null()
                                .then(|| (f.name.to_string(), arg.name.to_string())),
                            error: literal_error(
                                "Field", &f.name, &arg.name, &arg.value, &def.ty, loc, path,
                            ),
                        });
                    }
                    if let Some(bad) = invalid_global_id(&def.ty, &arg.value) {
                        out.push(LiteralError {
                            null_field_arg: None,
                            error: coercion_error(bad, at(f.line_column_range(&doc.sources)), path),
                        });
                    }
                    walk_value(schema, doc, &def.ty, &arg.value, path, out);
                    path.pop();
                }
                walk_selections(schema, doc, &f.selection_set, path, out);
                path.pop();
            }
            Selection::InlineFragment(i) => {
                walk_selections(schema, doc, &i.selection_set, path, out)
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Checks the fields of input-object literals inside `value` (of type `ty`).
fn walk_value(
    schema: &Schema,
    doc: &ExecutableDocument,
    ty: &Type,
    value: &Node<AstValue>,
    path: &mut Vec<Value>,
    out: &mut Vec<LiteralError>,
) {
    match value.as_ref() {
        AstValue::List(items) => {
            let item_ty = if ty.is_list() { ty.item_type() } else { ty };
            for i in items {
                walk_value(schema, doc, item_ty, i, path, out);
            }
        }
        AstValue::Object(fields) => {
            let Some(ExtendedType::InputObject(def)) = schema.types.get(ty.inner_named_type())
            else {
                return;
            };
            for (fname, fdef) in &def.fields {
                if fdef.ty.is_non_null()
                    && fdef.default_value.is_none()
                    && !fields.iter().any(|(k, _)| k == fname)
                {
                    let mut p = path.to_vec();
                    p.push(json!(fname.as_str()));
                    out.push(LiteralError {
                        null_field_arg: Some((def.name.to_string(), fname.to_string())),
                        error: json!({
                            "message": format!(
                                "Argument '{fname}' on InputObject '{}' is required. Expected type {}",
                                def.name, fdef.ty
                            ),
                            "locations": at(value.line_column_range(&doc.sources)),
                            "path": p,
                            "extensions": {"code": "missingRequiredInputObjectAttribute",
                                "argumentName": fname.as_str(), "argumentType": fdef.ty.to_string(),
                                "inputObjectType": def.name.as_str()},
                        }),
                    });
                }
            }
            for (k, v) in fields {
                let Some(fdef) = def.fields.get(k) else {
                    continue;
                };
                path.push(json!(k.as_str()));
                if !shallow_ok(schema, &fdef.ty, v) {
                    let loc = value
                        .line_column_range(&doc.sources)
                        .map(|r| json!([{"line": r.start.line, "column": r.start.column}]))
                        .unwrap_or_else(|| json!([]));
                    out.push(LiteralError {
                        null_field_arg: v.is_null().then(|| (def.name.to_string(), k.to_string())),
                        error: literal_error("InputObject", &def.name, k, v, &fdef.ty, loc, path),
                    });
                }
                if let Some(bad) = invalid_global_id(&fdef.ty, v) {
                    out.push(LiteralError {
                        null_field_arg: None,
                        error: coercion_error(bad, at(value.line_column_range(&doc.sources)), path),
                    });
                }
                walk_value(schema, doc, &fdef.ty, v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn literal_error(
    owner_kind: &str,
    owner: &str,
    arg: &str,
    value: &AstValue,
    ty: &Type,
    locations: Value,
    path: &[Value],
) -> Value {
    json!({
        "message": format!(
            "Argument '{arg}' on {owner_kind} '{owner}' has an invalid value ({}). Expected type '{ty}'.",
            compact(value)
        ),
        "locations": locations,
        "path": path,
        "extensions": {"code": "argumentLiteralsIncompatible", "typeName": owner_kind, "argumentName": arg},
    })
}

fn at(range: Option<std::ops::Range<apollo_compiler::parser::LineColumn>>) -> Value {
    range
        .map(|r| json!([{"line": r.start.line, "column": r.start.column}]))
        .unwrap_or_else(|| json!([]))
}

/// Shopify's `ID` takes global ids (`gid://shopify/Type/1`) only.
pub fn is_global_id(s: &str) -> bool {
    s.strip_prefix("gid://")
        .is_some_and(|rest| rest.split('/').filter(|p| !p.is_empty()).count() >= 3)
}

/// The first string literal of `ID` type in `value` that is not a global id.
fn invalid_global_id<'a>(ty: &Type, value: &'a AstValue) -> Option<&'a str> {
    match value {
        AstValue::List(items) => {
            let item_ty = if ty.is_list() { ty.item_type() } else { ty };
            items.iter().find_map(|i| invalid_global_id(item_ty, i))
        }
        AstValue::String(s) if ty.inner_named_type().as_str() == "ID" && !is_global_id(s) => {
            Some(s.as_str())
        }
        _ => None,
    }
}

fn coercion_error(bad: &str, locations: Value, path: &[Value]) -> Value {
    json!({
        "message": format!("Invalid global id '{bad}'"),
        "locations": locations,
        "path": path,
        "extensions": {"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"},
    })
}

/// A literal printed on one line, as graphql-ruby prints it in messages (`[A, B]`, `{a: 1}`).
fn compact(value: &AstValue) -> String {
    match value {
        AstValue::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| compact(i))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AstValue::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", compact(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Whether `value` fits `ty`, leaving aside the fields of input-object literals (each is an argument of
/// its own and reported on its own).
fn shallow_ok(schema: &Schema, ty: &Type, value: &AstValue) -> bool {
    match value {
        AstValue::Variable(_) => true,
        AstValue::Null => !ty.is_non_null(),
        AstValue::List(items) => {
            ty.is_list() && items.iter().all(|i| shallow_ok(schema, ty.item_type(), i))
        }
        // Input coercion wraps a single value into a list.
        _ if ty.is_list() => shallow_ok(schema, ty.item_type(), value),
        other => {
            let name = ty.inner_named_type().as_str();
            match (schema.types.get(name), other) {
                (Some(ExtendedType::InputObject(_)), AstValue::Object(_)) => true,
                (Some(ExtendedType::Enum(def)), AstValue::Enum(e)) => def.values.contains_key(e),
                // Custom scalars (JSON, URL, ...) take any literal at validation time.
                (Some(ExtendedType::Scalar(s)), _) if !s.is_built_in() => true,
                (Some(ExtendedType::Scalar(_)), v) => match (name, v) {
                    ("Int", AstValue::Int(i)) => i.try_to_i32().is_ok(),
                    ("Float", AstValue::Int(_) | AstValue::Float(_)) => true,
                    ("String", AstValue::String(_)) => true,
                    ("ID", AstValue::String(_) | AstValue::Int(_)) => true,
                    ("Boolean", AstValue::Boolean(_)) => true,
                    _ => false,
                },
                _ => false,
            }
        }
    }
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

    #[test]
    fn argument_literals_are_reported_per_argument_like_graphql_ruby() {
        let schema = crate::schema::schema(ApiVersion::V2026_04);
        let errs = parse_and_validate(
            schema,
            "mutation M {\n  customerAddTaxExemptions(customerId: \"gid://shopify/Customer/1\", taxExemptions: [FOO_BAR]) { userErrors { message } }\n}",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0]["message"],
            "Argument 'taxExemptions' on Field 'customerAddTaxExemptions' has an invalid value ([FOO_BAR]). Expected type '[TaxExemption!]!'."
        );
        assert_eq!(
            errs[0]["path"],
            json!(["mutation M", "customerAddTaxExemptions", "taxExemptions"])
        );
        assert_eq!(errs[0]["extensions"]["typeName"], "Field");
        // A literal id that is no global id fails coercion even though the document is valid GraphQL.
        let errs = parse_and_validate(
            schema,
            "mutation { customerDelete(input: {id: \"\"}) { userErrors { message } } }",
        )
        .unwrap_err();
        assert_eq!(errs[0]["message"], "Invalid global id ''");
        assert_eq!(
            errs[0]["path"],
            json!(["mutation", "customerDelete", "input", "id"])
        );
        assert_eq!(errs[0]["extensions"]["typeName"], "CoercionError");
        // A required input field left out names the input object.
        let errs = parse_and_validate(
            schema,
            "mutation { customerDelete(input: {}) { userErrors { message } } }",
        )
        .unwrap_err();
        assert_eq!(
            errs[0]["message"],
            "Argument 'id' on InputObject 'CustomerDeleteInput' is required. Expected type ID!"
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0]["extensions"]["code"],
            "missingRequiredInputObjectAttribute"
        );
    }
}
