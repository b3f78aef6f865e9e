//! Each node before and after the install: what the scheduler counts (requests), what the
//! kernel will see (usage), and how far limits overcommit it.

use super::inputs::Inputs;
use crate::index::{Index, pod_memory};
use crate::sim::{Outcome, Resources};
use serde::Serialize;

/// How a node's usage before the install is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageBasis {
    /// metrics-server's NodeMetrics.
    Metrics,
    /// No metrics: the requests of its pods stand in.
    Requests,
}

/// One node in the plan.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    pub name: String,
    /// Whether the deployment's pods may run there at all (taints, cordon, selectors).
    pub eligible: bool,
    /// cpu in millicores, memory in bytes, pods.
    pub allocatable: Resources,
    pub requested_before: Resources,
    pub requested_after: Resources,
    /// Memory limits of its pods after the install, in bytes.
    pub limits_after: i64,
    pub usage_before: i64,
    pub usage_after: i64,
    pub usage_basis: UsageBasis,
    /// The deployment's pods placed here (in the first order simulated).
    pub placed: Vec<String>,
}

fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    i64::try_from(i128::from(part) * 100 / i128::from(whole)).unwrap_or(i64::MAX)
}

impl NodeRow {
    pub fn usage_percent(&self) -> i64 {
        percent(self.usage_after, self.allocatable.memory)
    }

    pub fn limits_percent(&self) -> i64 {
        percent(self.limits_after, self.allocatable.memory)
    }

    pub fn requested_percent(&self) -> i64 {
        percent(self.requested_after.memory, self.allocatable.memory)
    }
}

fn int(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The rows of every node, with the deployment's pods where `placement` put them.
pub fn rows(ix: &Index, inputs: &Inputs, placement: &[Outcome]) -> Vec<NodeRow> {
    let pods = &ix.snap.objects.pods;
    inputs
        .cluster
        .nodes
        .iter()
        .map(|node| {
            let mut limits = 0i128;
            let mut requests_used = 0i128;
            let mut replaced_usage = 0i128;
            for i in ix.pods_on_node(&node.name) {
                let core = pods[i].core();
                if !core.is_active() {
                    continue;
                }
                let (request, limit) = pod_memory(core);
                if inputs.replaced.contains(&i) {
                    replaced_usage += inputs.pod_usage.get(&i).copied().unwrap_or(request);
                    continue;
                }
                limits += limit;
                requests_used += request;
            }
            let metrics = ix.node_memory(&node.name).usage;
            let (usage_before, basis) = match metrics {
                Some(u) => ((u - replaced_usage).max(0), UsageBasis::Metrics),
                None => (requests_used, UsageBasis::Requests),
            };
            let mut after = node.requested;
            let mut usage_after = usage_before;
            let mut placed = Vec::new();
            for (p, outcome) in placement.iter().enumerate() {
                if outcome.node() == Some(node.name.as_str()) {
                    after.add(&inputs.pods[p].requests);
                    limits += inputs.new[p].memory_limit;
                    usage_after += inputs.new[p].expected;
                    placed.push(inputs.new[p].name.clone());
                }
            }
            NodeRow {
                name: node.name.clone(),
                eligible: inputs
                    .pods
                    .iter()
                    .any(|p| crate::sim::static_filters(p, node).is_none()),
                allocatable: node.allocatable,
                requested_before: node.requested,
                requested_after: after,
                limits_after: int(limits),
                usage_before: int(usage_before),
                usage_after: int(usage_after),
                usage_basis: basis,
                placed,
            }
        })
        .collect()
}
