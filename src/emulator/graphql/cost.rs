//! Calculated query cost, the way Shopify documents it: scalars and enums 0, objects 1, connections
//! 2 + (first|last) x the cost of one node, each mutation root field 10 (its payload objects are included in
//! that price; connections and argument-taking lookups inside it are charged on top).
use apollo_compiler::executable::{Operation, OperationType, Selection, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use serde_json::Value;

use super::exec::Exec;

/// The single-query ceiling, whatever the plan.
pub const MAX_QUERY_COST: u32 = 1000;

/// Requested cost of `op`.
pub fn requested(exec: &Exec<'_>, op: &Operation) -> u32 {
    let root = op.selection_set.ty.as_str();
    let mut total = 0u32;
    for (_, fields) in exec.collect(&[&op.selection_set], root) {
        let f = fields[0];
        if f.name.starts_with("__") {
            continue;
        }
        if op.operation_type == OperationType::Mutation {
            total =
                total
                    .saturating_add(10)
                    .saturating_add(set_cost(exec, &f.selection_set, true, 0));
        } else {
            total = total.saturating_add(field_cost(exec, f, false, 0));
        }
    }
    total
}

fn set_cost(exec: &Exec<'_>, set: &SelectionSet, in_mutation: bool, depth: usize) -> u32 {
    if depth > 16 {
        return 0;
    }
    // An interface or union costs the most expensive of its possible selections: the fields selected on it
    // plus those of each type condition, as if the answer were of that type.
    concretes(exec, set)
        .iter()
        .map(|concrete| {
            exec.collect(&[set], concrete)
                .iter()
                .map(|(_, fields)| field_cost(exec, fields[0], in_mutation, depth + 1))
                .fold(0u32, u32::saturating_add)
        })
        .max()
        .unwrap_or(0)
}

/// The types a selection set may be answered as: its own type, and for an interface or union also every type
/// condition of its fragments (inline or named, nested ones included).
fn concretes(exec: &Exec<'_>, set: &SelectionSet) -> Vec<String> {
    let mut out = vec![set.ty.to_string()];
    if matches!(
        exec.schema.types.get(set.ty.as_str()),
        Some(ExtendedType::Interface(_) | ExtendedType::Union(_))
    ) {
        conditions(exec, set, &mut out, 0);
    }
    out
}

fn conditions(exec: &Exec<'_>, set: &SelectionSet, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    for sel in &set.selections {
        let (condition, inner) = match sel {
            Selection::InlineFragment(i) => (
                i.type_condition.as_ref().map(|n| n.as_str()),
                &i.selection_set,
            ),
            Selection::FragmentSpread(s) => match exec.doc.fragments.get(&s.fragment_name) {
                Some(f) => (Some(f.type_condition().as_str()), &f.selection_set),
                None => continue,
            },
            Selection::Field(_) => continue,
        };
        if let Some(c) = condition
            && !out.iter().any(|o| o == c)
        {
            out.push(c.to_string());
        }
        conditions(exec, inner, out, depth + 1);
    }
}

fn field_cost(
    exec: &Exec<'_>,
    f: &apollo_compiler::executable::Field,
    in_mutation: bool,
    depth: usize,
) -> u32 {
    let ty = f.definition.ty.inner_named_type().as_str();
    match exec.schema.types.get(ty) {
        Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
            if ty.ends_with("Connection") {
                let args = exec.field_args(f);
                let n = ["first", "last"]
                    .iter()
                    .filter_map(|k| args.get(*k).and_then(Value::as_u64))
                    .max()
                    .unwrap_or(0) as u32;
                let node = node_cost(exec, &f.selection_set, depth);
                2u32.saturating_add(n.saturating_mul(node))
            } else {
                let own = if in_mutation && f.arguments.is_empty() {
                    0
                } else {
                    1
                };
                // Only the payload's own fields ride on the mutation's price; anything deeper is charged.
                own + set_cost(exec, &f.selection_set, false, depth)
            }
        }
        _ => 0,
    }
}

/// Cost of one node of a connection: the object itself plus its selections, via `nodes` or `edges.node`.
fn node_cost(exec: &Exec<'_>, conn: &SelectionSet, depth: usize) -> u32 {
    let mut best = 0;
    for (_, fields) in exec.collect(&[conn], conn.ty.as_str()) {
        let f = fields[0];
        let c = match f.name.as_str() {
            "nodes" => 1 + set_cost(exec, &f.selection_set, false, depth + 1),
            "edges" => exec
                .collect(&[&f.selection_set], f.selection_set.ty.as_str())
                .iter()
                .filter(|(_, g)| g[0].name == "node")
                .map(|(_, g)| 1 + set_cost(exec, &g[0].selection_set, false, depth + 1))
                .max()
                .unwrap_or(0),
            _ => 0,
        };
        best = best.max(c);
    }
    best
}

/// Actual cost of `op` given the answer's `data`: null objects cost nothing and connections are charged for
/// the nodes they returned. The bucket is refunded the difference to the requested cost.
pub fn actual(exec: &Exec<'_>, op: &Operation, data: &serde_json::Map<String, Value>) -> u32 {
    let root = op.selection_set.ty.as_str();
    let mut total = 0u32;
    for (key, fields) in exec.collect(&[&op.selection_set], root) {
        let f = fields[0];
        if f.name.starts_with("__") {
            continue;
        }
        let v = data.get(&key).unwrap_or(&Value::Null);
        if op.operation_type == OperationType::Mutation {
            total = total.saturating_add(10).saturating_add(set_actual(
                exec,
                &f.selection_set,
                v,
                true,
                0,
            ));
        } else {
            total = total.saturating_add(field_actual(exec, f, v, false, 0));
        }
    }
    total
}

fn set_actual(
    exec: &Exec<'_>,
    set: &SelectionSet,
    value: &Value,
    in_mutation: bool,
    depth: usize,
) -> u32 {
    let Value::Object(obj) = value else { return 0 };
    if depth > 16 {
        return 0;
    }
    // The answer's own type when it says (`__typename`), else the most expensive it could be.
    let types = match obj.get("__typename").and_then(Value::as_str) {
        Some(t) => vec![t.to_string()],
        None => concretes(exec, set),
    };
    types
        .iter()
        .map(|concrete| {
            exec.collect(&[set], concrete)
                .iter()
                .map(|(key, fields)| {
                    field_actual(
                        exec,
                        fields[0],
                        obj.get(key).unwrap_or(&Value::Null),
                        in_mutation,
                        depth + 1,
                    )
                })
                .fold(0u32, u32::saturating_add)
        })
        .max()
        .unwrap_or(0)
}

fn field_actual(
    exec: &Exec<'_>,
    f: &apollo_compiler::executable::Field,
    v: &Value,
    in_mutation: bool,
    depth: usize,
) -> u32 {
    let ty = f.definition.ty.inner_named_type().as_str();
    if v.is_null()
        || !matches!(
            exec.schema.types.get(ty),
            Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_))
        )
    {
        return 0;
    }
    if ty.ends_with("Connection") {
        let count = ["nodes", "edges"]
            .iter()
            .filter_map(|k| v.get(*k).and_then(Value::as_array).map(Vec::len))
            .max()
            .unwrap_or(0) as u32;
        return 2u32.saturating_add(count.saturating_mul(node_cost(exec, &f.selection_set, depth)));
    }
    let own = if in_mutation && f.arguments.is_empty() {
        0
    } else {
        1
    };
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| own + set_actual(exec, &f.selection_set, i, in_mutation, depth))
            .fold(0u32, u32::saturating_add),
        _ => own + set_actual(exec, &f.selection_set, v, false, depth),
    }
}
