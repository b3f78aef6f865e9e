//! Capacity as rules ask it: do the pods still to be placed (the deployment's before the
//! install, the Pending ones after it) fit, and would they if some taints were removed?

use super::{Balance, Options, balance};
use crate::index::Index;
use crate::sim::{self, Cluster, SimPod};
use std::collections::HashSet;

/// One simulation of the pods still to place.
#[derive(Clone, Debug, Default)]
pub struct Trial {
    /// How many pods find a node in the worst order.
    pub fit: usize,
    /// How many do not, in the worst order.
    pub unfit: usize,
    /// Pods that fit in every order.
    pub fit_pods: Vec<String>,
    /// Pods that do not in at least one order (with identical pods, which ones varies).
    pub unfit_pods: Vec<String>,
    /// The scheduler's message for the first pod that does not fit.
    pub message: Option<String>,
    pub memory: Balance,
}

/// The pods still to place, as they are and with taints removed.
#[derive(Clone, Debug)]
pub struct Capacity {
    /// `pre`: the deployment's pods (nothing of it runs yet); `post`: the Pending pods.
    pub phase: &'static str,
    pub pods: usize,
    /// Of `pods`, those their StatefulSet has not created yet (an earlier ordinal is not
    /// Ready): they are still to place too.
    pub uncreated: usize,
    pub as_is: Trial,
    /// With the NoSchedule/NoExecute taints of the keys given removed from every node.
    pub untainted: Trial,
}

/// Simulates the pods still to place in `namespace`: the deployment's (loaded by `model` only
/// when the namespace has no pods yet), or the Pending, unbound ones and those their
/// StatefulSets have yet to create.
pub fn capacity<'m>(
    ix: &Index,
    namespace: &str,
    model: impl FnOnce() -> Result<&'m crate::deploy::Model, String>,
    taint_keys: &[String],
    opts: &Options,
) -> Result<Capacity, String> {
    let in_namespace = ix.pods_in_namespace(namespace);
    let (phase, cluster, pods, uncreated) = if in_namespace.is_empty() {
        let inputs = super::inputs(ix, model()?);
        ("pre", inputs.cluster, inputs.pods, 0)
    } else {
        let pending: Vec<&crate::snapshot::Stored<k8s_openapi::api::core::v1::Pod>> = in_namespace
            .iter()
            .map(|&i| &ix.snap.objects.pods[i])
            .filter(|p| {
                let c = p.core();
                c.phase() == Some("Pending")
                    && c.node_name().is_none_or(str::is_empty)
                    && p.get().metadata.deletion_timestamp.is_none()
            })
            .collect();
        let uncreated = uncreated_set_pods(ix, namespace);
        if pending.is_empty() && uncreated.pods.is_empty() {
            // Nothing to place: no need to model the cluster's load (15,000 pods at M).
            return Ok(Capacity {
                phase: "post",
                pods: 0,
                uncreated: 0,
                as_is: Trial::default(),
                untainted: Trial::default(),
            });
        }
        let namespaces = std::collections::BTreeSet::from([namespace.to_string()]);
        let mut cluster = sim::from_index_without(ix, &HashSet::new(), Some(&namespaces));
        let mut pods: Vec<SimPod> = pending.iter().map(|p| cluster.pod(p.get())).collect();
        // Their claims join the catalog as the controller would make them.
        for c in &uncreated.claims {
            let name = c.metadata.name.clone().unwrap_or_default();
            if matches!(
                cluster.catalog.claim_state(namespace, &name),
                sim::ClaimState::Missing
            ) {
                cluster.catalog.add_claim(c);
            }
        }
        let n = uncreated.pods.len();
        pods.extend(uncreated.pods.iter().map(|mp| cluster.pod(&mp.pod)));
        ("post", cluster, pods, n)
    };
    let as_is = trial(&cluster, &pods, opts);
    // Often no node carries those taints: the same cluster need not be copied and simulated
    // twice (a copy of 5,000 nodes with their pods is ~0.2 GB).
    let keys: HashSet<&str> = taint_keys.iter().map(String::as_str).collect();
    let untainted = if cluster
        .nodes
        .iter()
        .any(|n| n.taints.iter().any(|t| removable(t, &keys)))
    {
        trial(&without_taints(&cluster, taint_keys), &pods, opts)
    } else {
        as_is.clone()
    };
    Ok(Capacity {
        phase,
        pods: pods.len(),
        uncreated,
        as_is,
        untainted,
    })
}

/// The pods the namespace's StatefulSets have yet to create (OrderedReady sets wait for each
/// ordinal to be Ready), from their own templates, with the claims of their templates.
fn uncreated_set_pods(ix: &Index, namespace: &str) -> crate::deploy::Expanded {
    let mut sets = crate::snapshot::Snapshot::default();
    for s in &ix.snap.objects.stateful_sets {
        if s.namespace() == Some(namespace) {
            sets.push(s.get().clone());
        }
    }
    if sets.objects.stateful_sets.is_empty() {
        return crate::deploy::Expanded::default();
    }
    let existing: HashSet<&str> = ix
        .pods_in_namespace(namespace)
        .iter()
        .map(|&i| ix.snap.objects.pods[i].name())
        .collect();
    let mut expanded = crate::deploy::expand(&sets, namespace, &[]);
    expanded
        .pods
        .retain(|mp| !existing.contains(mp.pod.metadata.name.as_deref().unwrap_or_default()));
    expanded
}

/// The cluster with the NoSchedule/NoExecute taints of `keys` removed (what TT-NODE-001's fix
/// does).
pub fn without_taints(cluster: &Cluster, keys: &[String]) -> Cluster {
    let keys: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let mut out = cluster.clone();
    for n in &mut out.nodes {
        n.taints.retain(|t| !removable(t, &keys));
    }
    out
}

/// Whether [`without_taints`] removes `t`.
fn removable(t: &sim::Taint, keys: &HashSet<&str>) -> bool {
    keys.contains(t.key.as_str()) && matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
}

fn trial(cluster: &Cluster, pods: &[SimPod], opts: &Options) -> Trial {
    if pods.is_empty() {
        return Trial::default();
    }
    let orders = sim::simulate_orders(cluster, pods, opts.orders.max(1), opts.seed);
    let n = orders.runs.len();
    let mut t = Trial {
        memory: balance(cluster, pods),
        ..Trial::default()
    };
    t.fit = orders
        .runs
        .iter()
        .map(|r| r.outcomes.iter().filter(|o| o.node().is_some()).count())
        .min()
        .unwrap_or(0);
    t.unfit = pods.len() - t.fit;
    for (p, v) in pods.iter().zip(&orders.pods) {
        if v.fits == n {
            t.fit_pods.push(p.name.clone());
        } else {
            t.unfit_pods.push(p.name.clone());
            if t.message.is_none() {
                t.message.clone_from(&v.message);
            }
        }
    }
    t
}
