//! The Filter plugins the simulation runs, in the default profile's order, with the
//! scheduler's reason strings and status codes (`pkg/scheduler/framework/plugins/*`).

use super::catalog::Volume;
use super::types::{
    ClaimState, DelayedClaim, HostPort, Resources, SimNode, SimPod, terms_match, tolerated,
    topology_matches,
};
use std::fmt;

/// A plugin that can reject a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plugin {
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    VolumeBinding,
}

/// A status code of a rejection. Preemption only tries nodes rejected as `Unschedulable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Unschedulable,
    UnschedulableAndUnresolvable,
}

/// One reason a plugin gives, worded as the scheduler words it. A plugin giving several
/// gives them in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Unschedulable,
    NodeName,
    UntoleratedTaint,
    NodeAffinity,
    Ports,
    TooManyPods,
    InsufficientCpu,
    InsufficientMemory,
    InsufficientEphemeralStorage,
    VolumeNodeAffinity,
    NoVolumesToBind,
    VolumeMissing,
    /// The status of nodes NodeAffinity's PreFilter left out (`matchFields` on
    /// `metadata.name`).
    NodeAffinityPreFilter,
    /// Preemption: the node was rejected as unresolvable.
    PreemptionNotHelpful,
    /// Preemption: no pod of lower priority on the node.
    NoVictims,
}

const ALL_REASONS: [Reason; 15] = [
    Reason::Unschedulable,
    Reason::NodeName,
    Reason::UntoleratedTaint,
    Reason::NodeAffinity,
    Reason::Ports,
    Reason::TooManyPods,
    Reason::InsufficientCpu,
    Reason::InsufficientMemory,
    Reason::InsufficientEphemeralStorage,
    Reason::VolumeNodeAffinity,
    Reason::NoVolumesToBind,
    Reason::VolumeMissing,
    Reason::NodeAffinityPreFilter,
    Reason::PreemptionNotHelpful,
    Reason::NoVictims,
];

impl Reason {
    pub fn text(self) -> &'static str {
        match self {
            Reason::Unschedulable => "node(s) were unschedulable",
            Reason::NodeName => "node(s) didn't match the requested node name",
            Reason::UntoleratedTaint => "node(s) had untolerated taint(s)",
            Reason::NodeAffinity => "node(s) didn't match Pod's node affinity/selector",
            Reason::Ports => "node(s) didn't have free ports for the requested pod ports",
            Reason::TooManyPods => "Too many pods",
            Reason::InsufficientCpu => "Insufficient cpu",
            Reason::InsufficientMemory => "Insufficient memory",
            Reason::InsufficientEphemeralStorage => "Insufficient ephemeral-storage",
            Reason::VolumeNodeAffinity => "node(s) didn't match PersistentVolume's node affinity",
            Reason::NoVolumesToBind => "node(s) didn't find available persistent volumes to bind",
            Reason::VolumeMissing => {
                "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
            }
            Reason::NodeAffinityPreFilter => "node(s) didn't satisfy plugin(s) [NodeAffinity]",
            Reason::PreemptionNotHelpful => "Preemption is not helpful for scheduling",
            Reason::NoVictims => "No preemption victims found for incoming pod",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// A plugin's rejection of a node: its code and reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejection {
    pub plugin: Plugin,
    pub code: Code,
    reasons: u16,
}

impl Rejection {
    pub fn new(plugin: Plugin, code: Code, reasons: &[Reason]) -> Rejection {
        Rejection {
            plugin,
            code,
            reasons: reasons.iter().fold(0, |acc, r| acc | r.bit()),
        }
    }

    fn unresolvable(plugin: Plugin, reason: Reason) -> Rejection {
        Rejection::new(plugin, Code::UnschedulableAndUnresolvable, &[reason])
    }

    /// The reasons, in the order the plugin appends them.
    pub fn reasons(&self) -> impl Iterator<Item = Reason> + '_ {
        ALL_REASONS
            .iter()
            .copied()
            .filter(|r| self.reasons & r.bit() != 0)
    }
}

/// The filters that read only the pod and the node's own fields, in order:
/// NodeUnschedulable, NodeName, TaintToleration, NodeAffinity.
pub fn static_filters(pod: &SimPod, node: &SimNode) -> Option<Rejection> {
    let unschedulable_taint =
        super::types::Taint::new("node.kubernetes.io/unschedulable", "", "NoSchedule");
    if node.unschedulable && !tolerated(&pod.tolerations, &unschedulable_taint) {
        return Some(Rejection::unresolvable(
            Plugin::NodeUnschedulable,
            Reason::Unschedulable,
        ));
    }
    if pod.node_name.as_ref().is_some_and(|n| *n != node.name) {
        return Some(Rejection::unresolvable(Plugin::NodeName, Reason::NodeName));
    }
    let untolerated = node.taints.iter().any(|t| {
        (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(&pod.tolerations, t)
    });
    if untolerated {
        return Some(Rejection::unresolvable(
            Plugin::TaintToleration,
            Reason::UntoleratedTaint,
        ));
    }
    if !required_affinity_matches(pod, node) {
        return Some(Rejection::unresolvable(
            Plugin::NodeAffinity,
            Reason::NodeAffinity,
        ));
    }
    None
}

/// `RequiredNodeAffinity.Match`: the nodeSelector's pairs, and one of the required terms.
pub fn required_affinity_matches(pod: &SimPod, node: &SimNode) -> bool {
    pod.node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v))
        && pod
            .required_affinity
            .as_ref()
            .is_none_or(|terms| terms_match(terms, &node.labels, Some(&node.name)))
}

/// NodePorts: a wanted host port that conflicts with one in use.
pub fn ports_conflict(want: &[HostPort], used: &[HostPort]) -> bool {
    want.iter().any(|w| used.iter().any(|u| w.conflicts(u)))
}

/// NodeResourcesFit's `fitsRequest` on cpu, memory, ephemeral-storage and the pod count.
pub fn resources_fit(
    want: &Resources,
    allocatable: &Resources,
    requested: &Resources,
) -> Option<Rejection> {
    let mut reasons = Vec::new();
    let mut unresolvable = false;
    if requested.pods + 1 > allocatable.pods {
        reasons.push(Reason::TooManyPods);
    }
    if want.cpu != 0 || want.memory != 0 || want.ephemeral_storage != 0 {
        let checks = [
            (
                want.cpu,
                allocatable.cpu,
                requested.cpu,
                Reason::InsufficientCpu,
            ),
            (
                want.memory,
                allocatable.memory,
                requested.memory,
                Reason::InsufficientMemory,
            ),
            (
                want.ephemeral_storage,
                allocatable.ephemeral_storage,
                requested.ephemeral_storage,
                Reason::InsufficientEphemeralStorage,
            ),
        ];
        for (w, a, r, reason) in checks {
            if w > 0 && w > a - r {
                reasons.push(reason);
                unresolvable |= w > a;
            }
        }
    }
    if reasons.is_empty() {
        return None;
    }
    let code = if unresolvable {
        Code::UnschedulableAndUnresolvable
    } else {
        Code::Unschedulable
    };
    Some(Rejection::new(Plugin::NodeResourcesFit, code, &reasons))
}

/// Where a claim the simulation has already bound lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    /// Provisioned for a pod on this node (index in the cluster's nodes).
    Node(usize),
    /// Bound to this PV (index in the catalog's volumes).
    Volume(usize),
}

/// What VolumeBinding decided for one node: the reasons, and for a fit, the PVs it would
/// bind (claim position in the pod, volume index) and the claims it would provision.
#[derive(Debug, Default)]
pub struct VolumePlan {
    pub reasons: Vec<Reason>,
    pub bindings: Vec<(usize, usize)>,
    pub provisions: Vec<usize>,
}

/// The claims' view the volume filter needs from a run.
pub trait ClaimView {
    /// Where an earlier placement put the claim, if it did.
    fn pinned(&self, namespace: &str, claim: &str) -> Option<Pin>;
    /// Whether an earlier placement bound the PV.
    fn taken(&self, volume: usize) -> bool;
    fn volumes(&self) -> &[Volume];
    /// The claim's uid, which a PV's claimRef may pin.
    fn claim_uid(&self, namespace: &str, claim: &str) -> &str;
}

/// VolumeBinding's Filter (`FindPodVolumes`) for a pod whose claims passed PreFilter.
pub fn volume_plan(
    pod: &SimPod,
    node: &SimNode,
    node_index: usize,
    view: &dyn ClaimView,
) -> VolumePlan {
    let mut plan = VolumePlan::default();
    let (mut bound_ok, mut found, mut unbound_ok) = (true, true, true);
    let mut delayed: Vec<(usize, &DelayedClaim)> = Vec::new();
    for (i, claim) in pod.claims.iter().enumerate() {
        // checkBoundClaims stops at the first bound claim that fails; the unbound ones are
        // still looked at.
        let checking = bound_ok && found;
        match (view.pinned(&pod.namespace, &claim.name), &claim.state) {
            (Some(Pin::Node(n)), _) if checking => bound_ok = n == node_index,
            (Some(Pin::Volume(v)), _) if checking => {
                bound_ok = view.volumes()[v]
                    .node_affinity
                    .as_ref()
                    .is_none_or(|t| terms_match(t, &node.labels, None));
            }
            (
                None,
                ClaimState::Bound {
                    volume_missing: true,
                    ..
                },
            ) if checking => found = false,
            (None, ClaimState::Bound { node_affinity, .. }) if checking => {
                bound_ok = node_affinity
                    .as_ref()
                    .is_none_or(|t| terms_match(t, &node.labels, None));
            }
            (None, ClaimState::WaitForFirstConsumer(d)) => delayed.push((i, d)),
            _ => {}
        }
    }
    if delayed
        .iter()
        .any(|(_, d)| d.selected_node.as_ref().is_some_and(|s| *s != node.name))
    {
        unbound_ok = false;
    } else if !delayed.is_empty() {
        unbound_ok = plan_delayed(pod, node, &delayed, view, &mut plan);
    }
    if !bound_ok {
        plan.reasons.push(Reason::VolumeNodeAffinity);
    }
    if !unbound_ok {
        plan.reasons.push(Reason::NoVolumesToBind);
    }
    if !found {
        plan.reasons.push(Reason::VolumeMissing);
    }
    plan
}

/// `findMatchingVolumes` then `checkVolumeProvisions` for the unbound delayed claims.
fn plan_delayed(
    pod: &SimPod,
    node: &SimNode,
    delayed: &[(usize, &DelayedClaim)],
    view: &dyn ClaimView,
    plan: &mut VolumePlan,
) -> bool {
    let mut to_find: Vec<&(usize, &DelayedClaim)> = delayed
        .iter()
        .filter(|(_, d)| d.selected_node.is_none())
        .collect();
    to_find.sort_by_key(|(_, d)| d.request);
    let mut to_provision: Vec<usize> = delayed
        .iter()
        .filter(|(_, d)| d.selected_node.is_some())
        .map(|(i, _)| *i)
        .collect();
    let mut all_found = true;
    for &&(i, d) in &to_find {
        let name = &pod.claims[i].name;
        let chosen: Vec<usize> = plan.bindings.iter().map(|b| b.1).collect();
        match matching_volume(pod, name, d, node, view, &chosen) {
            Some(v) => plan.bindings.push((i, v)),
            None => {
                all_found = false;
                to_provision.push(i);
            }
        }
    }
    if to_provision.is_empty() {
        return all_found;
    }
    for &i in &to_provision {
        let ClaimState::WaitForFirstConsumer(d) = &pod.claims[i].state else {
            continue;
        };
        if d.provisioner.is_empty()
            || d.provisioner == "kubernetes.io/no-provisioner"
            || !topology_matches(&d.allowed_topologies, &node.labels)
        {
            plan.provisions.clear();
            return false;
        }
        plan.provisions.push(i);
    }
    true
}

/// `FindMatchingVolume` on a node: the PV pre-bound to the claim, else the smallest
/// available PV of the claim's class that is big enough, has its access modes and volume
/// mode, and whose node affinity the node matches.
fn matching_volume(
    pod: &SimPod,
    claim: &str,
    d: &DelayedClaim,
    node: &SimNode,
    view: &dyn ClaimView,
    chosen: &[usize],
) -> Option<usize> {
    let uid = view.claim_uid(&pod.namespace, claim);
    let mut best: Option<usize> = None;
    for (i, v) in view.volumes().iter().enumerate() {
        if chosen.contains(&i) || view.taken(i) {
            continue;
        }
        let bound_to_claim = v.claim_ref.as_ref().map(|(ns, name, ref_uid)| {
            *ns == pod.namespace && name == claim && (ref_uid.is_empty() || ref_uid == uid)
        });
        if bound_to_claim == Some(false) || v.capacity < d.request || v.volume_mode != d.volume_mode
        {
            continue;
        }
        let affinity_ok = v
            .node_affinity
            .as_ref()
            .is_none_or(|t| terms_match(t, &node.labels, None));
        if bound_to_claim == Some(true) {
            return affinity_ok.then_some(i);
        }
        if !v.available
            || v.class != d.class
            || !affinity_ok
            || !d.access_modes.iter().all(|m| v.access_modes.contains(m))
        {
            continue;
        }
        if best.is_none_or(|b| view.volumes()[b].capacity > v.capacity) {
            best = Some(i);
        }
    }
    best
}
