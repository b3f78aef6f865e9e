//! The FailedScheduling message: histogram order, the PostFilter suffixes, the PreFilter and
//! zero-node forms.

use super::*;

#[test]
fn histogram_sorts_as_strings_not_by_count() {
    // Ten tainted nodes and two without the label: "10 …" sorts before "2 …".
    let mut nodes: Vec<SimNode> = (0..10)
        .map(|i| {
            tainted(
                node(&format!("t{i:02}"), 4000, gi(4)),
                "k",
                "",
                "NoSchedule",
            )
        })
        .collect();
    nodes.push(node("u1", 4000, gi(4)));
    nodes.push(node("u2", 4000, gi(4)));
    let mut p = pod("p", 100, mi(100));
    p.node_selector = labels(&[("disk", "ssd")]);
    assert_eq!(
        fail(&cluster(nodes), p),
        format!(
            "0/12 nodes are available: 10 node(s) had untolerated taint(s), 2 node(s) didn't match Pod's node affinity/selector.{POST}0/12 nodes are available: 12 Preemption is not helpful for scheduling."
        )
    );
}

#[test]
fn upper_case_sorts_before_lower_case() {
    // G1's shape: a full worker and a tainted control plane.
    let c = cluster(vec![
        tainted(
            node("cp", 4000, gi(4)),
            "node-role.kubernetes.io/control-plane",
            "",
            "NoSchedule",
        ),
        with(
            node("w", 4000, gi(1)),
            vec![resident("r", 100, mi(900), &[])],
        ),
    ]);
    assert_eq!(
        fail(&c, pod("p", 100, mi(300))),
        format!(
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s).{POST}0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        )
    );
}

#[test]
fn preemption_counts_resolvable_and_unresolvable_nodes() {
    let c = cluster(vec![
        with(node("a", 4000, gi(4)), vec![resident("r", 3000, 0, &[])]),
        node("b", 1000, gi(4)),
    ]);
    assert_eq!(
        fail(&c, pod("p", 2000, mi(100))),
        format!(
            "0/2 nodes are available: 2 Insufficient cpu.{POST}0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        )
    );
}

#[test]
fn lower_priority_pods_are_victims() {
    let low = resident("low", 1000, 0, &[]);
    let mut high = resident("high", 2500, 0, &[]);
    high.priority = 100;
    let mut p = pod("p", 2000, mi(100));
    p.priority = 100;
    // Evicting the low-priority pod frees 1,500m of the 2,000m needed: the dry run's own
    // filter reason.
    let c = cluster(vec![with(node("a", 4000, gi(4)), vec![low.clone(), high])]);
    assert_eq!(
        fail(&c, p.clone()),
        format!(
            "0/1 nodes are available: 1 Insufficient cpu.{POST}0/1 nodes are available: 1 Insufficient cpu."
        )
    );
    // Enough once it goes: preemption succeeds, no PostFilter text.
    let c = cluster(vec![with(
        node("a", 4000, gi(4)),
        vec![low, resident("eq", 1500, 0, &[])],
    )]);
    let mut p0 = p.clone();
    p0.priority = 0;
    assert!(
        fail(&c, p0).ends_with("1 No preemption victims found for incoming pod."),
        "equal priority is no victim"
    );
    let run = simulate(&c, &[p]);
    assert_eq!(
        run.outcomes[0],
        Outcome::Unschedulable {
            message: "0/1 nodes are available: 1 Insufficient cpu.".into(),
            preempts: true
        }
    );
}

#[test]
fn preemption_policy_never() {
    let c = cluster(vec![node("a", 1000, gi(4))]);
    let mut p = pod("p", 2000, mi(100));
    p.preempt_never = true;
    assert_eq!(
        fail(&c, p),
        format!(
            "0/1 nodes are available: 1 Insufficient cpu.{POST}not eligible due to preemptionPolicy=Never."
        )
    );
}

#[test]
fn no_nodes() {
    assert_eq!(
        fail(&cluster(vec![]), pod("p", 1, 1)),
        "no nodes available to schedule pods"
    );
}

#[test]
fn prefilter_failure_hides_the_histogram() {
    // seed-broken-cluster's tsdb-mysql-2: also too big for every node, but PreFilter speaks.
    let mut cat = Catalog::default();
    cat.add_claim(&claim("data", None));
    let c = Cluster::new(
        vec![node("a", 100, mi(100)), node("b", 100, mi(100))],
        cat.clone(),
    );
    let mut p = pod_with_claims("db-0", &["data"], &cat);
    p.requests.memory = gi(64);
    assert_eq!(
        fail(&c, p),
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found"
    );
}

#[test]
fn events_cut_long_messages() {
    assert_eq!(event_message("short"), "short");
    let long = "x".repeat(2000);
    let cut = event_message(&long);
    assert_eq!(cut.len(), 1024);
    assert!(cut.ends_with("x ..."));
}
