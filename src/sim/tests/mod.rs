//! The simulation's tests, and the builders they share (small clusters of 2–3 nodes, worked
//! by hand; the reference captures; the search limit on big clusters).

mod conversion;
mod filters;
mod messages;
mod orders;
mod reference;
mod scoring;

use super::*;
use std::collections::BTreeMap;

pub(super) const NS: &str = "default";

/// The PostFilter text before the preemption histogram, for a pod without claims.
pub(super) const POST: &str = " no new claims to deallocate, preemption: ";

pub(super) fn mi(n: i64) -> i64 {
    n << 20
}

pub(super) fn gi(n: i64) -> i64 {
    n << 30
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A Ready node with 110 pods allocatable.
pub(super) fn node(name: &str, cpu: i64, memory: i64) -> SimNode {
    SimNode::new(name, cpu, memory, 110)
}

pub(super) fn labelled(mut n: SimNode, pairs: &[(&str, &str)]) -> SimNode {
    n.labels.extend(labels(pairs));
    n
}

pub(super) fn tainted(mut n: SimNode, key: &str, value: &str, effect: &str) -> SimNode {
    n.taints.push(Taint::new(key, value, effect));
    n
}

/// A pod bound to a node, with explicit requests (its non-zero requests are the same).
pub(super) fn resident(name: &str, cpu: i64, memory: i64, pairs: &[(&str, &str)]) -> Resident {
    let requests = Resources {
        cpu,
        memory,
        ephemeral_storage: 0,
        pods: 1,
    };
    Resident {
        namespace: NS.into(),
        name: name.into(),
        labels: labels(pairs),
        priority: 0,
        requests,
        nonzero: requests,
        host_ports: Vec::new(),
    }
}

pub(super) fn with(mut n: SimNode, residents: Vec<Resident>) -> SimNode {
    for r in residents {
        n.add_pod(r);
    }
    n
}

/// A pod in [`NS`] with explicit requests.
pub(super) fn pod(name: &str, cpu: i64, memory: i64) -> SimPod {
    SimPod::new(NS, name, cpu, memory)
}

pub(super) fn cluster(nodes: Vec<SimNode>) -> Cluster {
    Cluster::new(nodes, Catalog::default())
}

/// Where each pod went in the queue order: a node name, or `!` and the message.
pub(super) fn place(cluster: &Cluster, pods: &[SimPod]) -> Vec<String> {
    simulate(cluster, pods)
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Placed { node } => node.clone(),
            Outcome::Unschedulable { message, .. } => format!("!{message}"),
            Outcome::Blocked { by } => format!("blocked by {by}"),
        })
        .collect()
}

/// The message for one pod that must not fit.
pub(super) fn fail(cluster: &Cluster, pod: SimPod) -> String {
    let run = simulate(cluster, &[pod]);
    match &run.outcomes[0] {
        Outcome::Unschedulable { message, .. } => message.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A typed object from JSON.
pub(super) fn object<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

pub(super) fn storage_class(
    name: &str,
    mode: &str,
    provisioner: &str,
) -> k8s_openapi::api::storage::v1::StorageClass {
    object(serde_json::json!({
        "metadata": {"name": name},
        "provisioner": provisioner,
        "volumeBindingMode": mode,
    }))
}

/// A claim of 1Gi, ReadWriteOnce; `class` `None` leaves `storageClassName` unset.
pub(super) fn claim(
    name: &str,
    class: Option<&str>,
) -> k8s_openapi::api::core::v1::PersistentVolumeClaim {
    let mut spec = serde_json::json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    });
    if let Some(c) = class {
        spec["storageClassName"] = c.into();
    }
    object(serde_json::json!({"metadata": {"name": name, "namespace": NS}, "spec": spec}))
}

/// A claim bound to `volume`.
pub(super) fn bound_claim(
    name: &str,
    volume: &str,
) -> k8s_openapi::api::core::v1::PersistentVolumeClaim {
    object(serde_json::json!({
        "metadata": {"name": name, "namespace": NS,
                     "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": volume,
                 "storageClassName": "local",
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound"},
    }))
}

/// An Available local PV of class `local` pinned to `host`.
pub(super) fn local_volume(
    name: &str,
    size: &str,
    host: &str,
) -> k8s_openapi::api::core::v1::PersistentVolume {
    object(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "local",
            "local": {"path": "/mnt/disk"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}]}},
        },
        "status": {"phase": "Available"},
    }))
}

/// A pod using the claims, resolved in `catalog`.
pub(super) fn pod_with_claims(name: &str, claims: &[&str], catalog: &Catalog) -> SimPod {
    let mut p = pod(name, 100, mi(100));
    p.claims = claims
        .iter()
        .map(|c| PodClaim {
            name: (*c).to_string(),
            state: catalog.claim_state(NS, c),
        })
        .collect();
    p
}

/// The PV bound to the claim `claim` (phase Bound, with a claimRef).
pub(super) fn claimed(
    mut pv: k8s_openapi::api::core::v1::PersistentVolume,
    claim: &str,
) -> k8s_openapi::api::core::v1::PersistentVolume {
    pv.spec.get_or_insert_with(Default::default).claim_ref =
        Some(object(serde_json::json!({"namespace": NS, "name": claim})));
    pv.status.get_or_insert_with(Default::default).phase = Some("Bound".into());
    pv
}
