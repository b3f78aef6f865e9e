//! Placements decided by one score plugin each, worked by hand (nodes named so the winner is
//! not simply the first feasible node, which wins ties).

use super::*;
use crate::sim::prepare::Prepared;

/// The scores of `pod` on every node of `c` (all feasible), with nothing placed yet.
fn scores(c: &Cluster, pod: SimPod) -> Scores {
    let pods = [pod];
    let prepared = Prepared::new(c, &pods);
    let state = prepared.initial_state();
    let feasible: Vec<usize> = (0..c.nodes.len()).collect();
    prepared.scores(&state, 0, &feasible)
}

#[test]
fn equal_scores_go_to_the_first_node() {
    let c = cluster(vec![node("a", 4000, gi(4)), node("b", 4000, gi(4))]);
    assert_eq!(place(&c, &[pod("p", 500, gi(1))]), ["a"]);
}

#[test]
fn least_allocated() {
    let c = cluster(vec![
        with(
            node("a", 4000, gi(8)),
            vec![resident("r", 1000, gi(2), &[])],
        ),
        node("b", 4000, gi(8)),
    ]);
    let s = scores(&c, pod("p", 500, gi(1)));
    // a: cpu 2500/4000 → 62, memory 5/8 → 62; b: 3500/4000 → 87, 7/8 → 87.
    assert_eq!(s.least_allocated, [62, 87]);
    assert_eq!(s.balanced_allocation, [75, 75]);
    assert_eq!(s.taint_toleration, [100, 100]);
    assert_eq!(place(&c, &[pod("p", 500, gi(1))]), ["b"]);
    // Missing requests count as 100m and 200Mi for this plugin only.
    let s = scores(&c, pod("p", 0, 0));
    assert_eq!(s.least_allocated, [72, 97]);
    assert_eq!(s.balanced_allocation, [0, 0], "best-effort pods skip it");
}

#[test]
fn balanced_allocation() {
    // LeastAllocated ties at 25; a ends at cpu 0.5, memory 1.0 (std 0.25 → 75, from 87:
    // 50 + (50 + 75 − 87) / 2 = 69); b at 0.75, 0.75 (100, from 87: 81).
    let c = cluster(vec![
        with(
            node("a", 4000, gi(4)),
            vec![resident("r", 1000, gi(2), &[])],
        ),
        with(
            node("b", 4000, gi(4)),
            vec![resident("r", 2000, gi(1), &[])],
        ),
    ]);
    let s = scores(&c, pod("p", 1000, gi(2)));
    assert_eq!(s.least_allocated, [25, 25]);
    assert_eq!(s.balanced_allocation, [69, 81]);
    assert_eq!(place(&c, &[pod("p", 1000, gi(2))]), ["b"]);
}

#[test]
fn taint_toleration_prefer_no_schedule() {
    let c = cluster(vec![
        tainted(node("a", 4000, gi(4)), "spot", "true", "PreferNoSchedule"),
        node("b", 4000, gi(4)),
    ]);
    assert_eq!(
        scores(&c, pod("p", 100, mi(100))).taint_toleration,
        [0, 100]
    );
    assert_eq!(place(&c, &[pod("p", 100, mi(100))]), ["b"]);
    let mut tolerant = pod("p", 100, mi(100));
    tolerant.tolerations = vec![Toleration::new("spot", "Exists", "", "PreferNoSchedule")];
    assert_eq!(place(&c, &[tolerant]), ["a"]);
}

#[test]
fn node_affinity_preferred_terms() {
    let c = cluster(vec![
        labelled(node("a", 4000, gi(4)), &[("disk", "hdd")]),
        labelled(node("b", 4000, gi(4)), &[("disk", "ssd")]),
    ]);
    let mut p = pod("p", 100, mi(100));
    p.preferred_affinity = vec![PreferredTerm {
        weight: 10,
        term: NodeSelectorTerm {
            match_expressions: vec![Requirement::new("disk", Op::In, &["ssd"])],
            match_fields: vec![],
        },
    }];
    assert_eq!(scores(&c, p.clone()).node_affinity, [0, 100]);
    assert_eq!(place(&c, &[p]), ["b"]);
}

#[test]
fn image_locality() {
    let mut b = node("b", 4000, gi(4));
    b.images = vec![NodeImage {
        names: vec!["docker.io/library/nginx:1.27".into()],
        size: 500 << 20,
    }];
    let c = cluster(vec![node("a", 4000, gi(4)), b]);
    let mut p = pod("p", 100, mi(100));
    p.images = vec!["docker.io/library/nginx:1.27".into()];
    // 500Mi on 1 node of 2 → 250Mi: 100 × (250 − 23) / (1000 − 23) = 23.
    assert_eq!(scores(&c, p.clone()).image_locality, [0, 23]);
    assert_eq!(place(&c, &[p.clone()]), ["b"]);
    // The plugin only adds ":latest": a short name does not match the runtime's full name.
    p.images = vec!["nginx:1.27".into()];
    assert_eq!(place(&c, &[p]), ["a"]);
}

#[test]
fn placed_pods_bring_their_images() {
    // Once p1 runs on a, a holds docker.io/library/app:1 too, with the size b reported
    // (the cache keeps one size per name): 900Mi × 2/2 on both, 100 × (900 − 23) / 977 = 89.
    // Before, b alone: 450Mi → 43.
    let mut b = node("b", 4000, gi(4));
    b.images = vec![NodeImage {
        names: vec!["docker.io/library/app:1".into()],
        size: 900 << 20,
    }];
    let c = cluster(vec![node("a", 4000, gi(4)), b]);
    let mut p1 = pod("p1", 100, mi(100));
    p1.node_name = Some("a".into());
    p1.images = vec!["docker.io/library/app:1".into()];
    let mut p2 = pod("p2", 100, mi(100));
    p2.images = p1.images.clone();
    let pods = [p1, p2];
    let prepared = Prepared::new(&c, &pods);
    let mut state = prepared.initial_state();
    assert_eq!(prepared.scores(&state, 1, &[0, 1]).image_locality, [0, 43]);
    assert!(
        matches!(prepared.schedule(&mut state, 0), Outcome::Placed { ref node } if node == "a")
    );
    let s = prepared.scores(&state, 1, &[0, 1]);
    assert_eq!(s.image_locality, [89, 89]);
}

#[test]
fn spreading_by_hostname() {
    // The residents ask for nothing, so only spreading tells the nodes apart: a holds one
    // matching pod. Raw round(1 × ln 4 + 2) = 3 and 2 → 100 × (3 + 2 − s) / 3: 66, 100.
    let web = resident("web-1", 0, 0, &[("app", "web")]);
    let c = cluster(vec![
        with(node("a", 4000, gi(4)), vec![web]),
        with(
            node("b", 4000, gi(4)),
            vec![resident("other", 0, 0, &[("app", "db")])],
        ),
    ]);
    let mut p = pod("p", 100, mi(100));
    p.labels = labels(&[("app", "web")]);
    assert_eq!(place(&c, &[p.clone()]), ["a"], "without a selector: a tie");
    p.spread = Some(Selector::from_map(&labels(&[("app", "web")])));
    assert_eq!(scores(&c, p.clone()).spreading, [66, 100]);
    assert_eq!(place(&c, &[p]), ["b"]);
}

#[test]
fn spreading_by_zone() {
    // z1 holds 2 matching pods (on a), z2 one (on b); c (z1) and d (z2) are empty and in
    // list order a, b, c, d. Raw: a round(2 ln 6 + 2 + 2 ln 4 + 4) = 12, b 9, c 9, d 7
    // → 100 × (12 + 7 − s) / 12: 58, 83, 83, 100.
    let zone = |n: SimNode, z: &str| labelled(n, &[("topology.kubernetes.io/zone", z)]);
    let web = |i: u32| resident(&format!("web-{i}"), 0, 0, &[("app", "web")]);
    let c = cluster(vec![
        zone(with(node("a", 4000, gi(4)), vec![web(1), web(2)]), "z1"),
        zone(with(node("b", 4000, gi(4)), vec![web(3)]), "z2"),
        zone(node("c", 4000, gi(4)), "z1"),
        zone(node("d", 4000, gi(4)), "z2"),
    ]);
    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"], "round-robin over zones");
    let mut p = pod("p", 100, mi(100));
    p.labels = labels(&[("app", "web")]);
    p.spread = Some(Selector::from_map(&p.labels));
    assert_eq!(scores(&c, p.clone()).spreading, [58, 83, 83, 100]);
    assert_eq!(place(&c, &[p]), ["d"]);
}

#[test]
fn node_tree_order_interleaves_zones() {
    let zone =
        |name: &str, z: &str| labelled(node(name, 1, 1), &[("topology.kubernetes.io/zone", z)]);
    let c = cluster(vec![
        zone("n4", "z2"),
        zone("n1", "z1"),
        zone("n3", "z1"),
        zone("n2", "z2"),
        node("n0", 1, 1),
    ]);
    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    // Sorted: n0 (no zone), n1 (z1), n2 (z2), n3 (z1), n4 (z2); zones first seen: "", z1, z2.
    assert_eq!(names, ["n0", "n1", "n2", "n3", "n4"]);
    let c = cluster(vec![zone("a", "z1"), zone("b", "z1"), zone("c", "z2")]);
    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "c", "b"]);
}
