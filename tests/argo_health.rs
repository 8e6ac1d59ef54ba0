//! The Argo CD health checks in manifests/argocd, run with a real Lua interpreter on objects of every state.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn lua_path(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("manifests/argocd/shopsync.dev/{kind}/health.lua"))
}

/// A Lua table literal for a JSON value; numbers become floats, as Argo CD's gopher-lua hands them over.
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("{:?}", n.as_f64().unwrap()),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs the kind's health.lua on `obj` and returns (status, message).
fn health(kind: &str, obj: &Value) -> (String, String) {
    let script = format!(
        "obj = {}\nlocal hs = dofile({:?})\nio.write(hs.status, \"\\n\", hs.message or \"\")",
        lua(obj),
        lua_path(kind).to_str().unwrap()
    );
    let out = Command::new("lua5.4")
        .arg("-e")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run lua5.4 ({e}): install it with `apt-get install -y lua5.4`")
        });
    assert!(
        out.status.success(),
        "lua failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (s, m) = text.split_once('\n').unwrap();
    (s.to_string(), m.to_string())
}

fn cond(t: &str, status: &str, reason: &str, message: &str, og: i64) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message, "observedGeneration": og,
           "lastTransitionTime": "2026-11-27T00:00:00Z"})
}

fn object(generation: i64, suspend: bool, status: Value) -> Value {
    json!({"apiVersion": "shopsync.dev/v1alpha1", "metadata": {"name": "x", "generation": generation},
           "spec": {"suspend": suspend}, "status": status})
}

fn check(kind: &str, obj: Value, status: &str, message: &str) {
    assert_eq!(
        health(kind, &obj),
        (status.to_string(), message.to_string()),
        "{kind}: {obj}"
    );
}

const KINDS: [&str; 2] = ["ShopifySync", "ShopifyDestination"];

#[test]
fn no_status_is_progressing() {
    for kind in KINDS {
        let mut obj = object(1, false, Value::Null);
        obj.as_object_mut().unwrap().remove("status");
        check(kind, obj, "Progressing", "Waiting for the controller");
        check(
            kind,
            object(1, false, json!({})),
            "Progressing",
            "Waiting for the controller",
        );
    }
}

#[test]
fn ready_and_current_is_healthy() {
    for kind in KINDS {
        let st = json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "True", "Succeeded", "Synced 10 rows", 3),
            cond("Reconciling", "False", "Idle", "", 3),
            cond("Stalled", "False", "Valid", "", 3)]});
        check(kind, object(3, false, st), "Healthy", "Synced 10 rows");
    }
}

#[test]
fn lagging_generation_is_progressing() {
    for kind in KINDS {
        let st = json!({"observedGeneration": 2, "conditions": [cond("Ready", "True", "Succeeded", "ok", 2)]});
        check(
            kind,
            object(3, false, st),
            "Progressing",
            "Waiting for the controller to observe generation 3",
        );
        // Only the condition lags (no top-level observedGeneration).
        let st = json!({"conditions": [cond("Ready", "True", "Succeeded", "ok", 2)]});
        check(
            kind,
            object(3, false, st),
            "Progressing",
            "Waiting for the controller to observe generation 3",
        );
    }
}

#[test]
fn reconciling_is_progressing() {
    for kind in KINDS {
        let st = json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "False", "RunFailed", "query failed", 3),
            cond("Reconciling", "True", "Running", "Run in progress", 3)]});
        check(kind, object(3, false, st), "Progressing", "Run in progress");
    }
}

#[test]
fn stalled_or_not_ready_is_degraded() {
    for kind in KINDS {
        let st = json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "False", "InvalidSpec", "bad", 3),
            cond("Stalled", "True", "InvalidSpec", "spec.schedule.cron does not parse", 3)]});
        check(
            kind,
            object(3, false, st),
            "Degraded",
            "spec.schedule.cron does not parse",
        );
        let st = json!({"observedGeneration": 3, "conditions": [
            cond("Ready", "False", "InvalidToken", "the store rejected the access token", 3)]});
        check(
            kind,
            object(3, false, st),
            "Degraded",
            "the store rejected the access token",
        );
        // No message: the reason stands in.
        let st = json!({"observedGeneration": 3, "conditions": [cond("Ready", "False", "Unreachable", "", 3)]});
        check(kind, object(3, false, st), "Degraded", "Unreachable");
    }
}

#[test]
fn ready_unknown_is_progressing() {
    for kind in KINDS {
        let st = json!({"observedGeneration": 3, "conditions": [cond("Ready", "Unknown", "Pending", "", 3)]});
        check(
            kind,
            object(3, false, st),
            "Progressing",
            "Waiting for the Ready condition",
        );
    }
}

#[test]
fn suspended_sync_is_suspended_unless_stalled() {
    let st = json!({"observedGeneration": 3, "conditions": [cond("Ready", "True", "Succeeded", "ok", 3)]});
    check("ShopifySync", object(3, true, st), "Suspended", "Suspended");
    check(
        "ShopifySync",
        object(1, true, json!({})),
        "Suspended",
        "Suspended",
    );
    let st = json!({"observedGeneration": 3, "conditions": [cond("Stalled", "True", "InvalidSpec", "bad spec", 3)]});
    check("ShopifySync", object(3, true, st), "Degraded", "bad spec");
    // A destination has no suspend field: the flag is ignored.
    let st = json!({"observedGeneration": 3, "conditions": [cond("Ready", "True", "Connected", "ok", 3)]});
    check("ShopifyDestination", object(3, true, st), "Healthy", "ok");
}

#[test]
fn argocd_cm_embeds_the_health_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cm: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("manifests/argocd/argocd-cm.yaml")).unwrap(),
    )
    .unwrap();
    let data = cm["data"].as_object().unwrap();
    assert_eq!(data.len(), KINDS.len());
    for kind in KINDS {
        let key = format!("resource.customizations.health.shopsync.dev_{kind}");
        let file = std::fs::read_to_string(lua_path(kind)).unwrap();
        assert_eq!(
            data[&key].as_str(),
            Some(file.as_str()),
            "{key} drifted from {kind}/health.lua"
        );
    }
}

#[test]
fn health_scripts_use_no_sandboxed_libraries() {
    // Argo CD runs health checks without os, io or require.
    for kind in KINDS {
        let src = std::fs::read_to_string(lua_path(kind)).unwrap();
        for bad in ["os.", "io.", "require", "//", "goto"] {
            assert!(!src.contains(bad), "{kind}/health.lua uses {bad}");
        }
    }
}
