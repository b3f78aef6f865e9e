//! From API objects: a typed Pod to a pod to place, a snapshot to a cluster.

use super::*;
use k8s_openapi::api::core::v1::Pod;

fn typed_pod(v: serde_json::Value) -> Pod {
    object(v)
}

#[test]
fn a_typed_pod() {
    let mut cat = Catalog::default();
    cat.add_service(&object(serde_json::json!({
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"selector": {"app": "web"}},
    })));
    cat.add_replica_set(&object(serde_json::json!({
        "metadata": {"name": "web-abc", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}},
                 "template": {}},
    })));
    let p = typed_pod(serde_json::json!({
        "metadata": {"name": "web-abc-1", "namespace": NS,
                     "labels": {"app": "web", "pod-template-hash": "abc"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                          "uid": "u", "controller": true}]},
        "spec": {
            "priority": 5,
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 3, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}}]
            }},
            "initContainers": [
                {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always",
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                 "ports": [{"containerPort": 9901, "hostPort": 9901}]},
                {"name": "migrate", "image": "tool", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}
            ],
            "containers": [
                {"name": "app", "image": "docker.io/library/web:2",
                 "resources": {"requests": {"cpu": "500m"}},
                 "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]},
                {"name": "log", "image": "busybox"}
            ]
        }
    }));
    let s = SimPod::from_pod(&p, &cat);
    assert_eq!(s.id(), "default/web-abc-1");
    assert_eq!(s.priority, 5);
    // Requests: max(500m + 100m sidecar, 2 cores migrate + 100m) = 2100m; memory: limits
    // are the init container's request: max(64Mi, 1Gi + 64Mi).
    assert_eq!(s.requests.cpu, 2100);
    assert_eq!(s.requests.memory, gi(1) + mi(64));
    // Non-zero: "log" counts 100m/200Mi, "app" 200Mi: cpu max(500 + 100 + 100, 2100);
    // memory max(200 + 200 + 64, 1024 + 64) Mi.
    assert_eq!(s.nonzero.cpu, 2100);
    assert_eq!(s.nonzero.memory, gi(1) + mi(64));
    assert_eq!(
        s.host_ports,
        [
            HostPort::new("", "TCP", 9901),
            HostPort::new("0.0.0.0", "UDP", 8080)
        ]
    );
    assert_eq!(s.node_selector, labels(&[("disk", "ssd")]));
    assert_eq!(
        s.tolerations,
        [Toleration::new("k", "Exists", "", "NoSchedule")]
    );
    let req = s.required_affinity.as_ref().unwrap();
    assert_eq!(
        req[0].match_expressions,
        [Requirement::new("zone", Op::In, &["z1"])]
    );
    assert_eq!(s.preferred_affinity[0].weight, 3);
    assert_eq!(
        s.images,
        ["envoy:1", "tool", "docker.io/library/web:2", "busybox"]
    );
    assert_eq!(s.containers, 4);
    // The spreading selector: the Service's labels, then the ReplicaSet's requirements.
    let spread = s.spread.as_ref().unwrap();
    assert!(spread.matches(&labels(&[("app", "web"), ("pod-template-hash", "abc")])));
    assert!(!spread.matches(&labels(&[("app", "web"), ("pod-template-hash", "xyz")])));
    assert_eq!(s.ordinal, None);
    assert!(s.unmodelled.is_empty());
}

#[test]
fn a_statefulset_pod_with_claims_and_what_is_not_modelled() {
    let mut cat = Catalog::default();
    cat.add_stateful_set(&object(serde_json::json!({
        "metadata": {"name": "db", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": {},
                 "podManagementPolicy": "Parallel"},
    })));
    cat.add_claim(&claim("data-db-3", Some("")));
    let p = typed_pod(serde_json::json!({
        "metadata": {"name": "db-3", "namespace": NS, "labels": {"app": "db"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                          "uid": "u", "controller": true}]},
        "spec": {
            "containers": [{"name": "db", "resources": {"requests": {"nvidia.com/gpu": "1"}}}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-3"}},
                        {"name": "gone", "persistentVolumeClaim": {"claimName": "nope"}}],
            "affinity": {"podAntiAffinity": {}},
            "preemptionPolicy": "Never"
        }
    }));
    let s = SimPod::from_pod(&p, &cat);
    assert_eq!(s.ordinal, Some(3));
    assert!(s.parallel);
    assert!(s.preempt_never);
    assert_eq!(
        s.owner,
        Some(Owner {
            kind: "StatefulSet".into(),
            name: "db".into()
        })
    );
    assert_eq!(
        s.claims.iter().map(|c| c.state.clone()).collect::<Vec<_>>(),
        [
            ClaimState::UnboundImmediate(ImmediateWhy::NoClass),
            ClaimState::Missing
        ]
    );
    assert_eq!(
        s.unmodelled,
        [
            "pod affinity or anti-affinity (InterPodAffinity)",
            "extended resource nvidia.com/gpu (NodeResourcesFit)"
        ]
    );
    assert_eq!(s.nonzero.cpu, DEFAULT_MILLI_CPU);
    // With hostNetwork, a container port is a host port (API defaulting).
    let p = typed_pod(serde_json::json!({
        "metadata": {"name": "agent", "namespace": NS},
        "spec": {"hostNetwork": true,
                 "containers": [{"name": "c", "ports": [{"containerPort": 9100}]}]}
    }));
    assert_eq!(
        SimPod::from_pod(&p, &cat).host_ports,
        [HostPort::new("", "", 9100)]
    );
    assert_eq!(s.nonzero.memory, DEFAULT_MEMORY);
    assert_eq!(s.requests.cpu, 0);
}

#[test]
fn a_cluster_from_a_snapshot() {
    let snap = crate::snapshot::load_str(
        r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: n1, labels: {kubernetes.io/hostname: n1}}
  spec:
    unschedulable: true
    taints: [{key: k, value: v, effect: NoSchedule}]
  status:
    allocatable: {cpu: "2", memory: 4Gi, pods: "110", ephemeral-storage: 10Gi}
    conditions: [{type: Ready, status: "True"}]
    images: [{names: ["docker.io/library/nginx:1.27"], sizeBytes: 1000}]
- apiVersion: v1
  kind: Pod
  metadata: {name: running, namespace: default, labels: {app: a}}
  spec:
    nodeName: n1
    priority: 7
    containers: [{name: c, resources: {requests: {cpu: 250m, memory: 1Gi}}, ports: [{containerPort: 1, hostPort: 53}]}]
  status: {phase: Running}
- apiVersion: v1
  kind: Pod
  metadata: {name: done, namespace: default}
  spec:
    nodeName: n1
    containers: [{name: c, resources: {requests: {cpu: "1"}}}]
  status: {phase: Succeeded}
- apiVersion: v1
  kind: Pod
  metadata: {name: pending, namespace: default}
  spec:
    containers: [{name: c}]
  status: {phase: Pending}
"#,
        "test",
    )
    .unwrap();
    let c = from_index(&crate::index::Index::new(snap));
    assert_eq!(c.nodes.len(), 1);
    let n = &c.nodes[0];
    assert!(n.unschedulable && n.ready);
    assert_eq!(n.taints, [Taint::new("k", "v", "NoSchedule")]);
    assert_eq!(
        n.allocatable,
        Resources {
            cpu: 2000,
            memory: gi(4),
            ephemeral_storage: gi(10),
            pods: 110
        }
    );
    assert_eq!(
        n.requested,
        Resources {
            cpu: 250,
            memory: gi(1),
            ephemeral_storage: 0,
            pods: 1
        }
    );
    assert_eq!(n.nonzero_requested.cpu, 250);
    assert_eq!(n.host_ports, [HostPort::new("", "", 53)]);
    assert_eq!(n.pods[0].priority, 7);
    assert_eq!(n.pods[0].labels, labels(&[("app", "a")]));
    assert_eq!(n.images[0].size, 1000);
}
