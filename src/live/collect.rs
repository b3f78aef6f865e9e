//! Collecting a snapshot: one paginated LIST per kind, concurrently, under a deadline.

use super::Unreachable;
use super::connect::{Connection, chain};
use crate::snapshot::{Kind, NodeMetrics, Snapshot};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// Namespace for namespaced kinds; `None` lists all namespaces. Pods are always listed in
    /// all namespaces: node memory accounting needs every pod on a node.
    pub namespace: Option<String>,
    /// Items per page (`limit`).
    pub page_size: u32,
}

/// What happened when listing one kind.
#[derive(Clone, Debug)]
pub struct KindStat {
    pub kind: Kind,
    pub count: usize,
    pub pages: usize,
    pub elapsed: Duration,
    /// Why the kind could not be read (forbidden, metrics unavailable, …).
    pub unavailable: Option<String>,
}

/// How one LIST can fail.
enum ListError {
    /// The kind cannot be read, but the run goes on (403, metrics 404/503).
    Unavailable(String),
    /// The server cannot be reached or refuses us: stop, exit 3.
    Fatal(String),
}

/// The objects of one kind and the number of pages they took.
type Listed = Result<(Vec<serde_json::Value>, usize), ListError>;

/// Adds one kind's objects to the snapshot (an empty metrics list still means "served").
fn store(snap: &mut Snapshot, kind: Kind, values: Vec<serde_json::Value>) -> Result<(), String> {
    if kind == Kind::NodeMetrics {
        snap.node_metrics.get_or_insert_default();
    }
    for v in values {
        snap.insert_json(kind.name(), v)?;
    }
    Ok(())
}

/// Reads every kind the rules use.
pub async fn collect(
    conn: &Connection,
    opts: &CollectOptions,
) -> Result<(Snapshot, Vec<KindStat>), Unreachable> {
    let mut tasks: JoinSet<(Kind, KindResult, Duration)> = JoinSet::new();
    for kind in Kind::ALL {
        let conn = conn.clone();
        let opts = opts.clone();
        tasks.spawn(async move {
            let start = Instant::now();
            let res = list_kind(&conn, kind, &opts).await;
            (kind, res, start.elapsed())
        });
    }
    let mut snap = Snapshot::default();
    let mut stats = Vec::new();
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (kind, res, elapsed) = joined.map_err(|e| Unreachable {
            message: format!("internal error: {e}"),
        })?;
        results.push((kind, res, elapsed));
    }
    results.sort_by_key(|r| r.0);
    for (kind, res, elapsed) in results {
        match res {
            Ok((items, pages, note)) => {
                let count = items.len();
                store(&mut snap, kind, items).map_err(|e| Unreachable {
                    message: format!(
                        "{} answered a {} list ttdoctor cannot read: {e}",
                        conn.server,
                        kind.name()
                    ),
                })?;
                snap.notes.extend(note);
                stats.push(KindStat {
                    kind,
                    count,
                    pages,
                    elapsed,
                    unavailable: None,
                });
            }
            Err(ListError::Unavailable(reason)) => {
                if kind != Kind::NodeMetrics {
                    snap.unavailable.insert(kind, reason.clone());
                }
                stats.push(KindStat {
                    kind,
                    count: 0,
                    pages: 0,
                    elapsed,
                    unavailable: Some(reason),
                });
            }
            Err(ListError::Fatal(message)) => {
                return Err(Unreachable {
                    message: format!(
                        "cannot read the cluster at {} (context {}): {message}",
                        conn.server, conn.context
                    ),
                });
            }
        }
    }
    Ok((snap, stats))
}

/// One kind's objects, pages, and a note when only part of it could be read.
type KindResult = Result<(Vec<serde_json::Value>, usize, Option<String>), ListError>;

async fn list_kind(conn: &Connection, kind: Kind, opts: &CollectOptions) -> KindResult {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
    use k8s_openapi::api::core::v1::{
        Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Service,
    };
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use k8s_openapi::api::storage::v1::StorageClass;
    let c = conn.client.clone();
    let ns = opts.namespace.as_deref();
    match kind {
        Kind::Node => paged(conn, kind, ns, Api::<Node>::all(c), opts).await,
        Kind::StorageClass => paged(conn, kind, ns, Api::<StorageClass>::all(c), opts).await,
        Kind::PersistentVolume => {
            paged(conn, kind, ns, Api::<PersistentVolume>::all(c), opts).await
        }
        Kind::Namespace => paged(conn, kind, ns, Api::<Namespace>::all(c), opts).await,
        Kind::Pod => return list_pods(conn, opts).await,
        Kind::PersistentVolumeClaim => {
            paged(conn, kind, ns, scoped::<PersistentVolumeClaim>(c, ns), opts).await
        }
        Kind::Service => paged(conn, kind, ns, scoped::<Service>(c, ns), opts).await,
        Kind::Endpoints => paged(conn, kind, ns, scoped::<Endpoints>(c, ns), opts).await,
        Kind::EndpointSlice => paged(conn, kind, ns, scoped::<EndpointSlice>(c, ns), opts).await,
        Kind::StatefulSet => paged(conn, kind, ns, scoped::<StatefulSet>(c, ns), opts).await,
        Kind::Deployment => paged(conn, kind, ns, scoped::<Deployment>(c, ns), opts).await,
        Kind::ReplicaSet => paged(conn, kind, ns, scoped::<ReplicaSet>(c, ns), opts).await,
        Kind::Event => paged(conn, kind, ns, scoped::<Event>(c, ns), opts).await,
        Kind::NodeMetrics => node_metrics(conn).await,
    }
    .map(|(items, pages)| (items, pages, None))
}

/// Pods in all namespaces (a node's memory is shared by every pod on it); with only
/// namespace-scoped RBAC, the namespace's pods and a note that node accounting is partial.
async fn list_pods(conn: &Connection, opts: &CollectOptions) -> KindResult {
    use k8s_openapi::api::core::v1::Pod;
    let c = conn.client.clone();
    match paged(conn, Kind::Pod, None, Api::<Pod>::all(c.clone()), opts).await {
        Ok((items, pages)) => Ok((items, pages, None)),
        Err(ListError::Unavailable(reason)) if opts.namespace.is_some() => {
            let ns = opts.namespace.as_deref();
            let (items, pages) = paged(conn, Kind::Pod, ns, scoped::<Pod>(c, ns), opts).await?;
            let note = format!(
                "{reason}; read namespace {} only: node memory requests do not count other namespaces' pods",
                ns.unwrap_or_default()
            );
            Ok((items, pages, Some(note)))
        }
        Err(e) => Err(e),
    }
}

fn scoped<K>(c: kube::Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(c, ns),
        None => Api::all(c),
    }
}

/// LIST with `limit`/`continue` until done. A 410 (the continue token expired because etcd
/// compacted) restarts this kind's list from the beginning, at most three times.
async fn paged<K>(
    conn: &Connection,
    kind: Kind,
    ns: Option<&str>,
    api: Api<K>,
    opts: &CollectOptions,
) -> Listed
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + serde::Serialize,
{
    let scope = if kind.namespaced() {
        match ns.filter(|_| kind != Kind::Pod) {
            Some(ns) => format!("in namespace {ns}"),
            None => "in all namespaces".to_string(),
        }
    } else {
        "at the cluster scope".to_string()
    };
    'restart: for _attempt in 0..3 {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(opts.page_size);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let res = tokio::time::timeout(conn.timeout, api.list(&lp)).await;
            pages += 1;
            let list = match res {
                Err(_) => {
                    return Err(ListError::Fatal(format!(
                        "no answer to LIST {} within {:?}",
                        kind.plural(),
                        conn.timeout
                    )));
                }
                Ok(Err(kube::Error::Api(s))) if s.code == 410 => continue 'restart,
                // The client's own read timeout (same deadline) fired first: say it the same way.
                Ok(Err(e)) if chain(&e).contains("timed out") => {
                    return Err(ListError::Fatal(format!(
                        "no answer to LIST {} within {:?}",
                        kind.plural(),
                        conn.timeout
                    )));
                }
                Ok(Err(e)) => return Err(classify(e, kind, &scope)),
                Ok(Ok(list)) => list,
            };
            for item in list.items {
                items.push(
                    serde_json::to_value(&item).map_err(|e| ListError::Fatal(e.to_string()))?,
                );
            }
            token = list.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok((items, pages));
            }
        }
    }
    Err(ListError::Fatal(format!(
        "LIST {} kept expiring (410 Gone) after 3 restarts",
        kind.plural()
    )))
}

fn classify(e: kube::Error, kind: Kind, scope: &str) -> ListError {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            ListError::Unavailable(format!("forbidden: cannot list {} {scope}", kind.plural()))
        }
        kube::Error::Api(s) if s.code == 401 => ListError::Fatal(format!(
            "unauthorized (401): the server rejected the credentials: {}",
            s.message
        )),
        kube::Error::Api(s) if s.code == 404 => ListError::Unavailable(format!(
            "not served by this API server: {} ({})",
            kind.plural(),
            s.message
        )),
        kube::Error::Api(s) => ListError::Fatal(format!(
            "LIST {} failed: {} {} {}",
            kind.plural(),
            s.code,
            s.reason,
            s.message
        )),
        // Credential errors can quote an exec plugin's command line and output: say what
        // failed without echoing them.
        kube::Error::Auth(_) => ListError::Fatal(
            "authentication failed while preparing credentials (token file, client certificate or exec plugin of the kubeconfig user)".into(),
        ),
        other => ListError::Fatal(chain(&other)),
    }
}

/// NodeMetrics from metrics.k8s.io; 404 (no metrics-server) or 503 (not ready) just means the
/// memory rules fall back to requests and limits.
async fn node_metrics(conn: &Connection) -> Listed {
    #[derive(serde::Deserialize)]
    struct List {
        #[serde(default)]
        items: Vec<NodeMetrics>,
    }
    let req = http::Request::get("/apis/metrics.k8s.io/v1beta1/nodes")
        .body(Vec::new())
        .map_err(|e| ListError::Fatal(e.to_string()))?;
    match tokio::time::timeout(conn.timeout, conn.client.request::<List>(req)).await {
        Err(_) => Err(ListError::Unavailable(format!(
            "metrics unavailable: no answer within {:?}",
            conn.timeout
        ))),
        Ok(Ok(list)) => Ok((
            list.items
                .into_iter()
                .map(|m| serde_json::to_value(m).expect("metrics serialize"))
                .collect(),
            1,
        )),
        Ok(Err(kube::Error::Api(s))) if matches!(s.code, 404 | 503 | 403) => {
            Err(ListError::Unavailable(format!(
                "metrics unavailable ({} {}): {}",
                s.code, s.reason, s.message
            )))
        }
        Ok(Err(kube::Error::Api(s))) => Err(ListError::Unavailable(format!(
            "metrics unavailable ({}): {}",
            s.code, s.message
        ))),
        Ok(Err(e)) => Err(ListError::Fatal(chain(&e))),
    }
}
