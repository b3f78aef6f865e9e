//! A simulation of kube-scheduler v1.36 with the default profile: it places pods onto nodes
//! one scheduling cycle at a time, as the scheduler would, and explains each failure in the
//! scheduler's own words (the `FailedScheduling` message, PostFilter text included).
//!
//! ```text
//! let cluster = sim::from_index(&index);                 // nodes + what is bound to them
//! let pods: Vec<SimPod> = typed.iter().map(|p| SimPod::from_pod(p, &cluster.catalog)).collect();
//! let run = sim::simulate(&cluster, &pods);               // the queue order
//! let orders = sim::simulate_orders(&cluster, &pods, 20, 7); // 20 seeded orders
//! println!("{}", orders.verdict);                         // "fits in 17 of 20 orders"
//! ```
//!
//! Modelled, in the default profile's order and with its reason strings and codes:
//!
//! | point | plugins |
//! | --- | --- |
//! | PreFilter | NodeAffinity (`matchFields` narrowing, conflicts), VolumeRestrictions (missing claim), VolumeBinding (unbound immediate, lost or deleted claims); a PreFilter rejection ends in `. not found` |
//! | Filter | NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit (cpu, memory, ephemeral-storage, pod count), VolumeBinding (bound PVs' node affinity, WaitForFirstConsumer matching of available PVs and provisioning with `allowedTopologies`) |
//! | PostFilter | DynamicResources (`no new claims to deallocate`), DefaultPreemption (victims: pods of lower priority; the dry run re-runs the filters without them) |
//! | Score | TaintToleration ×3, NodeAffinity ×2, NodeResourcesFit LeastAllocated ×1, PodTopologySpread system defaults ×2, NodeResourcesBalancedAllocation ×1, ImageLocality ×1 |
//! | selection | `numFeasibleNodesToFind` with `percentageOfNodesToScore`, the round-robin start index, Go heap order among equal scores |
//!
//! Not modelled, because ttdoctor's inputs cannot trigger them (a pod that asks for one lists
//! it in [`SimPod::unmodelled`]):
//! - InterPodAffinity: scores 0 and filters nothing without affinity terms; pods already
//!   running with (anti-)affinity terms are not read (their terms would score incoming pods).
//! - PodTopologySpread constraints of a pod's own (the system defaults are ScheduleAnyway, so
//!   they only score); pods being deleted are counted like the others.
//! - VolumeRestrictions' disk conflicts and ReadWriteOncePod, NodeVolumeLimits (CSINode limits
//!   are not in a snapshot), VolumeZone (zone labels on PVs), CSIStorageCapacity.
//! - DynamicResources claims, extended resources and hugepages, NodeDeclaredFeatures,
//!   SchedulingGates, nominated pods, extenders.
//!
//! Other choices:
//! - Node order is the scheduler cache's: nodes sorted by name (the informer's first list),
//!   then taken round-robin across zones (`nodeTree.list`).
//! - Filtering visits nodes one after another from the start index; the real scheduler's 16
//!   workers finish in almost, not exactly, that order.
//! - ImageLocality matches the pod's image, with only `:latest` added, against the names
//!   `node.status.images` lists, exactly as the plugin does (`nginx:1.27` does not match
//!   `docker.io/library/nginx:1.27`). A placed pod's images join its node's list under the
//!   names containerd records ([`crate::index::normalize_image`]), with the size another node
//!   reports for the name, else 0.
//! - A WaitForFirstConsumer claim provisioned for a placed pod stays on that pod's node (what
//!   local provisioners, the usual reason for the mode, do); one bound to an available PV
//!   follows that PV's node affinity.
//! - Preemption is evaluated but not carried out: a pod that would preempt is reported
//!   unschedulable with `preempts: true`.

mod catalog;
mod convert;
mod filter;
mod orders;
mod prepare;
mod run;
mod score;
mod types;

#[cfg(test)]
mod tests;

pub use catalog::{Catalog, Volume};
pub use convert::{
    DEFAULT_MEMORY, DEFAULT_MILLI_CPU, from_index, from_index_without, pod_nonzero, pod_requests,
    resident,
};
pub use filter::{Code, Plugin, Reason, Rejection, static_filters};
pub use orders::{
    Orders, PodVerdict, Run, SplitMix64, Verdict, fits_every_order, queue_order, simulate,
    simulate_orders,
};
pub use run::{Outcome, event_message, feasible_nodes_to_find};
pub use score::Scores;
pub use types::{
    ClaimState, DelayedClaim, HostPort, ImmediateWhy, NodeImage, NodeSelectorTerm, Op, Owner,
    PodClaim, PreferredTerm, Requirement, Resident, Resources, Selector, SimNode, SimPod, Taint,
    Toleration, TopologyTerm,
};

use std::collections::HashMap;

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The nodes and the objects the scheduler looks up.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// In the scheduler's list order (see [`Cluster::new`]).
    pub nodes: Vec<SimNode>,
    pub catalog: Catalog,
    /// The scheduler's `percentageOfNodesToScore`; 0 (the default) adapts to the cluster's
    /// size.
    pub percentage_of_nodes_to_score: i32,
}

/// `GetZoneKey`: region and zone (the beta labels first), empty without either.
fn zone_key(n: &SimNode) -> String {
    let get = |a: &str, b: &str| {
        n.labels
            .get(a)
            .or_else(|| n.labels.get(b))
            .cloned()
            .unwrap_or_default()
    };
    let zone = get("failure-domain.beta.kubernetes.io/zone", ZONE_LABEL);
    let region = get(
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/region",
    );
    if zone.is_empty() && region.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

impl Cluster {
    /// A cluster whose nodes are in the scheduler cache's order: sorted by name, then
    /// round-robin over the zones in the order they first appear.
    pub fn new(mut nodes: Vec<SimNode>, catalog: Catalog) -> Cluster {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut zones: Vec<Vec<SimNode>> = Vec::new();
        let mut zone_index: HashMap<String, usize> = HashMap::new();
        for n in nodes {
            let key = zone_key(&n);
            let next = zones.len();
            let z = *zone_index.entry(key).or_insert(next);
            if z == zones.len() {
                zones.push(Vec::new());
            }
            zones[z].push(n);
        }
        let mut iters: Vec<std::vec::IntoIter<SimNode>> =
            zones.into_iter().map(Vec::into_iter).collect();
        let mut ordered = Vec::new();
        loop {
            let before = ordered.len();
            for it in &mut iters {
                ordered.extend(it.next());
            }
            if ordered.len() == before {
                break;
            }
        }
        Cluster {
            nodes: ordered,
            catalog,
            percentage_of_nodes_to_score: 0,
        }
    }

    /// The cluster of a snapshot (see [`from_index`]).
    pub fn from_index(ix: &crate::index::Index) -> Cluster {
        from_index(ix)
    }

    /// A pod to place, its claims resolved in this cluster's catalog.
    pub fn pod(&self, pod: &k8s_openapi::api::core::v1::Pod) -> SimPod {
        SimPod::from_pod(pod, &self.catalog)
    }

    /// The index of the node named `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
