//! Core `v1` Secrets for the test apiserver, which serves only CRDs.
//!
//! A loopback HTTP proxy in front of the apiserver: requests for `/api/v1/.../secrets` are rewritten to a
//! stand-in CRD (`secrets.core-shim.shopsync.dev`, kind Secret) and answered by the real apiserver, so lists,
//! gets, watches (also metadata-only ones), resourceVersions and 404s behave as in a cluster; `apiVersion` is
//! rewritten both ways and `stringData` is folded into base64 `data` on writes, as the real API does. Every
//! other request passes through untouched. Clients (the controller, kube, kubectl) use the proxy's kubeconfig.
//!
//! Name it with `use crate::core_shim;` (the apiserver tier declares it once, next to the apiserver module).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use futures::StreamExt;

/// The stand-in's group.
pub const GROUP: &str = "core-shim.shopsync.dev";

/// The stand-in CRD, to apply before the proxy is used.
pub const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: secrets.core-shim.shopsync.dev
spec:
  group: core-shim.shopsync.dev
  names: {kind: Secret, plural: secrets, singular: secret, listKind: SecretList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

/// A running proxy.
pub struct CoreShim {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl CoreShim {
    /// Starts the proxy in front of `upstream` (https, trusting `ca_file`) and writes a kubeconfig for it
    /// into `dir`.
    pub async fn start(upstream: &str, ca_file: &Path, dir: &Path) -> CoreShim {
        let ca = std::fs::read(ca_file).expect("reading the apiserver CA");
        let cert = reqwest::Certificate::from_pem(&ca).expect("parsing the apiserver CA");
        let http = reqwest::Client::builder()
            .add_root_certificate(cert)
            .build()
            .expect("building the proxy's client");
        let state = Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            http,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the core shim");
        let addr = listener.local_addr().expect("core shim address");
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let kubeconfig = dir.join("core-shim.kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: shim\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: shim\n  context:\n    cluster: shim\n    user: shim\n    namespace: default\ncurrent-context: shim\nusers:\n- name: shim\n  user:\n    token: unused\n"
            ),
        )
        .expect("writing the core shim kubeconfig");
        CoreShim {
            addr,
            kubeconfig,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig that talks to the proxy.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client through the proxy.
    pub async fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url().parse().expect("proxy URL"));
        kube::Client::try_from(config).expect("kube client through the core shim")
    }
}

impl Drop for CoreShim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
}

fn api_versions() -> serde_json::Value {
    serde_json::json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn resource_list() -> serde_json::Value {
    serde_json::json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
        {"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret",
         "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}]})
}

/// `/api/v1/secrets...` or `/api/v1/namespaces/NS/secrets...` rewritten to the stand-in, or `None`.
fn rewrite_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/")?;
    let is_secrets = rest.starts_with("secrets")
        || rest
            .strip_prefix("namespaces/")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(_, r)| r.starts_with("secrets"));
    is_secrets.then(|| format!("/apis/{GROUP}/v1/{rest}"))
}

fn json_response(value: serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(value.to_string()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// Folds `stringData` into `data` and points `apiVersion` at the stand-in.
fn rewrite_request_body(body: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    if let Some(obj) = value.as_object_mut() {
        if obj.get("apiVersion").and_then(|v| v.as_str()) == Some("v1") {
            obj.insert("apiVersion".into(), format!("{GROUP}/v1").into());
        }
        if let Some(serde_json::Value::Object(string_data)) = obj.remove("stringData") {
            let data = obj
                .entry("data")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(data) = data.as_object_mut() {
                for (k, v) in string_data {
                    let text = v.as_str().unwrap_or_default().to_string();
                    data.insert(
                        k,
                        base64::engine::general_purpose::STANDARD
                            .encode(text)
                            .into(),
                    );
                }
            }
        }
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec())
}

fn rewrite_response_bytes(bytes: &[u8]) -> Vec<u8> {
    let from = format!("\"apiVersion\":\"{GROUP}/v1\"");
    let text = String::from_utf8_lossy(bytes);
    text.replace(&from, "\"apiVersion\":\"v1\"").into_bytes()
}

async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/api" {
        return json_response(api_versions());
    }
    if path == "/api/v1" {
        return json_response(resource_list());
    }
    let secrets = rewrite_path(&path);
    let target_path = secrets.clone().unwrap_or_else(|| path.clone());
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("{}{target_path}{query}", up.base);
    let method = req.method().clone();
    let mut headers = HeaderMap::new();
    for (k, v) in req.headers() {
        if k == "host" || k == "content-length" {
            continue;
        }
        if secrets.is_some()
            && k == "content-type"
            && v.to_str()
                .unwrap_or_default()
                .starts_with("application/strategic-merge-patch")
        {
            // Custom resources take merge patches; for a flat Secret the two are the same.
            headers.insert(k, HeaderValue::from_static("application/merge-patch+json"));
            continue;
        }
        headers.insert(k, v.clone());
    }
    let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let body = if secrets.is_some() && !body.is_empty() {
        Bytes::from(rewrite_request_body(&body))
    } else {
        body
    };
    let upstream = up
        .http
        .request(method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let status = upstream.status();
    let mut out_headers = HeaderMap::new();
    for (k, v) in upstream.headers() {
        if k == "content-length" || k == "transfer-encoding" {
            continue;
        }
        out_headers.insert(k, v.clone());
    }
    let watch = query.contains("watch=true") || query.contains("watch=1");
    let body = if secrets.is_some() && watch {
        // Watch events arrive one JSON document per line: rewrite whole lines only, so a chunk boundary
        // never splits the text being replaced.
        let mut pending: Vec<u8> = Vec::new();
        Body::from_stream(upstream.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            pending.extend_from_slice(&chunk);
            let Some(last_newline) = pending.iter().rposition(|b| *b == b'\n') else {
                return Ok::<_, std::io::Error>(Bytes::new());
            };
            let complete: Vec<u8> = pending.drain(..=last_newline).collect();
            Ok(Bytes::from(rewrite_response_bytes(&complete)))
        }))
    } else if secrets.is_some() {
        match upstream.bytes().await {
            Ok(b) => Body::from(rewrite_response_bytes(&b)),
            Err(e) => return error(StatusCode::BAD_GATEWAY, e.to_string()),
        }
    } else {
        Body::from_stream(upstream.bytes_stream())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

fn error(status: StatusCode, message: String) -> Response {
    let mut r = Response::new(Body::from(message));
    *r.status_mut() = status;
    r
}
