//! The built-in TrainTicket profiles, expanded into pods, add up to the totals of the upstream
//! charts: the resource totals per install variant in the deployment facts gathered from
//! FudanSELab/train-ticket@313886e and xlab-uiuc/train-ticket@198432e8 (knowledge file §7,
//! copied here as figures).

use std::collections::BTreeMap;
use ttdoctor::deploy::{self, Source};
use ttdoctor::index::{Bound, pod_resource};

/// Pods (DaemonSet pods left out: one per node), cpu requests (m), memory requests (Mi), cpu
/// limits (m), memory limits (Mi, containers that have one), per namespace (`release` = -n).
type Totals = BTreeMap<String, (usize, i128, i128, i128, i128)>;

fn totals(profile: &str) -> (Totals, usize) {
    let node: k8s_openapi::api::core::v1::Node =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "n1"}})).unwrap();
    let model = deploy::load(&Source::Profile(profile.into()), "train-ticket", &[node]).unwrap();
    let mut t = Totals::new();
    let mut daemons = 0;
    for p in &model.pods {
        if p.kind == "DaemonSet" {
            daemons += 1;
            continue;
        }
        let ns = p.pod.metadata.namespace.clone().unwrap();
        let ns = if ns == "train-ticket" && profile != "fork" {
            "release".to_string()
        } else {
            ns
        };
        let core = deploy::core(&p.pod);
        let spec = core.spec.as_ref().unwrap();
        let e = t.entry(ns).or_default();
        e.0 += 1;
        e.1 += pod_resource(spec, "cpu", Bound::Request);
        e.2 += pod_resource(spec, "memory", Bound::Request) >> 20;
        e.3 += pod_resource(spec, "cpu", Bound::Limit);
        e.4 += pod_resource(spec, "memory", Bound::Limit) >> 20;
    }
    (t, daemons)
}

fn sum(t: &Totals) -> (usize, i128, i128, i128, i128) {
    t.values().fold((0, 0, 0, 0, 0), |a, b| {
        (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3, a.4 + b.4)
    })
}

#[test]
fn default_is_make_deploy() {
    let (t, daemons) = totals("default");
    assert_eq!(t["release"], (56, 7050, 19176, 26600, 98180));
    assert_eq!((t.len(), daemons), (1, 0));
}

#[test]
fn with_tracing_adds_skywalking_and_elasticsearch() {
    let (t, _) = totals("with-tracing");
    assert_eq!(t["release"], (59, 9550, 24296, 34600, 105300));
}

#[test]
fn independent_db_has_a_mysql_release_per_service() {
    let (t, _) = totals("independent-db");
    assert_eq!(t["release"], (134, 18750, 49128, 73400, 198020));
}

#[test]
fn all_adds_tracing_and_monitoring_in_kube_system() {
    let (t, daemons) = totals("all");
    assert_eq!(t["release"].0, 137);
    let (_, cpu, mem, cpu_lim, mem_lim) = sum(&t);
    assert_eq!((cpu, mem, cpu_lim, mem_lim), (21510, 54598, 81710, 206290));
    assert!(t.contains_key("kube-system") && daemons == 1, "{t:?}");
}

#[test]
fn fork_applies_the_manifests_baked_into_its_job() {
    let (t, _) = totals("fork");
    // §7 gives 7310m / 19526Mi requested and 26910m / 99330Mi limits: that counts the
    // alertmanager Deployment (10m / 50Mi), which the API server rejects (its pod template
    // mounts an undeclared volume), so its pod never exists.
    let (pods, cpu, mem, cpu_lim, mem_lim) = sum(&t);
    assert_eq!(
        (cpu, mem, cpu_lim, mem_lim),
        (7310 - 10, 19526 - 50, 26910 - 10, 99330 - 50)
    );
    // 56 + flagd + the deploy Job's pod in train-ticket, the monitoring stack in kube-system.
    assert_eq!(t["train-ticket"].0, 58);
    assert!(pods > 58);
}

#[test]
fn manifests_as_helm_template_prints_them_never_fail_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chart.yaml");
    std::fs::write(
        &path,
        r#"# Source: x/templates/deploy.yaml
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: old}
spec:
  replicas: 2
  selector: {matchLabels: {app: old}}
  template:
    metadata: {labels: {app: old}}
    spec: {containers: [{name: c, image: "nginx:1", resources: {requests: {memory: 64Mi}}}]}
---
apiVersion: v1
kind: Node
metadata: {generateName: node-}
---
apiVersion: batch/v1
kind: Job
metadata: {name: cleanup, annotations: {helm.sh/hook: pre-delete}}
spec: {template: {spec: {containers: [{name: c, image: "kubectl:1"}], restartPolicy: Never}}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  selector: {matchLabels: {app: db}}
  serviceName: db
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: mysql, image: "percona:5.7"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#,
    )
    .unwrap();
    let model = deploy::load(&Source::Manifests(path), "tt", &[]).unwrap();
    let names: Vec<&str> = model
        .pods
        .iter()
        .map(|p| p.pod.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["old-0", "old-1", "db-0", "db-1"]);
    let claims: Vec<&str> = model
        .claims
        .iter()
        .map(|c| c.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(claims, ["data-db-0", "data-db-1"]);
    let notes = model.notes.join("\n");
    assert!(
        notes.contains("cleanup is a Helm pre-delete hook"),
        "{notes}"
    );
    assert!(notes.contains("Widget"), "{notes}");
    assert_eq!(model.images(), ["nginx:1", "percona:5.7"]);
}
