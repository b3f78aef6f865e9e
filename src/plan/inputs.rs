//! What a plan simulates: the cluster as it is (without the release's own pods on a
//! re-install), the deployment's pods in the scheduler's form, and what each of them is
//! expected to use once running.

use crate::deploy::Model;
use crate::index::{Index, resources::pod_memory};
use crate::quantity::Quantity;
use crate::sim::{ClaimState, Cluster, SimPod};
use std::collections::{HashMap, HashSet};

/// One of the deployment's pods, beside its simulation form.
#[derive(Clone, Debug)]
pub struct NewPod {
    pub name: String,
    pub namespace: String,
    /// Its controller's kind and name.
    pub kind: &'static str,
    pub workload: String,
    /// Memory limit in bytes (0: none).
    pub memory_limit: i128,
    /// Bytes it is expected to use once running.
    pub expected: i128,
    /// Where `expected` comes from.
    pub basis: String,
}

/// The simulation's inputs.
pub struct Inputs {
    pub cluster: Cluster,
    pub pods: Vec<SimPod>,
    pub new: Vec<NewPod>,
    /// Indexes (into the snapshot's pods) of the release's own running pods, left out of the
    /// cluster: the install replaces them.
    pub replaced: HashSet<usize>,
    /// Memory each snapshot pod uses now (PodMetrics), by index, where measured.
    pub pod_usage: HashMap<usize, i128>,
}

/// The cluster and the model's pods, ready to simulate.
pub fn inputs(ix: &Index, model: &Model) -> Inputs {
    let replaced = release_pods(ix, model);
    let namespaces: std::collections::BTreeSet<String> = model
        .pods
        .iter()
        .filter_map(|mp| mp.pod.metadata.namespace.clone())
        .collect();
    let mut cluster = crate::sim::from_index_without(ix, &replaced, Some(&namespaces));
    add_model_objects(&mut cluster, model);
    let (pod_usage, measured) = measured_usage(ix);
    let mut pods = Vec::with_capacity(model.pods.len());
    let mut new = Vec::with_capacity(model.pods.len());
    for mp in &model.pods {
        let sim = crate::sim::SimPod::from_pod(&mp.pod, &cluster.catalog);
        let core = crate::deploy::core(&mp.pod);
        let (request, limit) = pod_memory(&core);
        let (expected, basis) = expected_usage(model, mp, request, &measured);
        new.push(NewPod {
            name: sim.name.clone(),
            namespace: sim.namespace.clone(),
            kind: mp.kind,
            workload: mp.workload.clone(),
            memory_limit: limit,
            expected,
            basis,
        });
        pods.push(sim);
    }
    Inputs {
        cluster,
        pods,
        new,
        replaced,
        pod_usage,
    }
}

/// Running pods of the release being installed (same namespace, same controller): a
/// re-install replaces them, so they must not be counted twice.
fn release_pods(ix: &Index, model: &Model) -> HashSet<usize> {
    let workloads: HashSet<(String, &str, &str)> = model
        .pods
        .iter()
        .map(|p| {
            let ns = p.pod.metadata.namespace.clone().unwrap_or_default();
            (ns, p.kind, p.workload.as_str())
        })
        .collect();
    let namespaces: HashSet<&str> = workloads.iter().map(|(ns, _, _)| ns.as_str()).collect();
    let mut out = HashSet::new();
    for ns in namespaces {
        for &i in ix.pods_in_namespace(ns) {
            let Some((kind, name)) = ix.top_owner(i) else {
                continue;
            };
            // A ReplicaSet the snapshot does not hold: its name is the Deployment's plus a hash.
            let (kind, name) = match (kind.as_str(), name.rsplit_once('-')) {
                ("ReplicaSet", Some((base, _))) if !ix.has(crate::snapshot::Kind::ReplicaSet) => {
                    ("Deployment".to_string(), base.to_string())
                }
                _ => (kind, name),
            };
            if workloads.contains(&(ns.to_string(), kind.as_str(), name.as_str())) {
                out.insert(i);
            }
        }
    }
    out
}

/// The model's claims, StatefulSets, ReplicaSets and Services join the catalog (its claims
/// only where no claim of that name exists: a re-install keeps the old ones).
fn add_model_objects(cluster: &mut Cluster, model: &Model) {
    let catalog = &mut cluster.catalog;
    for c in &model.claims {
        let ns = c.metadata.namespace.clone().unwrap_or_default();
        let name = c.metadata.name.clone().unwrap_or_default();
        if matches!(catalog.claim_state(&ns, &name), ClaimState::Missing) {
            catalog.add_claim(c);
        }
    }
    let with_ns = |mut meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.namespace
            .get_or_insert_with(|| model.namespace.clone());
        meta
    };
    let objects = &model.manifests.objects;
    for s in &objects.stateful_sets {
        let mut s = s.get().clone();
        s.metadata = with_ns(s.metadata);
        catalog.add_stateful_set(&s);
    }
    for rs in &objects.replica_sets {
        let mut rs = rs.get().clone();
        rs.metadata = with_ns(rs.metadata);
        catalog.add_replica_set(&rs);
    }
    for svc in &objects.services {
        let mut svc = svc.get().clone();
        svc.metadata = with_ns(svc.metadata);
        catalog.add_service(&svc);
    }
}

/// Memory the snapshot's pods use now (PodMetrics): by pod index, and by controller name.
type Measured = (HashMap<usize, i128>, HashMap<String, Vec<i128>>);

fn measured_usage(ix: &Index) -> Measured {
    let metrics = &ix.snap.objects.pod_metrics;
    let mut by_pod = HashMap::new();
    let mut out: HashMap<String, Vec<i128>> = HashMap::new();
    if metrics.is_empty() {
        return (by_pod, out);
    }
    let mut pod_at: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, p) in ix.snap.objects.pods.iter().enumerate() {
        pod_at.insert((p.namespace().unwrap_or_default(), p.name()), i);
    }
    for m in metrics {
        let key = (m.namespace().unwrap_or_default(), m.name());
        let Some(&i) = pod_at.get(&key) else {
            continue;
        };
        let used: i128 = m
            .get()
            .containers
            .iter()
            .filter_map(|c| c.usage.get("memory"))
            .filter_map(|q| Quantity::parse(&q.0).ok())
            .map(Quantity::ceil_units)
            .sum();
        by_pod.insert(i, used);
        if let Some((_, workload)) = ix.top_owner(i) {
            out.entry(workload).or_default().push(used);
        }
    }
    (by_pod, out)
}

/// What a new pod will use: the mean of its workload's running pods when an earlier install
/// is measured, else the profile's estimate per container, else its request.
fn expected_usage(
    model: &Model,
    mp: &crate::deploy::ModelPod,
    request: i128,
    measured: &HashMap<String, Vec<i128>>,
) -> (i128, String) {
    if let Some(v) = measured.get(&mp.workload).filter(|v| !v.is_empty()) {
        let n = i128::try_from(v.len()).unwrap_or(1);
        let mean = v.iter().sum::<i128>() / n;
        return (
            mean,
            format!("measured: {} running pod(s) (PodMetrics)", v.len()),
        );
    }
    let Some(profile) = model.profile.as_ref() else {
        return (request, "requests".into());
    };
    let spec = mp.pod.spec.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let mut total = 0i128;
    let mut source: Option<&str> = None;
    for c in containers {
        match profile.usage_of(&mp.workload, &c.name) {
            Some(rule) => {
                total += rule.memory;
                source.get_or_insert(rule.source.as_str());
            }
            None => total += container_request(c),
        }
    }
    match source {
        Some(s) => (total, format!("profile {}: {s}", profile.name)),
        None => (request, "requests".into()),
    }
}

fn container_request(c: &k8s_openapi::api::core::v1::Container) -> i128 {
    let r = c.resources.as_ref();
    r.and_then(|r| r.requests.as_ref().and_then(|m| m.get("memory")))
        .or_else(|| r.and_then(|r| r.limits.as_ref().and_then(|m| m.get("memory"))))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, Quantity::ceil_units)
}
