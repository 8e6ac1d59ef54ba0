//! The generic executor: projects plain JSON trees returned by the domain onto the selection set.
//!
//! Domain objects are `serde_json` maps holding every field they know. A value `{"__ref": gid}` is loaded
//! lazily through [`crate::emulator::domain::load`], which lets objects point at each other (variant ->
//! product -> variants) without building cycles. A JSON array where the schema expects a `...Connection` is
//! paged here (first/last/after/before/reverse), so the domain never deals with cursors.
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::schema::{ExtendedType, Type};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Node, Schema};
use serde_json::{Map, Value, json};

use super::values::{decode_cursor, encode_cursor, literal_to_json};
use crate::emulator::domain;
use crate::emulator::store::State;

/// Per-request execution context.
pub struct Exec<'a> {
    /// The schema of the request's version.
    pub schema: &'a Valid<Schema>,
    /// The validated document.
    pub doc: &'a Valid<ExecutableDocument>,
    /// Coerced variable values.
    pub vars: &'a Map<String, Value>,
    /// Field errors raised while projecting.
    pub errors: Vec<Value>,
}

impl<'a> Exec<'a> {
    /// The field's arguments as JSON, with schema defaults applied.
    pub fn field_args(&self, field: &Field) -> Map<String, Value> {
        let mut out = Map::new();
        for arg_def in &field.definition.arguments {
            let given = field.arguments.iter().find(|a| a.name == arg_def.name);
            match given {
                Some(a) => {
                    // A variable that was not supplied counts as absent, so the default applies.
                    if let apollo_compiler::ast::Value::Variable(v) = a.value.as_ref()
                        && !self.vars.contains_key(v.as_str())
                    {
                        if let Some(d) = &arg_def.default_value {
                            out.insert(
                                arg_def.name.to_string(),
                                literal_to_json(self.schema, &arg_def.ty, d, self.vars),
                            );
                        }
                        continue;
                    }
                    out.insert(
                        arg_def.name.to_string(),
                        literal_to_json(self.schema, &arg_def.ty, &a.value, self.vars),
                    );
                }
                None => {
                    if let Some(d) = &arg_def.default_value {
                        out.insert(
                            arg_def.name.to_string(),
                            literal_to_json(self.schema, &arg_def.ty, d, self.vars),
                        );
                    }
                }
            }
        }
        out
    }

    fn included(&self, directives: &apollo_compiler::executable::DirectiveList) -> bool {
        let flag = |name: &str| {
            directives
                .get(name)
                .and_then(|d| d.specified_argument_by_name("if"))
                .map(|v| match v.as_ref() {
                    apollo_compiler::ast::Value::Boolean(b) => *b,
                    apollo_compiler::ast::Value::Variable(n) => self
                        .vars
                        .get(n.as_str())
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    _ => false,
                })
        };
        !flag("skip").unwrap_or(false) && flag("include").unwrap_or(true)
    }

    fn applies(&self, condition: Option<&str>, concrete: &str) -> bool {
        match condition {
            None => true,
            Some(c) if c == concrete => true,
            Some(c) => self.schema.is_subtype(c, concrete),
        }
    }

    /// Groups the selected fields by response key, following fragments that apply to `concrete`.
    pub fn collect<'s>(
        &self,
        sets: &[&'s SelectionSet],
        concrete: &str,
    ) -> Vec<(String, Vec<&'s Node<Field>>)>
    where
        'a: 's,
    {
        let mut out: Vec<(String, Vec<&'s Node<Field>>)> = Vec::new();
        for set in sets {
            self.collect_into(set, concrete, &mut out, 0);
        }
        out
    }

    fn collect_into<'s>(
        &self,
        set: &'s SelectionSet,
        concrete: &str,
        out: &mut Vec<(String, Vec<&'s Node<Field>>)>,
        depth: usize,
    ) where
        'a: 's,
    {
        if depth > 32 {
            return;
        }
        for sel in &set.selections {
            match sel {
                Selection::Field(f) => {
                    if !self.included(&f.directives) {
                        continue;
                    }
                    let key = f.response_key().to_string();
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, v)) => v.push(f),
                        None => out.push((key, vec![f])),
                    }
                }
                Selection::FragmentSpread(s) => {
                    if !self.included(&s.directives) {
                        continue;
                    }
                    if let Some(frag) = self.doc.fragments.get(&s.fragment_name)
                        && self.applies(Some(frag.type_condition().as_str()), concrete)
                    {
                        self.collect_into(&frag.selection_set, concrete, out, depth + 1);
                    }
                }
                Selection::InlineFragment(i) => {
                    if self.included(&i.directives)
                        && self.applies(i.type_condition.as_ref().map(|n| n.as_str()), concrete)
                    {
                        self.collect_into(&i.selection_set, concrete, out, depth + 1);
                    }
                }
            }
        }
    }

    /// Completes `value` of type `ty` for the merged `fields` at `path`.
    pub fn complete(
        &mut self,
        st: &State,
        ty: &Type,
        value: Value,
        fields: &[&Node<Field>],
        path: &mut Vec<Value>,
    ) -> Value {
        let value = match value {
            Value::Object(ref m) if m.contains_key("__ref") => {
                let gid = m.get("__ref").and_then(Value::as_str).unwrap_or_default();
                domain::load(st, gid).unwrap_or(Value::Null)
            }
            v => v,
        };
        if value.is_null() {
            return Value::Null;
        }
        if ty.is_list() {
            let Value::Array(items) = value else {
                return Value::Null;
            };
            let item_ty = ty.item_type();
            return Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        path.push(json!(i));
                        let out = self.complete(st, item_ty, v, fields, path);
                        path.pop();
                        out
                    })
                    .collect(),
            );
        }
        let name = ty.inner_named_type().as_str();
        match self.schema.types.get(name) {
            Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
                let value = match value {
                    Value::Array(items) if name.ends_with("Connection") => {
                        let args = fields
                            .first()
                            .map(|f| self.field_args(f))
                            .unwrap_or_default();
                        connection(items, &args)
                    }
                    v => v,
                };
                let Value::Object(obj) = value else {
                    return Value::Null;
                };
                let concrete = obj
                    .get("__typename")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string();
                let sets: Vec<&SelectionSet> = fields.iter().map(|f| &f.selection_set).collect();
                Value::Object(self.project(st, &concrete, &obj, &sets, path))
            }
            _ => value,
        }
    }

    /// Projects an object map onto the selection sets for its concrete type.
    pub fn project(
        &mut self,
        st: &State,
        concrete: &str,
        obj: &Map<String, Value>,
        sets: &[&SelectionSet],
        path: &mut Vec<Value>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, fields) in self.collect(sets, concrete) {
            let f = fields[0];
            if f.name == "__typename" {
                out.insert(key, Value::String(concrete.to_string()));
                continue;
            }
            let args = self.field_args(f);
            let raw = if f.definition.arguments.is_empty() {
                obj.get(f.name.as_str()).cloned()
            } else {
                domain::field_with_args(st, obj, f.name.as_str(), &args)
                    .or_else(|| obj.get(f.name.as_str()).cloned())
            };
            path.push(json!(key.clone()));
            let value = match raw {
                Some(v) => self.complete(st, &f.definition.ty, v, &fields, path),
                None => {
                    if f.definition.ty.is_non_null() {
                        self.errors.push(json!({
                            "message": format!("The emulator does not support field '{}' on type '{}'", f.name, concrete),
                            "extensions": {"code": "EMULATOR_UNSUPPORTED_FIELD"},
                            "path": path.clone(),
                        }));
                    }
                    Value::Null
                }
            };
            path.pop();
            out.insert(key, value);
        }
        out
    }
}

/// The numeric tail of a GID (`gid://shopify/Customer/12` -> 12), ignoring any query string.
pub fn gid_number(gid: &str) -> Option<u64> {
    let tail = gid.rsplit('/').next()?;
    tail.split('?').next()?.parse().ok()
}

fn item_id(item: &Value) -> Option<u64> {
    let gid = item
        .get("__ref")
        .or_else(|| item.get("id"))
        .and_then(Value::as_str)?;
    gid_number(gid)
}

/// Pages a list into a connection object (`edges`, `nodes`, `pageInfo`).
pub fn connection(mut items: Vec<Value>, args: &Map<String, Value>) -> Value {
    if args
        .get("reverse")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        items.reverse();
    }
    let total = items.len();
    let mut start = 0usize;
    let mut end = total;
    if let Some(after) = args
        .get("after")
        .and_then(Value::as_str)
        .and_then(decode_cursor)
        && let Some(pos) = items.iter().position(|i| item_id(i) == Some(after))
    {
        start = pos + 1;
    }
    if let Some(before) = args
        .get("before")
        .and_then(Value::as_str)
        .and_then(decode_cursor)
        && let Some(pos) = items.iter().position(|i| item_id(i) == Some(before))
    {
        end = pos.max(start);
    }
    if let Some(first) = args.get("first").and_then(Value::as_u64) {
        end = end.min(start + first as usize);
    }
    if let Some(last) = args.get("last").and_then(Value::as_u64) {
        start = start.max(end.saturating_sub(last as usize));
    }
    let page: Vec<Value> = items[start..end].to_vec();
    let cursor = |i: &Value| item_id(i).map(encode_cursor);
    let edges: Vec<Value> = page
        .iter()
        .map(|n| json!({"cursor": cursor(n), "node": n}))
        .collect();
    json!({
        "edges": edges,
        "nodes": page,
        "pageInfo": {
            "hasNextPage": end < total,
            "hasPreviousPage": start > 0,
            "startCursor": page.first().and_then(cursor),
            "endCursor": page.last().and_then(cursor),
        },
    })
}
