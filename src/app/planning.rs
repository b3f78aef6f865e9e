//! `ttdoctor plan`: will the deployment fit, where will memory be tight, and the smallest
//! change that makes it fit. Changes are the check's own fixes (removing a taint, labelling a
//! node, making a StorageClass the default), tried in memory and re-simulated, and past them
//! nodes like the biggest one the deployment may use, with as little memory as suffices.

use super::{Checker, Error};
use crate::fix::plan::{PlanItem, apply_locally};
use crate::index::Index;
use crate::model::Safety;
use crate::plan::{self, Change, FixStep, Inputs, NewNodes, Options, Plan, Planned};
use crate::sim::{Cluster, SimNode};
use crate::snapshot::{Kind, Snapshot};

/// Fix combinations tried at most this big, among at most this many fixes.
const MAX_FIXES_TOGETHER: usize = 3;
const MAX_CANDIDATES: usize = 8;
/// Nodes added at most.
const MAX_NEW_NODES: usize = 16;
const GIB: i64 = 1 << 30;

impl Checker {
    /// Plans the deployment (`--profile`/`--manifests`) on `snap`, and searches the smallest
    /// change when it does not fit in every order.
    pub fn plan(&self, snap: &Snapshot, opts: &Options) -> Result<Planned, Error> {
        let nodes: Vec<_> = snap.objects.nodes.iter().map(|n| n.get().clone()).collect();
        let model = crate::deploy::load(&self.opts.deployment, &self.opts.namespace, &nodes)
            .map_err(|e| Error::Usage(format!("the deployment could not be read: {e}")))?;
        let base = plan::plan(&Index::new(snap.clone()), &model, opts);
        if base.fits() {
            return Ok(Planned {
                plan: base,
                change: None,
            });
        }
        let report = self.evaluate(snap.clone());
        let fixes = crate::fix::plan::plan(&report, snap, &[]);
        let mut candidates: Vec<&PlanItem> = fixes
            .items
            .iter()
            .filter(|i| i.execs.is_empty() && !i.patches.is_empty() && !i.durable)
            .collect();
        // Safe fixes first: among changes of one size, the first that fits is kept.
        candidates.sort_by_key(|i| i.safety != Safety::Safe);
        candidates.truncate(MAX_CANDIDATES);
        let best = best_fixes(snap, &model, opts, &candidates, &base);
        let steps = best.chosen.iter().map(|&i| step(candidates[i])).collect();
        if best.plan.fits() {
            return Ok(Planned {
                plan: base,
                change: Some(Change {
                    fixes: steps,
                    add_nodes: None,
                    fits: true,
                    after: best.plan,
                }),
            });
        }
        let ix = Index::new(best.snap);
        let inputs = plan::inputs(&ix, &model);
        let (add_nodes, after) = add_nodes(&ix, &inputs, opts);
        let mut after = after.unwrap_or(best.plan);
        after.deployment.clone_from(&model.name);
        Ok(Planned {
            plan: base,
            change: Some(Change {
                fixes: steps,
                fits: add_nodes.is_some(),
                add_nodes,
                after,
            }),
        })
    }
}

fn step(item: &PlanItem) -> FixStep {
    FixStep {
        rule_id: item.rule_id.clone(),
        summary: item.summary.clone(),
        safety: item.safety,
        objects: item.objects.clone(),
        // The rule's own commands read best (`kubectl taint …`); else the exact patches.
        commands: if item.commands.is_empty() {
            item.kubectl.clone()
        } else {
            item.commands.clone()
        },
    }
}

/// Pods that fit in every order.
fn placed(p: &Plan) -> usize {
    p.pods.iter().filter(|r| r.fits == p.orders).count()
}

struct Best {
    chosen: Vec<usize>,
    plan: Plan,
    snap: Snapshot,
}

/// The smallest set of fixes that makes the plan fit, else the smallest that places the most
/// pods (possibly none).
fn best_fixes(
    snap: &Snapshot,
    model: &crate::deploy::Model,
    opts: &Options,
    candidates: &[&PlanItem],
    base: &Plan,
) -> Best {
    let mut best = Best {
        chosen: Vec::new(),
        plan: base.clone(),
        snap: snap.clone(),
    };
    for size in 1..=candidates.len().min(MAX_FIXES_TOGETHER) {
        for subset in combinations(candidates.len(), size) {
            let items: Vec<&PlanItem> = subset.iter().map(|&i| candidates[i]).collect();
            let Ok(changed) = with_fixes(snap, &items) else {
                continue;
            };
            let p = plan::plan(&Index::new(changed.clone()), model, opts);
            if placed(&p) > placed(&best.plan) || p.fits() {
                let fits = p.fits();
                best = Best {
                    chosen: subset,
                    plan: p,
                    snap: changed,
                };
                if fits {
                    return best;
                }
            }
        }
    }
    best
}

/// Every `size`-element subset of `0..n`, in lexicographic order.
fn combinations(n: usize, size: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = (0..size).collect();
    if size > n {
        return out;
    }
    loop {
        out.push(cur.clone());
        let Some(i) = (0..size).rev().find(|&i| cur[i] < n - size + i) else {
            return out;
        };
        cur[i] += 1;
        for j in i + 1..size {
            cur[j] = cur[j - 1] + 1;
        }
    }
}

/// The snapshot with the fixes' patches applied, as the API server would apply them.
fn with_fixes(snap: &Snapshot, items: &[&PlanItem]) -> Result<Snapshot, String> {
    let mut out = snap.clone();
    for p in items.iter().flat_map(|i| &i.patches) {
        let t = &p.target;
        let kind = Kind::parse(&t.kind).ok_or_else(|| format!("unknown kind {}", t.kind))?;
        let at = out
            .find(kind, t.namespace.as_deref(), &t.name)
            .ok_or_else(|| format!("{} {} is not in the snapshot", t.kind, t.name))?;
        let changed = apply_locally(&out.json_at(kind, at), p)?;
        out.replace_value(kind, at, &changed)?;
    }
    Ok(out)
}

/// The node new nodes are modelled on: the one with the most allocatable memory among those
/// the deployment may use.
fn template(inputs: &Inputs) -> Option<&SimNode> {
    inputs
        .cluster
        .nodes
        .iter()
        .filter(|n| {
            inputs
                .pods
                .iter()
                .any(|p| crate::sim::static_filters(p, n).is_none())
        })
        .max_by_key(|n| (n.allocatable.memory, std::cmp::Reverse(n.name.clone())))
}

fn with_new_nodes(cluster: &Cluster, like: &SimNode, count: usize, memory: i64) -> Cluster {
    let mut nodes = cluster.nodes.clone();
    for k in 1..=count {
        let name = format!("new-node-{k}");
        let mut n = SimNode::new(&name, like.allocatable.cpu, memory, like.allocatable.pods);
        n.labels = like.labels.clone();
        n.labels
            .insert("kubernetes.io/hostname".into(), name.clone());
        n.taints = like.taints.clone();
        n.allocatable.ephemeral_storage = like.allocatable.ephemeral_storage;
        nodes.push(n);
    }
    Cluster::new(nodes, cluster.catalog.clone())
}

/// The fewest nodes like the template that make the plan fit, each with the least memory (in
/// whole GiB) that still fits in every order.
fn add_nodes(ix: &Index, inputs: &Inputs, opts: &Options) -> (Option<NewNodes>, Option<Plan>) {
    let Some(like) = template(inputs) else {
        return (None, None);
    };
    let orders = opts.orders.max(1);
    let fits = |count: usize, memory: i64| {
        let cluster = with_new_nodes(&inputs.cluster, like, count, memory);
        crate::sim::fits_every_order(&cluster, &inputs.pods, orders, opts.seed)
    };
    let full = like.allocatable.memory;
    let Some(count) = (1..=MAX_NEW_NODES).find(|&c| fits(c, full)) else {
        return (None, None);
    };
    // Fewest whole GiB per new node that still fit (fitting only grows with memory).
    let (mut lo, mut hi) = (1i64, (full + GIB - 1) / GIB);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fits(count, (mid * GIB).min(full)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // `lo` is the first size the search saw fit, or the template's own (which fits).
    let memory = (lo * GIB).min(full);
    let after = plan::evaluate(
        ix,
        &Inputs {
            cluster: with_new_nodes(&inputs.cluster, like, count, memory),
            pods: inputs.pods.clone(),
            new: inputs.new.clone(),
            replaced: inputs.replaced.clone(),
            pod_usage: inputs.pod_usage.clone(),
        },
        opts,
    );
    let nodes = NewNodes {
        count,
        like: like.name.clone(),
        memory,
        like_memory: full,
    };
    (Some(nodes), Some(after))
}

#[cfg(test)]
mod tests {
    use super::combinations;

    #[test]
    fn combinations_are_every_subset_of_a_size_in_order() {
        assert_eq!(
            combinations(4, 2),
            [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
        );
        assert_eq!(combinations(3, 3), [[0, 1, 2]]);
        assert!(combinations(2, 3).is_empty());
        assert_eq!(combinations(3, 1), [[0], [1], [2]]);
    }
}
