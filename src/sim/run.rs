//! One scheduling order: the scheduler's state as pods are placed one after another, one
//! scheduling cycle per pod (PreFilter, Filter over the nodes from the round-robin start,
//! Score, host selection, and on failure the FitError message with PostFilter's text).

use super::catalog::{Catalog, Volume};
use super::filter::{
    ClaimView, Code, Pin, Plugin, Reason, Rejection, VolumePlan, ports_conflict, resources_fit,
    volume_plan,
};
use super::prepare::{Narrow, Prepared};
use super::types::{HostPort, Resources};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What became of one pod in one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Bound to this node.
    Placed { node: String },
    /// No node fits. `message` is the PodScheduled condition's message (the event's is the
    /// same, cut to 1024 bytes). `preempts`: preemption found a node where evicting pods of
    /// lower priority makes room (the pod would be nominated there; the simulation does not
    /// evict them, and `message` then has no PostFilter part, as the scheduler's has none).
    Unschedulable { message: String, preempts: bool },
    /// A StatefulSet pod its controller never creates: an earlier ordinal of its
    /// OrderedReady set did not fit (index of that pod).
    Blocked { by: usize },
}

impl Outcome {
    pub fn node(&self) -> Option<&str> {
        match self {
            Outcome::Placed { node } => Some(node),
            _ => None,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Unschedulable { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The scheduler cache's view of one node during a run.
#[derive(Clone)]
pub struct NodeState {
    pub requested: Resources,
    pub nonzero: Resources,
    pub ports: Vec<HostPort>,
    pub images: super::prepare::IdSet,
    /// BalancedAllocation's score of the node as it is (without the incoming pod).
    pub balance: i64,
    /// Pods the run placed here.
    pub placed: Vec<usize>,
}

/// Everything a run changes.
#[derive(Clone)]
pub struct State {
    pub nodes: Vec<NodeState>,
    /// Per spreading group, matching pods per node.
    pub counts: Vec<Vec<u32>>,
    /// Per image, how many nodes hold it.
    pub nodes_with: Vec<u32>,
    /// Claims bound by the run: `(namespace, claim)` → where.
    pub pins: HashMap<(String, String), Pin>,
    /// PVs bound by the run.
    pub taken: HashSet<usize>,
    /// `sched.nextStartNodeIndex`.
    pub next_start: usize,
}

struct View<'a> {
    state: &'a State,
    catalog: &'a Catalog,
}

impl ClaimView for View<'_> {
    fn pinned(&self, namespace: &str, claim: &str) -> Option<Pin> {
        if self.state.pins.is_empty() {
            return None;
        }
        self.state
            .pins
            .get(&(namespace.to_string(), claim.to_string()))
            .copied()
    }

    fn taken(&self, volume: usize) -> bool {
        self.state.taken.contains(&volume)
    }

    fn volumes(&self) -> &[Volume] {
        self.catalog.volumes()
    }

    fn claim_uid(&self, namespace: &str, claim: &str) -> &str {
        self.catalog.claim_uid(namespace, claim)
    }
}

/// `numFeasibleNodesToFind`: every node below 100; else `percentage` of them (by default
/// `50 − nodes/125`, at least 5), and at least 100.
pub fn feasible_nodes_to_find(percentage: i32, nodes: usize) -> usize {
    const MIN_NODES: usize = 100;
    if nodes < MIN_NODES {
        return nodes;
    }
    let n = i64::try_from(nodes).unwrap_or(i64::MAX);
    let mut pct = i64::from(percentage);
    if pct == 0 {
        pct = (50 - n / 125).max(5);
    }
    let found = usize::try_from(n * pct / 100).unwrap_or(0);
    found.max(MIN_NODES)
}

impl Prepared<'_> {
    pub(crate) fn initial_state(&self) -> State {
        State {
            nodes: self
                .cluster
                .nodes
                .iter()
                .zip(&self.images.on_node)
                .map(|(n, images)| NodeState {
                    requested: n.requested,
                    nonzero: n.nonzero_requested,
                    ports: n.host_ports.clone(),
                    images: images.clone(),
                    balance: super::score::balance_of(&n.requested, &n.allocatable),
                    placed: Vec::new(),
                })
                .collect(),
            counts: self.groups.iter().map(|g| g.initial.clone()).collect(),
            nodes_with: self.images.nodes_with.clone(),
            pins: HashMap::new(),
            taken: HashSet::new(),
            next_start: 0,
        }
    }

    fn volumes(&self, st: &State, p: usize, node: usize) -> VolumePlan {
        let view = View {
            state: st,
            catalog: &self.cluster.catalog,
        };
        volume_plan(&self.pods[p], &self.cluster.nodes[node], node, &view)
    }

    /// The dynamic filters (NodePorts, NodeResourcesFit, VolumeBinding) on a node whose
    /// requests and ports are given.
    fn dynamic_filters(
        &self,
        st: &State,
        p: usize,
        node: usize,
        requested: &Resources,
        ports: &[HostPort],
    ) -> Option<Rejection> {
        let pod = &self.pods[p];
        if ports_conflict(&pod.host_ports, ports) {
            return Some(Rejection::new(
                Plugin::NodePorts,
                Code::Unschedulable,
                &[Reason::Ports],
            ));
        }
        let want = Resources {
            pods: 1,
            ..pod.requests
        };
        if let Some(r) = resources_fit(&want, &self.cluster.nodes[node].allocatable, requested) {
            return Some(r);
        }
        if self.plans[p].has_claims {
            let plan = self.volumes(st, p, node);
            if !plan.reasons.is_empty() {
                return Some(Rejection::new(
                    Plugin::VolumeBinding,
                    Code::UnschedulableAndUnresolvable,
                    &plan.reasons,
                ));
            }
        }
        None
    }

    /// Every filter, in order, on a node as the run left it.
    pub(crate) fn filter(&self, st: &State, p: usize, node: usize) -> Option<Rejection> {
        if let Some(r) = self.profiles[self.plans[p].profile].reject[node] {
            return Some(r);
        }
        let n = &st.nodes[node];
        self.dynamic_filters(st, p, node, &n.requested, &n.ports)
    }

    /// One scheduling cycle for pod `p`; a placement updates the state.
    pub(crate) fn schedule(&self, st: &mut State, p: usize) -> Outcome {
        let all = self.cluster.nodes.len();
        if all == 0 {
            return unschedulable("no nodes available to schedule pods".into(), false);
        }
        let plan = &self.plans[p];
        if let Some(msg) = &plan.prefilter {
            // DynamicResources' PreFilter never ran, so its PostFilter fails on the missing
            // cycle state ("not found") and preemption does not run.
            return unschedulable(
                format!("0/{all} nodes are available: {msg}. not found"),
                false,
            );
        }
        let narrowed = match &self.profiles[plan.profile].narrow {
            Narrow::Nodes(v) => Some(v.as_slice()),
            _ => None,
        };
        let count = narrowed.map_or(all, <[usize]>::len);
        let to_find = feasible_nodes_to_find(self.cluster.percentage_of_nodes_to_score, count);
        let mut feasible = Vec::new();
        let mut rejected = Vec::new();
        for i in 0..count {
            let k = (st.next_start + i) % count;
            let node = narrowed.map_or(k, |v| v[k]);
            match self.filter(st, p, node) {
                None => {
                    feasible.push(node);
                    if feasible.len() == to_find {
                        break;
                    }
                }
                Some(r) => rejected.push((node, r)),
            }
        }
        st.next_start = (st.next_start + feasible.len() + rejected.len()) % all;
        if feasible.is_empty() {
            let absent = narrowed.map(|_| Reason::NodeAffinityPreFilter);
            return self.fit_error(st, p, &rejected, absent);
        }
        let chosen = if feasible.len() == 1 {
            feasible[0]
        } else {
            self.select(st, p, &feasible)
        };
        self.place(st, p, chosen);
        Outcome::Placed {
            node: self.cluster.nodes[chosen].name.clone(),
        }
    }

    /// Binds pod `p` to `node`: its requests, ports, images and claims.
    fn place(&self, st: &mut State, p: usize, node: usize) {
        let pod = &self.pods[p];
        let plan = &self.plans[p];
        let volumes = plan.has_claims.then(|| self.volumes(st, p, node));
        let n = &mut st.nodes[node];
        n.requested.add(&Resources {
            pods: 1,
            ..pod.requests
        });
        n.nonzero.add(&Resources {
            pods: 1,
            ..pod.nonzero
        });
        n.ports.extend(pod.host_ports.iter().cloned());
        n.placed.push(p);
        n.balance = super::score::balance_of(&n.requested, &self.cluster.nodes[node].allocatable);
        for &img in &plan.place_images {
            if n.images.insert(img) {
                st.nodes_with[img as usize] += 1;
            }
        }
        for &g in &plan.hits {
            st.counts[g][node] += 1;
        }
        if let Some(v) = volumes {
            let key = |i: usize| (pod.namespace.clone(), pod.claims[i].name.clone());
            for (claim, volume) in v.bindings {
                st.pins.insert(key(claim), Pin::Volume(volume));
                st.taken.insert(volume);
            }
            for claim in v.provisions {
                st.pins.insert(key(claim), Pin::Node(node));
            }
        }
    }

    /// `FitError.Error()` plus the PostFilter text (DynamicResources, then DefaultPreemption).
    fn fit_error(
        &self,
        st: &State,
        p: usize,
        rejected: &[(usize, Rejection)],
        absent: Option<Reason>,
    ) -> Outcome {
        let all = self.cluster.nodes.len();
        let mut hist: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (_, r) in rejected {
            for reason in r.reasons() {
                *hist.entry(reason.text()).or_default() += 1;
            }
        }
        if let Some(reason) = absent {
            *hist.entry(reason.text()).or_default() += all - rejected.len();
        }
        let mut message = format!("0/{all} nodes are available:");
        if !hist.is_empty() {
            message.push_str(&format!(" {}.", histogram(&hist)));
        }
        if self.pods[p].preempt_never {
            message.push_str(
                " no new claims to deallocate, preemption: not eligible due to preemptionPolicy=Never.",
            );
            return unschedulable(message, false);
        }
        match self.preemption(st, p, rejected) {
            Some(text) => {
                message.push_str(" no new claims to deallocate, preemption: ");
                message.push_str(&text);
                unschedulable(message, false)
            }
            None => unschedulable(message, true),
        }
    }

    /// DefaultPreemption's dry run: `None` when some node fits once its pods of lower
    /// priority are gone; else the FitError text of the preemption attempt.
    fn preemption(&self, st: &State, p: usize, rejected: &[(usize, Rejection)]) -> Option<String> {
        let all = self.cluster.nodes.len();
        let priority = self.pods[p].priority;
        let mut hist: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut tried = 0;
        for &(node, r) in rejected {
            if r.code != Code::Unschedulable {
                continue;
            }
            tried += 1;
            let mut requested = st.nodes[node].requested;
            let mut ports = Vec::new();
            let mut victims = 0;
            let residents = self.cluster.nodes[node].pods.iter().map(|r| {
                (
                    r.priority,
                    Resources {
                        pods: 1,
                        ..r.requests
                    },
                    &r.host_ports,
                )
            });
            let placed = st.nodes[node].placed.iter().map(|&q| {
                let pod = &self.pods[q];
                (
                    pod.priority,
                    Resources {
                        pods: 1,
                        ..pod.requests
                    },
                    &pod.host_ports,
                )
            });
            for (prio, req, host_ports) in residents.chain(placed) {
                if prio < priority {
                    victims += 1;
                    requested.sub(&req);
                } else {
                    ports.extend(host_ports.iter().cloned());
                }
            }
            if victims == 0 {
                *hist.entry(Reason::NoVictims.text()).or_default() += 1;
                continue;
            }
            match self.dynamic_filters(st, p, node, &requested, &ports) {
                None => return None,
                Some(again) => {
                    for reason in again.reasons() {
                        *hist.entry(reason.text()).or_default() += 1;
                    }
                }
            }
        }
        if all > tried {
            *hist.entry(Reason::PreemptionNotHelpful.text()).or_default() += all - tried;
        }
        Some(format!(
            "0/{all} nodes are available: {}.",
            histogram(&hist)
        ))
    }
}

/// The FailedScheduling event's text for a condition message: `truncateMessage` keeps 1,024
/// bytes, the last four of them `" ..."`.
pub fn event_message(message: &str) -> String {
    const LIMIT: usize = 1024;
    if message.len() <= LIMIT {
        return message.to_string();
    }
    let mut end = LIMIT - 4;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ...", &message[..end])
}

fn unschedulable(message: String, preempts: bool) -> Outcome {
    Outcome::Unschedulable { message, preempts }
}

/// The histogram as `FitError.Error()` prints it: `"<count> <reason>"` entries sorted as
/// strings (Go's `sort.Strings`: byte-wise, count first), joined with `", "`.
pub fn histogram(counts: &BTreeMap<&str, usize>) -> String {
    let mut entries: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    entries.sort();
    entries.join(", ")
}
