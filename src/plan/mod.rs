//! "Will it fit?": the deployment's pods placed onto the cluster by the scheduler simulation
//! in several seeded orders; each node's requests, limits and expected memory use after the
//! install; what will not fit, in the scheduler's words; and how much memory is missing.
//!
//! [`capacity`] is the same question for rules: the deployment before the install, the
//! Pending pods after it, each with and without the taints a fix would remove.

mod capacity;
mod change;
mod inputs;
mod project;

pub use capacity::{Capacity, Trial, capacity, without_taints};
pub use change::{Change, FixStep, NewNodes, Planned};
pub use inputs::{Inputs, NewPod, inputs};
pub use project::{NodeRow, UsageBasis};

use crate::index::Index;
use crate::sim::{self, Cluster, Outcome, SimPod};
use serde::Serialize;

/// How a plan is simulated and judged.
#[derive(Clone, Debug)]
pub struct Options {
    /// Orders simulated (the first is the queue order of the manifests; the rest shuffles).
    pub orders: usize,
    pub seed: u64,
    /// Expected memory use, in % of allocatable, that warns / fails (TT-MEM-001's).
    pub warn_percent: i64,
    pub error_percent: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            orders: 10,
            seed: 1,
            warn_percent: 85,
            error_percent: 95,
        }
    }
}

/// One of the deployment's pods.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub kind: &'static str,
    pub workload: String,
    /// Where it lands in the first order (`None`: nowhere).
    pub node: Option<String>,
    /// In how many of the orders it found a node.
    pub fits: usize,
    /// Expected memory use in bytes, and where the figure comes from.
    pub expected: i64,
    pub basis: String,
    /// Why it does not fit (the scheduler's message), in the first order where it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Pods that do not fit for the same reason.
#[derive(Clone, Debug, Serialize)]
pub struct Unplaced {
    pub message: String,
    pub pods: Vec<String>,
}

/// The deployment's memory requests against the free allocatable memory of the nodes it may
/// use, in bytes. `short` is what is missing even with perfect packing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub requested: i64,
    pub free: i64,
    pub short: i64,
}

/// How a node fares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Error,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub deployment: String,
    pub orders: usize,
    pub seed: u64,
    /// In how many orders every pod found a node.
    pub fits_in: usize,
    pub verdict: String,
    pub nodes: Vec<NodeRow>,
    pub pods: Vec<PodRow>,
    pub unplaced: Vec<Unplaced>,
    pub memory: Balance,
    /// Running pods of the release a re-install replaces (not counted twice).
    pub replaced: usize,
    pub notes: Vec<String>,
}

impl Plan {
    /// Every pod fits in every order.
    pub fn fits(&self) -> bool {
        self.fits_in == self.orders
    }

    pub fn level(&self, node: &NodeRow, opts: &Options) -> Level {
        match node.usage_percent() {
            p if p >= opts.error_percent => Level::Error,
            p if p >= opts.warn_percent => Level::Warn,
            _ => Level::Ok,
        }
    }

    /// Memory to add so that every node stays under `percent` of its allocatable memory once
    /// the deployment runs (the sum of each node's excess), in bytes.
    pub fn usage_short(&self, percent: i64) -> i64 {
        self.nodes
            .iter()
            .map(|n| {
                let limit = i128::from(n.allocatable.memory) * i128::from(percent) / 100;
                (i128::from(n.usage_after) - limit).max(0)
            })
            .map(|x| i64::try_from(x).unwrap_or(i64::MAX))
            .sum()
    }

    /// The worst node.
    pub fn worst(&self, opts: &Options) -> Level {
        let nodes = self
            .nodes
            .iter()
            .filter(|n| !n.placed.is_empty() || n.eligible);
        nodes
            .map(|n| self.level(n, opts))
            .max()
            .unwrap_or(Level::Ok)
    }
}

/// Simulates the deployment `model` on the cluster in `ix`.
pub fn plan(ix: &Index, model: &crate::deploy::Model, opts: &Options) -> Plan {
    let inputs = inputs(ix, model);
    let mut plan = evaluate(ix, &inputs, opts);
    plan.deployment.clone_from(&model.name);
    plan.notes.extend(model.notes.iter().cloned());
    plan
}

/// Simulates prepared inputs (a search changes the cluster in them and calls this again).
pub fn evaluate(ix: &Index, inputs: &Inputs, opts: &Options) -> Plan {
    let orders = sim::simulate_orders(&inputs.cluster, &inputs.pods, opts.orders.max(1), opts.seed);
    let first = &orders.runs[0];
    let nodes = project::rows(ix, inputs, &first.outcomes);
    let pods: Vec<PodRow> = inputs
        .new
        .iter()
        .zip(&orders.pods)
        .enumerate()
        .map(|(i, (new, verdict))| PodRow {
            namespace: new.namespace.clone(),
            name: new.name.clone(),
            kind: new.kind,
            workload: new.workload.clone(),
            node: first.outcomes[i].node().map(str::to_string),
            fits: verdict.fits,
            expected: i64::try_from(new.expected).unwrap_or(i64::MAX),
            basis: new.basis.clone(),
            message: (verdict.fits < orders.runs.len())
                .then(|| why_not(&inputs.pods, &orders.runs, i, verdict)),
        })
        .collect();
    let mut notes = Vec::new();
    let unmodelled: Vec<String> = inputs
        .pods
        .iter()
        .filter(|p| !p.unmodelled.is_empty())
        .map(|p| format!("{} ({})", p.name, p.unmodelled.join(", ")))
        .collect();
    if !unmodelled.is_empty() {
        notes.push(format!(
            "not simulated, so placements may differ: {}",
            unmodelled.join("; ")
        ));
    }
    Plan {
        deployment: String::new(),
        orders: orders.runs.len(),
        seed: opts.seed,
        fits_in: orders.all_fit,
        verdict: orders.verdict.to_string(),
        unplaced: group(&pods, orders.runs.len()),
        nodes,
        pods,
        memory: balance(&inputs.cluster, &inputs.pods),
        replaced: inputs.replaced.len(),
        notes,
    }
}

/// The scheduler's message, or why the pod is never created.
fn why_not(pods: &[SimPod], runs: &[sim::Run], i: usize, v: &sim::PodVerdict) -> String {
    if let Some(m) = &v.message {
        return m.clone();
    }
    let by = runs.iter().find_map(|r| match r.outcomes[i] {
        Outcome::Blocked { by } => pods.get(by).map(|p| p.name.as_str()),
        _ => None,
    });
    match by {
        Some(by) => format!("not created: {by} before it in its StatefulSet does not fit"),
        None => "does not fit".into(),
    }
}

/// Pods that did not fit in every order, grouped by the scheduler's message, biggest group
/// first.
fn group(pods: &[PodRow], orders: usize) -> Vec<Unplaced> {
    let mut out: Vec<Unplaced> = Vec::new();
    for p in pods.iter().filter(|p| p.fits < orders) {
        let message = p.message.clone().unwrap_or_default();
        match out.iter_mut().find(|u| u.message == message) {
            Some(u) => u.pods.push(p.name.clone()),
            None => out.push(Unplaced {
                message,
                pods: vec![p.name.clone()],
            }),
        }
    }
    out.sort_by_key(|u| std::cmp::Reverse(u.pods.len()));
    out
}

/// The memory requests of the pods some node admits (taints, cordon, node selectors and
/// affinity) against the free memory of the nodes that admit at least one of them. A pod no
/// node admits is another finding's business, not a shortage.
pub fn balance(cluster: &Cluster, pods: &[SimPod]) -> Balance {
    let admits = |p: &SimPod, n: &sim::SimNode| sim::static_filters(p, n).is_none();
    let requested: i64 = pods
        .iter()
        .filter(|p| cluster.nodes.iter().any(|n| admits(p, n)))
        .map(|p| p.requests.memory)
        .sum();
    let free: i64 = cluster
        .nodes
        .iter()
        .filter(|n| pods.iter().any(|p| admits(p, n)))
        .map(|n| (n.allocatable.memory - n.requested.memory).max(0))
        .sum();
    Balance {
        requested,
        free,
        short: (requested - free).max(0),
    }
}
