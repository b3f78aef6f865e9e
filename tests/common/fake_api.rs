//! An in-process fake Kubernetes API server for integration tests.
//!
//! It serves plain HTTP on `127.0.0.1:<random port>` from a background thread with its own tokio
//! runtime, so it works from `#[tokio::test]` as well as from plain `#[test]`s that run the
//! `ttdoctor` binary. It follows the behaviour of a real kube-apiserver v1.36, not of any client:
//! the messages, codes and reasons below are the ones the real server produces (sources are the
//! kubernetes/kubernetes files named in each place).
//!
//! What is real here:
//! - An MVCC store: every write takes the next value of one global resourceVersion counter (like
//!   etcd's revision); old versions are kept until [`FakeApi::expire_continue_tokens`] compacts
//!   them, so a paginated list keeps showing the snapshot it started on, exactly like etcd.
//! - Lists: items sorted by etcd key (`<namespace>/<name>`), items without `apiVersion`/`kind`
//!   (built-in types are served that way; `kubectl` adds them), `limit` + opaque `continue` tokens
//!   in the real format (`base64url({"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"})`,
//!   `staging/src/k8s.io/apiserver/pkg/storage/continue.go`), `remainingItemCount` only without
//!   selectors, a continue token older than the compaction → 410 `Expired` with the
//!   "inconsistent continue" message and a fresh token with rv -1 in `metadata.continue`
//!   (`storage/etcd3/errors.go`), a page with `limit` filled and more keys behind it gets a
//!   continue token even when none of those keys match the selectors (etcd3 `GetList`).
//! - Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`, `>`, `<`); field selectors with
//!   the per-kind supported labels of `pkg/apis/core/v1/conversion.go` and the two real messages
//!   (`field label not supported: X` for kinds with their own list, `"X" is not a known field
//!   selector: only "metadata.name", "metadata.namespace"` for the rest).
//! - PATCH (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`): 415 for other
//!   content types; merge patch (RFC 7386), JSON patch (RFC 6902; *any* failure while applying,
//!   including a failed `test` op, is `422 Invalid` with the generic message "the server rejected
//!   our request due to an error in our request" and `details: {}`, because the server uses
//!   `NewGenericServerResponse(422, ...)` and drops the evanphx error text), strategic merge patch
//!   for the fields built-in types use (maps merge; lists merge by their patchMergeKey for
//!   containers/volumes/env/ports/conditions/...; `spec.taints`, `spec.tolerations` and other
//!   atomic lists are replaced whole; `$patch: delete|replace` and `$setElementOrder` honoured).
//!   Name change → 400 "the name of the object (x) does not match the name on the URL (y)";
//!   namespace change → 400; a `metadata.resourceVersion` that differs from the stored one → 409
//!   `Conflict` "Operation cannot be fulfilled on ...: the object has been modified; please apply
//!   your changes to the latest version and try again"; uid change → 422; changes to `.status`
//!   through the main resource are dropped (status subresource); `metadata.generation` bumps when
//!   the spec changes; a patch that changes nothing does not write (no new resourceVersion), as
//!   etcd3 `GuaranteedUpdate` skips identical data. A few update validations that matter for
//!   fixes: StorageClass provisioner/parameters/reclaimPolicy/volumeBindingMode, StatefulSet
//!   spec fields other than the mutable ones (notably `volumeClaimTemplates`), PVC spec, Pod spec,
//!   Deployment selector, label values, taint effects.
//! - `dryRun=All` runs everything (validation, conflicts) and stores nothing; another value is
//!   `422 Invalid` (`PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ...`),
//!   from `ValidatePatchOptions`.
//! - 403 Forbidden with the authorizer's message (`responsewriters.Forbidden` + `forbiddenMessage`):
//!   `pods is forbidden: User "U" cannot list resource "pods" in API group "" in the namespace "N"`
//!   or `... at the cluster scope`; SelfSubjectAccessReview answers from the same rules. Like RBAC,
//!   which only adds permissions, a verb forbidden in one namespace is also forbidden at the
//!   cluster scope.
//! - 404: a missing object is `pods "x" not found` with details; an unknown group/version is the
//!   NotFoundHandler's "the server could not find the requested resource" without details
//!   (`apiserver/pkg/util/notfoundhandler`).
//! - metrics.k8s.io as the aggregator serves it (`kube-aggregator/pkg/apiserver/handler_proxy.go`,
//!   `handler_apis.go`): not registered → 404 as above and absent from `/apis`; registered but
//!   unavailable → listed in `/apis` (the aggregator lists every APIService), `/apis/metrics.k8s.io`
//!   answers, and everything below `/apis/metrics.k8s.io/v1beta1` is **503 with the plain-text
//!   body `service unavailable`** (not a JSON Status: the "the server is currently unable to handle
//!   the request (get nodes.metrics.k8s.io)" text people know is made by client-go from the bare
//!   503). In aggregated discovery the group is listed with `freshness: Stale` and no resources.
//! - Discovery: `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`, `/version`, and
//!   aggregated discovery v2 when the Accept header asks for
//!   `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
//! - Watch (`?watch=true`): ADDED events for the current state when started without a
//!   resourceVersion (or `0`), then MODIFIED/ADDED/DELETED from the MVCC history; a start older
//!   than the compaction gets the real in-stream `ERROR` event (410 `Expired`). The fake ends a
//!   watch as soon as it has sent a batch of events (or at `timeoutSeconds`, capped at 30 s);
//!   a server may end a watch at any time and clients re-watch from the last resourceVersion.
//! - `pods/exec` over WebSocket (see the "pods/exec" section for sources and details): v5
//!   (`v5.channel.k8s.io`, served by the API server's stream translator, what kube-rs and kubectl
//!   get) or v4 (proxied to the kubelet and the container runtime); binary frames with the
//!   channel byte, output on 1/2, the `metav1.Status` on 3 (`{"metadata":{},"status":"Success"}`,
//!   or `NonZeroExitCode` with an `ExitCode` cause), then a close frame. Refusals as real: the
//!   filter's 403 with the method's verb, the 403 of the extra `create` check
//!   (`pods "x" is forbidden: `, RBAC gives no reason), 404 pod, 400 container/unscheduled pod,
//!   404 node, 400 `Upgrade request required`; a container that is not running is the kubelet's
//!   `container not found ("c")` (in-band `InternalError` Status with v5, plain-text 500 with v4).
//!   Commands are scripted with [`FakeApi::on_exec`] and logged in [`FakeApi::execs`].
//!
//! - Writes decode the object into its type (the k8s-openapi struct standing in for the Go one):
//!   unknown fields are dropped with a `Warning: 299 - "unknown field \"spec.x\""` header (the
//!   server's default `fieldValidation=Warn`), refused with `fieldValidation=Strict` (422 for a
//!   patch, 400 for create/update), and a wrongly typed value is a 422. Each write records its
//!   field manager (`fieldManager`, else the User-Agent up to its first `/`) in
//!   `metadata.managedFields` (operation `Update`; the field set is approximate).
//!
//! Fake limitations (documented, not hidden): no server-side apply (`application/apply-patch+yaml`
//! is answered 415 with a message naming the fake), objects loaded from a snapshot keep whatever
//! managedFields it has (kubectl strips them by default), no admission other than
//! NamespaceLifecycle on create, no deletecollection, no Table/protobuf/CBOR output, requests
//! without a bearer token are `system:anonymous` but still allowed, pod logs/node proxy answer
//! 400 (there is no kubelet); exec commands get no stdin, their output is known before they
//! start, and SPDY and the pre-v4 WebSocket exec protocols answer 400 naming the fake.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The user the fake says is making authenticated requests (in 403 messages).
pub const DEFAULT_USER: &str = "system:serviceaccount:default:ttdoctor";

/// How the metrics.k8s.io API (metrics-server behind the aggregator) behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsMode {
    /// metrics-server is installed and answers.
    Served,
    /// No APIService for metrics.k8s.io: the group does not exist.
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
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub body: String,
    /// The HTTP status answered; 0 while unanswered (e.g. in hang mode).
    pub status: u16,
}

impl RecordedRequest {
    /// The decoded value of query parameter `name` (first occurrence).
    pub fn param(&self, name: &str) -> Option<String> {
        parse_query(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn is_dry_run(&self) -> bool {
        parse_query(&self.query)
            .iter()
            .any(|(k, v)| k == "dryRun" && v == "All")
    }

    fn is_ssar(&self) -> bool {
        self.path
            .starts_with("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    }
}

/// A command run through `pods/exec`: what the handler of [`FakeApi::on_exec`] gets and what
/// [`FakeApi::execs`] lists.
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
        ExecReply {
            stdout: stdout.into(),
            ..ExecReply::default()
        }
    }

    /// Exit with `exit_code` and this error output.
    pub fn fail(exit_code: i32, stderr: impl Into<String>) -> ExecReply {
        ExecReply {
            stderr: stderr.into(),
            exit_code,
            ..ExecReply::default()
        }
    }
}

/// A running fake API server. Dropping it stops the server.
pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeApi {
    /// Starts a server holding `objects` (single objects, or `List`/`XList` documents whose items
    /// may lack `kind`). Metrics are [`MetricsMode::Served`] when NodeMetrics/PodMetrics objects
    /// are given, [`MetricsMode::NotFound`] otherwise; change it with [`FakeApi::set_metrics`].
    pub fn start(objects: Vec<Value>) -> FakeApi {
        let mut store = Store::new();
        let expanded = expand_documents(objects).unwrap_or_else(|e| panic!("fake API: {e}"));
        let has_metrics = expanded.iter().any(|(ri, _)| RESOURCES[*ri].metrics);
        store.load(expanded);
        let inner = Inner {
            store,
            forbids: Vec::new(),
            metrics: if has_metrics {
                MetricsMode::Served
            } else {
                MetricsMode::NotFound
            },
            hang: false,
            status_for_all: None,
            requests: Vec::new(),
            user: DEFAULT_USER.to_string(),
            hooks: Vec::new(),
            exec_handler: None,
            execs: Vec::new(),
        };
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-kube-apiserver-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake API runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let app = Router::new().fallback(handle).with_state(state);
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                // Cancels connections still open (hanging requests, watches).
                rt.shutdown_background();
            })
            .expect("spawn fake API thread");
        FakeApi {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Starts a server holding the objects of a snapshot file: `kubectl get ... -o yaml|json`
    /// output (a `v1 List`), possibly followed by more documents such as a `NodeMetricsList`.
    pub fn from_snapshot_file(path: impl AsRef<Path>) -> FakeApi {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let docs = parse_documents(&text)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
        FakeApi::start(docs)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
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

    // ---- switches ----

    /// Makes `verb` on `resource` (`pods`, `deployments.apps`, `nodes.metrics.k8s.io`, or `*`)
    /// forbidden in `namespace` — and, as RBAC only ever adds permissions, at the cluster scope
    /// too — or, with `None`, at the cluster scope only (all-namespaces lists, cluster-scoped
    /// resources), the usual "has a Role in its namespace only" situation. `verb` may be `*`.
    pub fn forbid(&self, verb: &str, resource: &str, namespace: Option<&str>) {
        let (plural, group) = split_resource(resource);
        self.lock().forbids.push(Forbid {
            verb: verb.to_string(),
            group,
            resource: plural,
            scope: match namespace {
                Some(ns) => ForbidScope::Namespace(ns.to_string()),
                None => ForbidScope::ClusterOnly,
            },
        });
    }

    /// Makes `verb` on `resource` forbidden at every scope.
    pub fn forbid_everywhere(&self, verb: &str, resource: &str) {
        let (plural, group) = split_resource(resource);
        self.lock().forbids.push(Forbid {
            verb: verb.to_string(),
            group,
            resource: plural,
            scope: ForbidScope::Everywhere,
        });
    }

    pub fn clear_forbids(&self) {
        self.lock().forbids.clear();
    }

    /// The user named in 403 messages for requests with a bearer token
    /// (requests without one are `system:anonymous`).
    pub fn set_user(&self, user: &str) {
        self.lock().user = user.to_string();
    }

    pub fn set_metrics(&self, mode: MetricsMode) {
        self.lock().metrics = mode;
    }

    /// Accept connections and requests but never answer any (for client timeouts).
    pub fn set_hang(&self, hang: bool) {
        self.lock().hang = hang;
    }

    /// Answer every request with this HTTP status (a Status body; 429 also sends `Retry-After: 1`).
    pub fn set_status_for_all(&self, code: u16) {
        self.lock().status_for_all = Some(code);
    }

    pub fn clear_status_for_all(&self) {
        self.lock().status_for_all = None;
    }

    /// Compacts the store at a new revision, as etcd compaction does: every outstanding
    /// continue token (and every older resourceVersion) becomes too old (410 Expired). The
    /// revision moves on by one first, as it always does on a live cluster (leases, events).
    pub fn expire_continue_tokens(&self) {
        self.lock().store.compact_now();
    }

    // ---- request log ----

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests with this method (any case; `*` for all) whose path starts with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| {
                (method == "*" || r.method.eq_ignore_ascii_case(method))
                    && r.path.starts_with(path_prefix)
            })
            .count()
    }

    /// Every request that is not a GET/HEAD, except SelfSubjectAccessReviews; dry runs included.
    pub fn write_count(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD" && !r.is_ssar())
            .count()
    }

    /// Like [`FakeApi::write_count`] without the `dryRun=All` requests.
    pub fn real_write_count(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD" && !r.is_ssar() && !r.is_dry_run())
            .count()
    }

    /// Requests of any kind touching Secrets (ttdoctor must never make one).
    pub fn secret_requests(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| {
                let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
                matches!(
                    segs.as_slice(),
                    ["api", "v1", "secrets", ..] | ["api", "v1", "namespaces", _, "secrets", ..]
                )
            })
            .count()
    }

    /// Clears the request log and the [`FakeApi::execs`] log.
    pub fn reset_counts(&self) {
        let mut inner = self.lock();
        inner.requests.clear();
        inner.execs.clear();
    }

    /// The commands run through `pods/exec`, in order. Refused requests (403/404/400, a
    /// container that is not running, a failed WebSocket handshake) ran nothing and are not
    /// listed; they are in [`FakeApi::requests`] like every request.
    pub fn execs(&self) -> Vec<ExecRequest> {
        self.lock().execs.clone()
    }

    // ---- store access ----

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
        self.lock()
            .store
            .get(group, version, resource, namespace, name)
    }

    /// All current objects of `resource` (`pods`, `deployments.apps`, `nodes.metrics.k8s.io`),
    /// sorted by key, with `apiVersion` and `kind`.
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        self.lock().store.objects(resource)
    }

    /// Creates or replaces an object (it needs `apiVersion` and `kind`), as a concurrent writer
    /// would: it gets a new resourceVersion. Returns the stored object.
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
        self.lock()
            .store
            .mutate(group, version, resource, namespace, name, f)
    }

    pub fn delete_object(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.lock()
            .store
            .delete(group, version, resource, namespace, name)
    }

    /// Runs `f` on the store right after the `nth` (1-based) request with `method` whose path
    /// starts with `path_prefix` has been answered (before the answer is sent), e.g. to make a
    /// Deployment ready after the second poll of a `--wait`.
    pub fn on_request(
        &self,
        method: &str,
        path_prefix: &str,
        nth: usize,
        f: impl FnOnce(&mut Store) + Send + 'static,
    ) {
        self.lock().hooks.push(Hook {
            method: method.to_ascii_uppercase(),
            prefix: path_prefix.to_string(),
            remaining: nth.max(1),
            f: Some(Box::new(f)),
        });
    }

    /// Scripts what commands run through `pods/exec` do. `f` is called for every command a real
    /// cluster would start (after authorization, the pod/container/node checks, the kubelet's
    /// checks and the WebSocket handshake) and before any of its output is sent, with the store,
    /// which it may change (a command that relabels its pod, say), like [`FakeApi::on_request`]
    /// hooks. It runs under the server's lock: it must not call this `FakeApi`. A later call
    /// replaces the handler; without one every command exits 0 with no output.
    pub fn on_exec(
        &self,
        f: impl Fn(&ExecRequest, &mut Store) -> ExecReply + Send + Sync + 'static,
    ) {
        self.lock().exec_handler = Some(Arc::new(f));
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// =====================================================================================
// Resources
// =====================================================================================

const FULL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const READ_ONLY: &[&str] = &["get", "list"];
const CREATE_ONLY: &[&str] = &["create"];

#[derive(Debug)]
struct ResDef {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    /// Subresources listed in discovery.
    subresources: &'static [&'static str],
    /// Has a status subresource: changes to `.status` through the main resource are dropped.
    status_subresource: bool,
    /// `metadata.generation` is tracked (bumped when the spec changes).
    generation: bool,
    /// Served by metrics-server through the aggregator (not stored in etcd).
    metrics: bool,
    /// Field selector labels besides the defaults; `None`: only metadata.name/namespace with the
    /// default conversion's message.
    field_labels: Option<&'static [&'static str]>,
}

impl ResDef {
    const fn new(
        group: &'static str,
        plural: &'static str,
        singular: &'static str,
        kind: &'static str,
        namespaced: bool,
    ) -> ResDef {
        ResDef {
            group,
            version: "v1",
            plural,
            singular,
            kind,
            namespaced,
            short_names: &[],
            categories: &[],
            verbs: FULL,
            subresources: &[],
            status_subresource: false,
            generation: false,
            metrics: false,
            field_labels: None,
        }
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `deployments.apps`: the qualified resource of messages.
    fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Pod`, `Deployment.apps`: the qualified kind of Invalid messages.
    fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const NAMESPACE_FIELDS: &[&str] = &["status.phase", "metadata.name"];
const SECRET_FIELDS: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE_FIELDS: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];

static RESOURCES: &[ResDef] = &[
    // core/v1 (in the order of the real /api/v1 list)
    ResDef {
        short_names: &["ep"],
        ..ResDef::new("", "endpoints", "endpoints", "Endpoints", true)
    },
    ResDef {
        short_names: &["ev"],
        field_labels: Some(EVENT_FIELDS),
        ..ResDef::new("", "events", "event", "Event", true)
    },
    ResDef {
        short_names: &["ns"],
        verbs: NO_DELETECOLLECTION,
        subresources: &["finalize", "status"],
        status_subresource: true,
        field_labels: Some(NAMESPACE_FIELDS),
        ..ResDef::new("", "namespaces", "namespace", "Namespace", false)
    },
    ResDef {
        short_names: &["no"],
        subresources: &["proxy", "status"],
        status_subresource: true,
        field_labels: Some(NODE_FIELDS),
        ..ResDef::new("", "nodes", "node", "Node", false)
    },
    ResDef {
        short_names: &["pvc"],
        subresources: &["status"],
        status_subresource: true,
        ..ResDef::new(
            "",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
        )
    },
    ResDef {
        short_names: &["pv"],
        subresources: &["status"],
        status_subresource: true,
        ..ResDef::new(
            "",
            "persistentvolumes",
            "persistentvolume",
            "PersistentVolume",
            false,
        )
    },
    ResDef {
        short_names: &["po"],
        categories: &["all"],
        subresources: &["exec", "log", "status"],
        status_subresource: true,
        generation: true,
        field_labels: Some(POD_FIELDS),
        ..ResDef::new("", "pods", "pod", "Pod", true)
    },
    ResDef {
        field_labels: Some(SECRET_FIELDS),
        ..ResDef::new("", "secrets", "secret", "Secret", true)
    },
    ResDef {
        short_names: &["svc"],
        categories: &["all"],
        subresources: &["status"],
        status_subresource: true,
        field_labels: Some(SERVICE_FIELDS),
        ..ResDef::new("", "services", "service", "Service", true)
    },
    // apps/v1
    ResDef {
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &["scale", "status"],
        status_subresource: true,
        generation: true,
        ..ResDef::new("apps", "deployments", "deployment", "Deployment", true)
    },
    ResDef {
        short_names: &["rs"],
        categories: &["all"],
        subresources: &["scale", "status"],
        status_subresource: true,
        generation: true,
        ..ResDef::new("apps", "replicasets", "replicaset", "ReplicaSet", true)
    },
    ResDef {
        short_names: &["sts"],
        categories: &["all"],
        subresources: &["scale", "status"],
        status_subresource: true,
        generation: true,
        ..ResDef::new("apps", "statefulsets", "statefulset", "StatefulSet", true)
    },
    // authorization.k8s.io/v1
    ResDef {
        verbs: CREATE_ONLY,
        ..ResDef::new(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            false,
        )
    },
    // storage.k8s.io/v1
    ResDef {
        short_names: &["sc"],
        ..ResDef::new(
            "storage.k8s.io",
            "storageclasses",
            "storageclass",
            "StorageClass",
            false,
        )
    },
    // discovery.k8s.io/v1
    ResDef {
        generation: true,
        ..ResDef::new(
            "discovery.k8s.io",
            "endpointslices",
            "endpointslice",
            "EndpointSlice",
            true,
        )
    },
    // metrics.k8s.io/v1beta1 (metrics-server)
    ResDef {
        version: "v1beta1",
        verbs: READ_ONLY,
        metrics: true,
        ..ResDef::new("metrics.k8s.io", "nodes", "", "NodeMetrics", false)
    },
    ResDef {
        version: "v1beta1",
        verbs: READ_ONLY,
        metrics: true,
        ..ResDef::new("metrics.k8s.io", "pods", "", "PodMetrics", true)
    },
];

/// API groups in the order the real `/apis` lists them.
const GROUP_ORDER: &[&str] = &[
    "apps",
    "authorization.k8s.io",
    "storage.k8s.io",
    "discovery.k8s.io",
    "metrics.k8s.io",
];

fn find_def(group: &str, version: &str, plural: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

fn group_version_served(group: &str, version: &str) -> bool {
    RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
}

/// `pods` → ("pods", ""); `deployments.apps` → ("deployments", "apps").
fn split_resource(resource: &str) -> (String, String) {
    match resource.split_once('.') {
        Some((plural, group)) => (plural.to_string(), group.to_string()),
        None => (resource.to_string(), String::new()),
    }
}

/// Resolves `pods`, `pod`, `deployments.apps`, `nodes.metrics.k8s.io`; an unqualified name
/// means the core group first, then any group (`deployments`), as kubectl resolves names.
fn resolve_resource(resource: &str) -> Option<usize> {
    let (name, group) = split_resource(resource);
    let named = |r: &ResDef| r.plural == name || (!r.singular.is_empty() && r.singular == name);
    RESOURCES
        .iter()
        .position(|r| r.group == group && named(r))
        .or_else(|| {
            if group.is_empty() {
                RESOURCES.iter().position(|r| !r.metrics && named(r))
            } else {
                None
            }
        })
}

fn resolve_kind(api_version: Option<&str>, kind: &str) -> Option<usize> {
    let group = api_version.map(|av| av.rsplit_once('/').map_or("", |(g, _)| g));
    RESOURCES
        .iter()
        .position(|r| r.kind == kind && group.is_none_or(|g| g == r.group))
}

// =====================================================================================
// Store (MVCC, like etcd)
// =====================================================================================

#[derive(Clone, Debug)]
struct Version {
    rv: u64,
    /// `None`: deleted at `rv`.
    obj: Option<Value>,
}

/// The object store. Objects are kept without `apiVersion`/`kind` (added when served).
pub struct Store {
    data: BTreeMap<(usize, String), Vec<Version>>,
    rv: u64,
    compacted: u64,
    seq: u64,
}

impl Store {
    fn new() -> Store {
        Store {
            data: BTreeMap::new(),
            rv: 0,
            compacted: 0,
            seq: seed(),
        }
    }

    /// The current resourceVersion (etcd revision).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn load(&mut self, objects: Vec<(usize, Value)>) {
        // Keep the resourceVersions the objects came with when they are numbers and unique, so a
        // snapshot of a real cluster keeps its real revisions; give the others fresh ones.
        let mut used = std::collections::HashSet::new();
        let mut later = Vec::new();
        let mut keep = Vec::new();
        for (ri, obj) in objects {
            let given = meta_str(&obj, "resourceVersion").and_then(|s| s.parse::<u64>().ok());
            match given {
                Some(rv) if rv > 0 && !RESOURCES[ri].metrics && used.insert(rv) => {
                    keep.push((ri, obj, rv));
                }
                _ => later.push((ri, obj)),
            }
        }
        self.rv = used.iter().copied().max().unwrap_or(0).max(1000);
        for (ri, obj, rv) in keep {
            let obj = self.normalize(ri, obj, None);
            let key = obj_key(&RESOURCES[ri], &obj);
            self.data
                .entry((ri, key))
                .or_default()
                .push(Version { rv, obj: Some(obj) });
        }
        for v in self.data.values_mut() {
            v.sort_by_key(|x| x.rv);
        }
        for (ri, obj) in later {
            let key = obj_key(&RESOURCES[ri], &obj);
            let existing = self.current(ri, &key).cloned();
            let obj = self.normalize(ri, obj, existing.as_ref());
            self.write(ri, &key, Some(obj));
        }
    }

    fn next_uid(&mut self) -> String {
        let a = splitmix(&mut self.seq);
        let b = splitmix(&mut self.seq);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn random_suffix(&mut self, n: usize) -> String {
        // The alphabet of apimachinery's utilrand.String (no vowels, no confusable characters).
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHABET[(splitmix(&mut self.seq) % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// Strips `apiVersion`/`kind`, fills uid/creationTimestamp/generation, fixes the namespace.
    fn normalize(&mut self, ri: usize, obj: Value, existing: Option<&Value>) -> Value {
        let def = &RESOURCES[ri];
        let mut obj = obj;
        if let Some(m) = obj.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        if def.metrics {
            return obj;
        }
        let uid = self.next_uid();
        let meta = meta_mut(&mut obj);
        if def.namespaced {
            if meta
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                meta.insert("namespace".into(), json!("default"));
            }
        } else {
            meta.remove("namespace");
        }
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let uid = existing
                .and_then(|e| meta_str(e, "uid"))
                .map_or(uid, str::to_string);
            meta.insert("uid".into(), json!(uid));
        }
        if meta.get("creationTimestamp").is_none_or(Value::is_null) {
            let ts = existing
                .and_then(|e| meta_str(e, "creationTimestamp"))
                .map_or_else(now_rfc3339, str::to_string);
            meta.insert("creationTimestamp".into(), json!(ts));
        }
        if def.generation && meta.get("generation").is_none() {
            meta.insert("generation".into(), json!(1));
        }
        obj
    }

    fn current(&self, ri: usize, key: &str) -> Option<&Value> {
        self.data
            .get(&(ri, key.to_string()))
            .and_then(|h| h.last())
            .and_then(|v| v.obj.as_ref())
    }

    fn at(&self, ri: usize, key: &str, rv: u64) -> Option<&Value> {
        self.data
            .get(&(ri, key.to_string()))
            .and_then(|h| h.iter().rev().find(|v| v.rv <= rv))
            .and_then(|v| v.obj.as_ref())
    }

    /// Writes a new version (or a deletion) at the next revision; returns the stored object.
    fn write(&mut self, ri: usize, key: &str, obj: Option<Value>) -> Option<Value> {
        let def = &RESOURCES[ri];
        let rv = if def.metrics {
            self.rv
        } else {
            self.rv += 1;
            self.rv
        };
        let obj = obj.map(|mut o| {
            if !def.metrics {
                meta_mut(&mut o).insert("resourceVersion".into(), json!(rv.to_string()));
            }
            o
        });
        let history = self.data.entry((ri, key.to_string())).or_default();
        if def.metrics {
            history.clear();
        }
        history.push(Version {
            rv,
            obj: obj.clone(),
        });
        obj
    }

    /// Keys of resource `ri` under `prefix`, from `start` (inclusive), in etcd key order.
    fn keys_from<'a>(
        &'a self,
        ri: usize,
        prefix: &'a str,
        start: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Vec<Version>)> + 'a {
        let from = if start.as_bytes() > prefix.as_bytes() {
            start.to_string()
        } else {
            prefix.to_string()
        };
        self.data
            .range((ri, from)..)
            .take_while(move |((r, k), _)| *r == ri && k.starts_with(prefix))
            .map(|((_, k), h)| (k, h))
    }

    fn compact_now(&mut self) {
        self.rv += 1;
        self.compacted = self.rv;
        let at = self.compacted;
        self.data.retain(|_, history| {
            if let Some(base) = history.iter().rposition(|v| v.rv <= at) {
                history.drain(..base);
            }
            !(history.len() == 1 && history[0].obj.is_none())
        });
    }

    fn with_type(ri: usize, obj: &Value) -> Value {
        let def = &RESOURCES[ri];
        let mut out = Map::new();
        out.insert("apiVersion".into(), json!(def.api_version()));
        out.insert("kind".into(), json!(def.kind));
        if let Some(m) = obj.as_object() {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    }

    fn index(group: &str, version: &str, resource: &str) -> usize {
        find_def(group, version, resource)
            .unwrap_or_else(|| panic!("fake API: no resource {resource} in {group}/{version}"))
    }

    fn key_for(ri: usize, namespace: Option<&str>, name: &str) -> String {
        if RESOURCES[ri].namespaced {
            format!("{}/{name}", namespace.unwrap_or("default"))
        } else {
            name.to_string()
        }
    }

    /// The current object, with `apiVersion` and `kind`.
    pub fn get(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let ri = Self::index(group, version, resource);
        self.current(ri, &Self::key_for(ri, namespace, name))
            .map(|o| Self::with_type(ri, o))
    }

    /// All current objects of `resource` (`pods`, `deployments.apps`, `nodes.metrics.k8s.io`).
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        let ri = resolve_resource(resource)
            .unwrap_or_else(|| panic!("fake API: unknown resource {resource}"));
        self.keys_from(ri, "", "")
            .filter_map(|(_, h)| h.last().and_then(|v| v.obj.as_ref()))
            .map(|o| Self::with_type(ri, o))
            .collect()
    }

    /// Creates or replaces an object (needs `apiVersion` and `kind`); a new resourceVersion.
    pub fn put(&mut self, object: Value) -> Value {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .expect("fake API: put_object needs `kind`")
            .to_string();
        let ri = resolve_kind(object.get("apiVersion").and_then(Value::as_str), &kind)
            .unwrap_or_else(|| panic!("fake API: unknown kind {kind}"));
        let key = obj_key(&RESOURCES[ri], &object);
        let existing = self.current(ri, &key).cloned();
        let obj = self.normalize(ri, object, existing.as_ref());
        let stored = self.write(ri, &key, Some(obj)).expect("written");
        Self::with_type(ri, &stored)
    }

    /// Changes an object in place (always a new resourceVersion); `f` sees it with
    /// `apiVersion`/`kind`.
    pub fn mutate(
        &mut self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let ri = Self::index(group, version, resource);
        let key = Self::key_for(ri, namespace, name);
        let existing = self.current(ri, &key)?.clone();
        let mut obj = Self::with_type(ri, &existing);
        f(&mut obj);
        let obj = self.normalize(ri, obj, Some(&existing));
        let stored = self.write(ri, &key, Some(obj)).expect("written");
        Some(Self::with_type(ri, &stored))
    }

    /// Deletes an object; returns what it was.
    pub fn delete(
        &mut self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let ri = Self::index(group, version, resource);
        let key = Self::key_for(ri, namespace, name);
        let existing = self.current(ri, &key)?.clone();
        self.write(ri, &key, None);
        Some(Self::with_type(ri, &existing))
    }
}

fn obj_key(def: &ResDef, obj: &Value) -> String {
    let name = meta_str(obj, "name").unwrap_or_default();
    if def.namespaced {
        let ns = meta_str(obj, "namespace")
            .filter(|s| !s.is_empty())
            .unwrap_or("default");
        format!("{ns}/{name}")
    } else {
        name.to_string()
    }
}

/// Splits documents into (resource index, object); `List`s give their items, whose `kind` may
/// be missing in a typed `XList`.
fn expand_documents(docs: Vec<Value>) -> Result<Vec<(usize, Value)>, String> {
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    out.extend(expand_documents(vec![item])?);
                }
            }
            Value::Object(mut m) => {
                let kind = m
                    .get("kind")
                    .and_then(Value::as_str)
                    .ok_or("an object without `kind`")?
                    .to_string();
                let api_version = m
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if kind.ends_with("List") && m.contains_key("items") {
                    let item_kind = (kind != "List").then(|| kind.trim_end_matches("List"));
                    let items = match m.remove("items") {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    };
                    for item in items {
                        let k = item
                            .get("kind")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .or_else(|| item_kind.map(str::to_string))
                            .ok_or("a List item without `kind`")?;
                        let av = item
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .or_else(|| item_kind.and(api_version.clone()));
                        let ri = resolve_kind(av.as_deref(), &k)
                            .ok_or_else(|| format!("unknown kind {k} ({av:?})"))?;
                        out.push((ri, item));
                    }
                } else {
                    let ri = resolve_kind(api_version.as_deref(), &kind)
                        .ok_or_else(|| format!("unknown kind {kind} ({api_version:?})"))?;
                    out.push((ri, Value::Object(m)));
                }
            }
            _ => return Err("a document that is not an object".into()),
        }
    }
    Ok(out)
}

/// JSON (one or more concatenated documents) or YAML (multi-document).
fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::Deserializer::from_str(trimmed)
            .into_iter::<Value>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string());
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 200_000_000,
            max_nodes: 100_000_000,
            max_total_scalar_bytes: 1 << 31,
            max_documents: 100_000,
            max_reader_input_bytes: Some(1 << 31),
        },
    };
    serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| e.to_string())
}

// =====================================================================================
// Server state and request handling
// =====================================================================================

struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

type HookFn = Box<dyn FnOnce(&mut Store) + Send>;

type ExecHandler = dyn Fn(&ExecRequest, &mut Store) -> ExecReply + Send + Sync;

struct Hook {
    method: String,
    prefix: String,
    remaining: usize,
    f: Option<HookFn>,
}

#[derive(Clone, Debug, PartialEq)]
enum ForbidScope {
    ClusterOnly,
    Namespace(String),
    Everywhere,
}

#[derive(Clone, Debug)]
struct Forbid {
    verb: String,
    group: String,
    resource: String,
    scope: ForbidScope,
}

struct Inner {
    store: Store,
    forbids: Vec<Forbid>,
    metrics: MetricsMode,
    hang: bool,
    status_for_all: Option<u16>,
    requests: Vec<RecordedRequest>,
    user: String,
    hooks: Vec<Hook>,
    exec_handler: Option<Arc<ExecHandler>>,
    execs: Vec<ExecRequest>,
}

/// One parsed request.
struct Req {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
    user: String,
    /// A valid WebSocket handshake (GET, `Connection: Upgrade`, `Upgrade: websocket`,
    /// `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`) that the server can take over.
    websocket: bool,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response.
struct Reply {
    code: u16,
    content_type: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// Switch protocols (101) and play this exec session instead of sending `body`.
    session: Option<ExecSession>,
}

impl Reply {
    fn json(code: u16, value: &Value) -> Reply {
        let mut body = serde_json::to_vec(value).expect("serialize");
        body.push(b'\n');
        Reply {
            code,
            content_type: "application/json".into(),
            body,
            headers: Vec::new(),
            session: None,
        }
    }

    fn text(code: u16, text: &str) -> Reply {
        Reply {
            code,
            content_type: "text/plain; charset=utf-8".into(),
            body: format!("{text}\n").into_bytes(),
            headers: vec![("X-Content-Type-Options", "nosniff".into())],
            session: None,
        }
    }

    /// A `Status` failure; `details` `None` leaves the field out.
    fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
        Reply::json(code, &status_value(code, reason, message, details))
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

fn status_value(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("Status"));
    m.insert("apiVersion".into(), json!("v1"));
    m.insert("metadata".into(), json!({}));
    m.insert("status".into(), json!("Failure"));
    if !message.is_empty() {
        m.insert("message".into(), json!(message));
    }
    if !reason.is_empty() {
        m.insert("reason".into(), json!(reason));
    }
    if let Some(d) = details {
        m.insert("details".into(), d);
    }
    m.insert("code".into(), json!(code));
    Value::Object(m)
}

fn details(name: &str, def: &ResDef) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !def.group.is_empty() {
        d.insert("group".into(), json!(def.group));
    }
    d.insert("kind".into(), json!(def.plural));
    Value::Object(d)
}

fn not_found(def: &ResDef, name: &str) -> Reply {
    Reply::status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", def.group_resource()),
        Some(details(name, def)),
    )
}

/// The NotFoundHandler at the end of the delegation chain (unknown group/version/path).
fn not_found_handler() -> Reply {
    Reply::status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        None,
    )
}

/// go-restful's 404 for an unknown route inside a served group/version
/// (`NewGenericServerResponse`, so with empty details).
fn route_not_found() -> Reply {
    Reply::status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn method_not_allowed() -> Reply {
    Reply::status(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}

fn bad_request(message: &str) -> Reply {
    Reply::status(400, "BadRequest", message, None)
}

/// `NewInvalid(groupKind, name, errs)`; each error is (field, type, body).
fn invalid(group_kind: &str, group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Reply {
    let bodies: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {}", e.field, e.body))
        .collect();
    let message = match bodies.len() {
        0 => format!("{group_kind} \"{name}\" is invalid"),
        1 => format!("{group_kind} \"{name}\" is invalid: {}", bodies[0]),
        _ => format!(
            "{group_kind} \"{name}\" is invalid: [{}]",
            bodies.join(", ")
        ),
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.body, "field": e.field}))
        .collect();
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    d.insert("causes".into(), Value::Array(causes));
    Reply::status(422, "Invalid", &message, Some(Value::Object(d)))
}

#[derive(Debug, Clone)]
struct FieldError {
    field: String,
    reason: &'static str,
    body: String,
}

impl FieldError {
    fn immutable(field: &str, value: &Value) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {}: field is immutable", go_value(value)),
        }
    }

    fn invalid(field: &str, value: &Value, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {}: {detail}", go_value(value)),
        }
    }

    fn forbidden(field: &str, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueForbidden",
            body: format!("Forbidden: {detail}"),
        }
    }

    fn required(field: &str, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueRequired",
            body: format!("Required value: {detail}"),
        }
    }

    fn not_supported(field: &str, value: &str, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        FieldError {
            field: field.into(),
            reason: "FieldValueNotSupported",
            body: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        }
    }
}

/// How field errors print a value (`%q` for strings, numbers as is).
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    // Only `pods/exec` takes connections over; elsewhere an upgrade request is a plain request.
    let ws_upgrade = if parts.uri.path().trim_end_matches('/').ends_with("/exec") {
        WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .ok()
    } else {
        None
    };
    let body = axum::body::to_bytes(body, 256 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (index, hang, user) = {
        let mut inner = shared.lock();
        inner.requests.push(RecordedRequest {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: raw_query.clone(),
            content_type: header("content-type"),
            accept: header("accept"),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: 0,
        });
        let user = match header("authorization") {
            Some(a) if a.to_ascii_lowercase().starts_with("bearer ") => inner.user.clone(),
            _ => "system:anonymous".to_string(),
        };
        (inner.requests.len() - 1, inner.hang, user)
    };
    if hang {
        std::future::pending::<()>().await;
    }
    let req = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_query(&raw_query),
        headers: parts.headers.clone(),
        body,
        user,
        websocket: ws_upgrade.is_some(),
    };
    let mut reply = if is_watch(&req) {
        watch(&shared, &req).await
    } else {
        shared.lock().serve(&req)
    };
    {
        let mut inner = shared.lock();
        if let Some(r) = inner.requests.get_mut(index) {
            r.status = reply.code;
        }
        inner.run_hooks(&req.method, &req.path);
    }
    if let (Some(session), Some(mut ws)) = (reply.session.take(), ws_upgrade) {
        ws.set_selected_protocol(HeaderValue::from_static(session.protocol));
        let mut response = ws.on_upgrade(move |socket| play_exec(socket, session.frames));
        let headers = response.headers_mut();
        headers.insert(
            "Cache-Control",
            HeaderValue::from_static("no-cache, private"),
        );
        headers.insert(
            "Audit-Id",
            HeaderValue::from_str(&audit_id(index)).expect("audit id"),
        );
        return response;
    }
    let mut builder = Response::builder()
        .status(reply.code)
        .header("Content-Type", reply.content_type.as_str())
        .header("Cache-Control", "no-cache, private")
        .header("Audit-Id", audit_id(index));
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Body::from(reply.body)).expect("response")
}

fn audit_id(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012x}")
}

fn is_watch(req: &Req) -> bool {
    req.method == "GET" && matches!(req.param("watch"), Some("true" | "1"))
}

/// What a path addresses.
enum Target<'a> {
    Resource {
        group: &'a str,
        version: &'a str,
        namespace: Option<&'a str>,
        plural: &'a str,
        name: Option<&'a str>,
        sub: Option<&'a str>,
    },
    Other,
}

fn parse_target(path: &str) -> Target<'_> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Target::Other,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..]
            if !tail.is_empty() && !matches!(tail, ["status" | "finalize"]) =>
        {
            (Some(*ns), tail)
        }
        _ => (None, rest),
    };
    match rest {
        [plural] => Target::Resource {
            group,
            version,
            namespace,
            plural,
            name: None,
            sub: None,
        },
        [plural, name] => Target::Resource {
            group,
            version,
            namespace,
            plural,
            name: Some(name),
            sub: None,
        },
        [plural, name, sub] => Target::Resource {
            group,
            version,
            namespace,
            plural,
            name: Some(name),
            sub: Some(sub),
        },
        _ => Target::Other,
    }
}

/// The RBAC verb of a resource request.
fn rbac_verb(method: &str, has_name: bool, watch: bool) -> &'static str {
    match (method, has_name) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

impl Inner {
    fn run_hooks(&mut self, method: &str, path: &str) {
        let mut due = Vec::new();
        for hook in &mut self.hooks {
            if hook.f.is_some() && hook.method == method && path.starts_with(&hook.prefix) {
                hook.remaining -= 1;
                if hook.remaining == 0 {
                    due.extend(hook.f.take());
                }
            }
        }
        self.hooks.retain(|h| h.f.is_some());
        for f in due {
            f(&mut self.store);
        }
    }

    /// Whether a request with these attributes is denied.
    fn is_forbidden(&self, verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
        self.forbids.iter().any(|f| {
            let verb_ok = f.verb == "*" || verb == "*" || f.verb == verb;
            let res_ok = f.resource == "*"
                || resource == "*"
                || (f.resource == resource && f.group == group);
            let scope_ok = match &f.scope {
                ForbidScope::Everywhere => true,
                ForbidScope::ClusterOnly => namespace.is_empty(),
                ForbidScope::Namespace(ns) => namespace.is_empty() || ns == namespace,
            };
            verb_ok && res_ok && scope_ok
        })
    }

    fn serve(&mut self, req: &Req) -> Reply {
        if let Some(code) = self.status_for_all {
            return status_for_code(code);
        }
        let path = req.path.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        match path {
            "/healthz" | "/livez" | "/readyz" => return Reply::text(200, "ok"),
            "/version" => return only_get(req, version_info),
            "/api" => return only_get(req, || discovery_api(req)),
            "/apis" => {
                let metrics = self.metrics;
                return only_get(req, || discovery_apis(req, metrics));
            }
            _ => {}
        }
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segs.as_slice() {
            ["api", "v1"] => return only_get(req, || resource_list("", "v1")),
            ["api", _] => return not_found_handler(),
            ["apis", group] => return self.api_group(req, group),
            ["apis", group, version] => return self.group_version(req, group, version),
            _ => {}
        }
        match parse_target(path) {
            Target::Resource {
                group,
                version,
                namespace,
                plural,
                name,
                sub,
            } => self.resource_request(req, group, version, namespace, plural, name, sub),
            Target::Other => not_found_handler(),
        }
    }

    fn api_group(&self, req: &Req, group: &str) -> Reply {
        if group == "metrics.k8s.io" && self.metrics == MetricsMode::NotFound {
            return not_found_handler();
        }
        match api_group_value(group) {
            Some(v) => only_get(req, || Reply::json(200, &v)),
            None => not_found_handler(),
        }
    }

    fn group_version(&self, req: &Req, group: &str, version: &str) -> Reply {
        if group == "metrics.k8s.io" {
            match self.metrics {
                MetricsMode::NotFound => return not_found_handler(),
                MetricsMode::Unavailable => return Reply::text(503, "service unavailable"),
                MetricsMode::Served => {}
            }
        }
        if !group_version_served(group, version) {
            return not_found_handler();
        }
        only_get(req, || resource_list(group, version))
    }

    #[allow(clippy::too_many_arguments)]
    fn resource_request(
        &mut self,
        req: &Req,
        group: &str,
        version: &str,
        namespace: Option<&str>,
        plural: &str,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Reply {
        if let (true, Some(ns), Some(name), Some("exec")) = (
            group.is_empty() && version == "v1" && plural == "pods",
            namespace,
            name,
            sub,
        ) {
            return self.exec(req, ns, name);
        }
        // The authorization filter runs before anything knows whether the resource exists.
        let verb = rbac_verb(&req.method, name.is_some(), is_watch(req));
        let ns = namespace.unwrap_or("");
        // `/api/v1/namespaces/x` is the namespace `x` itself.
        let authz_ns = if group.is_empty() && plural == "namespaces" && namespace.is_none() {
            name.unwrap_or("")
        } else {
            ns
        };
        if self.is_forbidden(verb, group, plural, authz_ns) {
            return forbidden(&req.user, verb, group, plural, sub, authz_ns, name);
        }
        if group == "metrics.k8s.io" {
            match self.metrics {
                MetricsMode::NotFound => return not_found_handler(),
                MetricsMode::Unavailable => return Reply::text(503, "service unavailable"),
                MetricsMode::Served => {}
            }
        }
        if !group_version_served(group, version) {
            return not_found_handler();
        }
        let Some(ri) = find_def(group, version, plural) else {
            return route_not_found();
        };
        let def = &RESOURCES[ri];
        if def.namespaced != namespace.is_some() && !(def.namespaced && name.is_none()) {
            // A namespaced resource by name without a namespace, or a cluster-scoped one
            // under /namespaces/: no such route.
            return route_not_found();
        }
        if let Some(sub) = sub
            && !def.subresources.contains(&sub)
        {
            return route_not_found();
        }
        let reply = match (req.method.as_str(), name) {
            ("GET", None) => {
                if !def.has_verb("list") {
                    return method_not_allowed();
                }
                self.list(req, ri, namespace)
            }
            ("GET", Some(name)) => {
                if !def.has_verb("get") {
                    return method_not_allowed();
                }
                self.get(ri, ns, name, sub)
            }
            ("PATCH", Some(name)) if def.has_verb("patch") => self.patch(req, ri, ns, name, sub),
            ("PUT", Some(name)) if def.has_verb("update") => self.update(req, ri, ns, name, sub),
            ("POST", None) if def.has_verb("create") => self.create(req, ri, ns),
            ("DELETE", Some(name)) if def.has_verb("delete") && sub.is_none() => {
                self.delete(req, ri, ns, name)
            }
            _ => method_not_allowed(),
        };
        if def.kind == "Endpoints" {
            // Real servers since v1.33 warn on every use of v1 Endpoints.
            reply.with_header(
                "Warning",
                "299 - \"v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\"",
            )
        } else {
            reply
        }
    }

    fn get(&self, ri: usize, ns: &str, name: &str, sub: Option<&str>) -> Reply {
        let def = &RESOURCES[ri];
        let key = if def.namespaced {
            format!("{ns}/{name}")
        } else {
            name.to_string()
        };
        let Some(obj) = self.store.current(ri, &key) else {
            return not_found(def, name);
        };
        match sub {
            None | Some("status") => Reply::json(200, &Store::with_type(ri, obj)),
            Some("scale") => Reply::json(200, &scale_of(obj)),
            Some(other) => bad_request(&format!(
                "fake API: the {other} subresource needs a kubelet, which this fake does not have"
            )),
        }
    }
}

fn only_get(req: &Req, f: impl FnOnce() -> Reply) -> Reply {
    if req.method == "GET" || req.method == "HEAD" {
        f()
    } else {
        method_not_allowed()
    }
}

fn status_for_code(code: u16) -> Reply {
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => ("InternalError", "Internal error occurred: fake failure"),
        502 => (
            "",
            "an error on the server (\"\") has prevented the request from succeeding",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        ),
        401 => ("Unauthorized", "Unauthorized"),
        _ => ("", "fake failure"),
    };
    let details = (code == 429).then(|| json!({"retryAfterSeconds": 1}));
    let reply = Reply::status(code, reason, message, details);
    if code == 429 {
        reply.with_header("Retry-After", "1")
    } else {
        reply
    }
}

fn forbidden(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    sub: Option<&str>,
    namespace: &str,
    name: Option<&str>,
) -> Reply {
    let full = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    let gr = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let reason = format!(
        "User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
    );
    let message = match name {
        Some(n) if !n.is_empty() => format!("{gr} \"{n}\" is forbidden: {reason}"),
        _ => format!("{gr} is forbidden: {reason}"),
    };
    let mut d = Map::new();
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        d.insert("name".into(), json!(n));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(resource));
    Reply::status(403, "Forbidden", &message, Some(Value::Object(d)))
}

/// The `autoscaling/v1 Scale` of a Deployment/StatefulSet/ReplicaSet.
fn scale_of(obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut meta = Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(k) {
            meta.insert(k.into(), v.clone());
        }
    }
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        }
    })
}

// ---- lists ----

struct ContinueToken {
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, start: &str) -> String {
    let json = serde_json::to_string(&json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start}))
        .expect("token");
    base64url_encode(json.as_bytes())
}

/// `storage.DecodeContinue`; errors are the real ones.
fn decode_continue(token: &str) -> Result<ContinueToken, String> {
    const GENERIC: &str = "continue key is not valid";
    let data = base64url_decode(token).map_err(|e| format!("{GENERIC}: {e}"))?;
    let v: Value = serde_json::from_slice(&data).map_err(|e| format!("{GENERIC}: {e}"))?;
    let version = v.get("v").and_then(Value::as_str).unwrap_or_default();
    if version != "meta.k8s.io/v1" {
        return Err(format!(
            "continue key is not valid: server does not recognize this encoded version {version}"
        ));
    }
    let rv = v.get("rv").and_then(Value::as_i64).unwrap_or(0);
    if rv == 0 {
        return Err("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into());
    }
    let start = v.get("start").and_then(Value::as_str).unwrap_or_default();
    if start.is_empty() {
        return Err(
            "continue key is not valid: encoded start key empty (version meta.k8s.io/v1)".into(),
        );
    }
    // path.Clean must not change it (no traversal out of the list's prefix).
    let key = format!("/{}", start.trim_start_matches('/'));
    if key.contains("//") || key.contains("/./") || key.contains("/../") || key.ends_with("/..") {
        return Err(format!("{GENERIC}: {start}"));
    }
    Ok(ContinueToken {
        rv,
        start: start.trim_start_matches('/').to_string(),
    })
}

const CONTINUE_INCONSISTENT: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

struct Selectors {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

impl Selectors {
    fn parse(req: &Req, def: &ResDef) -> Result<Selectors, Reply> {
        let labels = match req.param("labelSelector") {
            Some(s) => parse_label_selector(s).map_err(|e| bad_request(&e))?,
            None => Vec::new(),
        };
        let fields = match req.param("fieldSelector") {
            Some(s) => parse_field_selector(s, def).map_err(|e| bad_request(&e))?,
            None => Vec::new(),
        };
        Ok(Selectors { labels, fields })
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    fn matches(&self, def: &ResDef, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        self.labels.iter().all(|r| r.matches(labels))
            && self
                .fields
                .iter()
                .all(|f| (field_value(def, obj, &f.label) == f.value) == f.equal)
    }
}

impl Inner {
    fn list(&self, req: &Req, ri: usize, namespace: Option<&str>) -> Reply {
        let def = &RESOURCES[ri];
        let sel = match Selectors::parse(req, def) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        let prefix = match namespace {
            Some(ns) if def.namespaced => format!("{ns}/"),
            _ => String::new(),
        };
        let list_kind = format!("{}List", def.kind);
        if def.metrics {
            // metrics-server lists everything at once: no resourceVersion, no paging.
            let items: Vec<Value> = self
                .store
                .keys_from(ri, &prefix, "")
                .filter_map(|(_, h)| h.last().and_then(|v| v.obj.clone()))
                .filter(|o| sel.matches(def, o))
                .collect();
            return Reply::json(
                200,
                &json!({"kind": list_kind, "apiVersion": def.api_version(), "metadata": {}, "items": items}),
            );
        }
        let limit: usize = match req.param("limit") {
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => n as usize,
                Ok(_) => 0,
                Err(e) => return bad_request(&format!("strconv.ParseInt: parsing {l:?}: {e}")),
            },
            None => 0,
        };
        let rv_param = req.param("resourceVersion").unwrap_or("");
        let rv_match = req.param("resourceVersionMatch").unwrap_or("");
        let current = self.store.rv;
        let mut start = String::new();
        let read_rv: u64;
        if let Some(token) = req.param("continue").filter(|c| !c.is_empty()) {
            if !rv_param.is_empty() && rv_param != "0" {
                return bad_request(
                    "specifying resource version is not allowed when using continue",
                );
            }
            let token = match decode_continue(token) {
                Ok(t) => t,
                Err(e) => return bad_request(&format!("invalid continue token: {e}")),
            };
            start = format!("{prefix}{}", token.start);
            if token.rv > 0 && (token.rv as u64) < self.store.compacted {
                let mut status = status_value(410, "Expired", CONTINUE_INCONSISTENT, None);
                status["metadata"] = json!({"continue": encode_continue(-1, &token.start)});
                return Reply::json(410, &status);
            }
            read_rv = if token.rv > 0 {
                (token.rv as u64).min(current)
            } else {
                current
            };
        } else if !rv_param.is_empty() {
            let Ok(rv) = rv_param.parse::<u64>() else {
                return bad_request(&format!(
                    "invalid resource version: strconv.ParseUint: parsing {rv_param:?}: invalid syntax"
                ));
            };
            let exact = rv_match == "Exact" || (rv_match.is_empty() && limit > 0 && rv != 0);
            if !matches!(rv_match, "" | "Exact" | "NotOlderThan") {
                return invalid(
                    "ListOptions.meta.k8s.io",
                    "meta.k8s.io",
                    "ListOptions",
                    "",
                    &[FieldError::not_supported(
                        "resourceVersionMatch",
                        &format!("{rv_match:?}"),
                        &["Exact", "NotOlderThan"],
                    )],
                );
            }
            if rv > current {
                return Reply::status(
                    504,
                    "Timeout",
                    &format!("Timeout: Too large resource version: {rv}, current: {current}"),
                    Some(json!({
                        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                        "retryAfterSeconds": 1
                    })),
                );
            }
            if exact {
                if rv < self.store.compacted {
                    return Reply::status(
                        410,
                        "Expired",
                        "The resourceVersion for the provided list is too old.",
                        None,
                    );
                }
                read_rv = rv;
            } else {
                read_rv = current;
            }
        } else {
            if !rv_match.is_empty() {
                return invalid(
                    "ListOptions.meta.k8s.io",
                    "meta.k8s.io",
                    "ListOptions",
                    "",
                    &[FieldError::forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden unless resourceVersion is provided",
                    )],
                );
            }
            read_rv = current;
        }

        // etcd3 GetList: stop at the first key after the page is full, whether it matches or not.
        let mut items = Vec::new();
        let mut last_key: Option<&String> = None;
        let mut has_more = false;
        let mut keys = self
            .store
            .keys_from(ri, &prefix, &start)
            .filter(|(k, _)| self.store.at(ri, k, read_rv).is_some());
        for (key, _) in keys.by_ref() {
            if limit > 0 && items.len() >= limit {
                has_more = true;
                break;
            }
            last_key = Some(key);
            let obj = self.store.at(ri, key, read_rv).expect("present");
            if sel.matches(def, obj) {
                items.push(obj.clone());
            }
        }
        let remaining = if has_more { 1 + keys.count() } else { 0 };
        let mut metadata = Map::new();
        metadata.insert("resourceVersion".into(), json!(read_rv.to_string()));
        if has_more && let Some(last) = last_key {
            let rel = &last[prefix.len()..];
            metadata.insert(
                "continue".into(),
                json!(encode_continue(read_rv as i64, &format!("{rel}\u{0}"))),
            );
            if sel.is_empty() {
                metadata.insert("remainingItemCount".into(), json!(remaining));
            }
        }
        Reply::json(
            200,
            &json!({
                "kind": list_kind,
                "apiVersion": def.api_version(),
                "metadata": metadata,
                "items": items,
            }),
        )
    }
}

// ---- label selectors (k8s.io/apimachinery/pkg/labels) ----

#[derive(Debug, Clone)]
enum LabelOp {
    Exists,
    NotExists,
    Equals,
    NotEquals,
    In,
    NotIn,
    Gt,
    Lt,
}

#[derive(Debug, Clone)]
struct LabelReq {
    key: String,
    op: LabelOp,
    values: Vec<String>,
}

impl LabelReq {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels
            .and_then(|l| l.get(&self.key))
            .and_then(Value::as_str);
        match self.op {
            LabelOp::Exists => value.is_some(),
            LabelOp::NotExists => value.is_none(),
            LabelOp::Equals | LabelOp::In => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            LabelOp::NotEquals | LabelOp::NotIn => {
                value.is_none_or(|v| !self.values.iter().any(|x| x == v))
            }
            LabelOp::Gt | LabelOp::Lt => {
                let (Some(v), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|b| b.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if matches!(self.op, LabelOp::Gt) {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            }))
    {
        return Err(
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            .to_string());
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 || !valid_label_value(name) {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    Ok(())
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut reqs = Vec::new();
    for term in split_top_level(s) {
        let term = term.trim();
        if term.is_empty() {
            return Err(format!(
                "unable to parse requirement: found '', expected: identifier (selector {s:?})"
            ));
        }
        let req =
            parse_label_term(term).map_err(|e| format!("unable to parse requirement: {e}"))?;
        valid_label_key(&req.key).map_err(|e| {
            format!(
                "unable to parse requirement: key: Invalid value: {:?}: {e}",
                req.key
            )
        })?;
        for v in &req.values {
            if !valid_label_value(v) {
                return Err(format!(
                    "unable to parse requirement: values[0][{}]: Invalid value: {v:?}: {LABEL_VALUE_MSG}",
                    req.key
                ));
            }
        }
        reqs.push(req);
    }
    Ok(reqs)
}

fn parse_label_term(term: &str) -> Result<LabelReq, String> {
    if let Some(rest) = term.strip_prefix('!') {
        return Ok(LabelReq {
            key: rest.trim().to_string(),
            op: LabelOp::NotExists,
            values: Vec::new(),
        });
    }
    if let Some(open) = term.find('(') {
        let head = term[..open].trim();
        let close = term
            .rfind(')')
            .filter(|c| *c > open && term[c + 1..].trim().is_empty())
            .ok_or_else(|| format!("found '{term}', expected: ')'"))?;
        let mut words = head.split_whitespace();
        let key = words.next().ok_or("found '(', expected: identifier")?;
        let op = match words.next() {
            Some("in") => LabelOp::In,
            Some("notin") => LabelOp::NotIn,
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.unwrap_or("(")
                ));
            }
        };
        let values: Vec<String> = term[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_string())
            .collect();
        if values.iter().all(String::is_empty) {
            return Err("for 'in', 'notin' operators, values set can't be empty".into());
        }
        return Ok(LabelReq {
            key: key.to_string(),
            op,
            values,
        });
    }
    for (token, op) in [
        ("!=", LabelOp::NotEquals),
        ("==", LabelOp::Equals),
        ("=", LabelOp::Equals),
        (">", LabelOp::Gt),
        ("<", LabelOp::Lt),
    ] {
        if let Some((k, v)) = term.split_once(token) {
            let v = v.trim();
            if matches!(op, LabelOp::Gt | LabelOp::Lt) && v.parse::<i64>().is_err() {
                return Err("for 'Gt', 'Lt' operators, the value must be an integer".into());
            }
            return Ok(LabelReq {
                key: k.trim().to_string(),
                op,
                values: vec![v.to_string()],
            });
        }
    }
    let mut words = term.split_whitespace();
    let key = words.next().unwrap_or_default();
    if let Some(extra) = words.next() {
        return Err(format!("found '{extra}', expected: ',' or 'end of string'"));
    }
    Ok(LabelReq {
        key: key.to_string(),
        op: LabelOp::Exists,
        values: Vec::new(),
    })
}

// ---- field selectors ----

#[derive(Debug, Clone)]
struct FieldReq {
    label: String,
    value: String,
    equal: bool,
}

fn parse_field_selector(s: &str, def: &ResDef) -> Result<Vec<FieldReq>, String> {
    let mut out = Vec::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    for part in s.split(',') {
        let (label, value, equal) = if let Some((l, v)) = part.split_once("!=") {
            (l, v, false)
        } else if let Some((l, v)) = part.split_once("==") {
            (l, v, true)
        } else if let Some((l, v)) = part.split_once('=') {
            (l, v, true)
        } else {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            ));
        };
        let label = label.trim();
        // The per-kind field label conversion (pkg/apis/core/v1/conversion.go).
        let label = match def.field_labels {
            Some(list) => {
                if def.kind == "Pod" && label == "spec.host" {
                    "spec.nodeName"
                } else if list.contains(&label) {
                    label
                } else {
                    return Err(format!("field label not supported: {label}"));
                }
            }
            None => {
                if label == "metadata.name" || label == "metadata.namespace" {
                    label
                } else {
                    return Err(format!(
                        "\"{label}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    ));
                }
            }
        };
        out.push(FieldReq {
            label: label.to_string(),
            value: value.to_string(),
            equal,
        });
    }
    Ok(out)
}

/// The value a field label selects (the registries' `SelectableFields`).
fn field_value(def: &ResDef, obj: &Value, label: &str) -> String {
    let path: Vec<&str> = match (def.kind, label) {
        ("Event", "source") => vec!["source", "component"],
        ("Pod", "status.podIPs") => {
            return obj
                .pointer("/status/podIPs")
                .and_then(Value::as_array)
                .map(|ips| {
                    ips.iter()
                        .filter_map(|ip| ip.get("ip").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
        }
        ("Pod", "spec.hostNetwork") | ("Node", "spec.unschedulable") => {
            let p = format!("/{}", label.replace('.', "/"));
            return obj
                .pointer(&p)
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string();
        }
        _ => label.split('.').collect(),
    };
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

// =====================================================================================
// Writes
// =====================================================================================

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// `ValidateDryRun` for the options kind of the verb (`PatchOptions`, `UpdateOptions`, ...).
fn check_dry_run(req: &Req, options_kind: &str) -> Result<bool, Reply> {
    let values = req.params("dryRun");
    if values.is_empty() {
        return Ok(false);
    }
    if values.iter().all(|v| *v == "All") {
        return Ok(true);
    }
    let go_list = format!(
        "[]string{{{}}}",
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Err(invalid(
        &format!("{options_kind}.meta.k8s.io"),
        "meta.k8s.io",
        options_kind,
        "",
        &[FieldError::not_supported("dryRun", &go_list, &["All"])],
    ))
}

impl Inner {
    fn key(ri: usize, ns: &str, name: &str) -> String {
        if RESOURCES[ri].namespaced {
            format!("{ns}/{name}")
        } else {
            name.to_string()
        }
    }

    fn patch(&mut self, req: &Req, ri: usize, ns: &str, name: &str, sub: Option<&str>) -> Reply {
        let def = &RESOURCES[ri];
        let content_type = req
            .header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if !PATCH_TYPES.contains(&content_type.as_str()) {
            return Reply::status(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: {}",
                    PATCH_TYPES.join(", ")
                ),
                Some(json!({})),
            );
        }
        if content_type == "application/apply-patch+yaml" {
            return Reply::status(
                415,
                "UnsupportedMediaType",
                "fake API: server-side apply is not implemented by this fake (a real server accepts application/apply-patch+yaml)",
                Some(json!({})),
            );
        }
        let dry_run = match check_dry_run(req, "PatchOptions") {
            Ok(d) => d,
            Err(reply) => return reply,
        };
        let ctx = match WriteCtx::from_request(req, dry_run, true) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        let key = Self::key(ri, ns, name);
        let Some(existing) = self.store.current(ri, &key).cloned() else {
            return not_found(def, name);
        };
        let current_doc = if sub == Some("scale") {
            scale_of(&existing)
        } else {
            Store::with_type(ri, &existing)
        };
        let patched = match apply_patch(&content_type, &current_doc, &req.body, def) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let patched = if sub == Some("scale") {
            let mut target = Store::with_type(ri, &existing);
            if let Some(r) = patched.pointer("/spec/replicas") {
                target["spec"]["replicas"] = r.clone();
            }
            if let Some(rv) = patched.pointer("/metadata/resourceVersion") {
                target["metadata"]["resourceVersion"] = rv.clone();
            }
            target
        } else {
            patched
        };
        self.finish_update(ri, ns, name, sub, existing, patched, &ctx)
    }

    fn update(&mut self, req: &Req, ri: usize, ns: &str, name: &str, sub: Option<&str>) -> Reply {
        let def = &RESOURCES[ri];
        let dry_run = match check_dry_run(req, "UpdateOptions") {
            Ok(d) => d,
            Err(reply) => return reply,
        };
        let ctx = match WriteCtx::from_request(req, dry_run, false) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return bad_request(&format!("the object provided is unrecognized: {e}")),
        };
        if let Err(reply) = check_type(&body, def) {
            return reply;
        }
        let key = Self::key(ri, ns, name);
        let Some(existing) = self.store.current(ri, &key).cloned() else {
            return not_found(def, name);
        };
        self.finish_update(ri, ns, name, sub, existing, body, &ctx)
    }

    /// The registry's `Update` after the new object is known (`store.go`, `rest.BeforeUpdate`).
    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &mut self,
        ri: usize,
        ns: &str,
        name: &str,
        sub: Option<&str>,
        existing: Value,
        new: Value,
        ctx: &WriteCtx,
    ) -> Reply {
        let def = &RESOURCES[ri];
        let mut new = new;
        let dry_run = ctx.dry_run;
        if !new.is_object() || !new.get("metadata").is_some_and(Value::is_object) {
            return invalid(
                "",
                "",
                "",
                "",
                &[FieldError::invalid(
                    "patch",
                    &json!(new.to_string()),
                    "the patched object is not a valid object",
                )],
            );
        }
        if let Some(k) = new.get("kind").and_then(Value::as_str)
            && k != def.kind
        {
            return invalid(
                "",
                "",
                "",
                "",
                &[FieldError::invalid(
                    "patch",
                    &json!(new.to_string()),
                    &format!("kind {k} is not {}", def.kind),
                )],
            );
        }
        // Decoding into the Go type: unknown fields dropped (warned about), bad types refused.
        let warnings = match unknown_fields(ri, &new) {
            Ok(unknown) => {
                let listed: Vec<String> = unknown
                    .iter()
                    .map(|(f, _)| format!("unknown field \"{f}\""))
                    .collect();
                if !listed.is_empty() && ctx.field_validation == "Strict" {
                    let message = format!("strict decoding error: {}", listed.join(", "));
                    return if ctx.is_patch {
                        invalid(
                            "",
                            "",
                            "",
                            "",
                            &[FieldError::invalid(
                                "patch",
                                &json!(new.to_string()),
                                &message,
                            )],
                        )
                    } else {
                        bad_request(&message)
                    };
                }
                for (_, pointer) in unknown.iter().rev() {
                    remove_pointer(&mut new, pointer);
                }
                if ctx.field_validation == "Ignore" {
                    Vec::new()
                } else {
                    listed
                }
            }
            Err(e) => {
                let detail = json!(new.to_string());
                return if ctx.is_patch {
                    invalid("", "", "", "", &[FieldError::invalid("patch", &detail, &e)])
                } else {
                    bad_request(&format!("the object provided is unrecognized: {e}"))
                };
            }
        };
        let with_warnings = |mut reply: Reply| {
            for w in &warnings {
                reply = reply.with_header("Warning", format!("299 - {w:?}"));
            }
            reply
        };
        // EnsureObjectNamespaceMatchesRequestNamespace, then checkName.
        {
            let meta = meta_mut(&mut new);
            let obj_ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if def.namespaced {
                if obj_ns.is_empty() {
                    meta.insert("namespace".into(), json!(ns));
                } else if obj_ns != ns {
                    return bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    );
                }
            } else {
                meta.remove("namespace");
            }
            let obj_name = meta.get("name").and_then(Value::as_str).unwrap_or("");
            if obj_name != name {
                return bad_request(&format!(
                    "the name of the object ({obj_name}) does not match the name on the URL ({name})"
                ));
            }
        }
        // Optimistic concurrency.
        let existing_rv = meta_str(&existing, "resourceVersion")
            .unwrap_or("0")
            .to_string();
        match meta_str(&new, "resourceVersion").unwrap_or("") {
            "" => {}
            rv => match rv.parse::<u64>() {
                Err(_) => {
                    return Reply::status(
                        500,
                        "",
                        &format!("strconv.ParseUint: parsing {rv:?}: invalid syntax"),
                        None,
                    );
                }
                Ok(n) if n.to_string() != existing_rv => {
                    return Reply::status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                            def.group_resource()
                        ),
                        Some(details(name, def)),
                    );
                }
                Ok(_) => {}
            },
        }
        // BeforeUpdate: system fields, status subresource, uid immutability.
        let mut new = strip_type(new);
        {
            let old_meta = existing.get("metadata").cloned().unwrap_or(json!({}));
            let meta = meta_mut(&mut new);
            meta.insert("resourceVersion".into(), json!(existing_rv));
            match meta.get("uid").and_then(Value::as_str) {
                None | Some("") => {
                    if let Some(u) = old_meta.get("uid") {
                        meta.insert("uid".into(), u.clone());
                    }
                }
                Some(u) if Some(u) != old_meta.get("uid").and_then(Value::as_str) => {
                    let u = json!(u);
                    return invalid(
                        &def.group_kind(),
                        def.group,
                        def.kind,
                        name,
                        &[FieldError::immutable("metadata.uid", &u)],
                    );
                }
                Some(_) => {}
            }
            for f in [
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(f) {
                    Some(v) => meta.insert(f.into(), v.clone()),
                    None => meta.remove(f),
                };
            }
        }
        if sub == Some("status") {
            // The status strategy keeps everything but the status.
            let mut kept = existing.clone();
            match new.get("status") {
                Some(s) => kept["status"] = s.clone(),
                None => {
                    kept.as_object_mut().map(|m| m.remove("status"));
                }
            }
            new = kept;
        } else if def.status_subresource {
            match existing.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
            }
        }
        let errs = validate_update(def, &existing, &new);
        if !errs.is_empty() {
            return invalid(&def.group_kind(), def.group, def.kind, name, &errs);
        }
        if def.generation && spec_changed(&existing, &new) {
            let generation = existing
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
        // The field manager takes ownership of what changed; an object with no change at all
        // is not written (etcd3 GuaranteedUpdate skips identical bytes).
        if let Some(mf) = existing.pointer("/metadata/managedFields") {
            meta_mut(&mut new).insert("managedFields".into(), mf.clone());
        } else {
            meta_mut(&mut new).remove("managedFields");
        }
        if new == existing {
            return with_warnings(Reply::json(200, &Store::with_type(ri, &existing)));
        }
        record_manager(def, Some(&existing), &mut new, &ctx.manager);
        if dry_run {
            // What would have been stored, at the old resourceVersion.
            return with_warnings(Reply::json(200, &Store::with_type(ri, &new)));
        }
        let key = Self::key(ri, ns, name);
        let stored = self.store.write(ri, &key, Some(new)).expect("written");
        let out = if sub == Some("scale") {
            scale_of(&stored)
        } else {
            Store::with_type(ri, &stored)
        };
        with_warnings(Reply::json(200, &out))
    }

    fn create(&mut self, req: &Req, ri: usize, ns: &str) -> Reply {
        let def = &RESOURCES[ri];
        if def.kind == "SelfSubjectAccessReview" {
            return self.self_subject_access_review(req);
        }
        let dry_run = match check_dry_run(req, "CreateOptions") {
            Ok(d) => d,
            Err(reply) => return reply,
        };
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return bad_request(&format!("the object provided is unrecognized: {e}")),
        };
        if let Err(reply) = check_type(&body, def) {
            return reply;
        }
        let mut obj = strip_type(body);
        {
            let generate = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .map(str::to_string);
            let suffix = self.store.random_suffix(5);
            let meta = meta_mut(&mut obj);
            if meta
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                match generate {
                    Some(g) if !g.is_empty() => {
                        meta.insert("name".into(), json!(format!("{g}{suffix}")));
                    }
                    _ => {
                        return invalid(
                            &def.group_kind(),
                            def.group,
                            def.kind,
                            "",
                            &[FieldError::required(
                                "metadata.name",
                                "name or generateName is required",
                            )],
                        );
                    }
                }
            }
            let obj_ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if def.namespaced {
                if obj_ns.is_empty() {
                    meta.insert("namespace".into(), json!(ns));
                } else if obj_ns != ns {
                    return bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    );
                }
            } else {
                meta.remove("namespace");
            }
            for f in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
            ] {
                meta.remove(f);
            }
        }
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        if def.namespaced {
            let ns_ri = find_def("", "v1", "namespaces").expect("namespaces");
            if self.store.current(ns_ri, ns).is_none() {
                return not_found(&RESOURCES[ns_ri], ns);
            }
        }
        let key = Self::key(ri, ns, &name);
        if self.store.current(ri, &key).is_some() {
            return Reply::status(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", def.group_resource()),
                Some(details(&name, def)),
            );
        }
        if def.status_subresource {
            let status = match def.kind {
                "Namespace" => json!({"phase": "Active"}),
                "Pod" => json!({"phase": "Pending"}),
                _ => json!({}),
            };
            obj["status"] = status;
        }
        if def.kind == "Namespace" {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            let n = name.clone();
            meta_mut(&mut obj)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|l| l.insert("kubernetes.io/metadata.name".into(), json!(n)));
        }
        let errs = validate_object(def, &obj);
        if !errs.is_empty() {
            return invalid(&def.group_kind(), def.group, def.kind, &name, &errs);
        }
        let ctx = match WriteCtx::from_request(req, dry_run, false) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        let unknown = match unknown_fields(ri, &obj) {
            Ok(u) => u,
            Err(e) => return bad_request(&format!("the object provided is unrecognized: {e}")),
        };
        let warnings: Vec<String> = unknown
            .iter()
            .map(|(f, _)| format!("unknown field \"{f}\""))
            .collect();
        if !warnings.is_empty() && ctx.field_validation == "Strict" {
            return bad_request(&format!("strict decoding error: {}", warnings.join(", ")));
        }
        if ctx.field_validation != "Strict" {
            for (_, pointer) in unknown.iter().rev() {
                remove_pointer(&mut obj, pointer);
            }
        }
        record_manager(def, None, &mut obj, &ctx.manager);
        let obj = self.store.normalize(ri, obj, None);
        let mut reply = if dry_run {
            Reply::json(201, &Store::with_type(ri, &obj))
        } else {
            let stored = self.store.write(ri, &key, Some(obj)).expect("written");
            Reply::json(201, &Store::with_type(ri, &stored))
        };
        if ctx.field_validation != "Ignore" {
            for w in &warnings {
                reply = reply.with_header("Warning", format!("299 - {w:?}"));
            }
        }
        reply
    }

    fn delete(&mut self, req: &Req, ri: usize, ns: &str, name: &str) -> Reply {
        let def = &RESOURCES[ri];
        let dry_run = match check_dry_run(req, "DeleteOptions") {
            Ok(d) => d,
            Err(reply) => return reply,
        };
        let key = Self::key(ri, ns, name);
        let Some(existing) = self.store.current(ri, &key).cloned() else {
            return not_found(def, name);
        };
        let has_finalizers = existing
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
            || (def.kind == "Namespace");
        let graceful_pod = def.kind == "Pod"
            && existing
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
        if has_finalizers || graceful_pod {
            // Graceful: the object stays, marked for deletion (no controller/kubelet finishes it).
            if existing.pointer("/metadata/deletionTimestamp").is_some() {
                return Reply::json(200, &Store::with_type(ri, &existing));
            }
            let mut obj = existing.clone();
            let grace = if graceful_pod { 30 } else { 0 };
            let meta = meta_mut(&mut obj);
            meta.insert(
                "deletionTimestamp".into(),
                json!(rfc3339(now_secs() + grace)),
            );
            meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if def.kind == "Namespace" {
                obj["status"] = json!({"phase": "Terminating"});
            }
            if dry_run {
                return Reply::json(200, &Store::with_type(ri, &obj));
            }
            let stored = self.store.write(ri, &key, Some(obj)).expect("written");
            return Reply::json(200, &Store::with_type(ri, &stored));
        }
        if !dry_run {
            self.store.write(ri, &key, None);
        }
        if def.kind == "Pod" {
            return Reply::json(200, &Store::with_type(ri, &existing));
        }
        let mut d = details(name, def).as_object().cloned().unwrap_or_default();
        if let Some(uid) = meta_str(&existing, "uid") {
            d.insert("uid".into(), json!(uid));
        }
        Reply::json(
            200,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}),
        )
    }

    fn self_subject_access_review(&self, req: &Req) -> Reply {
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return bad_request(&format!("the object provided is unrecognized: {e}")),
        };
        let spec = body.get("spec").cloned().unwrap_or(json!({}));
        let ra = spec.get("resourceAttributes");
        let nra = spec.get("nonResourceAttributes");
        if ra.is_some() == nra.is_some() {
            return invalid(
                "SelfSubjectAccessReview.authorization.k8s.io",
                "authorization.k8s.io",
                "SelfSubjectAccessReview",
                "",
                &[FieldError::invalid(
                    "spec.resourceAttributes",
                    &json!("null"),
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )],
            );
        }
        let allowed = match ra {
            Some(ra) => {
                let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("");
                // `pods/exec` is authorized as its own resource, as RBAC does (the other
                // subresources share the rules of their resource in this fake).
                let resource = match (s("group"), s("resource"), s("subresource")) {
                    ("", "pods", "exec") => "pods/exec",
                    (_, resource, _) => resource,
                };
                !self.is_forbidden(s("verb"), s("group"), resource, s("namespace"))
            }
            None => true,
        };
        let status = if allowed {
            json!({"allowed": true, "reason": format!("RBAC: allowed by ClusterRoleBinding \"fake-apiserver\" of ClusterRole \"cluster-admin\" to User \"{}\"", req.user)})
        } else {
            json!({"allowed": false})
        };
        Reply::json(
            201,
            &json!({
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {},
                "spec": spec,
                "status": status,
            }),
        )
    }
}

/// The body's `apiVersion`/`kind`, when given, must be the resource's.
fn check_type(body: &Value, def: &ResDef) -> Result<(), Reply> {
    if !body.is_object() {
        return Err(bad_request("the object provided is unrecognized"));
    }
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or(def.kind);
    let av = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .map_or_else(|| def.api_version(), str::to_string);
    if kind != def.kind || av != def.api_version() {
        return Err(bad_request(&format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    Ok(())
}

fn strip_type(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

/// Whether anything but metadata and status changed.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m
    };
    strip(old) != strip(new)
}

fn apply_patch(content_type: &str, doc: &Value, body: &[u8], def: &ResDef) -> Result<Value, Reply> {
    let mut doc = doc.clone();
    match content_type {
        "application/json-patch+json" => {
            // jsonpatch.DecodePatch only needs an array of objects (400 otherwise); every
            // failure while applying is a bare 422 (NewGenericServerResponse).
            let ops: Vec<Map<String, Value>> =
                serde_json::from_slice(body).map_err(|e| bad_request(&e.to_string()))?;
            if ops.len() > 10_000 {
                return Err(Reply::status(
                    413,
                    "RequestEntityTooLarge",
                    &format!(
                        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got {}",
                        ops.len()
                    ),
                    None,
                ));
            }
            let unprocessable = || {
                Reply::status(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                    Some(json!({})),
                )
            };
            let patch: json_patch::Patch =
                serde_json::from_value(Value::Array(ops.into_iter().map(Value::Object).collect()))
                    .map_err(|_| unprocessable())?;
            json_patch::patch(&mut doc, &patch.0).map_err(|_| unprocessable())?;
            Ok(doc)
        }
        "application/merge-patch+json" => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|_| bad_request("Invalid JSON Patch"))?;
            if patch.is_null() {
                return Err(bad_request("Invalid JSON Patch"));
            }
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| bad_request(&e.to_string()))?;
            let Value::Object(patch) = patch else {
                return Err(bad_request(
                    "unable to find api field in struct Unknown for the json field \"patch\"",
                ));
            };
            strategic_merge(&mut doc, &patch, def.kind, &mut Vec::new())
                .map_err(|e| bad_request(&e))?;
            Ok(doc)
        }
        other => Err(Reply::status(
            415,
            "UnsupportedMediaType",
            &format!("unknown Content-Type header for patch: {other}"),
            Some(json!({})),
        )),
    }
}

/// What a write request says about how to write.
struct WriteCtx {
    dry_run: bool,
    /// `fieldValidation`: "" (the server default, Warn), Ignore, Warn or Strict.
    field_validation: String,
    /// The field manager: `fieldManager`, else the User-Agent up to its first `/`.
    manager: String,
    is_patch: bool,
}

impl WriteCtx {
    fn from_request(req: &Req, dry_run: bool, is_patch: bool) -> Result<WriteCtx, Reply> {
        let field_validation = req.param("fieldValidation").unwrap_or("").to_string();
        if !matches!(field_validation.as_str(), "" | "Ignore" | "Warn" | "Strict") {
            return Err(bad_request(&format!(
                "fieldValidation parameter unsupported value: {field_validation:?}; must be one of: Ignore, Warn, Strict"
            )));
        }
        let manager = match req.param("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => req
                .header("user-agent")
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect(),
        };
        Ok(WriteCtx {
            dry_run,
            field_validation,
            manager,
            is_patch,
        })
    }
}

/// Decodes into the typed k8s-openapi struct, as the server decodes into its Go type: returns
/// the unknown fields (which the server drops) as (Go path, JSON pointer); wrongly typed fields
/// are an error. The object itself is kept as given (Go and k8s-openapi differ on how they
/// print empty lists, e.g. `null` vs `[]`, so the typed value is only used to compare).
fn unknown_fields(ri: usize, obj: &Value) -> Result<Vec<(String, String)>, String> {
    use k8s_openapi::api::{apps, core, discovery, storage};
    let input = Store::with_type(ri, obj);
    macro_rules! rt {
        ($t:ty) => {{
            let typed: $t = serde_json::from_value(input.clone()).map_err(|e| e.to_string())?;
            serde_json::to_value(&typed).map_err(|e| e.to_string())?
        }};
    }
    let output = match RESOURCES[ri].kind {
        "Endpoints" => rt!(core::v1::Endpoints),
        "Event" => rt!(core::v1::Event),
        "Namespace" => rt!(core::v1::Namespace),
        "Node" => rt!(core::v1::Node),
        "PersistentVolumeClaim" => rt!(core::v1::PersistentVolumeClaim),
        "PersistentVolume" => rt!(core::v1::PersistentVolume),
        "Pod" => rt!(core::v1::Pod),
        "Secret" => rt!(core::v1::Secret),
        "Service" => rt!(core::v1::Service),
        "Deployment" => rt!(apps::v1::Deployment),
        "ReplicaSet" => rt!(apps::v1::ReplicaSet),
        "StatefulSet" => rt!(apps::v1::StatefulSet),
        "StorageClass" => rt!(storage::v1::StorageClass),
        "EndpointSlice" => rt!(discovery::v1::EndpointSlice),
        _ => input.clone(),
    };
    let mut unknown = Vec::new();
    dropped_fields(&input, &output, "", "", &mut unknown);
    Ok(unknown)
}

/// Paths present (and not null) in `input` but gone from `output`: (Go path, JSON pointer).
fn dropped_fields(
    input: &Value,
    output: &Value,
    path: &str,
    pointer: &str,
    out: &mut Vec<(String, String)>,
) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let ptr = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                match o.get(k) {
                    None if !v.is_null() => out.push((p, ptr)),
                    Some(ov) => dropped_fields(v, ov, &p, &ptr, out),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                dropped_fields(
                    iv,
                    ov,
                    &format!("{path}[{n}]"),
                    &format!("{pointer}/{n}"),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// Removes the value at a JSON pointer.
fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The FieldsV1 set of what differs between two objects (approximately what a manager owns).
fn changed_fields(old: Option<&Value>, new: &Value) -> Value {
    match (old, new) {
        (Some(Value::Object(_)) | None, Value::Object(n)) if !n.is_empty() => {
            let empty = Map::new();
            let o = match old {
                Some(Value::Object(o)) => o,
                _ => &empty,
            };
            let mut set = Map::new();
            for (k, v) in n {
                if matches!(
                    k.as_str(),
                    "managedFields"
                        | "resourceVersion"
                        | "generation"
                        | "uid"
                        | "creationTimestamp"
                ) || o.get(k) == Some(v)
                {
                    continue;
                }
                set.insert(format!("f:{k}"), changed_fields(o.get(k), v));
            }
            if old.is_none() && set.is_empty() {
                return json!({});
            }
            Value::Object(set)
        }
        _ => json!({}),
    }
}

/// Records the write in `metadata.managedFields` (operation Update for `manager`).
fn record_manager(def: &ResDef, old: Option<&Value>, new: &mut Value, manager: &str) {
    let mut fields = changed_fields(old, new);
    if let Some(m) = fields.as_object_mut() {
        m.remove("f:apiVersion");
        m.remove("f:kind");
        m.remove("f:status");
    }
    let mut entries: Vec<Value> = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let same = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Update")
            && e.get("subresource").is_none()
    };
    let time = now_rfc3339();
    match entries.iter_mut().find(|e| same(e)) {
        Some(e) => {
            let mut merged = e.get("fieldsV1").cloned().unwrap_or(json!({}));
            json_patch::merge(&mut merged, &fields);
            e["fieldsV1"] = merged;
            e["time"] = json!(time);
        }
        None => entries.push(json!({
            "manager": manager,
            "operation": "Update",
            "apiVersion": def.api_version(),
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        })),
    }
    meta_mut(new).insert("managedFields".into(), Value::Array(entries));
}

// ---- strategic merge patch ----

enum ListStrategy {
    MergeKey(&'static str),
    MergePrimitives,
    Replace,
}

/// The patch strategy of a list field (the `patchStrategy`/`patchMergeKey` tags of k8s.io/api).
fn list_strategy(kind: &str, path: &[String], key: &str) -> ListStrategy {
    let parent = path.last().map_or("", String::as_str);
    match key {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListStrategy::MergeKey("name"),
        "volumeMounts" => ListStrategy::MergeKey("mountPath"),
        "volumeDevices" => ListStrategy::MergeKey("devicePath"),
        "hostAliases" => ListStrategy::MergeKey("ip"),
        "conditions" => ListStrategy::MergeKey("type"),
        "ownerReferences" => ListStrategy::MergeKey("uid"),
        "topologySpreadConstraints" => ListStrategy::MergeKey("topologyKey"),
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            ListStrategy::MergeKey("containerPort")
        }
        "ports" if kind == "Service" && parent == "spec" => ListStrategy::MergeKey("port"),
        "addresses" if kind == "Node" && parent == "status" => ListStrategy::MergeKey("type"),
        "finalizers" if parent == "metadata" => ListStrategy::MergePrimitives,
        // spec.taints, spec.tolerations, args, command, ... are atomic.
        _ => ListStrategy::Replace,
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| e.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strategic_merge(
    doc: &mut Value,
    patch: &Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *doc = strip_directives(&Value::Object(patch.clone()));
            return Ok(());
        }
        Some("delete" | "merge") | None => {}
        Some(other) => return Err(format!("Unknown patch type: {other}")),
    }
    if !doc.is_object() {
        *doc = json!({});
    }
    for (key, value) in patch {
        if key == "$patch" || key.starts_with("$setElementOrder/") || key == "$retainKeys" {
            continue;
        }
        let target = doc.as_object_mut().expect("object");
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = target.get_mut(field) {
                list.retain(|e| !remove.contains(e));
            }
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(child) => {
                if child.get("$patch").and_then(Value::as_str) == Some("delete") {
                    target.remove(key);
                } else {
                    let slot = target.entry(key.clone()).or_insert(Value::Null);
                    path.push(key.clone());
                    strategic_merge(slot, child, kind, path)?;
                    path.pop();
                }
            }
            Value::Array(items) => {
                let strategy = list_strategy(kind, path, key);
                let slot = target.entry(key.clone()).or_insert(json!([]));
                if !slot.is_array() {
                    *slot = json!([]);
                }
                let replace_all = items
                    .iter()
                    .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"));
                match strategy {
                    _ if replace_all => *slot = strip_directives(value),
                    ListStrategy::Replace => *slot = strip_directives(value),
                    ListStrategy::MergePrimitives => {
                        let list = slot.as_array_mut().expect("array");
                        for item in items {
                            if !list.contains(item) {
                                list.push(item.clone());
                            }
                        }
                    }
                    ListStrategy::MergeKey(mk) => {
                        path.push(key.clone());
                        let list = slot.as_array_mut().expect("array");
                        for item in items {
                            let Some(obj) = item.as_object() else {
                                list.push(item.clone());
                                continue;
                            };
                            let Some(id) = obj.get(mk) else {
                                return Err(format!(
                                    "map: {item} does not contain declared merge key: {mk}"
                                ));
                            };
                            let pos = list.iter().position(|e| e.get(mk) == Some(id));
                            if obj.get("$patch").and_then(Value::as_str) == Some("delete") {
                                if let Some(p) = pos {
                                    list.remove(p);
                                }
                            } else if let Some(p) = pos {
                                strategic_merge(&mut list[p], obj, kind, path)?;
                            } else {
                                list.push(strip_directives(item));
                            }
                        }
                        path.pop();
                    }
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
    Ok(())
}

// ---- validation (the parts that matter for fixes) ----

fn validate_object(def: &ResDef, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["labels", "annotations"] {
        let Some(map) = obj.pointer(&format!("/metadata/{field}")) else {
            continue;
        };
        let Some(map) = map.as_object() else {
            errs.push(FieldError::invalid(
                &format!("metadata.{field}"),
                map,
                "must be a map of strings",
            ));
            continue;
        };
        for (k, v) in map {
            if let Err(e) = valid_label_key(k) {
                errs.push(FieldError::invalid(
                    &format!("metadata.{field}"),
                    &json!(k),
                    &e,
                ));
            }
            match v.as_str() {
                None => errs.push(FieldError::invalid(
                    &format!("metadata.{field}"),
                    v,
                    "must be a string",
                )),
                Some(s) if field == "labels" && !valid_label_value(s) => {
                    errs.push(FieldError::invalid("metadata.labels", v, LABEL_VALUE_MSG));
                }
                Some(_) => {}
            }
        }
    }
    match def.kind {
        "Node" => {
            let taints = obj
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut seen = Vec::new();
            for (i, t) in taints.iter().enumerate() {
                let key = t.get("key").and_then(Value::as_str).unwrap_or("");
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                if let Err(e) = valid_label_key(key) {
                    errs.push(FieldError::invalid(
                        &format!("spec.taints[{i}].key"),
                        &json!(key),
                        &e,
                    ));
                }
                if effect.is_empty() {
                    errs.push(FieldError::required(
                        &format!("spec.taints[{i}].effect"),
                        "",
                    ));
                } else if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
                    errs.push(FieldError::not_supported(
                        &format!("spec.taints[{i}].effect"),
                        &format!("{effect:?}"),
                        &["NoSchedule", "PreferNoSchedule", "NoExecute"],
                    ));
                }
                if seen.contains(&(key, effect)) {
                    errs.push(FieldError {
                        field: format!("spec.taints[{i}]"),
                        reason: "FieldValueDuplicate",
                        body: format!(
                            "Duplicate value: \"{key}:{effect}\": taints must be unique by key and effect pair"
                        ),
                    });
                }
                seen.push((key, effect));
            }
        }
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
                && r < 0
            {
                errs.push(FieldError::invalid(
                    "spec.replicas",
                    &json!(r),
                    "must be greater than or equal to 0",
                ));
            }
        }
        _ => {}
    }
    errs
}

fn without(v: Option<&Value>, keys: &[&str]) -> Value {
    let mut m = v.and_then(Value::as_object).cloned().unwrap_or_default();
    for k in keys {
        m.remove(*k);
    }
    Value::Object(m)
}

fn validate_update(def: &ResDef, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = validate_object(def, new);
    match def.kind {
        "StorageClass" => {
            let empty = json!({});
            if old.get("parameters").unwrap_or(&empty) != new.get("parameters").unwrap_or(&empty) {
                errs.push(FieldError::forbidden(
                    "parameters",
                    "updates to parameters are forbidden.",
                ));
            }
            if old.get("provisioner") != new.get("provisioner") {
                errs.push(FieldError::forbidden(
                    "provisioner",
                    "updates to provisioner are forbidden.",
                ));
            }
            let reclaim = |v: &Value| v.get("reclaimPolicy").cloned().unwrap_or(json!("Delete"));
            if reclaim(old) != reclaim(new) {
                errs.push(FieldError::forbidden(
                    "reclaimPolicy",
                    "updates to reclaimPolicy are forbidden.",
                ));
            }
            let binding = |v: &Value| {
                v.get("volumeBindingMode")
                    .cloned()
                    .unwrap_or(json!("Immediate"))
            };
            if binding(old) != binding(new) {
                errs.push(FieldError::immutable("volumeBindingMode", &binding(new)));
            }
        }
        "StatefulSet" => {
            let mutable = [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            if without(old.get("spec"), &mutable) != without(new.get("spec"), &mutable) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        "Deployment" | "ReplicaSet" => {
            let (o, n) = (old.pointer("/spec/selector"), new.pointer("/spec/selector"));
            if o != n {
                errs.push(FieldError::immutable(
                    "spec.selector",
                    &json!(n.map(Value::to_string).unwrap_or_default()),
                ));
            }
        }
        "PersistentVolumeClaim" => {
            let mut o = without(old.get("spec"), &["volumeAttributesClassName"]);
            let mut n = without(new.get("spec"), &["volumeAttributesClassName"]);
            for s in [&mut o, &mut n] {
                if let Some(r) = s.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
            }
            // Setting a storage class on a claim that had none is allowed (retroactive default).
            if o.get("storageClassName").is_none() {
                n.as_object_mut().map(|m| m.remove("storageClassName"));
            }
            if o != n {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        "Pod" => {
            let norm = |spec: Option<&Value>| {
                let mut s = without(
                    spec,
                    &[
                        "activeDeadlineSeconds",
                        "terminationGracePeriodSeconds",
                        "tolerations",
                    ],
                );
                for list in ["containers", "initContainers"] {
                    if let Some(Value::Array(cs)) = s.get_mut(list) {
                        for c in cs {
                            c.as_object_mut().map(|m| m.remove("image"));
                        }
                    }
                }
                s
            };
            let old_tol = old
                .pointer("/spec/tolerations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let new_tol = new
                .pointer("/spec/tolerations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let only_additions =
                new_tol.len() >= old_tol.len() && new_tol[..old_tol.len()] == old_tol[..];
            if norm(old.get("spec")) != norm(new.get("spec")) || !only_additions {
                errs.push(FieldError::forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
        }
        _ => {}
    }
    errs
}

// =====================================================================================
// pods/exec
// =====================================================================================
//
// A real v1.36 cluster serves `pods/exec` in two ways, and the fake follows both:
//
// - WebSocket offering `v5.channel.k8s.io` (kube-rs offers v5 then v4; so does kubectl): the
//   API server's stream translator (`staging/src/k8s.io/apiserver/pkg/util/proxy/
//   streamtranslator.go`, `websocket.go`, feature TranslateStreamCloseWebsocketRequests, on by
//   default since 1.30) takes the WebSocket over itself (101, protocol v5) and only then calls
//   the kubelet over SPDY. So whatever the kubelet refuses (a container that is not running)
//   arrives *in-band*, as an `InternalError` Status on channel 3, and a non-zero exit is
//   re-worded by client-go's v4 error decoder (`client-go/tools/remotecommand/v4.go`):
//   "command terminated with non-zero exit code: command terminated with exit code N".
// - Anything else is proxied (`UpgradeAwareHandler`) to the kubelet (`pkg/kubelet/server/
//   server.go` getExec) and on to the container runtime's streaming server (containerd's
//   copy of `k8s.io/kubelet/pkg/cri/streaming/remotecommand`, protocol v4): a kubelet refusal is
//   the kubelet's plain-text answer with its own code (500 `container not found ("c")`), and a
//   non-zero exit is the runtime's wording (`ServeExec` around containerd's `CodeExitError`):
//   "command terminated with non-zero exit code: error executing command [a b], exit code N".
//
// Before either, as real (`ConnectResource`, `ExecREST.Connect`, `pod.ExecLocation`): the
// authorization filter with the verb of the method (`get` for the WebSocket GET, `create` for
// POST) on `pods/exec`; since 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, on by default)
// a second check for `create` (`pkg/registry/core/pod/rest/authorize.go`), whose 403 is
// `NewForbidden(pods, name, errors.New(reason))` with the authorizer's reason, which RBAC leaves
// empty: `pods "x" is forbidden: ` (nothing after the colon); then the pod (404), the container
// (400 `container c is not valid for pod x`, or the "a container name must be specified" ones),
// `spec.nodeName` (400 `pod x does not have a host assigned`) and the Node (404). The phase of
// the pod is not checked by the API server; the kubelet only execs in a *running* container, and
// the fake takes that from `status.*ContainerStatuses[].state.running`.
//
// Frames are binary, first byte the channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize).
// The server first sends an empty message on the lowest output channel (stdout, else stderr,
// else status), then the output, then on channel 3 the `metav1.Status` as Go's `json.Marshal`
// writes it (`{"metadata":{},"status":"Success"}`), then a WebSocket close frame.
//
// Fake limitations: the command does not read stdin (frames on channels 0 and 4, and the v5
// close signal on 255, are read and dropped), its whole output is known before it starts, and
// stdout is sent before stderr; SPDY (`Upgrade: SPDY/3.1`, what old kubectl POSTs) and the
// pre-v4 WebSocket protocols (`channel.k8s.io`, `base64.channel.k8s.io`,
// `v4.base64.channel.k8s.io`, or none) answer 400 with a message naming the fake; the kubelet is
// never unreachable.

const STREAM_V5: &str = "v5.channel.k8s.io";
const STREAM_V4: &str = "v4.channel.k8s.io";

/// A `pods/exec` session to play over the upgraded connection.
struct ExecSession {
    /// The subprotocol echoed in `Sec-WebSocket-Protocol`.
    protocol: &'static str,
    /// Binary messages, channel byte first; the last one is the Status on channel 3.
    frames: Vec<Vec<u8>>,
}

/// `PodExecOptions` as the API server decodes them from the query.
struct ExecOptions {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    container: String,
    command: Vec<String>,
}

impl ExecOptions {
    fn parse(req: &Req) -> ExecOptions {
        // `Convert_Slice_string_To_bool`: absent is false, "0" and "false" (any case) are
        // false, anything else (even an empty value) is true.
        let flag = |name: &str| {
            req.param(name)
                .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
        };
        ExecOptions {
            stdin: flag("stdin"),
            stdout: flag("stdout"),
            stderr: flag("stderr"),
            tty: flag("tty"),
            container: req.param("container").unwrap_or("").to_string(),
            command: req
                .params("command")
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }

    /// The kubelet drops stderr with a TTY (`remotecommand.NewOptions`): it goes to stdout.
    fn stderr_stream(&self) -> bool {
        self.stderr && !self.tty
    }
}

/// `Sec-WebSocket-Protocol` as the API server reads it (`Header.Get`: the first header only).
fn offered_protocols(req: &Req) -> Vec<String> {
    req.header("sec-websocket-protocol")
        .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

/// `httpstream.IsUpgradeRequest`: a `Connection` header naming `upgrade`.
fn is_upgrade_request(req: &Req) -> bool {
    req.headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
}

fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `validateContainer` of `pkg/registry/core/pod/strategy.go`.
fn exec_container(pod: &Value, name: &str, container: &str) -> Result<String, Reply> {
    let containers = container_names(pod, "containers");
    // podutil.VisitContainers order: init containers, containers, ephemeral containers.
    let all: Vec<String> = container_names(pod, "initContainers")
        .into_iter()
        .chain(containers.iter().cloned())
        .chain(container_names(pod, "ephemeralContainers"))
        .collect();
    if !container.is_empty() {
        return if all.iter().any(|c| c == container) {
            Ok(container.to_string())
        } else {
            Err(bad_request(&format!(
                "container {container} is not valid for pod {name}"
            )))
        };
    }
    match containers.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(bad_request(&format!(
            "a container name must be specified for pod {name}"
        ))),
        _ => Err(bad_request(&format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// Whether the pod status shows the container running (what the kubelet's runtime has).
fn container_running(pod: &Value, container: &str) -> bool {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|list| {
        pod.pointer(&format!("/status/{list}"))
            .and_then(Value::as_array)
    })
    .flatten()
    .any(|cs| {
        cs.get("name").and_then(Value::as_str) == Some(container)
            && cs.pointer("/state/running").is_some()
    })
}

/// What the kubelet answers instead of starting the command (`getExec`: `NewOptions`, then
/// `GetExec`, whose error `streaming.WriteError` sends as plain text, 500 for a plain error).
fn kubelet_refusal(pod: &Value, container: &str, opts: &ExecOptions) -> Option<(u16, String)> {
    if !opts.stdin && !opts.stdout && !opts.stderr_stream() {
        return Some((
            400,
            "you must specify at least 1 of stdin, stdout, stderr".to_string(),
        ));
    }
    if !container_running(pod, container) {
        return Some((500, format!("container not found ({container:?})")));
    }
    None
}

/// A string as Go's `json.Marshal` writes it (it escapes `<`, `>`, `&`, U+2028 and U+2029).
fn go_json_string(s: &str) -> String {
    serde_json::to_string(s)
        .expect("string")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The Status of a command that ran: `{"metadata":{},"status":"Success"}`, or the
/// NonZeroExitCode failure with `message`.
fn exit_status(exit_code: i32, message: &str) -> String {
    if exit_code == 0 {
        return r#"{"metadata":{},"status":"Success"}"#.to_string();
    }
    format!(
        r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{exit_code}"}}]}}}}"#,
        go_json_string(message)
    )
}

/// `apierrors.NewInternalError(err)` as JSON.
fn internal_error_status(err: &str) -> String {
    format!(
        r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"InternalError","details":{{"causes":[{{"message":{}}}]}},"code":500}}"#,
        go_json_string(&format!("Internal error occurred: {err}")),
        go_json_string(err)
    )
}

fn exec_frames(opts: &ExecOptions, output: Option<&ExecReply>, status: &str) -> Vec<Vec<u8>> {
    fn push(frames: &mut Vec<Vec<u8>>, channel: u8, data: &[u8]) {
        // io.Copy's 32 KiB buffer.
        for chunk in data.chunks(32 * 1024) {
            let mut frame = Vec::with_capacity(chunk.len() + 1);
            frame.push(channel);
            frame.extend_from_slice(chunk);
            frames.push(frame);
        }
    }
    let first = if opts.stdout {
        1
    } else if opts.stderr_stream() {
        2
    } else {
        3
    };
    let mut frames = vec![vec![first]];
    if let Some(out) = output {
        if opts.tty {
            // One terminal for both; its line discipline (ONLCR) turns "\n" into "\r\n".
            if opts.stdout {
                let text = format!("{}{}", out.stdout, out.stderr).replace('\n', "\r\n");
                push(&mut frames, 1, text.as_bytes());
            }
        } else {
            if opts.stdout {
                push(&mut frames, 1, out.stdout.as_bytes());
            }
            if opts.stderr_stream() {
                push(&mut frames, 2, out.stderr.as_bytes());
            }
        }
    }
    push(&mut frames, 3, status.as_bytes());
    frames
}

/// The 101 that switches to the session.
fn session_reply(protocol: &'static str, frames: Vec<Vec<u8>>) -> Reply {
    Reply {
        code: 101,
        content_type: String::new(),
        body: Vec::new(),
        headers: Vec::new(),
        session: Some(ExecSession { protocol, frames }),
    }
}

/// A plain-text answer as Go's `http.ResponseWriter` sends it (no trailing newline).
fn plain_reply(code: u16, text: &str) -> Reply {
    Reply {
        code,
        content_type: "text/plain; charset=utf-8".into(),
        body: text.as_bytes().to_vec(),
        headers: Vec::new(),
        session: None,
    }
}

/// `golang.org/x/net/websocket`'s refusal of an upgrade request that is not a valid handshake.
fn websocket_handshake_refusal(req: &Req) -> Reply {
    if req.method != "GET" {
        plain_reply(405, "bad method")
    } else if req.header("sec-websocket-key").is_none() {
        plain_reply(400, "mismatch challenge/response")
    } else {
        plain_reply(400, "")
    }
}

impl Inner {
    /// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec`.
    fn exec(&mut self, req: &Req, ns: &str, name: &str) -> Reply {
        let pods = find_def("", "v1", "pods").expect("pods");
        let def = &RESOURCES[pods];
        // The authorization filter: the verb of the method, on the subresource.
        let verb = rbac_verb(&req.method, true, false);
        if self.is_forbidden(verb, "", "pods/exec", ns) {
            return forbidden(&req.user, verb, "", "pods", Some("exec"), ns, Some(name));
        }
        if req.method != "GET" && req.method != "POST" {
            return method_not_allowed();
        }
        // ExecREST.Connect: `create` is required whatever the method (since 1.35).
        if verb != "create" && self.is_forbidden("create", "", "pods/exec", ns) {
            return Reply::status(
                403,
                "Forbidden",
                &format!("pods \"{name}\" is forbidden: "),
                Some(details(name, def)),
            );
        }
        let opts = ExecOptions::parse(req);
        let Some(pod) = self.store.current(pods, &format!("{ns}/{name}")).cloned() else {
            return not_found(def, name);
        };
        let container = match exec_container(&pod, name, &opts.container) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        let node = meta_node_name(&pod);
        if node.is_empty() {
            return bad_request(&format!("pod {name} does not have a host assigned"));
        }
        let nodes = find_def("", "v1", "nodes").expect("nodes");
        if self.store.current(nodes, &node).is_none() {
            return not_found(&RESOURCES[nodes], &node);
        }
        let websocket_headers = is_upgrade_request(req)
            && req
                .header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let offered = offered_protocols(req);
        let exec = ExecRequest {
            namespace: ns.to_string(),
            pod: name.to_string(),
            container: container.clone(),
            command: opts.command.clone(),
        };
        if websocket_headers && offered.iter().any(|p| p == STREAM_V5) {
            // The stream translator: upgrade first, then the kubelet over SPDY.
            if !req.websocket {
                return websocket_handshake_refusal(req);
            }
            if let Some((_, text)) = kubelet_refusal(&pod, &container, &opts) {
                let status =
                    internal_error_status(&format!("unable to upgrade connection: {text}"));
                return session_reply(STREAM_V5, exec_frames(&opts, None, &status));
            }
            let out = self.run_exec(exec);
            let status = exit_status(
                out.exit_code,
                &format!(
                    "command terminated with non-zero exit code: command terminated with exit code {}",
                    out.exit_code
                ),
            );
            return session_reply(STREAM_V5, exec_frames(&opts, Some(&out), &status));
        }
        // The UpgradeAwareHandler, proxying to the kubelet.
        if !is_upgrade_request(req) {
            return bad_request("Upgrade request required");
        }
        if let Some((code, text)) = kubelet_refusal(&pod, &container, &opts) {
            return plain_reply(code, &text);
        }
        if !websocket_headers {
            return bad_request(
                "fake API: only WebSocket exec (v5.channel.k8s.io, v4.channel.k8s.io) is implemented, not SPDY",
            );
        }
        if !req.websocket {
            return websocket_handshake_refusal(req);
        }
        if !offered.iter().any(|p| p == STREAM_V4) {
            const OTHERS: &[&str] = &[
                "",
                "channel.k8s.io",
                "base64.channel.k8s.io",
                "v4.base64.channel.k8s.io",
            ];
            if offered.is_empty() || offered.iter().any(|p| OTHERS.contains(&p.as_str())) {
                return bad_request(&format!(
                    "fake API: exec subprotocols {offered:?} are not implemented, only v5.channel.k8s.io and v4.channel.k8s.io"
                ));
            }
            // x/net/websocket: a failed subprotocol negotiation is a bare 403.
            return plain_reply(403, "");
        }
        let out = self.run_exec(exec);
        let status = exit_status(
            out.exit_code,
            &format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {}",
                opts.command.join(" "),
                out.exit_code
            ),
        );
        session_reply(STREAM_V4, exec_frames(&opts, Some(&out), &status))
    }

    /// Runs the command: the test's handler (with the store), logged in `execs`.
    fn run_exec(&mut self, exec: ExecRequest) -> ExecReply {
        let out = match self.exec_handler.clone() {
            Some(handler) => handler(&exec, &mut self.store),
            None => ExecReply::default(),
        };
        self.execs.push(exec);
        out
    }
}

fn meta_node_name(pod: &Value) -> String {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Plays an exec session, then ends it as the API server does: a close frame, then waiting
/// (bounded) for the client to close; whatever the client still sends is dropped.
async fn play_exec(mut socket: WebSocket, frames: Vec<Vec<u8>>) {
    for frame in frames {
        if socket.send(Message::Binary(frame.into())).await.is_err() {
            return;
        }
    }
    let close = CloseFrame {
        code: close_code::NORMAL,
        reason: "".into(),
    };
    if socket.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

// =====================================================================================
// Watch
// =====================================================================================

struct WatchPlan {
    ri: usize,
    prefix: String,
    sel: Selectors,
    from_rv: u64,
    initial: Vec<Value>,
    deadline: Instant,
}

async fn watch(shared: &Arc<Shared>, req: &Req) -> Reply {
    let plan = match shared.lock().watch_plan(req) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let mut events = plan.initial.clone();
    let mut from = plan.from_rv;
    loop {
        {
            let inner = shared.lock();
            let (more, upto) = inner.watch_events(&plan, from);
            events.extend(more);
            from = upto;
        }
        if !events.is_empty() || Instant::now() >= plan.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut body = Vec::new();
    for e in &events {
        body.extend(serde_json::to_vec(e).expect("event"));
        body.push(b'\n');
    }
    Reply {
        code: 200,
        content_type: "application/json".into(),
        body,
        headers: Vec::new(),
        session: None,
    }
}

impl Inner {
    fn watch_plan(&self, req: &Req) -> Result<WatchPlan, Reply> {
        if let Some(code) = self.status_for_all {
            return Err(status_for_code(code));
        }
        let Target::Resource {
            group,
            version,
            namespace,
            plural,
            name,
            sub,
        } = parse_target(&req.path)
        else {
            return Err(not_found_handler());
        };
        let ns = namespace.unwrap_or("");
        if self.is_forbidden("watch", group, plural, ns) {
            return Err(forbidden(&req.user, "watch", group, plural, sub, ns, name));
        }
        if group == "metrics.k8s.io" {
            return Err(match self.metrics {
                MetricsMode::NotFound => not_found_handler(),
                MetricsMode::Unavailable => Reply::text(503, "service unavailable"),
                MetricsMode::Served => method_not_allowed(),
            });
        }
        let Some(ri) = find_def(group, version, plural) else {
            return Err(route_not_found());
        };
        let def = &RESOURCES[ri];
        if name.is_some()
            || sub.is_some()
            || !def.has_verb("watch")
            || (namespace.is_some() && !def.namespaced)
        {
            return Err(route_not_found());
        }
        let sel = Selectors::parse(req, def)?;
        let prefix = namespace.map(|n| format!("{n}/")).unwrap_or_default();
        let timeout = req
            .param("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(30)
            .min(30);
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let rv_param = req.param("resourceVersion").unwrap_or("");
        let send_initial = req.param("sendInitialEvents") == Some("true");
        let current = self.store.rv;
        let mut initial = Vec::new();
        let from_rv = if rv_param.is_empty() || rv_param == "0" || send_initial {
            for (key, _) in self.store.keys_from(ri, &prefix, "") {
                if let Some(obj) = self.store.current(ri, key)
                    && sel.matches(def, obj)
                {
                    initial.push(json!({"type": "ADDED", "object": Store::with_type(ri, obj)}));
                }
            }
            if send_initial && req.param("allowWatchBookmarks") == Some("true") {
                initial.push(json!({"type": "BOOKMARK", "object": {
                    "kind": def.kind, "apiVersion": def.api_version(),
                    "metadata": {"resourceVersion": current.to_string(),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}));
            }
            current
        } else {
            let Ok(rv) = rv_param.parse::<u64>() else {
                return Err(bad_request(&format!(
                    "invalid resource version: strconv.ParseUint: parsing {rv_param:?}: invalid syntax"
                )));
            };
            if rv < self.store.compacted {
                let status = status_value(
                    410,
                    "Expired",
                    &format!("too old resource version: {rv} ({})", self.store.compacted),
                    None,
                );
                let mut body =
                    serde_json::to_vec(&json!({"type": "ERROR", "object": status})).expect("event");
                body.push(b'\n');
                return Err(Reply {
                    code: 200,
                    content_type: "application/json".into(),
                    body,
                    headers: Vec::new(),
                    session: None,
                });
            }
            rv
        };
        Ok(WatchPlan {
            ri,
            prefix,
            sel,
            from_rv,
            initial,
            deadline,
        })
    }

    /// Events after `from` (from the MVCC history), and the revision they go up to.
    fn watch_events(&self, plan: &WatchPlan, from: u64) -> (Vec<Value>, u64) {
        let def = &RESOURCES[plan.ri];
        let upto = self.store.rv;
        let mut events: Vec<(u64, Value)> = Vec::new();
        for (_, history) in self.store.keys_from(plan.ri, &plan.prefix, "") {
            for (i, v) in history.iter().enumerate() {
                if v.rv <= from || v.rv > upto {
                    continue;
                }
                let prev = if i > 0 {
                    history[i - 1].obj.as_ref()
                } else {
                    None
                };
                let old_match = prev.is_some_and(|p| plan.sel.matches(def, p));
                let new_match = v.obj.as_ref().is_some_and(|o| plan.sel.matches(def, o));
                let (kind, obj) = match (old_match, new_match) {
                    (_, true) if prev.is_some() && old_match => ("MODIFIED", v.obj.clone()),
                    (_, true) => ("ADDED", v.obj.clone()),
                    (true, false) => {
                        let mut o = prev.cloned().expect("previous object");
                        meta_mut(&mut o).insert("resourceVersion".into(), json!(v.rv.to_string()));
                        ("DELETED", Some(o))
                    }
                    (false, false) => continue,
                };
                let obj = obj.expect("object");
                events.push((
                    v.rv,
                    json!({"type": kind, "object": Store::with_type(plan.ri, &obj)}),
                ));
            }
        }
        events.sort_by_key(|(rv, _)| *rv);
        (events.into_iter().map(|(_, e)| e).collect(), upto)
    }
}

// =====================================================================================
// Discovery
// =====================================================================================

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Content negotiation for discovery: the first media range of the Accept header the server
/// can serve decides (aggregated v2, or the legacy JSON form).
fn wants_aggregated(req: &Req) -> bool {
    let Some(accept) = req.header("accept") else {
        return false;
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        if media == "application/json" && param("as") == Some("APIGroupDiscoveryList") {
            if param("g") == Some("apidiscovery.k8s.io") && param("v") == Some("v2") {
                return true;
            }
            continue; // v2beta1 is no longer served
        }
        if matches!(media, "application/json" | "application/*" | "*/*") {
            return false;
        }
    }
    false
}

fn aggregated_reply(items: Vec<Value>) -> Reply {
    let mut reply = Reply::json(
        200,
        &json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }),
    );
    reply.content_type = AGGREGATED_V2.into();
    reply.with_header("Vary", "Accept")
}

fn version_info() -> Reply {
    Reply::json(
        200,
        &json!({
            "major": "1",
            "minor": "36",
            "emulationMajor": "1",
            "emulationMinor": "36",
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": "35",
            "gitVersion": "v1.36.2",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-10-01T00:00:00Z",
            "goVersion": "go1.25.3",
            "compiler": "gc",
            "platform": "linux/amd64"
        }),
    )
}

fn gv_of(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn sub_kind(def: &ResDef, sub: &str) -> (String, String, String, Vec<&'static str>) {
    match sub {
        "scale" => (
            "autoscaling".into(),
            "v1".into(),
            "Scale".into(),
            vec!["get", "patch", "update"],
        ),
        "log" => (String::new(), "v1".into(), "Pod".into(), vec!["get"]),
        "exec" => (
            String::new(),
            "v1".into(),
            "PodExecOptions".into(),
            vec!["create", "get"],
        ),
        "proxy" => (
            String::new(),
            "v1".into(),
            "NodeProxyOptions".into(),
            vec!["create", "delete", "get", "patch", "update"],
        ),
        "finalize" => (String::new(), "v1".into(), def.kind.into(), vec!["update"]),
        _ => (
            def.group.into(),
            def.version.into(),
            def.kind.into(),
            vec!["get", "patch", "update"],
        ),
    }
}

fn resource_list(group: &str, version: &str) -> Reply {
    let mut resources = Vec::new();
    for def in RESOURCES
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let mut r = Map::new();
        r.insert("name".into(), json!(def.plural));
        r.insert("singularName".into(), json!(def.singular));
        r.insert("namespaced".into(), json!(def.namespaced));
        r.insert("kind".into(), json!(def.kind));
        r.insert("verbs".into(), json!(def.verbs));
        if !def.short_names.is_empty() {
            r.insert("shortNames".into(), json!(def.short_names));
        }
        if !def.categories.is_empty() {
            r.insert("categories".into(), json!(def.categories));
        }
        resources.push(Value::Object(r));
        for sub in def.subresources {
            let (g, v, kind, verbs) = sub_kind(def, sub);
            let mut s = Map::new();
            s.insert("name".into(), json!(format!("{}/{sub}", def.plural)));
            s.insert("singularName".into(), json!(""));
            s.insert("namespaced".into(), json!(def.namespaced));
            if g != def.group || v != def.version {
                s.insert("group".into(), json!(g));
                s.insert("version".into(), json!(v));
            }
            s.insert("kind".into(), json!(kind));
            s.insert("verbs".into(), json!(verbs));
            resources.push(Value::Object(s));
        }
    }
    let mut list = Map::new();
    list.insert("kind".into(), json!("APIResourceList"));
    if !group.is_empty() {
        list.insert("apiVersion".into(), json!("v1"));
    }
    list.insert("groupVersion".into(), json!(gv_of(group, version)));
    list.insert("resources".into(), Value::Array(resources));
    Reply::json(200, &Value::Object(list))
}

fn aggregated_group(group: &str, stale: bool) -> Value {
    let version = RESOURCES
        .iter()
        .find(|d| d.group == group)
        .map_or("v1", |d| d.version);
    let mut resources = Vec::new();
    if !stale {
        for def in RESOURCES.iter().filter(|d| d.group == group) {
            let mut r = Map::new();
            r.insert("resource".into(), json!(def.plural));
            r.insert(
                "responseKind".into(),
                json!({"group": def.group, "version": def.version, "kind": def.kind}),
            );
            r.insert(
                "scope".into(),
                json!(if def.namespaced {
                    "Namespaced"
                } else {
                    "Cluster"
                }),
            );
            r.insert("singularResource".into(), json!(def.singular));
            r.insert("verbs".into(), json!(def.verbs));
            if !def.short_names.is_empty() {
                r.insert("shortNames".into(), json!(def.short_names));
            }
            if !def.categories.is_empty() {
                r.insert("categories".into(), json!(def.categories));
            }
            let subs: Vec<Value> = def
                .subresources
                .iter()
                .map(|sub| {
                    let (g, v, kind, verbs) = sub_kind(def, sub);
                    json!({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": kind}, "verbs": verbs})
                })
                .collect();
            if !subs.is_empty() {
                r.insert("subresources".into(), Value::Array(subs));
            }
            resources.push(Value::Object(r));
        }
    }
    let mut v = Map::new();
    v.insert("version".into(), json!(version));
    if !resources.is_empty() {
        v.insert("resources".into(), Value::Array(resources));
    }
    v.insert(
        "freshness".into(),
        json!(if stale { "Stale" } else { "Current" }),
    );
    let metadata = if group.is_empty() {
        json!({})
    } else {
        json!({"name": group})
    };
    json!({"metadata": metadata, "versions": [Value::Object(v)]})
}

fn discovery_api(req: &Req) -> Reply {
    if wants_aggregated(req) {
        return aggregated_reply(vec![aggregated_group("", false)]);
    }
    Reply::json(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.10:6443"}]
        }),
    )
    .with_header("Vary", "Accept")
}

fn served_groups(metrics: MetricsMode) -> Vec<&'static str> {
    GROUP_ORDER
        .iter()
        .copied()
        .filter(|g| *g != "metrics.k8s.io" || metrics != MetricsMode::NotFound)
        .collect()
}

fn api_group_value(group: &str) -> Option<Value> {
    let def = RESOURCES
        .iter()
        .find(|d| d.group == group && !group.is_empty())?;
    let gv = json!({"groupVersion": gv_of(group, def.version), "version": def.version});
    Some(json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [gv.clone()],
        "preferredVersion": gv,
    }))
}

fn discovery_apis(req: &Req, metrics: MetricsMode) -> Reply {
    let groups = served_groups(metrics);
    if wants_aggregated(req) {
        return aggregated_reply(
            groups
                .iter()
                .map(|g| {
                    aggregated_group(
                        g,
                        *g == "metrics.k8s.io" && metrics == MetricsMode::Unavailable,
                    )
                })
                .collect(),
        );
    }
    let list: Vec<Value> = groups
        .iter()
        .filter_map(|g| api_group_value(g))
        .map(|mut g| {
            let m = g.as_object_mut().expect("object");
            m.remove("kind");
            m.remove("apiVersion");
            g
        })
        .collect();
    Reply::json(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
    )
    .with_header("Vary", "Accept")
}

// =====================================================================================
// Small utilities
// =====================================================================================

fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")?.get(field)?.as_str()
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let m = v.as_object_mut().expect("object");
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("object")
}

/// Decodes `a=b&c=d` (percent-encoding and `+`).
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for (i, c) in s.bytes().enumerate() {
        let v = B64
            .iter()
            .position(|b| *b == c)
            .ok_or_else(|| format!("illegal base64 data at input byte {i}"))?
            as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if s.len() % 4 == 1 {
        return Err(format!("illegal base64 data at input byte {}", s.len() - 1));
    }
    Ok(out)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_rfc3339() -> String {
    rfc3339(now_secs())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut s = String::new();
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    s
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
