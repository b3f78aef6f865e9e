//! Each filter: its reason string, its code (seen through the preemption text), the order in
//! which filters reject.

use super::*;

const NOT_HELPFUL_1: &str = "0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
const NO_VICTIMS_1: &str =
    "0/1 nodes are available: 1 No preemption victims found for incoming pod.";

fn one(reason: &str, preemption: &str) -> String {
    format!("0/1 nodes are available: 1 {reason}.{POST}{preemption}")
}

#[test]
fn node_unschedulable_unless_tolerated() {
    let mut n = node("a", 4000, gi(4));
    n.unschedulable = true;
    let c = cluster(vec![n]);
    assert_eq!(
        fail(&c, pod("p", 100, mi(100))),
        one("node(s) were unschedulable", NOT_HELPFUL_1)
    );
    let mut p = pod("p", 100, mi(100));
    p.tolerations = vec![Toleration::new(
        "node.kubernetes.io/unschedulable",
        "Exists",
        "",
        "NoSchedule",
    )];
    assert_eq!(place(&c, &[p]), ["a"]);
}

#[test]
fn node_name() {
    let c = cluster(vec![node("a", 4000, gi(4))]);
    let mut p = pod("p", 100, mi(100));
    p.node_name = Some("b".into());
    assert_eq!(
        fail(&c, p),
        one(
            "node(s) didn't match the requested node name",
            NOT_HELPFUL_1
        )
    );
}

#[test]
fn taints_and_tolerations() {
    let cp = "node-role.kubernetes.io/control-plane";
    let taint = one("node(s) had untolerated taint(s)", NOT_HELPFUL_1);
    let c = cluster(vec![tainted(node("a", 4000, gi(4)), cp, "", "NoSchedule")]);
    assert_eq!(fail(&c, pod("p", 100, mi(100))), taint);
    let fits = |t: Toleration| {
        let mut p = pod("p", 100, mi(100));
        p.tolerations = vec![t];
        place(&c, &[p])[0] == "a"
    };
    assert!(fits(Toleration::new(cp, "Exists", "", "NoSchedule")));
    assert!(
        fits(Toleration::new(cp, "Exists", "", "")),
        "an empty effect matches all"
    );
    assert!(
        fits(Toleration::new("", "Exists", "", "")),
        "an empty key matches all"
    );
    assert!(
        fits(Toleration::new(cp, "", "", "NoSchedule")),
        "Equal to the empty value"
    );
    assert!(!fits(Toleration::new(cp, "Exists", "", "NoExecute")));
    assert!(!fits(Toleration::new(cp, "Equal", "x", "NoSchedule")));
    assert!(
        !fits(Toleration::new(cp, "Gt", "1", "NoSchedule")),
        "the gate is off"
    );
    // NoExecute filters too; PreferNoSchedule only scores.
    let c = cluster(vec![tainted(node("a", 4000, gi(4)), "k", "v", "NoExecute")]);
    assert_eq!(fail(&c, pod("p", 100, mi(100))), taint);
    let c = cluster(vec![tainted(
        node("a", 4000, gi(4)),
        "k",
        "v",
        "PreferNoSchedule",
    )]);
    assert_eq!(place(&c, &[pod("p", 100, mi(100))]), ["a"]);
}

#[test]
fn node_affinity_and_selector() {
    let c = cluster(vec![labelled(
        node("a", 4000, gi(4)),
        &[("disk", "ssd"), ("cores", "8")],
    )]);
    let miss = one(
        "node(s) didn't match Pod's node affinity/selector",
        NOT_HELPFUL_1,
    );
    let with_selector = |pairs: &[(&str, &str)]| {
        let mut p = pod("p", 100, mi(100));
        p.node_selector = labels(pairs);
        place(&c, &[p])[0] == "a"
    };
    assert!(with_selector(&[("disk", "ssd")]));
    assert!(!with_selector(&[("disk", "hdd")]));
    let with_terms = |terms: Vec<NodeSelectorTerm>| {
        let mut p = pod("p", 100, mi(100));
        p.required_affinity = Some(terms);
        place(&c, &[p])[0] == "a"
    };
    let expr = |r: Requirement| NodeSelectorTerm {
        match_expressions: vec![r],
        match_fields: vec![],
    };
    assert!(with_terms(vec![expr(Requirement::new(
        "disk",
        Op::In,
        &["hdd", "ssd"]
    ))]));
    assert!(!with_terms(vec![expr(Requirement::new(
        "disk",
        Op::NotIn,
        &["ssd"]
    ))]));
    assert!(with_terms(vec![expr(Requirement::new(
        "gpu",
        Op::NotIn,
        &["x"]
    ))]));
    assert!(with_terms(vec![expr(Requirement::new(
        "disk",
        Op::Exists,
        &[]
    ))]));
    assert!(with_terms(vec![expr(Requirement::new(
        "gpu",
        Op::DoesNotExist,
        &[]
    ))]));
    assert!(with_terms(vec![expr(Requirement::new(
        "cores",
        Op::Gt,
        &["4"]
    ))]));
    assert!(!with_terms(vec![expr(Requirement::new(
        "cores",
        Op::Lt,
        &["4"]
    ))]));
    assert!(
        !with_terms(vec![expr(Requirement::new("disk", Op::Gt, &["4"]))]),
        "not a number"
    );
    assert!(
        !with_terms(vec![expr(Requirement::new("disk", Op::Exists, &["x"]))]),
        "invalid"
    );
    // Terms are ORed; an empty term matches nothing; no terms match nothing.
    assert!(with_terms(vec![
        NodeSelectorTerm::default(),
        expr(Requirement::new("disk", Op::In, &["ssd"]))
    ]));
    assert!(!with_terms(vec![NodeSelectorTerm::default()]));
    assert!(!with_terms(vec![]));
    let fields = |op: Op, name: &str| NodeSelectorTerm {
        match_expressions: vec![],
        match_fields: vec![Requirement::new("metadata.name", op, &[name])],
    };
    assert!(with_terms(vec![fields(Op::NotIn, "b")]));
    assert!(!with_terms(vec![fields(Op::NotIn, "a")]));
    let mut p = pod("p", 100, mi(100));
    p.node_selector = labels(&[("disk", "hdd")]);
    assert_eq!(fail(&c, p), miss);
}

#[test]
fn node_affinity_prefilter_narrows_to_named_nodes() {
    let c = cluster(vec![
        node("a", 4000, gi(4)),
        tainted(node("b", 4000, gi(4)), "k", "", "NoSchedule"),
        node("c", 4000, gi(4)),
    ]);
    let names = |names: &[&str]| NodeSelectorTerm {
        match_expressions: vec![],
        match_fields: names
            .iter()
            .map(|n| Requirement::new("metadata.name", Op::In, &[n]))
            .collect(),
    };
    let mut p = pod("p", 100, mi(100));
    p.required_affinity = Some(vec![names(&["b"])]);
    assert_eq!(
        fail(&c, p.clone()),
        format!(
            "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't satisfy plugin(s) [NodeAffinity].{POST}0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )
    );
    p.required_affinity = Some(vec![names(&["b"]), names(&["c"])]);
    assert_eq!(place(&c, &[p.clone()]), ["c"]);
    // Two names ANDed in one term: no node; PreFilter fails before DynamicResources.
    p.required_affinity = Some(vec![names(&["a", "c"])]);
    assert_eq!(
        fail(&c, p),
        "0/3 nodes are available: pod affinity terms conflict. not found"
    );
}

#[test]
fn node_ports() {
    let mut a = node("a", 4000, gi(4));
    let mut web = resident("web", 100, mi(100), &[]);
    web.host_ports = vec![HostPort::new("", "", 80)];
    a.add_pod(web);
    let c = cluster(vec![a]);
    let with_port = |ip: &str, protocol: &str, port: i32| {
        let mut p = pod("p", 100, mi(100));
        p.host_ports = vec![HostPort::new(ip, protocol, port)];
        p
    };
    assert_eq!(
        fail(&c, with_port("", "TCP", 80)),
        one(
            "node(s) didn't have free ports for the requested pod ports",
            NO_VICTIMS_1
        )
    );
    // The resident binds 0.0.0.0: any IP conflicts; another protocol or port does not.
    assert!(place(&c, &[with_port("10.0.0.1", "", 80)])[0].starts_with('!'));
    assert_eq!(place(&c, &[with_port("", "UDP", 80)]), ["a"]);
    assert_eq!(place(&c, &[with_port("", "", 8080)]), ["a"]);
    // Two pods of one run: the first takes the port.
    assert_eq!(
        place(
            &cluster(vec![node("b", 4000, gi(4))]),
            &[with_port("", "", 80), with_port("", "", 80)]
        )[1],
        format!(
            "!{}",
            one(
                "node(s) didn't have free ports for the requested pod ports",
                NO_VICTIMS_1
            )
        )
    );
}

#[test]
fn node_resources_fit() {
    let busy = with(
        node("a", 4000, gi(4)),
        vec![resident("r", 3000, gi(3), &[])],
    );
    let c = cluster(vec![busy]);
    // One reason per insufficient resource; within allocatable, preemption could help.
    assert_eq!(
        fail(&c, pod("p", 2000, gi(2))),
        format!(
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.{POST}{NO_VICTIMS_1}"
        )
    );
    assert_eq!(
        fail(&c, pod("p", 2000, mi(100))),
        one("Insufficient cpu", NO_VICTIMS_1)
    );
    // More than allocatable: unresolvable, so preemption is not helpful.
    assert_eq!(
        fail(&c, pod("p", 100, gi(5))),
        one("Insufficient memory", NOT_HELPFUL_1)
    );
    // A pod asking for nothing still needs a pod slot.
    let mut full = node("f", 4000, gi(4));
    full.allocatable.pods = 1;
    let full = with(full, vec![resident("r", 0, 0, &[])]);
    assert_eq!(
        fail(&cluster(vec![full]), pod("p", 0, 0)),
        one("Too many pods", NO_VICTIMS_1)
    );
    let mut eph = node("e", 4000, gi(4));
    eph.allocatable.ephemeral_storage = gi(10);
    let mut p = pod("p", 100, mi(100));
    p.requests.ephemeral_storage = gi(20);
    assert_eq!(
        fail(&cluster(vec![eph]), p),
        one("Insufficient ephemeral-storage", NOT_HELPFUL_1)
    );
}

#[test]
fn first_rejecting_filter_wins() {
    // Cordoned, tainted, unlabelled and full: NodeUnschedulable speaks.
    let mut n = tainted(
        with(
            node("a", 1000, gi(1)),
            vec![resident("r", 1000, gi(1), &[])],
        ),
        "k",
        "",
        "NoSchedule",
    );
    n.unschedulable = true;
    let mut p = pod("p", 500, mi(100));
    p.node_selector = labels(&[("x", "y")]);
    let c = cluster(vec![n.clone()]);
    assert!(fail(&c, p.clone()).contains("1 node(s) were unschedulable."));
    n.unschedulable = false;
    assert!(
        fail(&cluster(vec![n.clone()]), p.clone()).contains("1 node(s) had untolerated taint(s).")
    );
    n.taints.clear();
    assert!(
        fail(&cluster(vec![n.clone()]), p.clone())
            .contains("1 node(s) didn't match Pod's node affinity/selector.")
    );
    p.node_selector.clear();
    assert!(fail(&cluster(vec![n]), p).contains("1 Insufficient cpu, 1 Insufficient memory."));
}

#[test]
fn volume_binding_prefilter() {
    let mut cat = Catalog::default();
    cat.add_storage_class(&storage_class(
        "local",
        "WaitForFirstConsumer",
        "kubernetes.io/no-provisioner",
    ));
    cat.add_storage_class(&storage_class("fast", "Immediate", "example.com/csi"));
    cat.add_claim(&claim("no-class", Some("")));
    cat.add_claim(&claim("gone-class", Some("nope")));
    cat.add_claim(&claim("immediate", Some("fast")));
    let c = Cluster::new(
        vec![node("a", 4000, gi(4)), node("b", 4000, gi(4))],
        cat.clone(),
    );
    for name in ["no-class", "gone-class", "immediate"] {
        assert_eq!(
            fail(&c, pod_with_claims("p", &[name], &cat)),
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found",
            "{name}"
        );
    }
    // A missing claim: VolumeRestrictions' PreFilter speaks first.
    assert_eq!(
        fail(&c, pod_with_claims("p", &["immediate", "missing"], &cat)),
        "0/2 nodes are available: persistentvolumeclaim \"missing\" not found. not found"
    );
}

#[test]
fn volume_binding_filter() {
    let mut cat = Catalog::default();
    cat.add_storage_class(&storage_class(
        "local",
        "WaitForFirstConsumer",
        "kubernetes.io/no-provisioner",
    ));
    cat.add_storage_class(&storage_class(
        "hostpath",
        "WaitForFirstConsumer",
        "openebs.io/local",
    ));
    cat.add_volume(&claimed(local_volume("pv-b", "5Gi", "b"), "bound-b"));
    cat.add_volume(&local_volume("pv-b-small", "512Mi", "b"));
    cat.add_volume(&local_volume("pv-b3", "3Gi", "b"));
    cat.add_volume(&local_volume("pv-b2", "2Gi", "b"));
    cat.add_claim(&bound_claim("bound-b", "pv-b"));
    cat.add_claim(&bound_claim("bound-nowhere", "pv-none"));
    for name in ["wffc-1", "wffc-2", "wffc-3"] {
        cat.add_claim(&claim(name, Some("local")));
    }
    cat.add_claim(&claim("dynamic", Some("hostpath")));
    let c = Cluster::new(
        vec![node("a", 4000, gi(4)), node("b", 4000, gi(4))],
        cat.clone(),
    );
    let not_helpful_2 = "0/2 nodes are available: 2 Preemption is not helpful for scheduling.";
    // Bound: the PV's node affinity.
    assert_eq!(
        place(&c, &[pod_with_claims("p", &["bound-b"], &cat)]),
        ["b"]
    );
    assert_eq!(
        fail(&c, pod_with_claims("p", &["bound-nowhere"], &cat)),
        format!(
            "0/2 nodes are available: 2 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s).{POST}{not_helpful_2}"
        )
    );
    // WaitForFirstConsumer without a provisioner: available local PVs that are big enough,
    // each bound once (the claimed one and the small one are out).
    let pods = [
        pod_with_claims("p1", &["wffc-1"], &cat),
        pod_with_claims("p2", &["wffc-2"], &cat),
        pod_with_claims("p3", &["wffc-3"], &cat),
    ];
    let placed = place(&c, &pods);
    assert_eq!(placed[..2], ["b", "b"]);
    assert_eq!(
        placed[2],
        format!(
            "!0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind.{POST}{not_helpful_2}"
        )
    );
    // Both reasons on each node (the binder appends them in its order; the histogram sorts).
    let elsewhere = Cluster::new(
        vec![node("a", 4000, gi(4)), node("c", 4000, gi(4))],
        cat.clone(),
    );
    assert_eq!(
        fail(
            &elsewhere,
            pod_with_claims("p", &["bound-b", "wffc-1"], &cat)
        ),
        format!(
            "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind, 2 node(s) didn't match PersistentVolume's node affinity.{POST}{not_helpful_2}"
        )
    );
    // A provisioner: any node; the claim then stays on its first pod's node, though the
    // second pod would otherwise prefer the emptier node.
    let shared = [
        pod_with_claims("p1", &["dynamic"], &cat),
        pod_with_claims("p2", &["dynamic"], &cat),
    ];
    assert_eq!(place(&c, &shared), ["a", "a"]);
    let apart = [pod("p1", 100, mi(100)), pod("p2", 100, mi(100))];
    assert_eq!(place(&c, &apart), ["a", "b"]);
    // allowedTopologies limits where it can provision.
    let mut zoned = storage_class("zoned", "WaitForFirstConsumer", "example.com/csi");
    zoned.allowed_topologies = Some(vec![object(serde_json::json!(
        {"matchLabelExpressions": [{"key": "kubernetes.io/hostname", "values": ["b"]}]}
    ))]);
    cat.add_storage_class(&zoned);
    cat.add_claim(&claim("zoned-claim", Some("zoned")));
    let c = Cluster::new(
        vec![node("a", 4000, gi(4)), node("b", 4000, gi(4))],
        cat.clone(),
    );
    assert_eq!(
        place(&c, &[pod_with_claims("p", &["zoned-claim"], &cat)]),
        ["b"]
    );
}

#[test]
fn default_class_and_claim_states() {
    let mut cat = Catalog::default();
    cat.add_claim(&claim("early", None));
    assert_eq!(
        cat.claim_state(NS, "early"),
        ClaimState::UnboundImmediate(ImmediateWhy::NoClass)
    );
    let mut sc = storage_class(
        "openebs-hostpath",
        "WaitForFirstConsumer",
        "openebs.io/local",
    );
    sc.metadata.annotations = Some(labels(&[(
        "storageclass.kubernetes.io/is-default-class",
        "true",
    )]));
    cat.add_storage_class(&sc);
    cat.add_claim(&claim("late", None));
    cat.add_claim(&claim("explicit-none", Some("")));
    // Admission (and, for the older claim, the PV controller) give the default class; an
    // explicit "" stays without one.
    for name in ["early", "late"] {
        assert!(matches!(
            cat.claim_state(NS, name),
            ClaimState::WaitForFirstConsumer(DelayedClaim { ref class, .. }) if class == "openebs-hostpath"
        ));
    }
    assert_eq!(
        cat.claim_state(NS, "explicit-none"),
        ClaimState::UnboundImmediate(ImmediateWhy::NoClass)
    );
    assert_eq!(cat.claim_state(NS, "nope"), ClaimState::Missing);
}
