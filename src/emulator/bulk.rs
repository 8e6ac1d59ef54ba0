//! Bulk mutations: staged uploads (served by the emulator), `bulkOperationRunMutation`, asynchronous
//! processing, polling and the JSONL result file.
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::domain::{FieldError, RootCtx, gid, parse_gid};
use super::server::json_response;
use super::store::{Shared, State};
use crate::core::config::ApiVersion;

/// Largest accepted JSONL file (100 MB, as Shopify's signed policy says).
pub const MAX_FILE: usize = 100 * 1024 * 1024;

/// A bulk mutation operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BulkOperation {
    /// Numeric id.
    pub id: u64,
    /// CREATED, RUNNING, COMPLETED, CANCELING, CANCELED, FAILED.
    pub status: String,
    /// QUERY or MUTATION.
    #[serde(rename = "type")]
    pub kind: String,
    /// The inner mutation.
    pub query: String,
    /// Staged upload key holding the variables, one JSON object per line.
    pub key: String,
    /// API version the operation runs with.
    pub version: String,
    /// Lines processed.
    pub object_count: u64,
    /// Top-level objects of a query operation (lines without `__parentId`); mutations count lines.
    pub root_object_count: Option<u64>,
    /// JSONL results.
    pub results: String,
    /// Creation time.
    pub created_at: String,
    /// Completion time.
    pub completed_at: Option<String>,
    /// Why a FAILED operation failed (`BulkOperationErrorCode`).
    pub error_code: Option<String>,
}

fn op_json(st: &State, op: &BulkOperation) -> Value {
    let done = op.status == "COMPLETED";
    let results_url = format!("{}/__emulator/bulk-results/{}.jsonl", st.base_url, op.id);
    // A failed operation points at what it did before failing, as Shopify's `partialDataUrl`.
    let partial = op.status == "FAILED" && !op.results.is_empty();
    json!({
        "__typename": "BulkOperation",
        "id": gid("BulkOperation", op.id),
        "status": op.status,
        "type": if op.kind.is_empty() { "MUTATION" } else { op.kind.as_str() },
        "errorCode": op.error_code,
        "createdAt": op.created_at,
        "completedAt": op.completed_at,
        "objectCount": op.object_count.to_string(),
        "rootObjectCount": op.root_object_count.unwrap_or(op.object_count).to_string(),
        "fileSize": if done { json!(op.results.len().to_string()) } else { Value::Null },
        "url": if done { json!(results_url) } else { Value::Null },
        "partialDataUrl": if partial { json!(results_url) } else { Value::Null },
        "query": op.query,
    })
}

/// Whether a status is final (the operation no longer runs).
pub fn is_terminal(status: &str) -> bool {
    terminal(status)
}

fn terminal(status: &str) -> bool {
    matches!(status, "COMPLETED" | "CANCELED" | "FAILED" | "EXPIRED")
}

fn user_error(field: Option<&str>, message: &str, code: &str) -> Value {
    json!({"field": field.map(|f| vec![f]), "message": message, "code": code})
}

fn staged_uploads_create(st: &mut State, args: &Map<String, Value>) -> Value {
    let targets: Vec<Value> = args
        .get("input")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| {
            let filename = i.get("filename").and_then(Value::as_str).unwrap_or("upload");
            let mime = i.get("mimeType").and_then(Value::as_str).unwrap_or("text/jsonl");
            let key = format!("tmp/1/bulk/{}/{filename}", st.next_id());
            let url = format!("{}/__emulator/staged-uploads", st.base_url);
            let params = [("Content-Type", mime), ("success_action_status", "201"), ("acl", "private"), ("key", key.as_str())];
            json!({"url": url, "resourceUrl": url, "parameters": params.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()})
        })
        .collect();
    json!({"stagedTargets": targets, "userErrors": []})
}

fn run_mutation(st: &mut State, args: &Map<String, Value>, cx: &RootCtx) -> Value {
    let fail = |e: Value| json!({"bulkOperation": null, "userErrors": [e]});
    let query = args
        .get("mutation")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let path = args
        .get("stagedUploadPath")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if query.len() > 65_535 {
        return fail(user_error(
            Some("query"),
            &format!(
                "is too large ({} bytes; maximum is 65535 bytes)",
                query.len()
            ),
            "INVALID_MUTATION",
        ));
    }
    let schema = crate::schema::schema(cx.version);
    let valid =
        apollo_compiler::ExecutableDocument::parse_and_validate(schema, &query, "bulk.graphql")
            .ok()
            .filter(|d| {
                d.operations.iter().count() == 1
                    && d.operations.iter().all(|o| {
                        o.operation_type == apollo_compiler::executable::OperationType::Mutation
                            && o.selection_set.selections.len() == 1
                            && o.root_fields(d)
                                .all(|f| !f.name.starts_with("bulkOperationRun"))
                    })
            });
    let Some(valid) = valid else {
        return fail(user_error(
            Some("mutation"),
            "Invalid bulk mutation: the document must hold one valid mutation with a single root field.",
            "INVALID_MUTATION",
        ));
    };
    if count_connections(&valid) > 1 {
        return fail(
            json!({"field": ["mutation"], "message": "Bulk mutations cannot contain more than 1 connection.", "code": null}),
        );
    }
    // The mutation is checked first, then the file, then the in-progress rule, as on Shopify.
    let Some(file) = st.staged.get(&path) else {
        return fail(user_error(
            None,
            "The JSONL file could not be found. Try uploading the file again, and check that you've entered the URL correctly for the stagedUploadPath mutation argument.",
            "NO_SUCH_FILE",
        ));
    };
    if file.is_empty() {
        return fail(user_error(
            None,
            "The input file is empty.",
            "INVALID_STAGED_UPLOAD_FILE",
        ));
    }
    if file.len() > MAX_FILE {
        return fail(user_error(
            None,
            "The input file size exceeds the maximum allowed size of 100 MB.",
            "INVALID_STAGED_UPLOAD_FILE",
        ));
    }
    let limit = if cx.version >= ApiVersion::V2026_01 {
        5
    } else {
        1
    };
    let running: Vec<String> = st
        .bulk_operations
        .values()
        .filter(|o| !terminal(&o.status) && o.kind != "QUERY")
        .map(|o| gid("BulkOperation", o.id))
        .collect();
    if running.len() >= limit {
        return fail(user_error(
            None,
            &format!(
                "A bulk mutation operation for this app and shop is already in progress: {}.",
                running.join(", ")
            ),
            "OPERATION_IN_PROGRESS",
        ));
    }
    let id = st.next_id();
    let op = BulkOperation {
        id,
        status: "CREATED".into(),
        kind: "MUTATION".into(),
        query,
        key: path,
        version: cx.version.as_str().into(),
        created_at: st.now_str(),
        ..BulkOperation::default()
    };
    st.bulk_operations.insert(id, op);
    st.touch();
    json!({"bulkOperation": st.bulk_operations.get(&id).map(|o| op_json(st, o)), "userErrors": []})
}

/// Largest query a bulk operation stores.
const MAX_QUERY: usize = 65_535;

/// `bulkOperationRunQuery`: a valid query with at least one connection starts a QUERY operation; up to five
/// query operations run at a time (one before 2026-01).
fn run_query(st: &mut State, args: &Map<String, Value>, cx: &RootCtx) -> Value {
    let fail = |e: Value| json!({"bulkOperation": null, "userErrors": [e]});
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if query.len() > MAX_QUERY {
        return fail(
            json!({"field": ["query"], "message": format!("Query is too large ({} bytes; maximum is {MAX_QUERY} bytes)", query.len()), "code": "INVALID"}),
        );
    }
    let schema = crate::schema::schema(cx.version);
    let Ok(doc) =
        apollo_compiler::ExecutableDocument::parse_and_validate(schema, &query, "bulk.graphql")
    else {
        return fail(
            json!({"field": ["query"], "message": "Invalid bulk query: the document must hold one valid query.", "code": "INVALID"}),
        );
    };
    if count_connections(&doc) == 0 {
        return fail(
            json!({"field": ["query"], "message": "Bulk queries must contain at least one connection.", "code": "INVALID"}),
        );
    }
    // Five at a time from 2026-01, one before, as for mutations.
    let limit = if cx.version >= ApiVersion::V2026_01 {
        5
    } else {
        1
    };
    let running: Vec<String> = st
        .bulk_operations
        .values()
        .filter(|o| !terminal(&o.status) && o.kind == "QUERY")
        .map(|o| gid("BulkOperation", o.id))
        .collect();
    if running.len() >= limit {
        return fail(
            json!({"field": null, "message": format!("A bulk query operation for this app and shop is already in progress: {}.", running.join(", ")), "code": "OPERATION_IN_PROGRESS"}),
        );
    }
    let id = st.next_id();
    let op = BulkOperation {
        id,
        status: "CREATED".into(),
        kind: "QUERY".into(),
        query,
        version: cx.version.as_str().into(),
        created_at: st.now_str(),
        ..BulkOperation::default()
    };
    st.bulk_operations.insert(id, op);
    st.touch();
    json!({"bulkOperation": st.bulk_operations.get(&id).map(|o| op_json(st, o)), "userErrors": []})
}

/// A query answer as bulk JSONL: every connection node becomes a line without its nested connections,
/// with `__parentId` naming the node it hangs from. Answers (lines, root lines).
fn query_lines(data: &Value) -> (String, u64, u64) {
    fn is_connection(v: &Value) -> Option<Vec<Value>> {
        let m = v.as_object()?;
        if let Some(Value::Array(nodes)) = m.get("nodes") {
            return Some(nodes.clone());
        }
        let edges = m.get("edges")?.as_array()?;
        Some(
            edges
                .iter()
                .filter_map(|e| e.get("node").cloned())
                .collect(),
        )
    }
    fn walk(v: &Value, parent: Option<&str>, out: &mut Vec<Value>) {
        let Value::Object(m) = v else { return };
        for x in m.values() {
            match is_connection(x) {
                Some(nodes) => {
                    for n in nodes {
                        let mut line = n.as_object().cloned().unwrap_or_default();
                        line.retain(|_, f| is_connection(f).is_none());
                        if let Some(p) = parent {
                            line.insert("__parentId".into(), json!(p));
                        }
                        out.push(Value::Object(line));
                        let id = n.get("id").and_then(Value::as_str).map(str::to_string);
                        walk(&n, id.as_deref().or(parent), out);
                    }
                }
                None => walk(x, parent, out),
            }
        }
    }
    let mut lines = Vec::new();
    walk(data, None, &mut lines);
    let roots = lines
        .iter()
        .filter(|l| l.get("__parentId").is_none())
        .count() as u64;
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    (text, lines.len() as u64, roots)
}

/// Fields of a connection type anywhere in the document's operations.
fn count_connections(doc: &apollo_compiler::ExecutableDocument) -> usize {
    fn walk(set: &apollo_compiler::executable::SelectionSet) -> usize {
        set.selections
            .iter()
            .map(|s| match s {
                apollo_compiler::executable::Selection::Field(f) => {
                    usize::from(f.definition.ty.inner_named_type().ends_with("Connection"))
                        + walk(&f.selection_set)
                }
                apollo_compiler::executable::Selection::InlineFragment(i) => walk(&i.selection_set),
                apollo_compiler::executable::Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    doc.operations.iter().map(|o| walk(&o.selection_set)).sum()
}

/// Bulk root fields; `None` when `field` is not one of them.
pub fn resolve(
    st: &mut State,
    field: &str,
    args: &Map<String, Value>,
    cx: &RootCtx,
) -> Option<Result<Value, FieldError>> {
    Some(Ok(match field {
        "stagedUploadsCreate" => staged_uploads_create(st, args),
        "bulkOperationRunMutation" => run_mutation(st, args, cx),
        "bulkOperationRunQuery" => run_query(st, args, cx),
        "bulkOperation" => parse_gid(args.get("id"), "BulkOperation")
            .and_then(|id| st.bulk_operations.get(&id))
            .map(|o| op_json(st, o))
            .unwrap_or(Value::Null),
        "currentBulkOperation" => {
            // The latest operation of the asked type (QUERY when not given, as the schema's default).
            let wanted = args.get("type").and_then(Value::as_str).unwrap_or("QUERY");
            st.bulk_operations
                .values()
                .rfind(|o| {
                    let kind = if o.kind.is_empty() {
                        "MUTATION"
                    } else {
                        o.kind.as_str()
                    };
                    kind == wanted
                })
                .map(|o| op_json(st, o))
                .unwrap_or(Value::Null)
        }
        "bulkOperationCancel" => match parse_gid(args.get("id"), "BulkOperation")
            .and_then(|id| st.bulk_operations.get_mut(&id))
        {
            Some(op) if !terminal(&op.status) => {
                op.status = "CANCELING".into();
                let id = op.id;
                st.touch();
                json!({"bulkOperation": st.bulk_operations.get(&id).map(|o| op_json(st, o)), "userErrors": []})
            }
            Some(op) => {
                let status = op.status.to_lowercase();
                let id = op.id;
                json!({"bulkOperation": st.bulk_operations.get(&id).map(|o| op_json(st, o)), "userErrors": [{"field": null, "message": format!("A bulk operation cannot be canceled when it is {status}.")}]})
            }
            None => {
                json!({"bulkOperation": null, "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]})
            }
        },
        _ => return None,
    }))
}

/// Loads a bulk operation by id.
pub fn load(st: &State, ty: &str, id: u64) -> Option<Value> {
    (ty == "BulkOperation")
        .then(|| st.bulk_operations.get(&id).map(|o| op_json(st, o)))
        .flatten()
}

/// Runs operations in CREATED state in the background, one line at a time through the normal pipeline
/// (exempt from the bucket, as Shopify exempts bulk operations).
pub fn spawn_pending(shared: &Arc<Shared>) {
    let (fail_after, line_delay, pending) = {
        let mut g = shared.lock();
        let fail_after = g.faults.bulk_fail_after_lines;
        let line_delay = std::time::Duration::from_millis(g.faults.bulk_line_delay_ms);
        let ids: Vec<u64> = g
            .state
            .bulk_operations
            .values()
            .filter(|o| o.status == "CREATED")
            .map(|o| o.id)
            .collect();
        let pending: Vec<(u64, String, String, Bytes)> = ids
            .into_iter()
            .filter_map(|id| {
                let op = g.state.bulk_operations.get_mut(&id)?;
                op.status = "RUNNING".into();
                let (q, v, key) = (op.query.clone(), op.version.clone(), op.key.clone());
                let file = g.state.staged.get(&key).cloned().unwrap_or_default();
                Some((id, q, v, file))
            })
            .collect();
        (fail_after, line_delay, pending)
    };
    for (id, query, version, file) in pending {
        let shared = shared.clone();
        tokio::spawn(async move {
            let version = ApiVersion::parse(&version).unwrap_or(ApiVersion::DEFAULT);
            let is_query = shared
                .lock()
                .state
                .bulk_operations
                .get(&id)
                .is_some_and(|o| o.kind == "QUERY");
            if is_query {
                // The whole query runs once (bulk reads are exempt from the bucket), then is flattened.
                let body = json!({"query": query}).to_string();
                let answer = super::graphql::execute_with(&shared, version, body.as_bytes(), false);
                let (text, count, roots) = query_lines(&answer.body["data"]);
                let mut g = shared.lock();
                let now = g.state.now_str();
                if let Some(op) = g.state.bulk_operations.get_mut(&id) {
                    if answer.body.get("errors").is_some() {
                        op.status = "FAILED".into();
                        op.error_code = Some("INTERNAL_SERVER_ERROR".into());
                    } else {
                        op.status = if op.status == "CANCELING" {
                            "CANCELED"
                        } else {
                            "COMPLETED"
                        }
                        .into();
                        op.object_count = count;
                        op.root_object_count = Some(roots);
                        op.results = text;
                    }
                    op.completed_at = Some(now);
                }
                return;
            }
            let mut out = String::new();
            let mut count = 0u64;
            let mut failed = false;
            for (n, line) in String::from_utf8_lossy(&file)
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                if fail_after.is_some_and(|n| count >= n) {
                    failed = true;
                    break;
                }
                if shared
                    .lock()
                    .state
                    .bulk_operations
                    .get(&id)
                    .is_some_and(|o| o.status == "CANCELING")
                {
                    break;
                }
                let answer = match serde_json::from_str(line).unwrap_or(Value::Null) {
                    Value::Object(vars) => {
                        super::graphql::execute_parsed(&shared, version, &query, vars, None, false)
                    }
                    Value::Null => super::graphql::execute_parsed(
                        &shared,
                        version,
                        &query,
                        Map::new(),
                        None,
                        false,
                    ),
                    // Not an object: answered as a request with such variables is answered.
                    vars => {
                        let body = json!({"query": query, "variables": vars}).to_string();
                        super::graphql::execute_with(&shared, version, body.as_bytes(), false)
                    }
                };
                let mut row = Map::new();
                let mut body = answer.body;
                if let Some(d) = body.get_mut("data") {
                    row.insert("data".into(), d.take());
                }
                if let Some(e) = body.get_mut("errors") {
                    row.insert("errors".into(), e.take());
                }
                row.insert("__lineNumber".into(), json!(n));
                out.push_str(&Value::Object(row).to_string());
                out.push('\n');
                count += 1;
                if let Some(op) = shared.lock().state.bulk_operations.get_mut(&id) {
                    op.object_count = count;
                }
                if line_delay.is_zero() {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(line_delay).await;
                }
            }
            let mut g = shared.lock();
            let now = g.state.now_str();
            if let Some(op) = g.state.bulk_operations.get_mut(&id) {
                op.status = if failed {
                    op.error_code = Some("INTERNAL_SERVER_ERROR".into());
                    "FAILED".into()
                } else if op.status == "CANCELING" {
                    "CANCELED".into()
                } else {
                    "COMPLETED".into()
                };
                op.results = out;
                op.completed_at = Some(now);
            }
        });
    }
}

/// Upload target and result files.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__emulator/staged-uploads", post(upload))
        .route("/__emulator/bulk-results/{file}", get(results))
}

/// Splits a multipart/form-data body into (name, bytes) fields.
fn multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes()).unwrap_or(content.len());
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        out.push((name, content[..end].to_vec()));
        rest = &content[end..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn upload(
    AxState(shared): AxState<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers: HeaderMap = parts.headers;
    // Read with the storage's own limit: axum's default (2 MB) is far below the 100 MB Shopify accepts.
    let body: Bytes = match axum::body::to_bytes(body, MAX_FILE + 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                "<Error><Code>EntityTooLarge</Code></Error>",
            )
                .into_response();
        }
    };
    let ct = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = ct
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_string())
    else {
        return json_response(400, json!({"error": "expected multipart/form-data"}));
    };
    let fields = multipart(&body, &boundary);
    let key = fields
        .iter()
        .find(|(n, _)| n == "key")
        .map(|(_, v)| String::from_utf8_lossy(v).to_string());
    let file = fields
        .iter()
        .find(|(n, _)| n == "file")
        .map(|(_, v)| v.clone());
    let (Some(key), Some(file)) = (key, file) else {
        return json_response(
            400,
            json!({"error": "multipart body needs `key` and `file` fields"}),
        );
    };
    if file.len() > MAX_FILE {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "<Error><Code>EntityTooLarge</Code></Error>",
        )
            .into_response();
    }
    shared
        .lock()
        .state
        .staged
        .insert(key.clone(), Bytes::from(file));
    let xml = format!(
        "<?xml version='1.0' encoding='UTF-8'?><PostResponse><Location>{}/__emulator/staged-uploads/{key}</Location><Bucket>emulator-staged-uploads</Bucket><Key>{key}</Key><ETag>\"emulator\"</ETag></PostResponse>",
        shared.lock().state.base_url
    );
    let mut resp = (axum::http::StatusCode::CREATED, xml).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    resp
}

async fn results(AxState(shared): AxState<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let id = file
        .strip_suffix(".jsonl")
        .and_then(|n| n.parse::<u64>().ok());
    let g = shared.lock();
    match id
        .and_then(|id| g.state.bulk_operations.get(&id))
        .filter(|o| o.status == "COMPLETED" || o.status == "FAILED")
    {
        Some(op) => {
            let mut resp = op.results.clone().into_response();
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/jsonl"),
            );
            resp
        }
        None => json_response(404, json!({"errors": "Not Found"})),
    }
}
