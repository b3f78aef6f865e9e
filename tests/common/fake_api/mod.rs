//! An in-process fake Kubernetes API server, sized to what ttdoctor sends: plain HTTP on
//! `127.0.0.1:<random port>` from its own tokio runtime, for `#[tokio::test]`s, plain `#[test]`s
//! running the binary, and benchmarks (`#[path = "../tests/common/fake_api/mod.rs"] mod
//! fake_api;`). It answers like a real kube-apiserver v1.36 (messages, codes and reasons; each
//! module names its kubernetes/kubernetes sources) and refuses the rest naming itself (watch,
//! selectors, strategic merge, server-side apply, create/update/delete). Objects come from
//! ttdoctor's own snapshot loader ([`FakeApi::from_snapshot_file`]) or from the test
//! ([`FakeApi::start`]); tests change them directly ([`FakeApi::mutate`], hooks).

mod discovery;
mod exec;
mod faults;
mod list;
mod log;
mod patch;
mod rbac;
mod server;
mod store;

pub use handle::{ExecReply, ExecRequest, FakeApi, MetricsMode, RecordedRequest};
pub use store::Store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The user the fake says is making requests with a bearer token (in 403 messages).
const USER: &str = "system:serviceaccount:default:ttdoctor";

/// The server's state, behind one lock.
#[derive(Default)]
struct Inner {
    store: Store,
    forbids: Vec<rbac::Forbid>,
    metrics: MetricsMode,
    /// Accept requests and never answer any.
    hang: bool,
    /// The kubelet never answers `pods/log`.
    log_hang: bool,
    status_for_all: Option<u16>,
    requests: Vec<RecordedRequest>,
    /// Method, path prefix, requests to go, and what to run then.
    hooks: Vec<(String, String, usize, Option<HookFn>)>,
    exec_handler: Option<Arc<ExecHandler>>,
    execs: Vec<ExecRequest>,
    /// Container logs by (namespace, pod, container, previous instance).
    logs: HashMap<(String, String, String, bool), String>,
}

type ExecHandler = dyn Fn(&ExecRequest, &mut Store) -> ExecReply + Send + Sync;
type HookFn = Box<dyn FnOnce(&mut Store) + Send>;

struct Shared(Mutex<Inner>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serves on a port of 127.0.0.1 from a runtime of its own (so that plain #[test]s work too).
fn serve(inner: Inner) -> (std::net::SocketAddr, Arc<Shared>, tokio::runtime::Runtime) {
    let shared = Arc::new(Shared(Mutex::new(inner)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("an address");
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let runtime = runtime.worker_threads(2).enable_all().build();
    let runtime = runtime.expect("a runtime");
    let app = axum::Router::new().fallback(server::handle);
    let app = app.with_state(shared.clone());
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        axum::serve(listener, app).await
    });
    (addr, shared, runtime)
}

impl Inner {
    /// Runs the hooks due after a request.
    fn run_hooks(&mut self, method: &str, path: &str) {
        let mut due = Vec::new();
        self.hooks.retain_mut(|(m, prefix, to_go, f)| {
            *to_go -= usize::from(m == method && path.starts_with(prefix.as_str()));
            due.extend(f.take_if(|_| *to_go == 0));
            f.is_some()
        });
        for f in due {
            f(&mut self.store);
        }
    }
}

// Every test binary (and benchmark) compiles this module for itself and uses only part of the
// handle: live.rs never scripts exec, fake_api_exec.rs never counts writes, a benchmark only
// starts the server. So the handle's API is exempt from dead-code checks; the server behind it
// is not (what the handle reaches counts as used).
#[allow(dead_code)]
mod handle {
    use super::rbac::{Forbid, Scope};
    use super::{HookFn, Inner, Shared, Store, server::parse_query};
    use serde_json::Value;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, MutexGuard};

    /// How the metrics.k8s.io API (metrics-server behind the aggregator) behaves.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub enum MetricsMode {
        /// metrics-server is installed and answers.
        Served,
        /// No APIService for metrics.k8s.io: the group does not exist.
        #[default]
        NotFound,
        /// The APIService exists but its backend is not available.
        Unavailable,
    }

    /// One request the fake received.
    #[derive(Clone, Debug)]
    pub struct RecordedRequest {
        pub method: String,
        pub path: String,
        /// The raw query string (percent-encoded, as sent).
        pub query: String,
        /// The HTTP status answered; 0 while unanswered (e.g. in hang mode).
        pub status: u16,
    }

    impl RecordedRequest {
        /// The decoded value of query parameter `name` (first occurrence).
        pub fn param(&self, name: &str) -> Option<String> {
            let mut query = parse_query(&self.query).into_iter();
            query.find(|(k, _)| k == name).map(|(_, v)| v)
        }

        /// Not a GET/HEAD, nor a SelfSubjectAccessReview.
        fn is_write(&self) -> bool {
            let review = self.path.ends_with("/selfsubjectaccessreviews");
            !matches!(self.method.as_str(), "GET" | "HEAD") && !review
        }
    }

    /// A command run through `pods/exec`: what the handler of [`FakeApi::on_exec`] gets and
    /// what [`FakeApi::execs`] lists.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ExecRequest {
        pub namespace: String,
        pub pod: String,
        /// The container it ran in: the `container` parameter, or the pod's only container.
        pub container: String,
        /// The `command` parameters, in order.
        pub command: Vec<String>,
    }

    /// What a command run through `pods/exec` does (the default: exit 0, no output).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct ExecReply {
        pub stdout: String,
        pub stderr: String,
        /// 0 is success; a real process exits with 1..=255 (128 + n when killed by signal n).
        pub exit_code: i32,
    }

    impl ExecReply {
        /// Exit 0 with this output.
        pub fn ok(stdout: impl Into<String>) -> ExecReply {
            let (stdout, stderr) = (stdout.into(), String::new());
            ExecReply {
                stdout,
                stderr,
                exit_code: 0,
            }
        }

        /// Exit with `exit_code` and this error output.
        pub fn fail(exit_code: i32, stderr: impl Into<String>) -> ExecReply {
            let (stdout, stderr) = (String::new(), stderr.into());
            ExecReply {
                stdout,
                stderr,
                exit_code,
            }
        }
    }

    /// A running fake API server. Dropping it stops the server.
    pub struct FakeApi {
        addr: SocketAddr,
        shared: Arc<Shared>,
        /// Its runtime (dropping it cancels the requests still open, hanging ones too).
        rt: Option<tokio::runtime::Runtime>,
    }

    impl FakeApi {
        /// Starts a server holding `objects`, each with `apiVersion` and `kind` (NodeMetrics and
        /// PodMetrics as `metrics.k8s.io/v1beta1`). Metrics are [`MetricsMode::Served`] when
        /// such objects are given, [`MetricsMode::NotFound`] otherwise.
        pub fn start(objects: Vec<Value>) -> FakeApi {
            FakeApi::start_iter(objects)
        }

        /// [`FakeApi::start`] with objects made one at a time (only one is held as a `Value`
        /// at a time: what big clusters need).
        pub fn start_iter(objects: impl IntoIterator<Item = Value>) -> FakeApi {
            let (store, has_metrics) = Store::load(objects);
            let metrics = [MetricsMode::NotFound, MetricsMode::Served][usize::from(has_metrics)];
            let (addr, shared, rt) = super::serve(Inner {
                store,
                metrics,
                ..Inner::default()
            });
            FakeApi {
                addr,
                shared,
                rt: Some(rt),
            }
        }

        /// Starts a server holding the objects of a snapshot file, read by ttdoctor's own
        /// loader (so it serves exactly what `ttdoctor check --snapshot` would judge).
        pub fn from_snapshot_file(path: impl AsRef<Path>) -> FakeApi {
            let path = path.as_ref();
            let snapshot = ttdoctor::snapshot::load_file(path);
            let snapshot = snapshot.unwrap_or_else(|e| panic!("fake API: cannot load {e}"));
            // One object at a time: the L cluster of `cargo bench --bench live` (450,000
            // objects) as one `Vec<Value>` took 74 s and 10.6 GB to load, this 22 s and 2.9 GB.
            let kinds = ttdoctor::snapshot::Kind::ALL.iter();
            let count = |&kind| (0..snapshot.count(kind)).map(move |i| (kind, i));
            let objects = kinds
                .flat_map(count)
                .map(|(kind, i)| snapshot.json_at(kind, i));
            FakeApi::start_iter(objects)
        }

        /// `http://127.0.0.1:PORT`
        pub fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        pub fn addr(&self) -> SocketAddr {
            self.addr
        }

        /// A kubeconfig for this server: cluster, user (token `fake-token`) and context `fake`.
        pub fn kubeconfig_yaml(&self, namespace: &str) -> String {
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
                 users:\n- name: fake\n  user:\n    token: fake-token\n\
                 contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\n\
                 current-context: fake\npreferences: {{}}\n",
                url = self.url()
            )
        }

        /// Writes [`FakeApi::kubeconfig_yaml`] (namespace `default`) to `dir/kubeconfig`.
        pub fn write_kubeconfig(&self, dir: impl AsRef<Path>) -> PathBuf {
            let path = dir.as_ref().join("kubeconfig");
            std::fs::write(&path, self.kubeconfig_yaml("default")).expect("write kubeconfig");
            path
        }

        fn lock(&self) -> MutexGuard<'_, Inner> {
            self.shared.lock()
        }

        /// Makes `verb` on `resource` (`pods`, `deployments.apps`, `nodes.metrics.k8s.io`,
        /// `pods/exec`, `pods/log`, or `*`) forbidden in `namespace` — and, as RBAC only ever
        /// adds permissions, at the cluster scope too — or, with `None`, at the cluster scope
        /// only (all-namespaces lists, cluster-scoped resources), the usual "has a Role in its
        /// namespace only" situation. `verb` may be `*`.
        pub fn forbid(&self, verb: &str, resource: &str, namespace: Option<&str>) {
            let scope = namespace.map_or(Scope::ClusterOnly, |ns| Scope::In(ns.into()));
            let forbid = Forbid(verb.into(), resource.into(), scope);
            self.lock().forbids.push(forbid);
        }

        /// Makes `verb` on `resource` forbidden at every scope.
        pub fn forbid_everywhere(&self, verb: &str, resource: &str) {
            let forbid = Forbid(verb.into(), resource.into(), Scope::Everywhere);
            self.lock().forbids.push(forbid);
        }

        pub fn clear_forbids(&self) {
            self.lock().forbids.clear();
        }

        pub fn set_metrics(&self, mode: MetricsMode) {
            self.lock().metrics = mode;
        }

        /// Accept connections and requests but never answer any (for client timeouts).
        pub fn set_hang(&self, hang: bool) {
            self.lock().hang = hang;
        }

        /// A kubelet that never answers: `pods/log` requests that pass the API server's
        /// checks get no answer; everything else is served.
        pub fn set_log_hang(&self, hang: bool) {
            self.lock().log_hang = hang;
        }

        /// Answer every request with this HTTP status (a Status body; 429 also sends
        /// `Retry-After: 1`).
        pub fn set_status_for_all(&self, code: u16) {
            self.lock().status_for_all = Some(code);
        }

        pub fn clear_status_for_all(&self) {
            self.lock().status_for_all = None;
        }

        /// Compacts the store at a new revision, as etcd compaction does: every outstanding
        /// continue token becomes too old (410 Expired).
        pub fn expire_continue_tokens(&self) {
            // etcd compaction at a new revision (which moves on by one first, as it always does
            // on a live cluster).
            let store = &mut self.lock().store;
            store.rv += 1;
            store.compacted = store.rv;
        }

        /// Scripts the log of `container` in pod `ns/pod`: of its current instance, or with
        /// `previous` of the one before (`kubectl logs --previous`). Which one a request gets,
        /// if any, follows the pod's container statuses as the kubelet does.
        pub fn set_log(&self, ns: &str, pod: &str, container: &str, previous: bool, log: &str) {
            let key = (ns.into(), pod.into(), container.into(), previous);
            self.lock().logs.insert(key, log.into());
        }

        pub fn requests(&self) -> Vec<RecordedRequest> {
            self.lock().requests.clone()
        }

        fn counted(&self, f: impl Fn(&RecordedRequest) -> bool) -> usize {
            self.lock().requests.iter().filter(|r| f(r)).count()
        }

        /// Requests with this method (any case; `*` for all) whose path starts with `prefix`.
        pub fn count(&self, method: &str, prefix: &str) -> usize {
            let method = method.to_uppercase();
            self.counted(|r| (method == "*" || r.method == method) && r.path.starts_with(prefix))
        }

        /// Requests that are not GET/HEAD, except SelfSubjectAccessReviews; dry runs included.
        pub fn write_count(&self) -> usize {
            self.counted(RecordedRequest::is_write)
        }

        /// Like [`FakeApi::write_count`] without the `dryRun=All` requests.
        pub fn real_write_count(&self) -> usize {
            self.counted(|r| r.is_write() && r.param("dryRun").as_deref() != Some("All"))
        }

        /// Requests of any kind touching Secrets (ttdoctor must never make one).
        pub fn secret_requests(&self) -> usize {
            self.counted(|r| {
                let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
                let at = |i: usize| segs.get(i) == Some(&"secrets");
                segs.starts_with(&["api", "v1"]) && (at(2) || at(4))
            })
        }

        /// Clears the request log and the [`FakeApi::execs`] log.
        pub fn reset_counts(&self) {
            let mut inner = self.lock();
            inner.requests.clear();
            inner.execs.clear();
        }

        /// The commands run through `pods/exec`, in order. Refused requests ran nothing and
        /// are not listed; they are in [`FakeApi::requests`] like every request.
        pub fn execs(&self) -> Vec<ExecRequest> {
            self.lock().execs.clone()
        }

        /// The current resourceVersion (etcd revision).
        pub fn resource_version(&self) -> u64 {
            self.lock().store.rv
        }

        /// The stored object, with `apiVersion` and `kind`.
        pub fn get_object(
            &self,
            group: &str,
            version: &str,
            resource: &str,
            namespace: Option<&str>,
            name: &str,
        ) -> Option<Value> {
            let key = Store::locate(group, version, resource, namespace, name);
            self.lock().store.get(key)
        }

        /// All current objects of `resource` (`pods`, `deployments.apps`,
        /// `nodes.metrics.k8s.io`), in key order, with `apiVersion` and `kind`.
        pub fn objects(&self, resource: &str) -> Vec<Value> {
            self.lock().store.objects(resource)
        }

        /// Creates or replaces an object (it needs `apiVersion` and `kind`), as a concurrent
        /// writer would: it gets a new resourceVersion. Returns the stored object.
        pub fn put_object(&self, object: Value) -> Value {
            self.lock().store.put(object)
        }

        /// Changes a stored object as a concurrent writer would (always a new resourceVersion).
        pub fn mutate(
            &self,
            group: &str,
            version: &str,
            resource: &str,
            namespace: Option<&str>,
            name: &str,
            f: impl FnOnce(&mut Value),
        ) -> Option<Value> {
            let store = &mut self.lock().store;
            store.mutate(group, version, resource, namespace, name, f)
        }

        pub fn delete_object(
            &self,
            group: &str,
            version: &str,
            resource: &str,
            namespace: Option<&str>,
            name: &str,
        ) -> Option<Value> {
            let key = Store::locate(group, version, resource, namespace, name);
            self.lock().store.delete(key)
        }

        /// Runs `f` on the store right after the `nth` (1-based) request with `method` whose
        /// path starts with `prefix` has been answered (before the answer is sent), e.g. to
        /// make a Deployment ready after the second poll of a `--wait`.
        pub fn on_request<F>(&self, method: &str, prefix: &str, nth: usize, f: F)
        where
            F: FnOnce(&mut Store) + Send + 'static,
        {
            let f: HookFn = Box::new(f);
            let hook = (method.to_uppercase(), prefix.into(), nth.max(1), Some(f));
            self.lock().hooks.push(hook);
        }

        /// Scripts what commands run through `pods/exec` do. `f` is called for every command a
        /// real cluster would start (after authorization, the pod/container/node checks, the
        /// kubelet's checks and the WebSocket handshake) and before any of its output is sent,
        /// with the store, which it may change (a command that relabels its pod, say), like
        /// [`FakeApi::on_request`] hooks. It runs under the server's lock: it must not call
        /// this `FakeApi`. A later call replaces the handler; without one every command exits
        /// 0 with no output.
        pub fn on_exec<F>(&self, f: F)
        where
            F: Fn(&ExecRequest, &mut Store) -> ExecReply + Send + Sync + 'static,
        {
            self.lock().exec_handler = Some(Arc::new(f));
        }
    }

    impl Drop for FakeApi {
        fn drop(&mut self) {
            self.rt
                .take()
                .into_iter()
                .for_each(tokio::runtime::Runtime::shutdown_background);
        }
    }
}
