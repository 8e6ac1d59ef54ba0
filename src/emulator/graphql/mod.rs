//! The GraphQL pipeline: body -> document validated against the version's schema -> operation -> variables ->
//! cost and bucket -> execution -> Shopify-shaped answer.
pub mod cost;
pub mod exec;
pub mod validate;
pub mod values;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use apollo_compiler::executable::{Field, OperationType};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Node};
use serde_json::{Map, Value, json};

use crate::core::config::ApiVersion;
use crate::emulator::domain::{self, FieldError, RootCtx};
use crate::emulator::store::Shared;
use exec::Exec;
use values::{Problem, coerce_input};

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer { status: 200, body }
    }
}

/// Validated documents keyed by version and text.
type DocCache = HashMap<(ApiVersion, String), Arc<Valid<ExecutableDocument>>>;

/// Validated documents by (version, text): clients send the same few documents over and over.
fn cached_document(
    version: ApiVersion,
    query: &str,
) -> Result<Arc<Valid<ExecutableDocument>>, Vec<Value>> {
    const CAPACITY: usize = 1024;
    static CACHE: OnceLock<Mutex<DocCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (version, query.to_string());
    if let Some(doc) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(doc.clone());
    }
    let doc = Arc::new(validate::parse_and_validate(
        crate::schema::schema(version),
        query,
    )?);
    let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
    if guard.len() >= CAPACITY {
        guard.clear();
    }
    guard.insert(key, doc.clone());
    Ok(doc)
}

fn location(node: &Node<Field>, doc: &ExecutableDocument) -> Value {
    node.line_column_range(&doc.sources)
        .map(|r| json!([{"line": r.start.line, "column": r.start.column}]))
        .unwrap_or_else(|| json!([]))
}

/// Serves one GraphQL request body for `version`.
pub fn execute(shared: &Shared, version: ApiVersion, body: &[u8]) -> Answer {
    execute_with(shared, version, body, true)
}

/// Like [`execute`]; with `charge` false the bucket is left alone (bulk operation lines are exempt).
pub fn execute_with(shared: &Shared, version: ApiVersion, body: &[u8], charge: bool) -> Answer {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return Answer {
                status: 400,
                body: json!({"errors": {"query": "Required parameter missing or invalid"}}),
            };
        }
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return Answer {
            status: 400,
            body: json!({"errors": {"query": "Required parameter missing or invalid"}}),
        };
    };
    let raw_vars = match request.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Answer {
                status: 400,
                body: json!({"errors": {"variables": "Must be a JSON object"}}),
            };
        }
    };
    let operation_name = request
        .get("operationName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    execute_parsed(shared, version, query, raw_vars, operation_name, charge)
}

/// Like [`execute_with`], for a request already taken apart: a bulk operation runs the same document once
/// per line of variables, and need not write each line into a request body only to parse it back.
pub fn execute_parsed(
    shared: &Shared,
    version: ApiVersion,
    query: &str,
    raw_vars: Map<String, Value>,
    operation_name: Option<&str>,
    charge: bool,
) -> Answer {
    let schema = crate::schema::schema(version);
    let doc = match cached_document(version, query) {
        Ok(doc) => doc,
        Err(errors) => return Answer::ok(json!({"errors": errors})),
    };
    let doc: &Valid<ExecutableDocument> = &doc;
    let op = match doc.operations.get(operation_name) {
        Ok(op) => op,
        Err(_) => {
            let message = match operation_name {
                Some(n) => format!("No operation named \"{n}\""),
                None => "An operation name is required".to_string(),
            };
            return Answer::ok(json!({"errors": [{"message": message}]}));
        }
    };

    // Variables: every problem of every variable is reported, as graphql-ruby does.
    let mut vars = Map::new();
    let mut errors = Vec::new();
    for def in &op.variables {
        let provided = raw_vars.get(def.name.as_str());
        let mut problems: Vec<Problem> = Vec::new();
        let value = match (provided, &def.default_value) {
            (None, Some(default)) => values::literal_to_json(schema, &def.ty, default, &Map::new()),
            _ => coerce_input(schema, &def.ty, provided, &mut Vec::new(), &mut problems),
        };
        if problems.is_empty() {
            if provided.is_some() || def.default_value.is_some() {
                vars.insert(def.name.to_string(), value);
            }
            continue;
        }
        let loc = def
            .line_column_range(&doc.sources)
            .map(|r| json!([{"line": r.start.line, "column": r.start.column}]))
            .unwrap_or_else(|| json!([]));
        let detail: Vec<String> = problems
            .iter()
            .map(|p| {
                let path: Vec<String> = p
                    .path
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| s.to_string())
                    })
                    .collect();
                if path.is_empty() {
                    format!("({})", p.explanation)
                } else {
                    format!("{} ({})", path.join("."), p.explanation)
                }
            })
            .collect();
        // graphql-ruby says "for" once before the list of problems.
        let listed = problems.first().is_some_and(|p| !p.path.is_empty());
        let whole = problems.len() == 1 && problems[0].path.is_empty();
        let message = if whole {
            format!(
                "Variable ${} of type {} was provided invalid value",
                def.name, def.ty
            )
        } else {
            format!(
                "Variable ${} of type {} was provided invalid value {}{}",
                def.name,
                def.ty,
                if listed { "for " } else { "" },
                detail.join(", ")
            )
        };
        errors.push(json!({
            "message": message,
            "locations": loc,
            "extensions": {
                "code": "INVALID_VARIABLE",
                "value": provided.cloned().unwrap_or(Value::Null),
                "problems": problems.iter().map(|p| {
                    let mut j = json!({"path": p.path, "explanation": p.explanation});
                    if p.explanation.starts_with(values::GLOBAL_ID_PROBLEM) {
                        j["message"] = json!(p.explanation);
                    }
                    j
                }).collect::<Vec<_>>(),
            },
        }));
    }
    if !errors.is_empty() {
        return Answer::ok(json!({"errors": errors}));
    }

    let mut exec = Exec {
        schema,
        doc,
        vars: &vars,
        errors: Vec::new(),
    };
    let requested = cost::requested(&exec, op);
    if requested > cost::MAX_QUERY_COST {
        return Answer::ok(json!({"errors": [{
            "message": format!("Query cost is {requested}, which exceeds the single query max cost limit ({}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n", cost::MAX_QUERY_COST),
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": cost::MAX_QUERY_COST, "documentation": "https://shopify.dev/api/usage/limits#rate-limits"},
        }]}));
    }

    let now = shared.clock.elapsed();
    let mut guard = shared.lock();
    let inner = &mut *guard;
    let charge = charge && (inner.throttling || inner.faults.force_throttle);
    if charge && inner.faults.force_throttle {
        inner.bucket.drain(now);
    }
    let status = if charge {
        match inner.bucket.charge(requested, now) {
            Ok(s) => s,
            Err(s) => {
                return Answer::ok(json!({
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": Value::Null, "throttleStatus": s.to_json()}},
                }));
            }
        }
    } else {
        inner.bucket.status_at(now)
    };
    let cost_ext = |actual: Value, s: crate::emulator::throttle::ThrottleStatus| json!({"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": s.to_json()}});

    let root_type = op.selection_set.ty.as_str().to_string();
    let roots = exec.collect(&[&op.selection_set], &root_type);
    // Input arrays are capped before anything runs (the bucket stays charged, actual cost is null).
    for (_, fields) in &roots {
        let f = fields[0];
        let args = exec.field_args(f);
        if let Some(err) = domain::check_input_sizes(f.name.as_str(), &args) {
            let mut e = err.into_json(location(f, doc), json!([]));
            if let Some(obj) = e.as_object_mut() {
                obj.remove("locations");
                obj.insert("locations".into(), location(f, doc));
            }
            return Answer::ok(json!({"errors": [e], "extensions": cost_ext(Value::Null, status)}));
        }
    }

    inner.state.now = Some(shared.clock.now());
    inner.state.api_version = Some(version);
    let mut data = Map::new();
    let mut field_errors: Vec<Value> = Vec::new();
    let is_mutation = op.operation_type == OperationType::Mutation;
    for (key, fields) in roots {
        let f = fields[0];
        if f.name == "__typename" {
            data.insert(key, Value::String(root_type.clone()));
            continue;
        }
        let args = exec.field_args(f);
        let idempotency_key = f
            .directives
            .get("idempotent")
            .and_then(|d| d.specified_argument_by_name("key"))
            .map(|v| values::literal_to_json(schema, &apollo_compiler::ty!(String), v, &vars));
        let cx = RootCtx {
            version,
            mutation: is_mutation,
            idempotency_key,
        };
        let before = inner.state.revision;
        let result = domain::resolve_root(&mut inner.state, f.name.as_str(), &args, &cx);
        if is_mutation && inner.state.revision != before {
            inner.writes += 1;
        }
        match result {
            Ok(value) => {
                let mut path = vec![json!(key.clone())];
                let out = exec.complete(&inner.state, &f.definition.ty, value, &fields, &mut path);
                data.insert(key, out);
            }
            Err(err) => {
                field_errors.push(err.into_json(location(f, doc), json!([key.clone()])));
                data.insert(key, Value::Null);
            }
        }
    }
    field_errors.append(&mut exec.errors);
    let mut body = Map::new();
    if !field_errors.is_empty() {
        body.insert("errors".into(), Value::Array(field_errors));
    }
    let actual = cost::actual(&exec, op, &data).min(requested);
    let status = if charge {
        inner.bucket.refund(requested - actual);
        inner.bucket.status_at(now)
    } else {
        status
    };
    body.insert("data".into(), Value::Object(data));
    body.insert("extensions".into(), cost_ext(json!(actual), status));
    Answer::ok(Value::Object(body))
}

impl FieldError {
    /// The top-level error object, located at the root field.
    pub fn into_json(self, locations: Value, default_path: Value) -> Value {
        let mut ext = Map::new();
        ext.insert("code".into(), Value::String(self.code.to_string()));
        ext.extend(*self.extensions);
        json!({
            "message": self.message,
            "locations": locations,
            "extensions": ext,
            "path": self.path.map(Value::Array).unwrap_or(default_path),
        })
    }
}
