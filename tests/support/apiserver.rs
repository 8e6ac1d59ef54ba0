//! A real Kubernetes API server for tests: etcd plus the upstream
//! apiextensions-apiserver (built from tests/apiserver by `build.sh`), both on
//! free loopback ports with their own temporary directories.
//!
//! The server has no core API (`/api/v1`: no Namespaces, Secrets, ConfigMaps)
//! and runs with authentication off. Everything it started is killed when the
//! [`ApiServer`] is dropped.
//!
//! Name it from a test file with
//! `use crate::apiserver;` (the tier file in tests/tiers/ declares it once).
//!
//! Environment:
//! - `SHOPSYNC_APIEXT_BIN`: a prebuilt apiext-shim (otherwise `build.sh` builds or
//!   reuses the cached one);
//! - `SHOPSYNC_ETCD_BIN`: the etcd binary (otherwise `etcd` on `PATH`).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long etcd or the apiserver may take to become healthy on a busy machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// How often a starting process is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// Free ports are found by binding port 0 and releasing it, so another process
/// can take one before etcd or the server binds it; startup then retries.
const START_ATTEMPTS: usize = 3;

/// Admission plugins that need the core API or webhooks, which this server lacks.
const DISABLED_ADMISSION: &str = "NamespaceLifecycle,MutatingAdmissionWebhook,\
ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,MutatingAdmissionPolicy";

/// The repository root. Cargo and nextest set `CARGO_MANIFEST_DIR` when they
/// run a test; the compile-time value is the fallback for a binary run by hand.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Directory of the apiserver tier's build inputs and fixtures.
pub fn tier_dir() -> PathBuf {
    repo_root().join("tests/apiserver")
}

/// Stand-in CRDs for `events.k8s.io/v1` Event and `coordination.k8s.io/v1`
/// Lease, which the server does not serve itself.
pub fn shim_crds_file() -> PathBuf {
    tier_dir().join("shim-crds.yaml")
}

/// Startup durations of one [`ApiServer`], for reports.
#[derive(Debug, Clone, Copy)]
pub struct StartupTimings {
    /// From spawning etcd until `/health` answered.
    pub etcd: Duration,
    /// From spawning the apiserver until `/livez` answered 200.
    pub apiserver: Duration,
}

/// A running etcd + apiextensions-apiserver pair.
pub struct ApiServer {
    etcd: Child,
    server: Child,
    url: String,
    kubeconfig: PathBuf,
    ca_file: PathBuf,
    timings: StartupTimings,
    // Dropped last: it holds etcd's data, the certificates and the logs.
    dir: TempDir,
}

impl ApiServer {
    /// Starts etcd and the apiserver and waits until both are healthy.
    ///
    /// Panics with a clear message when a binary is missing or cannot be
    /// built, or when either process does not come up: a test that needs the
    /// server must never silently skip.
    pub fn start() -> ApiServer {
        let shim = apiext_shim_bin();
        let etcd = etcd_bin();
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&shim, &etcd) {
                Ok(server) => return server,
                Err(err) => failures.push(err),
            }
        }
        panic!(
            "the test apiserver did not start in {START_ATTEMPTS} attempts:\n\n{}",
            failures.join("\n\n")
        );
    }

    fn try_start(shim: &Path, etcd_bin: &Path) -> Result<ApiServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("shopsync-apiserver-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let root = dir.path();
        let [client_port, peer_port, server_port] = free_ports();

        let started = Instant::now();
        let etcd_log = root.join("etcd.log");
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = spawn_logged(
            Command::new(etcd_bin)
                .arg("--name=test")
                .arg(format!("--data-dir={}", root.join("etcd").display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=test={peer_url}"))
                // Test data is thrown away, so durability is not worth the time.
                .arg("--unsafe-no-fsync"),
            &etcd_log,
        )?;
        // The log line proves that the etcd answering is ours, not one of a
        // parallel test that won a race for the same port.
        if let Err(err) = wait_until(&mut etcd, "etcd", &etcd_log, || {
            log_contains(&etcd_log, "ready to serve client requests") && etcd_healthy(client_port)
        }) {
            stop(&mut etcd);
            return Err(err);
        }
        let etcd_ready = started.elapsed();

        let started = Instant::now();
        let certs = root.join("certs");
        let dummy_kubeconfig = root.join("dummy-kubeconfig");
        // The server insists on a kubeconfig for its core informers; they fail to
        // list against this dead address, which is harmless (probe /livez, not /readyz).
        write_file(
            &dummy_kubeconfig,
            &kubeconfig_yaml("https://127.0.0.1:1", None),
        );
        let server_log = root.join("apiserver.log");
        let mut server = match spawn_logged(
            Command::new(shim)
                .env("SHOPSYNC_APIEXT_NO_AUTH", "1")
                .arg(format!("--etcd-servers={client_url}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={server_port}"))
                .arg(format!("--cert-dir={}", certs.display()))
                .arg(format!("--kubeconfig={}", dummy_kubeconfig.display()))
                .arg("--enable-priority-and-fairness=false")
                .arg(format!("--disable-admission-plugins={DISABLED_ADMISSION}")),
            &server_log,
        ) {
            Ok(child) => child,
            Err(err) => {
                stop(&mut etcd);
                return Err(err);
            }
        };
        let url = format!("https://127.0.0.1:{server_port}");
        let ca_file = certs.join("apiserver.crt");
        if let Err(err) = wait_until(&mut server, "apiserver", &server_log, || {
            apiserver_live(&url, &ca_file)
        }) {
            stop(&mut server);
            stop(&mut etcd);
            return Err(err);
        }
        let apiserver_ready = started.elapsed();

        let kubeconfig = root.join("kubeconfig");
        write_file(&kubeconfig, &kubeconfig_yaml(&url, Some(&ca_file)));
        Ok(ApiServer {
            etcd,
            server,
            url,
            kubeconfig,
            ca_file,
            timings: StartupTimings {
                etcd: etcd_ready,
                apiserver: apiserver_ready,
            },
            dir,
        })
    }

    /// The server's base URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig for this server (no auth; trusts the server's generated
    /// certificate; namespace `default`). Works for kubectl and for
    /// [`ApiServer::kube_client`].
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The server's self-signed certificate, which the kubeconfig trusts.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The temporary directory holding etcd's data, certificates and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How long etcd and the server took to become healthy.
    pub fn timings(&self) -> StartupTimings {
        self.timings
    }

    /// Runs kubectl against this server and returns its output, whatever the
    /// exit status. The discovery cache is private to this server.
    pub fn kubectl<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.kubectl_with_stdin(args, None)
    }

    /// Runs kubectl with `stdin` piped in (for `-f -`).
    pub fn kubectl_with_stdin<I, S>(&self, args: I, stdin: Option<&str>) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(kubectl_bin());
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // A shared cache could hold discovery from an earlier server that
            // used the same port.
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl ({}): {e}", kubectl_bin().display()));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("kubectl stdin is piped");
            // kubectl may exit before reading everything; its output says why.
            if let Err(e) = pipe.write_all(input.as_bytes())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                panic!("cannot write kubectl's stdin: {e}");
            }
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("kubectl did not finish: {e}"))
    }

    /// Runs kubectl and panics with its stderr unless it succeeds; returns stdout.
    pub fn kubectl_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let out = self.kubectl(&args);
        assert_success(&out, &format!("kubectl {args:?}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f <path>` (a file or a directory); output returned as is.
    pub fn apply_file(&self, path: &Path) -> Output {
        self.kubectl([OsStr::new("apply"), OsStr::new("-f"), path.as_os_str()])
    }

    /// `kubectl apply -f -` with `yaml` on stdin; output returned as is.
    pub fn apply_yaml(&self, yaml: &str) -> Output {
        self.kubectl_with_stdin(["apply", "-f", "-"], Some(yaml))
    }

    /// Waits until the named CRD (`<plural>.<group>`) is Established; panics
    /// with kubectl's message otherwise.
    pub fn wait_established(&self, crd_name: &str) {
        self.kubectl_ok([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/{crd_name}"),
        ]);
    }

    /// Installs the Event and Lease stand-in CRDs and waits until both are
    /// Established, so kube's event recorder and leader election work.
    pub fn install_shim_crds(&self) {
        let out = self.apply_file(&shim_crds_file());
        assert_success(&out, "applying the Event/Lease stand-in CRDs");
        self.wait_established("events.events.k8s.io");
        self.wait_established("leases.coordination.k8s.io");
    }

    /// A kube-rs client for this server, built from [`ApiServer::kubeconfig`].
    pub async fn kube_client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.kubeconfig.display()));
        let options = kube::config::KubeConfigOptions::default();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap_or_else(|e| panic!("invalid kubeconfig {}: {e}", self.kubeconfig.display()));
        kube::Client::try_from(config).unwrap_or_else(|e| panic!("cannot build a kube client: {e}"))
    }

    /// The last lines of the server's log, for failure messages.
    pub fn server_log_tail(&self) -> String {
        log_tail(&self.dir.path().join("apiserver.log"))
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        stop(&mut self.server);
        stop(&mut self.etcd);
        if thread::panicking() {
            eprintln!(
                "--- apiserver log (last lines) ---\n{}",
                self.server_log_tail()
            );
        }
    }
}

/// Panics with the command's stderr and stdout unless it exited successfully.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstderr:\n{}\nstdout:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The apiext-shim binary: `SHOPSYNC_APIEXT_BIN`, or built (once, cached
/// across runs) by tests/apiserver/build.sh.
pub fn apiext_shim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SHOPSYNC_APIEXT_BIN") {
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "SHOPSYNC_APIEXT_BIN={} does not exist; unset it to build the server with \
                 tests/apiserver/build.sh",
                bin.display()
            );
            return bin;
        }
        let script = tier_dir().join("build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} could not build the test apiserver ({}); see its messages above. \
             It needs dpkg-deb and flock, and the .debs in tests/apiserver/debs.",
            script.display(),
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let bin = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        assert!(
            bin.is_file(),
            "{} printed {stdout:?}, which is not the built binary",
            script.display()
        );
        bin
    })
    .clone()
}

/// The etcd binary: `SHOPSYNC_ETCD_BIN`, or `etcd` on `PATH`.
pub fn etcd_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SHOPSYNC_ETCD_BIN") {
        return PathBuf::from(bin);
    }
    find_on_path("etcd").unwrap_or_else(|| {
        panic!(
            "etcd is not installed, and the apiserver tests need it: run \
             `apt-get install -y etcd-server` (Debian) or set SHOPSYNC_ETCD_BIN"
        )
    })
}

/// The kubectl binary: `SHOPSYNC_KUBECTL_BIN`, or `kubectl` on `PATH`.
pub fn kubectl_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SHOPSYNC_KUBECTL_BIN") {
        return PathBuf::from(bin);
    }
    find_on_path("kubectl")
        .unwrap_or_else(|| panic!("kubectl is not installed (or set SHOPSYNC_KUBECTL_BIN)"))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Three distinct free loopback ports. The listeners are held together so
/// the kernel cannot hand out the same port twice.
fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"))
        })
        .collect();
    let port = |l: &TcpListener| {
        l.local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port()
    };
    [
        port(&listeners[0]),
        port(&listeners[1]),
        port(&listeners[2]),
    ]
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child, String> {
    let file =
        fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err_file = file
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(file)
        .stderr(err_file)
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Polls `ready` until it holds, failing early when the process exits.
fn wait_until(
    child: &mut Child,
    what: &str,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited during startup ({status}); log {}:\n{}",
                log.display(),
                log_tail(log)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} was not healthy after {STARTUP_TIMEOUT:?}; log {}:\n{}",
                log.display(),
                log_tail(log)
            ));
        }
        thread::sleep(PROBE_INTERVAL);
    }
}

fn stop(child: &mut Child) {
    // Already exited is fine; anything else is a leak we cannot fix here.
    let _ = child.kill();
    let _ = child.wait();
}

/// etcd's `/health` over plain HTTP/1.0, so no client library is needed.
fn etcd_healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")
}

/// Probes the server's `/livez`, trusting the certificate it generated.
///
/// The request runs on a private runtime in its own thread, so that callers
/// already inside a tokio runtime can start a server too.
fn apiserver_live(url: &str, ca_file: &Path) -> bool {
    // The certificate appears only once the server has generated it.
    let Ok(pem) = fs::read(ca_file) else {
        return false;
    };
    let url = format!("{url}/livez");
    thread::scope(|scope| {
        scope
            .spawn(|| {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return false;
                };
                runtime.block_on(async {
                    let Ok(cert) = reqwest::Certificate::from_pem(&pem) else {
                        return false;
                    };
                    let Ok(client) = reqwest::Client::builder()
                        .add_root_certificate(cert)
                        .timeout(Duration::from_secs(2))
                        .build()
                    else {
                        return false;
                    };
                    matches!(client.get(&url).send().await, Ok(r) if r.status().is_success())
                })
            })
            .join()
            .unwrap_or(false)
    })
}

fn kubeconfig_yaml(server: &str, ca_file: Option<&Path>) -> String {
    let ca = ca_file
        .map(|path| format!("\n    certificate-authority: {}", path.display()))
        .unwrap_or_default();
    // kubectl prompts for a user name when the user entry is empty, so it gets
    // a token the server (authentication off) never checks.
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}{ca}
users:
- name: test
  user:
    token: unused
contexts:
- name: test
  context:
    cluster: test
    user: test
    namespace: default
current-context: test
"
    )
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn log_contains(path: &Path, needle: &str) -> bool {
    fs::read_to_string(path).is_ok_and(|text| text.contains(needle))
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
