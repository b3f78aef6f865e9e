//! Queue orders, verdicts across orders, StatefulSet ordering, and the search limit on
//! clusters over 100 nodes.

use super::*;

fn sts_pod(set: &str, ordinal: u32, cpu: i64) -> SimPod {
    let mut p = pod(&format!("{set}-{ordinal}"), cpu, mi(100));
    p.owner = Some(Owner {
        kind: "StatefulSet".into(),
        name: set.into(),
    });
    p.ordinal = Some(ordinal);
    p
}

#[test]
fn queue_order_is_priority_then_arrival_with_ordinals_kept() {
    let mut high = pod("high", 1, 1);
    high.priority = 10;
    let pods = vec![
        pod("a", 1, 1),
        sts_pod("db", 2, 1),
        pod("b", 1, 1),
        sts_pod("db", 0, 1),
        high,
        sts_pod("db", 1, 1),
    ];
    let order = queue_order(&pods, (0..pods.len()).collect());
    let names: Vec<&str> = order.iter().map(|&i| pods[i].name.as_str()).collect();
    assert_eq!(names, ["high", "a", "db-0", "b", "db-1", "db-2"]);
}

#[test]
fn the_generator_is_splitmix64() {
    let mut r = SplitMix64::new(0);
    assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
    let mut a = SplitMix64::new(42);
    let mut b = SplitMix64::new(42);
    let mut x: Vec<u32> = (0..10).collect();
    let mut y = x.clone();
    a.shuffle(&mut x);
    b.shuffle(&mut y);
    assert_eq!(x, y);
    assert_ne!(x, (0..10).collect::<Vec<_>>());
}

#[test]
fn verdicts_across_orders() {
    // Big first: big on a, small on b. Small first: small takes a (more room), big fits
    // nowhere.
    let c = cluster(vec![node("a", 2000, gi(4)), node("b", 1000, gi(4))]);
    let pods = vec![pod("big", 2000, mi(100)), pod("small", 1000, mi(100))];
    let o = simulate_orders(&c, &pods, 20, 7);
    assert_eq!(o.runs.len(), 20);
    assert_eq!(o.runs[0].order, [0, 1], "the first order is the one given");
    assert!(o.runs[0].all_placed());
    let big_first = o.runs.iter().filter(|r| r.order[0] == 0).count();
    assert!(
        0 < big_first && big_first < 20,
        "both orders occur: {big_first}"
    );
    assert_eq!(o.pods[0].fits, big_first);
    assert_eq!(
        o.pods[0].verdict,
        Verdict::Sometimes {
            fits: big_first,
            of: 20
        }
    );
    assert_eq!(o.pods[1].verdict, Verdict::Always);
    assert_eq!(o.all_fit, big_first);
    assert_eq!(
        o.verdict.to_string(),
        format!("fits in {big_first} of 20 orders")
    );
    assert_eq!(
        o.pods[0].message.as_deref(),
        Some(
            format!("0/2 nodes are available: 2 Insufficient cpu.{POST}0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
                .as_str()
        )
    );
    assert_eq!(simulate_orders(&c, &pods, 20, 7), o, "seeded");
    // The search's early-stopping question agrees with the orders it stands for.
    assert!(
        !fits_every_order(&c, &pods, 20, 7),
        "some orders leave a pod out"
    );
    let one_order = simulate_orders(&c, &pods, 1, 7);
    assert_eq!(
        fits_every_order(&c, &pods, 1, 7),
        one_order.verdict == Verdict::Always
    );
    assert_eq!(Verdict::Always.to_string(), "fits in every order");
    let never = simulate_orders(&c, &[pod("huge", 5000, 1)], 3, 1);
    assert_eq!(never.verdict.to_string(), "never fits");
}

#[test]
fn an_unschedulable_ordinal_blocks_the_rest_of_its_set() {
    let c = cluster(vec![node("a", 1000, gi(4))]);
    let pods = vec![
        sts_pod("db", 2, 600),
        sts_pod("db", 1, 600),
        sts_pod("db", 0, 600),
    ];
    let run = simulate(&c, &pods);
    let names: Vec<&str> = run.order.iter().map(|&i| pods[i].name.as_str()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    assert_eq!(run.outcomes[2], Outcome::Placed { node: "a".into() });
    assert!(run.outcomes[1].message().is_some());
    assert_eq!(run.outcomes[0], Outcome::Blocked { by: 1 });
    // Parallel sets create every pod: each one tries.
    let parallel: Vec<SimPod> = pods
        .into_iter()
        .map(|mut p| {
            p.parallel = true;
            p
        })
        .collect();
    let run = simulate(&c, &parallel);
    assert!(run.outcomes[0].message().is_some());
}

#[test]
fn search_limit_over_100_nodes() {
    assert_eq!(feasible_nodes_to_find(0, 99), 99);
    assert_eq!(feasible_nodes_to_find(0, 150), 100);
    assert_eq!(feasible_nodes_to_find(0, 1000), 420);
    assert_eq!(feasible_nodes_to_find(0, 5000), 500);
    assert_eq!(feasible_nodes_to_find(0, 6000), 300);
    assert_eq!(feasible_nodes_to_find(30, 1000), 300);
    assert_eq!(feasible_nodes_to_find(1, 1000), 100);
    // 150 equal nodes: each cycle filters 100 of them from where the last one stopped, so the
    // second pod lands on n100 (n001 is never looked at) and the third on n050.
    let nodes = (0..150)
        .map(|i| node(&format!("n{i:03}"), 4000, gi(4)))
        .collect();
    let c = cluster(nodes);
    let pods: Vec<SimPod> = (0..3).map(|i| pod(&format!("p{i}"), 1000, gi(1))).collect();
    assert_eq!(place(&c, &pods), ["n000", "n100", "n050"]);
    // Scoring every node instead (100%): the second pod takes n001.
    let mut all = c.clone();
    all.percentage_of_nodes_to_score = 100;
    assert_eq!(place(&all, &pods)[1], "n001");
}

/// Past the 100-node search limit, every pod of 500 spread apps finds a node in every order.
/// (~3 s in a debug build; its time is measured by `cargo bench --bench plan`.)
#[test]
fn five_thousand_pods_onto_five_hundred_nodes() {
    let zones = ["z1", "z2", "z3"];
    let nodes = (0..500)
        .map(|i| {
            let mut n = labelled(
                node(&format!("node-{i:03}"), 16_000, gi(64)),
                &[("topology.kubernetes.io/zone", zones[i % 3])],
            );
            n.images = vec![NodeImage {
                names: vec![format!("docker.io/library/app-{}:1", i % 50)],
                size: 300 << 20,
            }];
            n
        })
        .collect();
    let c = cluster(nodes);
    let pods: Vec<SimPod> = (0..5000)
        .map(|i| {
            let app = format!("app-{}", i / 10);
            let mut p = pod(
                &format!("{app}-{i}"),
                100 + (i % 7) * 50,
                mi(128 + (i % 5) * 64),
            );
            p.labels = labels(&[("app", &app)]);
            p.spread = Some(Selector::from_map(&p.labels));
            p.images = vec![format!("docker.io/library/app-{}:1", i % 50)];
            p
        })
        .collect();
    let o = simulate_orders(&c, &pods, 5, 1);
    assert_eq!(o.verdict, Verdict::Always);
    assert_eq!(o.all_fit, 5);
    assert!(fits_every_order(&c, &pods, 5, 1));
}
