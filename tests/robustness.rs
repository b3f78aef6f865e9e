//! Real clusters hand rules sparse objects (no status yet, no resourceVersion in a hand-made
//! snapshot, a Service without a selector). No rule may fail to evaluate on them.

use ttdoctor::engine::{self, RunOptions};
use ttdoctor::index::Index;
use ttdoctor::model::Phase;

const SPARSE: &str = r#"apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: bare-node}}
- {apiVersion: v1, kind: Node, metadata: {generateName: scheduler-perf-}}
- apiVersion: v1
  kind: Node
  metadata: {name: tainted, labels: {node-role.kubernetes.io/control-plane: ""}}
  spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
- {apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: openebs-hostpath}, provisioner: openebs.io/local}
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
  metadata: {name: other, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
  provisioner: example.com/other
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
  metadata: {name: beta, annotations: {storageclass.beta.kubernetes.io/is-default-class: "true"}}
  provisioner: example.com/beta
- {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: data-x-mysql-0, namespace: train-ticket}, spec: {}, status: {phase: Pending}}
- {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: static, namespace: train-ticket}, spec: {storageClassName: ""}, status: {phase: Pending}}
- {apiVersion: v1, kind: Namespace, metadata: {name: train-ticket}}
- {apiVersion: v1, kind: Pod, metadata: {name: bare-pod, namespace: train-ticket}}
- apiVersion: v1
  kind: Pod
  metadata: {name: pending, namespace: train-ticket, labels: {app: x-mysql, role: follower}}
  spec: {containers: [{name: c, image: busybox}], nodeSelector: {a: "1", b: "2"}}
  status:
    phase: Pending
    conditions: [{type: PodScheduled, status: "False", reason: Unschedulable, message: "0/2 nodes are available: 1 node(s) had untolerated taint(s)."}]
- apiVersion: v1
  kind: Pod
  metadata: {name: x-mysql-0, namespace: train-ticket, labels: {app: x-mysql, role: follower}}
  spec: {containers: [{name: mysql, image: percona}]}
  status:
    phase: Running
    conditions: [{type: Ready, status: "True"}]
    containerStatuses: [{name: mysql, image: percona, imageID: "", ready: true, restartCount: 0, state: {running: {}}}]
- apiVersion: v1
  kind: Pod
  metadata: {name: crash, namespace: train-ticket}
  spec: {containers: [{name: c, image: img}]}
  status:
    phase: Running
    containerStatuses: [{name: c, image: img, imageID: "", ready: false, restartCount: 3, state: {waiting: {reason: CrashLoopBackOff}}}]
- apiVersion: v1
  kind: Pod
  metadata: {name: pull, namespace: train-ticket}
  spec: {containers: [{name: c, image: "img:1"}]}
  status:
    phase: Pending
    containerStatuses: [{name: c, image: "img:1", imageID: "", ready: false, restartCount: 0, state: {waiting: {reason: ErrImagePull}}}]
- {apiVersion: v1, kind: Service, metadata: {name: x-mysql-leader, namespace: train-ticket}, spec: {selector: {app: x-mysql, role: leader}}}
- {apiVersion: v1, kind: Service, metadata: {name: ts-ui-dashboard, namespace: train-ticket}}
- {apiVersion: v1, kind: Service, metadata: {name: bare-svc, namespace: train-ticket}}
- {apiVersion: v1, kind: Endpoints, metadata: {name: x-mysql-leader, namespace: train-ticket}}
- {apiVersion: v1, kind: Event, metadata: {name: e1, namespace: train-ticket}, involvedObject: {kind: Pod, name: pending, namespace: train-ticket}}
"#;

#[test]
fn no_rule_errors_on_sparse_objects() {
    let rules = ttdoctor::rules::load(None).unwrap();
    for phase in [Phase::Pre, Phase::Post, Phase::Both] {
        let snap = ttdoctor::snapshot::load_str(SPARSE, "sparse").unwrap();
        let opts = RunOptions {
            namespace: "train-ticket".into(),
            phase,
            ..Default::default()
        };
        let report = engine::run(&rules, Index::new(snap), &opts);
        assert!(report.errors.is_empty(), "{phase:?}: {:#?}", report.errors);
        if phase == Phase::Both {
            let ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
            // Sanity: the sparse cluster is broken in the expected ways.
            for id in [
                "TT-STO-002",
                "TT-DB-001",
                "TT-POD-001",
                "TT-IMG-002",
                "TT-STO-004",
            ] {
                assert!(ids.contains(&id), "{id} missing: {ids:?}");
            }
            // An explicit storageClassName "" is not blamed on the default StorageClass.
            let stat = report
                .findings
                .iter()
                .find(|f| f.object.name == "static")
                .unwrap();
            assert!(
                stat.message.contains("static binding only"),
                "{}",
                stat.message
            );
            assert!(stat.caused_by.is_empty());
        }
    }
}
