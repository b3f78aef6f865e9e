//! The Score plugins of the default profile, their normalization and weights, and host
//! selection (`prioritizeNodes`, `newSortedNodeScores`).

use super::prepare::Prepared;
use super::run::State;

/// `fwk.MaxNodeScore`.
const MAX: i64 = 100;

/// The normalized score of each plugin for each feasible node (in the feasible list's order),
/// and the weighted total. A plugin that skips scores 0 everywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scores {
    pub taint_toleration: Vec<i64>,
    pub node_affinity: Vec<i64>,
    pub least_allocated: Vec<i64>,
    pub spreading: Vec<i64>,
    pub balanced_allocation: Vec<i64>,
    pub image_locality: Vec<i64>,
    pub total: Vec<i64>,
}

/// `helper.DefaultNormalizeScore`.
fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX * *s / max;
        if reverse {
            *s = MAX - *s;
        }
    }
}

/// `leastRequestedScore`.
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX / capacity
}

/// `balancedResourceScore` over cpu and memory fractions (resources with no allocatable are
/// left out).
fn balance(requested: [i64; 2], allocatable: [i64; 2]) -> i64 {
    let mut fractions = [0f64; 2];
    let mut len = 0;
    for i in 0..2 {
        if allocatable[i] == 0 {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let f = requested[i] as f64 / allocatable[i] as f64;
        fractions[len] = f.min(1.0);
        len += 1;
    }
    let std = if len == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    #[allow(clippy::cast_possible_truncation)]
    let score = ((1.0 - std) * MAX as f64) as i64;
    score
}

/// The balance of a node's requests (cpu and memory) on its allocatable.
pub fn balance_of(
    requested: &super::types::Resources,
    allocatable: &super::types::Resources,
) -> i64 {
    balance(
        [requested.cpu, requested.memory],
        [allocatable.cpu, allocatable.memory],
    )
}

/// ImageLocality's `calculatePriority`.
fn image_priority(sum: i64, containers: usize) -> i64 {
    const MB: i64 = 1024 * 1024;
    const MIN: i64 = 23 * MB;
    const MAX_PER_CONTAINER: i64 = 1000 * MB;
    let max = MAX_PER_CONTAINER * i64::try_from(containers).unwrap_or(i64::MAX / MAX_PER_CONTAINER);
    if max <= MIN {
        return 0;
    }
    let sum = sum.clamp(MIN, max);
    MAX * (sum - MIN) / (max - MIN)
}

/// Go's `container/heap` `Init` on the scores (a node is "less" when its score is higher;
/// without extenders every `Randomizer` is 0), then `Pop`: the root. Ties go to whichever
/// equal node heapify leaves on top, which is the first one when all scores are equal.
pub fn heap_root(total: &[i64]) -> usize {
    let mut h: Vec<usize> = (0..total.len()).collect();
    let less = |h: &[usize], i: usize, j: usize| total[h[i]] > total[h[j]];
    let n = h.len();
    for start in (0..n / 2).rev() {
        let mut i = start;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(&h, j1 + 1, j1) {
                j = j1 + 1;
            }
            if !less(&h, j, i) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    }
    h[0]
}

impl Prepared<'_> {
    /// Every plugin's score for pod `p` on the feasible nodes.
    pub(crate) fn scores(&self, st: &State, p: usize, feasible: &[usize]) -> Scores {
        let pod = &self.pods[p];
        let plan = &self.plans[p];
        let profile = &self.profiles[plan.profile];
        let nodes = &self.cluster.nodes;
        let mut s = Scores {
            taint_toleration: feasible.iter().map(|&n| profile.taint[n]).collect(),
            node_affinity: profile.preferred.as_ref().map_or_else(
                || vec![0; feasible.len()],
                |raw| feasible.iter().map(|&n| raw[n]).collect(),
            ),
            ..Scores::default()
        };
        default_normalize(&mut s.taint_toleration, true);
        default_normalize(&mut s.node_affinity, false);
        let best_effort = pod.requests.cpu == 0 && pod.requests.memory == 0;
        let total_nodes = nodes.len();
        for &n in feasible {
            let alloc = &nodes[n].allocatable;
            let state = &st.nodes[n];
            let cpu = least_requested(state.nonzero.cpu + pod.nonzero.cpu, alloc.cpu);
            let mem = least_requested(state.nonzero.memory + pod.nonzero.memory, alloc.memory);
            let weights = i64::from(alloc.cpu != 0) + i64::from(alloc.memory != 0);
            let la = if weights == 0 {
                0
            } else {
                (if alloc.cpu != 0 { cpu } else { 0 } + if alloc.memory != 0 { mem } else { 0 })
                    / weights
            };
            s.least_allocated.push(la);
            s.balanced_allocation.push(if best_effort {
                0
            } else {
                let with = balance(
                    [
                        state.requested.cpu + pod.requests.cpu,
                        state.requested.memory + pod.requests.memory,
                    ],
                    [alloc.cpu, alloc.memory],
                );
                MAX / 2 + (MAX / 2 + with - state.balance) / 2
            });
            let sum: i64 = plan
                .images
                .iter()
                .flatten()
                .filter(|id| state.images.contains(id))
                .map(|&id| {
                    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                    let scaled = self.images.size[id as usize] as f64
                        * (f64::from(st.nodes_with[id as usize]) / total_nodes as f64);
                    #[allow(clippy::cast_possible_truncation)]
                    let scaled = scaled as i64;
                    scaled
                })
                .sum();
            s.image_locality.push(image_priority(sum, pod.containers));
        }
        s.spreading = self.spreading(st, p, feasible);
        s.total = (0..feasible.len())
            .map(|i| {
                3 * s.taint_toleration[i]
                    + 2 * s.node_affinity[i]
                    + s.least_allocated[i]
                    + 2 * s.spreading[i]
                    + s.balanced_allocation[i]
                    + s.image_locality[i]
            })
            .collect();
        s
    }

    /// PodTopologySpread with the system default constraints (hostname, maxSkew 3; zone,
    /// maxSkew 5; both ScheduleAnyway): raw `round(Σ count·ln(size+2) + maxSkew−1)` over the
    /// constraints whose key the node has, normalized so fewer matching pods score higher.
    fn spreading(&self, st: &State, p: usize, feasible: &[usize]) -> Vec<i64> {
        let plan = &self.plans[p];
        let Some(g) = plan.group else {
            return vec![0; feasible.len()];
        };
        let counts = &st.counts[g];
        #[allow(clippy::cast_precision_loss)]
        let host_weight = ((feasible.len() + 2) as f64).ln();
        let zones = &self.zones;
        let mut buckets: Vec<i64> = Vec::new();
        let mut zone_weight = 0.0;
        if zones.any {
            let mut seen = vec![false; zones.count];
            let mut size = 0usize;
            for &f in feasible {
                let z = zones.value[f];
                if !seen[z] {
                    seen[z] = true;
                    size += 1;
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let w = ((size + 2) as f64).ln();
            zone_weight = w;
            buckets = vec![0; zones.count];
            let affinity = &self.profiles[plan.profile].affinity;
            for (n, &z) in zones.value.iter().enumerate() {
                if affinity[n] && seen[z] {
                    buckets[z] += i64::from(counts[n]);
                }
            }
        }
        let mut raw: Vec<i64> = feasible
            .iter()
            .map(|&f| {
                let mut score = 0.0;
                if self.has_hostname[f] {
                    score += f64::from(counts[f]) * host_weight + 2.0;
                }
                if zones.present[f] {
                    #[allow(clippy::cast_precision_loss)]
                    let c = buckets[zones.value[f]] as f64;
                    score += c * zone_weight + 4.0;
                }
                #[allow(clippy::cast_possible_truncation)]
                let r = score.round() as i64;
                r
            })
            .collect();
        let min = raw.iter().copied().min().unwrap_or(0);
        let max = raw.iter().copied().max().unwrap_or(0).max(0);
        for s in &mut raw {
            *s = if max == 0 {
                MAX
            } else {
                MAX * (max + min - *s) / max
            };
        }
        raw
    }

    /// The node the scheduler picks among the feasible ones.
    pub(crate) fn select(&self, st: &State, p: usize, feasible: &[usize]) -> usize {
        feasible[heap_root(&self.scores(st, p, feasible).total)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heapify_picks_like_go() {
        // All equal: the first.
        assert_eq!(heap_root(&[5, 5, 5]), 0);
        // The first maximum in the list is not always the root: heapify sifts the left
        // child's subtree first (worked through by hand from container/heap).
        assert_eq!(heap_root(&[1, 5, 9, 9, 9]), 3);
        assert_eq!(heap_root(&[1, 9, 5, 9]), 1);
        assert_eq!(heap_root(&[7]), 0);
    }

    #[test]
    fn formulas_match_the_plugins() {
        assert_eq!(least_requested(1000, 4000), 75);
        assert_eq!(least_requested(5000, 4000), 0);
        // Perfect balance with and without the pod: 50 + (50 + 100 - 100) / 2 = 75.
        assert_eq!(balance([1, 1], [2, 2]), 100);
        assert_eq!(balance([1000, 0], [2000, 1]), 75);
        assert_eq!(image_priority(0, 1), 0);
        assert_eq!(image_priority(1000 << 20, 1), 100);
        let mut s = vec![0, 1, 2];
        default_normalize(&mut s, true);
        assert_eq!(s, vec![100, 50, 0]);
    }
}
