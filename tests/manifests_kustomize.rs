//! The kustomize base in manifests/base: it renders, its CRDs are the generated ones, the Deployment is locked
//! down and RBAC grants exactly what the controller needs.
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

fn render() -> Vec<Value> {
    render_dir("manifests/base")
}

fn render_dir(dir: &str) -> Vec<Value> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&base)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubectl ({e}): install kubectl (Debian package kubernetes-client)")
        });
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn crd_copies_match_crds_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("crds")).unwrap() {
        let name = entry.unwrap().file_name();
        let original = std::fs::read(root.join("crds").join(&name)).unwrap();
        let copy = std::fs::read(root.join("manifests/base/crds").join(&name)).unwrap_or_default();
        assert!(
            original == copy,
            "manifests/base/crds/{name:?} differs from crds/: cp crds/*.yaml manifests/base/crds/"
        );
    }
    let copies = std::fs::read_dir(root.join("manifests/base/crds"))
        .unwrap()
        .count();
    let originals = std::fs::read_dir(root.join("crds")).unwrap().count();
    assert_eq!(
        copies, originals,
        "manifests/base/crds has files crds/ does not"
    );
}

#[test]
fn renders_the_expected_objects() {
    let docs = render();
    let mut kinds: Vec<String> = docs
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Namespace",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    for d in &docs {
        let kind = d["kind"].as_str().unwrap();
        if ![
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
        ]
        .contains(&kind)
        {
            assert_eq!(d["metadata"]["namespace"], "shopsync-system", "{kind}");
        }
        assert_eq!(
            d["metadata"]["labels"]["app.kubernetes.io/part-of"], "shopsync",
            "{kind}"
        );
    }
    assert_eq!(
        find(&docs, "Namespace")[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

#[test]
fn deployment_is_locked_down() {
    let docs = render();
    let dep = find(&docs, "Deployment")[0];
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(
        pod["serviceAccountName"],
        find(&docs, "ServiceAccount")[0]["metadata"]["name"]
    );
    assert!(pod["terminationGracePeriodSeconds"].as_i64().unwrap() >= 60);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["image"], "ghcr.io/shopsync/shopsync:0.1.0");
    assert_eq!(c["args"], serde_json::json!(["controller"]));
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc.get("privileged").is_none() && sc["capabilities"].get("add").is_none());
    for k in ["requests", "limits"] {
        assert!(
            c["resources"][k]["cpu"].is_string() && c["resources"][k]["memory"].is_string(),
            "{k}"
        );
    }
    assert_eq!(c["ports"][0]["name"], "http");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    // The variables `shopsync controller` reads: log filter, state store, and the pod's identity for the
    // Lease and the state store's locks.
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in [
        "SHOPSYNC_LOG",
        "SHOPSYNC_STATE_URL",
        "POD_NAME",
        "POD_NAMESPACE",
    ] {
        assert!(env.contains(&name), "{name} missing from {env:?}");
    }
    // The SQLite fallback state lives on a writable volume.
    assert!(
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/var/lib/shopsync")
    );
    // The root filesystem is read-only: /tmp is a writable emptyDir.
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/tmp")
        .unwrap();
    let vol = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert!(vol["emptyDir"].is_object());
    // The selector picks the pods, and the metrics Service reaches them.
    let labels = &dep["spec"]["template"]["metadata"]["labels"];
    for (k, v) in dep["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v);
    }
    let svc = find(&docs, "Service")[0];
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v);
    }
    assert_eq!(svc["spec"]["ports"][0]["name"], "http-metrics");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn network_policy_limits_egress_to_dns_apiserver_postgresql_and_https() {
    let docs = render();
    let policy = find(&docs, "NetworkPolicy");
    assert_eq!(policy.len(), 1);
    let spec = &policy[0]["spec"];
    // It selects the controller's pods.
    let labels = &find(&docs, "Deployment")[0]["spec"]["template"]["metadata"]["labels"];
    let selector = spec["podSelector"]["matchLabels"].as_object().unwrap();
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "{k}");
    }
    assert_eq!(
        spec["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    // Every egress rule names its ports (a rule without ports opens them all), and only these ports.
    let mut open = BTreeSet::new();
    for rule in spec["egress"].as_array().unwrap() {
        let ports = rule["ports"]
            .as_array()
            .expect("an egress rule without ports");
        assert!(!ports.is_empty());
        for p in ports {
            open.insert(format!("{}/{}", p["port"], p["protocol"].as_str().unwrap()));
        }
        // DNS goes to the cluster's resolver only.
        if ports.iter().any(|p| p["port"] == 53) {
            assert!(ports.iter().all(|p| p["port"] == 53), "{rule}");
            let to = &rule["to"][0];
            assert_eq!(
                to["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                "kube-system"
            );
            assert_eq!(to["podSelector"]["matchLabels"]["k8s-app"], "kube-dns");
        }
    }
    assert_eq!(
        open,
        set(&["53/UDP", "53/TCP", "443/TCP", "6443/TCP", "5432/TCP"])
    );
    // Ingress: only the metrics and probe port.
    let ingress = spec["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        ingress[0]["ports"],
        serde_json::json!([{"port": "http", "protocol": "TCP"}])
    );
}

/// Every (apiGroup, resource, verb) a role grants; panics on wildcards and resourceNames.
fn grants(role: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        assert!(rule.get("nonResourceURLs").is_none() && rule.get("resourceNames").is_none());
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        for g in list("apiGroups") {
            for r in list("resources") {
                for v in list("verbs") {
                    assert!(
                        !g.contains('*') && !r.contains('*') && !v.contains('*'),
                        "wildcard in {rule}"
                    );
                    out.insert(format!("{g}/{r}:{v}"));
                }
            }
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rbac_grants_exactly_what_the_controller_needs() {
    let docs = render();
    let mut expected = BTreeSet::new();
    for r in ["shopifydestinations", "shopifysyncs"] {
        for v in ["get", "list", "watch", "patch", "update"] {
            expected.insert(format!("shopsync.dev/{r}:{v}"));
        }
        for v in ["get", "patch", "update"] {
            expected.insert(format!("shopsync.dev/{r}/status:{v}"));
        }
        expected.insert(format!("shopsync.dev/{r}/finalizers:update"));
    }
    expected.extend(set(&[
        "/secrets:get",
        "/secrets:list",
        "/secrets:watch",
        "events.k8s.io/events:create",
        "events.k8s.io/events:patch",
    ]));
    assert_eq!(grants(find(&docs, "ClusterRole")[0]), expected);
    let role = find(&docs, "Role")[0];
    assert_eq!(role["metadata"]["namespace"], "shopsync-system");
    assert_eq!(
        grants(role),
        set(&[
            "coordination.k8s.io/leases:create",
            "coordination.k8s.io/leases:get",
            "coordination.k8s.io/leases:update"
        ])
    );
    for (binding, role) in [
        ("ClusterRoleBinding", "ClusterRole"),
        ("RoleBinding", "Role"),
    ] {
        let b = find(&docs, binding)[0];
        assert_eq!(b["roleRef"]["kind"], role);
        assert_eq!(
            b["roleRef"]["name"],
            find(&docs, role)[0]["metadata"]["name"]
        );
        assert_eq!(
            b["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": "shopsync-controller",
                                                      "namespace": "shopsync-system"}])
        );
    }
}

#[test]
fn the_namespaced_overlay_reads_secrets_only_in_the_watched_namespace() {
    let docs = render_dir("manifests/namespaced");
    assert!(
        find(&docs, "ClusterRole").is_empty() && find(&docs, "ClusterRoleBinding").is_empty(),
        "no cluster-wide role in the namespaced mode"
    );
    let roles = find(&docs, "Role");
    let secrets_readers: Vec<&str> = roles
        .iter()
        .filter(|r| {
            r["rules"].as_array().into_iter().flatten().any(|rule| {
                rule["resources"]
                    .as_array()
                    .is_some_and(|res| res.iter().any(|x| x == "secrets"))
            })
        })
        .filter_map(|r| r["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(
        secrets_readers,
        ["shop-syncs"],
        "Secrets are readable only where the syncs live"
    );
    let bindings = find(&docs, "RoleBinding");
    assert!(
        bindings
            .iter()
            .any(|b| b["metadata"]["namespace"] == "shop-syncs"
                && b["roleRef"]["name"] == "shopsync-controller"
                && b["subjects"][0]["name"] == "shopsync-controller"),
        "{bindings:?}"
    );
    let deployment = find(&docs, "Deployment")[0];
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env");
    assert!(
        env.iter()
            .any(|e| e["name"] == "SHOPSYNC_WATCH_NAMESPACE" && e["value"] == "shop-syncs"),
        "the controller watches the namespace its Role covers: {env:?}"
    );
}
