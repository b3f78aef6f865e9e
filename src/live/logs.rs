//! Reading the tail of container logs through `pods/log`: only the logs the findings name,
//! a few at a time, each under the request timeout. A log that is forbidden, gone, or that
//! the kubelet does not serve in time is reported with the reason; the check goes on.

use super::connect::{Connection, chain};
use crate::model::LogRef;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use std::collections::{BTreeMap, BTreeSet};
use tokio::task::JoinSet;

/// Lines read from the end of a log.
pub const TAIL_LINES: i64 = 200;
/// Bytes read at most per log.
pub const LIMIT_BYTES: i64 = 64 * 1024;
/// Logs read at once.
const CONCURRENCY: usize = 4;

/// The tail of each wanted log, or why it could not be read.
pub async fn fetch(
    conn: &Connection,
    wanted: &BTreeSet<LogRef>,
) -> BTreeMap<LogRef, Result<String, String>> {
    let mut out = BTreeMap::new();
    let mut queue = wanted.iter().cloned();
    let mut tasks: JoinSet<(LogRef, Result<String, String>)> = JoinSet::new();
    loop {
        while tasks.len() < CONCURRENCY {
            let Some(log) = queue.next() else { break };
            let conn = conn.clone();
            tasks.spawn(async move {
                let r = one(&conn, &log).await;
                (log, r)
            });
        }
        match tasks.join_next().await {
            Some(Ok((log, r))) => {
                out.insert(log, r);
            }
            Some(Err(e)) => {
                // A task that panicked: nothing to record against a log.
                let _ = e;
            }
            None => break,
        }
    }
    out
}

async fn one(conn: &Connection, log: &LogRef) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &log.namespace);
    let params = LogParams {
        container: Some(log.container.clone()),
        previous: log.previous,
        tail_lines: Some(TAIL_LINES),
        limit_bytes: Some(LIMIT_BYTES),
        ..LogParams::default()
    };
    let silent = || format!("no answer within {:?}", conn.timeout);
    match tokio::time::timeout(conn.timeout, pods.logs(&log.pod, &params)).await {
        Err(_) => Err(silent()),
        Ok(Ok(text)) => Ok(text),
        // The client's own read timeout (same deadline) fired first: say it the same way.
        Ok(Err(e)) if chain(&e).contains("timed out") => Err(silent()),
        Ok(Err(kube::Error::Api(s))) if s.code == 403 => Err(format!("forbidden: {}", s.message)),
        Ok(Err(kube::Error::Api(s))) => Err(format!("{} {}", s.code, s.message)),
        Ok(Err(e)) => Err(chain(&e)),
    }
}
