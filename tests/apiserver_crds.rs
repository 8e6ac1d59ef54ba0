//! The real-apiserver tier: the committed CRDs, every example and every
//! invalid spec go through the upstream Kubernetes apiextensions-apiserver
//! (OpenAPI schema, CEL rules, printer columns), exactly as `kubectl apply`
//! against a cluster would.
//!
//! Each test starts its own etcd and server, so the tests run in parallel.
//! The `fixture_*` tests run the same checks on tests/apiserver/fixtures to
//! prove the tier itself, including that it notices a spec the server accepts.

use crate::apiserver;
use crate::manifests;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

use apiserver::{ApiServer, assert_success};
use manifests::{Doc, expectations, parse_docs, read_docs, to_yaml_stream, yaml_files};

/// The issue asks for at least this many invalid specs in tests/invalid.
const MIN_PROJECT_INVALID_SPECS: usize = 20;
/// kubectl processes run at once when checking invalid specs.
const KUBECTL_WORKERS: usize = 4;

/// Printer columns the sync kind must show in `kubectl get`.
const SYNC_COLUMNS: &[&str] = &["Ready", "Destination", "Object", "Mode"];

fn repo(path: &str) -> PathBuf {
    apiserver::repo_root().join(path)
}

fn fixtures(path: &str) -> PathBuf {
    apiserver::tier_dir().join("fixtures").join(path)
}

/// What `kubectl get` needs to know about an installed CRD.
#[derive(Debug)]
struct Crd {
    name: String,
    kind: String,
    short_names: Vec<String>,
    categories: Vec<String>,
}

/// Starts a server and reports how long it took (shown with --no-capture).
fn start(label: &str) -> ApiServer {
    let server = ApiServer::start();
    let t = server.timings();
    println!(
        "{label}: etcd healthy after {:?}, apiserver live {:?} later",
        t.etcd, t.apiserver
    );
    server
}

/// Reads the CRDs in `dir` (failing before any server starts when there are
/// none), then starts a server and installs them.
fn start_with_crds(label: &str, dir: &Path) -> (ApiServer, Vec<Crd>) {
    let crds = read_crds(dir);
    let server = start(label);
    install_crds(&server, dir, &crds);
    (server, crds)
}

/// Reads the CRDs in `dir`; panics when there are none, so the tier never
/// passes on nothing.
fn read_crds(dir: &Path) -> Vec<Crd> {
    let files = yaml_files(dir);
    assert!(
        !files.is_empty(),
        "no CRD files in {}: the tier needs the committed CRDs",
        dir.display()
    );
    files
        .iter()
        .flat_map(|file| read_docs(file).into_iter().map(move |doc| (file, doc)))
        .map(|(file, doc)| {
            assert_eq!(
                doc.kind,
                "CustomResourceDefinition",
                "{}: document {:?} is not a CRD",
                file.display(),
                doc.name
            );
            Crd {
                name: doc.name.clone(),
                kind: doc
                    .str_at(&["spec", "names", "kind"])
                    .unwrap_or_default()
                    .to_owned(),
                short_names: doc.strings_at(&["spec", "names", "shortNames"]),
                categories: doc.strings_at(&["spec", "names", "categories"]),
            }
        })
        .collect()
}

/// Applies the CRD files in `dir` and waits until all `crds` are Established.
fn install_crds(server: &ApiServer, dir: &Path, crds: &[Crd]) {
    assert_success(
        &server.apply_file(dir),
        &format!("applying {}", dir.display()),
    );
    let targets: Vec<String> = crds.iter().map(|crd| format!("crd/{}", crd.name)).collect();
    let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    args.extend(targets.iter().map(String::as_str));
    server.kubectl_ok(args);
}

/// Applies every document of the YAML files below `dir`, except core Secrets,
/// and returns the documents applied. Panics unless the server accepts all.
fn apply_examples(server: &ApiServer, dir: &Path) -> Vec<Doc> {
    let files = manifests::yaml_files_recursive(dir);
    assert!(
        !files.is_empty(),
        "no example files below {}",
        dir.display()
    );
    let staging = server.dir().join("examples");
    fs::create_dir_all(&staging).unwrap();
    let mut applied = Vec::new();
    for file in &files {
        let docs = read_docs(file);
        // Other tools' resources (the Argo CD Applications of examples/gitops) have no CRD on this server.
        let docs: Vec<Doc> = docs
            .into_iter()
            .filter(|d| {
                d.is_secret() || d.group() == "shopsync.dev" || d.group().ends_with(".shopsync.dev")
            })
            .collect();
        let (secrets, kept): (Vec<&Doc>, Vec<&Doc>) = docs.iter().partition(|d| d.is_secret());
        for secret in &secrets {
            println!(
                "skipped Secret {:?} in {} (the test server has no core API)",
                secret.name,
                file.display()
            );
        }
        if kept.is_empty() {
            continue;
        }
        for doc in &kept {
            assert!(
                !doc.kind.is_empty() && !doc.name.is_empty(),
                "{}: a document has no kind or metadata.name",
                file.display()
            );
        }
        // Staged under a name derived from the source path, so kubectl's
        // errors still say which example failed.
        let relative = file.strip_prefix(dir).unwrap_or(file);
        let staged = staging.join(relative.to_string_lossy().replace('/', "__"));
        fs::write(&staged, to_yaml_stream(&kept)).unwrap();
        applied.extend(kept.into_iter().cloned());
    }
    assert!(!applied.is_empty(), "{} holds only Secrets", dir.display());

    let out = server.kubectl([
        OsStr::new("apply"),
        OsStr::new("-o"),
        OsStr::new("name"),
        OsStr::new("-f"),
        staging.as_os_str(),
    ]);
    assert_success(&out, &format!("applying the examples in {}", dir.display()));
    let reported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for doc in &applied {
        assert!(
            reported.contains(&doc.kubectl_name()),
            "{} was not reported as applied; kubectl printed {reported:?}",
            doc.kubectl_name()
        );
    }
    applied
}

/// Lists the applied objects through every short name and category, and
/// checks the printer columns of `columns_kind`.
fn check_listing(server: &ApiServer, crds: &[Crd], objects: &[Doc], columns_kind: &str) {
    let names_of = |kinds: &[&str]| -> Vec<&str> {
        objects
            .iter()
            .filter(|o| kinds.contains(&o.kind.as_str()))
            .map(|o| o.name.as_str())
            .collect()
    };
    for crd in crds {
        let names = names_of(&[&crd.kind]);
        for short in &crd.short_names {
            let listing = server.kubectl_ok(["get", short, "-A"]);
            for name in &names {
                assert!(
                    listing.contains(name),
                    "`kubectl get {short}` does not list {name}:\n{listing}"
                );
            }
        }
    }
    let categories: BTreeSet<&str> = crds
        .iter()
        .flat_map(|c| c.categories.iter().map(String::as_str))
        .collect();
    for category in categories {
        let kinds: Vec<&str> = crds
            .iter()
            .filter(|c| c.categories.iter().any(|x| x == category))
            .map(|c| c.kind.as_str())
            .collect();
        let listing = server.kubectl_ok(["get", category, "-A"]);
        for name in names_of(&kinds) {
            assert!(
                listing.contains(name),
                "`kubectl get {category}` does not list {name}:\n{listing}"
            );
        }
    }

    let crd = crds
        .iter()
        .find(|c| c.kind == columns_kind)
        .unwrap_or_else(|| panic!("no CRD of kind {columns_kind}"));
    assert!(
        !names_of(&[columns_kind]).is_empty(),
        "no example of kind {columns_kind}, so its printer columns cannot be checked"
    );
    let listing = server.kubectl_ok(["get", &crd.name, "-A"]);
    let header: Vec<&str> = listing
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for column in SYNC_COLUMNS {
        assert!(
            header.contains(&column.to_uppercase().as_str()),
            "`kubectl get {}` has no {column} column:\n{listing}",
            crd.name
        );
    }
}

/// Applies each invalid spec in `files` and returns one message per spec that
/// was not rejected with all of its expected messages.
fn invalid_spec_failures(server: &ApiServer, files: &[PathBuf]) -> Vec<String> {
    let queue = Mutex::new(files.iter());
    let failures = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..KUBECTL_WORKERS {
            scope.spawn(|| {
                loop {
                    let Some(file) = queue.lock().unwrap().next() else {
                        break;
                    };
                    if let Err(failure) = check_invalid_spec(server, file) {
                        failures.lock().unwrap().push(failure);
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    failures
}

fn check_invalid_spec(server: &ApiServer, file: &Path) -> Result<(), String> {
    let shown = file.display();
    let text = fs::read_to_string(file).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let expected = expectations(&text);
    if expected.is_empty() {
        return Err(format!(
            "{shown}: does not start with a `# expect: <message>` line"
        ));
    }
    let docs = parse_docs(&text, &shown.to_string());
    let kept: Vec<&Doc> = docs.iter().filter(|d| !d.is_secret()).collect();
    if kept.is_empty() {
        return Err(format!("{shown}: holds nothing but Secrets"));
    }
    let out = server.apply_yaml(&to_yaml_stream(&kept));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Err(format!(
            "{shown}: the server accepted it; stdout:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|e| !stderr.contains(e.as_str()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{shown}: rejected, but without {missing:?}; kubectl said:\n{stderr}"
        ))
    }
}

/// The invalid specs in `dir`; panics when there are fewer than `min`.
fn invalid_specs(dir: &Path, min: usize) -> Vec<PathBuf> {
    let files = yaml_files(dir);
    assert!(
        files.len() >= min,
        "{} holds {} invalid specs, at least {min} expected",
        dir.display(),
        files.len()
    );
    files
}

fn assert_all_rejected(server: &ApiServer, specs: &[PathBuf]) {
    let failures = invalid_spec_failures(server, specs);
    assert!(
        failures.is_empty(),
        "{} of {} invalid specs were not rejected as expected:\n\n{}",
        failures.len(),
        specs.len(),
        failures.join("\n\n")
    );
    println!("{} invalid specs rejected with their messages", specs.len());
}

#[test]
fn project_crds_are_established() {
    let (_server, crds) = start_with_crds("crds", &repo("crds"));
    let kinds: BTreeSet<&str> = crds.iter().map(|c| c.kind.as_str()).collect();
    for kind in ["ShopifyDestination", "ShopifySync"] {
        assert!(
            kinds.contains(kind),
            "crds/ has no {kind} CRD (found {kinds:?})"
        );
    }
}

#[test]
fn project_examples_are_accepted() {
    let (server, crds) = start_with_crds("examples", &repo("crds"));
    let objects = apply_examples(&server, &repo("examples"));
    check_listing(&server, &crds, &objects, "ShopifySync");
    println!("{} example objects accepted", objects.len());
}

#[test]
fn project_invalid_specs_are_rejected() {
    let specs = invalid_specs(&repo("tests/invalid"), MIN_PROJECT_INVALID_SPECS);
    let (server, _) = start_with_crds("invalid", &repo("crds"));
    assert_all_rejected(&server, &specs);
}

/// The whole tier on its own fixtures, plus the harness features later tests
/// rely on: the Event/Lease stand-ins and a kube-rs client from the kubeconfig.
#[test]
fn fixture_tier_and_harness() {
    let specs = invalid_specs(&fixtures("invalid"), 5);
    let (server, crds) = start_with_crds("fixtures", &fixtures("crds"));
    let objects = apply_examples(&server, &fixtures("examples"));
    assert_eq!(
        objects.len(),
        3,
        "the fixture Secret must be skipped, the rest applied"
    );
    check_listing(&server, &crds, &objects, "FixtureSync");
    assert_all_rejected(&server, &specs);

    server.install_shim_crds();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let names = runtime.block_on(async {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let client = server.kube_client().await;
        let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client);
        let list = api.list(&Default::default()).await.unwrap();
        list.items
            .into_iter()
            .filter_map(|crd| crd.metadata.name)
            .collect::<BTreeSet<_>>()
    });
    for name in [
        "fixturesyncs.fixtures.shopsync.dev",
        "events.events.k8s.io",
        "leases.coordination.k8s.io",
    ] {
        assert!(
            names.contains(name),
            "kube-rs does not see CRD {name}: {names:?}"
        );
    }
}

/// The invalid-spec check itself fails on a spec the server accepts, on a
/// rejection with a different message, and on a file without expectations.
#[test]
fn fixture_invalid_check_catches_bad_specs() {
    let (server, _) = start_with_crds("checker", &fixtures("crds"));
    let dir = server.dir().join("not-invalid");
    fs::create_dir_all(&dir).unwrap();
    let valid = "apiVersion: fixtures.shopsync.dev/v1alpha1
kind: FixtureSync
metadata: {name: actually-valid}
spec: {destinationRef: {name: d}, query: select 1, object: product, mode: update}
";
    let wrong_message = valid
        .replace("mode: update", "mode: insert")
        .replace("product", "inventoryItem");
    let cases = [
        (
            "accepted.yaml",
            format!("# expect: anything\n{valid}"),
            "the server accepted it",
        ),
        (
            "wrong-message.yaml",
            format!("# expect: a message the server never gives\n{wrong_message}"),
            "rejected, but without",
        ),
        ("no-header.yaml", valid.to_owned(), "does not start with"),
    ];
    for (name, text, _) in &cases {
        fs::write(dir.join(name), text).unwrap();
    }
    let files = yaml_files(&dir);
    let failures = invalid_spec_failures(&server, &files);
    assert_eq!(failures.len(), cases.len(), "{failures:#?}");
    for (name, _, reason) in &cases {
        assert!(
            failures
                .iter()
                .any(|f| f.contains(name) && f.contains(reason)),
            "{name} was not reported with {reason:?}: {failures:#?}"
        );
    }
}

/// Dropping the harness stops the server and removes its directory.
#[test]
fn fixture_harness_cleans_up_on_drop() {
    let server = start("drop");
    let address = server.url().trim_start_matches("https://").to_owned();
    let dir = server.dir().to_owned();
    assert!(std::net::TcpStream::connect(&address).is_ok());
    drop(server);
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "the apiserver still listens on {address} after drop"
    );
    assert!(!dir.exists(), "{} survived the drop", dir.display());
}
