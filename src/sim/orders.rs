//! Queue orders: the order the scheduler meets pods in, and many seeded ones, since the real
//! order depends on when controllers create pods.

use super::Cluster;
use super::prepare::Prepared;
use super::run::Outcome;
use super::types::SimPod;
use std::collections::HashMap;
use std::fmt;

/// SplitMix64: a small, fast, deterministic generator (Steele, Lea, Flood 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32 for the
    /// sizes here).
    pub fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * (n as u128);
        usize::try_from(wide >> 64).expect("below n")
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The StatefulSet a pod belongs to: `(namespace, set)`.
fn set_of(pod: &SimPod) -> Option<(&str, &str)> {
    pod.owner
        .as_ref()
        .filter(|o| o.kind == "StatefulSet")
        .map(|o| (pod.namespace.as_str(), o.name.as_str()))
}

/// The scheduling queue's order for pods arriving in `arrival` order: higher priority first
/// (PrioritySort), then arrival; the pods of one StatefulSet keep the positions they hold but
/// take them in ordinal order (the controller creates them in that order).
pub fn queue_order(pods: &[SimPod], mut arrival: Vec<usize>) -> Vec<usize> {
    arrival.sort_by_key(|&i| std::cmp::Reverse(pods[i].priority));
    let mut sets: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (pos, &i) in arrival.iter().enumerate() {
        if let Some(set) = set_of(&pods[i]) {
            sets.entry(set).or_default().push(pos);
        }
    }
    for positions in sets.values() {
        let mut members: Vec<usize> = positions.iter().map(|&pos| arrival[pos]).collect();
        members.sort_by_key(|&i| (pods[i].ordinal.unwrap_or(u32::MAX), i));
        for (&pos, i) in positions.iter().zip(members) {
            arrival[pos] = i;
        }
    }
    arrival
}

/// One order's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Pod indices in the order they were scheduled.
    pub order: Vec<usize>,
    /// Per pod (by index in the input), what became of it.
    pub outcomes: Vec<Outcome>,
}

impl Run {
    /// Whether every pod found a node.
    pub fn all_placed(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Placed { .. }))
    }
}

fn run_order(prepared: &Prepared<'_>, order: Vec<usize>) -> Run {
    let pods = prepared.pods;
    let mut state = prepared.initial_state();
    let mut outcomes = vec![Outcome::Blocked { by: usize::MAX }; pods.len()];
    let mut failed_sets: HashMap<(&str, &str), usize> = HashMap::new();
    for &p in &order {
        let set = set_of(&pods[p]).filter(|_| !pods[p].parallel);
        if let Some(&by) = set.and_then(|s| failed_sets.get(&s)) {
            outcomes[p] = Outcome::Blocked { by };
            continue;
        }
        let outcome = prepared.schedule(&mut state, p);
        if let (Some(s), false) = (set, matches!(outcome, Outcome::Placed { .. })) {
            failed_sets.insert(s, p);
        }
        outcomes[p] = outcome;
    }
    Run { order, outcomes }
}

/// Places `pods` in the queue order (priority, then the order given, StatefulSet pods by
/// ordinal), each onto the cluster as the pods before it left it.
pub fn simulate(cluster: &Cluster, pods: &[SimPod]) -> Run {
    let prepared = Prepared::new(cluster, pods);
    run_order(&prepared, queue_order(pods, (0..pods.len()).collect()))
}

/// The arrival orders of [`simulate_orders`]: as given, then `n − 1` seeded shuffles.
fn arrivals(pods: usize, n: usize, seed: u64) -> impl Iterator<Item = Vec<usize>> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(move |k| {
        let mut arrival: Vec<usize> = (0..pods).collect();
        if k > 0 {
            rng.shuffle(&mut arrival);
        }
        arrival
    })
}

/// Whether every pod fits in each of the orders [`simulate_orders`] runs; stops at the first
/// order that leaves one out (a search asks this many times, and most answers are "no").
pub fn fits_every_order(cluster: &Cluster, pods: &[SimPod], n: usize, seed: u64) -> bool {
    let prepared = Prepared::new(cluster, pods);
    arrivals(pods.len(), n, seed)
        .all(|arrival| run_order(&prepared, queue_order(pods, arrival)).all_placed())
}

/// How often something fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Always,
    Sometimes { fits: usize, of: usize },
    Never,
}

impl Verdict {
    pub fn of(fits: usize, orders: usize) -> Verdict {
        match fits {
            0 => Verdict::Never,
            n if n == orders => Verdict::Always,
            n => Verdict::Sometimes {
                fits: n,
                of: orders,
            },
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Always => f.write_str("fits in every order"),
            Verdict::Sometimes { fits, of } => write!(f, "fits in {fits} of {of} orders"),
            Verdict::Never => f.write_str("never fits"),
        }
    }
}

/// One pod across the orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodVerdict {
    /// In how many orders it found a node.
    pub fits: usize,
    pub verdict: Verdict,
    /// The scheduler's message in the first order where it did not fit (`None`: it always
    /// fit, or it was only ever blocked behind an earlier StatefulSet pod).
    pub message: Option<String>,
}

/// The outcome of many orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orders {
    pub runs: Vec<Run>,
    /// Per pod, by index in the input.
    pub pods: Vec<PodVerdict>,
    /// In how many orders every pod fit.
    pub all_fit: usize,
    pub verdict: Verdict,
}

/// Runs `n` orders: the queue order of the pods as given, then `n − 1` seeded shuffles of the
/// arrival order (each put in queue order: priority first, StatefulSet pods by ordinal).
/// The same seed gives the same orders.
pub fn simulate_orders(cluster: &Cluster, pods: &[SimPod], n: usize, seed: u64) -> Orders {
    let prepared = Prepared::new(cluster, pods);
    let runs: Vec<Run> = arrivals(pods.len(), n, seed)
        .map(|arrival| run_order(&prepared, queue_order(pods, arrival)))
        .collect();
    let verdicts = (0..pods.len())
        .map(|p| {
            let fits = runs
                .iter()
                .filter(|r| matches!(r.outcomes[p], Outcome::Placed { .. }))
                .count();
            PodVerdict {
                fits,
                verdict: Verdict::of(fits, n),
                message: runs
                    .iter()
                    .find_map(|r| r.outcomes[p].message().map(str::to_string)),
            }
        })
        .collect();
    let all_fit = runs.iter().filter(|r| r.all_placed()).count();
    Orders {
        verdict: Verdict::of(all_fit, n),
        all_fit,
        pods: verdicts,
        runs,
    }
}
