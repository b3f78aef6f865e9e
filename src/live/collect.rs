//! Collecting a snapshot: one paginated LIST per kind, concurrently, under a deadline. Each
//! page is decoded straight into the kind's type and stored; nothing is decoded twice.

use super::Unreachable;
use super::connect::{Connection, chain};
use crate::snapshot::{Kind, KindVisitor, Object, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::ListParams;
use kube::core::Request;
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
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

/// One kind's objects (in a snapshot of their own), its pages, and a note when only part of
/// it could be read.
type Listed = Result<(Snapshot, usize, Option<String>), ListError>;

/// Reads every kind the rules use.
pub async fn collect(
    conn: &Connection,
    opts: &CollectOptions,
) -> Result<(Snapshot, Vec<KindStat>), Unreachable> {
    let mut tasks: JoinSet<(Kind, Listed, Duration)> = JoinSet::new();
    // The Host is read on the machine itself (`crate::host`), not from the API server.
    for &kind in Kind::ALL.iter().filter(|k| !k.meta().local) {
        let conn = conn.clone();
        let opts = opts.clone();
        tasks.spawn(async move {
            let start = Instant::now();
            let res = list_kind(&conn, kind, &opts).await;
            (kind, res, start.elapsed())
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.map_err(|e| Unreachable {
            message: format!("internal error: {e}"),
        })?);
    }
    results.sort_by_key(|r| r.0);
    let mut snap = Snapshot::default();
    let mut stats = Vec::new();
    for (kind, res, elapsed) in results {
        let mut stat = KindStat {
            kind,
            count: 0,
            pages: 0,
            elapsed,
            unavailable: None,
        };
        match res {
            Ok((part, pages, note)) => {
                stat.count = part.count(kind);
                stat.pages = pages;
                snap.absorb(part);
                snap.read.insert(kind);
                snap.notes.extend(note);
            }
            Err(ListError::Unavailable(reason)) => {
                snap.unavailable.insert(kind, reason.clone());
                stat.unavailable = Some(reason);
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
        stats.push(stat);
    }
    Ok((snap, stats))
}

async fn list_kind(conn: &Connection, kind: Kind, opts: &CollectOptions) -> Listed {
    let res = if kind == Kind::Pod {
        list_pods(conn, opts).await
    } else {
        let ns = opts.namespace.as_deref().filter(|_| kind.namespaced());
        paged(conn, kind, ns, opts.page_size)
            .await
            .map(|(s, p)| (s, p, None))
    };
    // metrics.k8s.io is served by metrics-server through the aggregator: absent (404), not
    // ready (503) or slow, it only means the memory rules fall back to requests.
    match res {
        Err(ListError::Fatal(m)) if kind.meta().optional => {
            Err(ListError::Unavailable(format!("metrics unavailable: {m}")))
        }
        Err(ListError::Unavailable(m)) if kind.meta().optional => {
            Err(ListError::Unavailable(format!("metrics unavailable ({m})")))
        }
        other => other,
    }
}

/// Pods in all namespaces (a node's memory is shared by every pod on it); with only
/// namespace-scoped RBAC, the namespace's pods and a note that node accounting is partial.
async fn list_pods(conn: &Connection, opts: &CollectOptions) -> Listed {
    match paged(conn, Kind::Pod, None, opts.page_size).await {
        Ok((snap, pages)) => Ok((snap, pages, None)),
        Err(ListError::Unavailable(reason)) if opts.namespace.is_some() => {
            let ns = opts.namespace.as_deref();
            let (snap, pages) = paged(conn, Kind::Pod, ns, opts.page_size).await?;
            let note = format!(
                "{reason}; read namespace {} only: node memory requests do not count other namespaces' pods",
                ns.unwrap_or_default()
            );
            Ok((snap, pages, Some(note)))
        }
        Err(e) => Err(e),
    }
}

type Paged = Result<(Snapshot, usize), ListError>;

/// One page of a LIST, its items undecoded.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Box<RawValue>>,
}

/// LIST with `limit`/`continue` until done. A 410 (the continue token expired because etcd
/// compacted) restarts this kind's list from the beginning, at most three times.
fn paged<'a>(
    conn: &'a Connection,
    kind: Kind,
    ns: Option<&'a str>,
    page_size: u32,
) -> Pin<Box<dyn Future<Output = Paged> + Send + 'a>> {
    struct Pager<'a> {
        conn: &'a Connection,
        ns: Option<&'a str>,
        page_size: u32,
    }
    impl<'a> KindVisitor for Pager<'a> {
        type Output = Pin<Box<dyn Future<Output = Paged> + Send + 'a>>;
        fn visit<T: Object>(self) -> Self::Output {
            Box::pin(pages::<T>(self.conn, self.ns, self.page_size))
        }
    }
    kind.visit(Pager {
        conn,
        ns,
        page_size,
    })
}

async fn pages<T: Object>(conn: &Connection, ns: Option<&str>, page_size: u32) -> Paged {
    let kind = T::kind();
    let scope = match (kind.namespaced(), ns) {
        (false, _) => "at the cluster scope".to_string(),
        (true, Some(ns)) => format!("in namespace {ns}"),
        (true, None) => "in all namespaces".to_string(),
    };
    let request = Request::new(<T as kube::Resource>::url_path(&(), ns));
    let timeout = || {
        ListError::Fatal(format!(
            "no answer to LIST {} within {:?}",
            kind.plural(),
            conn.timeout
        ))
    };
    'restart: for _attempt in 0..3 {
        let mut snap = Snapshot::default();
        // An empty list still means the kind was read.
        snap.read.insert(kind);
        let mut pages = 0;
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(page_size);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let req = request
                .list(&lp)
                .map_err(|e| ListError::Fatal(e.to_string()))?;
            let res = tokio::time::timeout(conn.timeout, conn.client.request::<Page>(req)).await;
            pages += 1;
            let list = match res {
                Err(_) => return Err(timeout()),
                Ok(Err(kube::Error::Api(s))) if s.code == 410 => continue 'restart,
                // The client's own read timeout (same deadline) fired first: say it the same way.
                Ok(Err(e)) if chain(&e).contains("timed out") => return Err(timeout()),
                Ok(Err(e)) => return Err(classify(e, kind, &scope)),
                Ok(Ok(list)) => list,
            };
            // Items are kept as the server sent them (compact JSON, only their core decoded).
            for item in list.items {
                snap.insert_raw(kind, item.get().as_bytes().to_vec())
                    .map_err(|e| ListError::Fatal(format!("{} item: {e}", kind.name())))?;
            }
            token = list.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok((snap, pages));
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
        kube::Error::Api(s) if s.code == 404 || (kind.meta().optional && s.code == 503) => {
            ListError::Unavailable(format!(
                "{} {}: not served by this API server: {} ({})",
                s.code,
                s.reason,
                kind.plural(),
                s.message
            ))
        }
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
