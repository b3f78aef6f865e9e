//! Controllers → the pods (and claims) they would create, as their controllers name them:
//! `<statefulset>-<ordinal>`, `<deployment>-<n>`, one DaemonSet pod per eligible node.

use crate::snapshot::Snapshot;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// A pod the deployment would create.
#[derive(Clone, Debug)]
pub struct ModelPod {
    pub pod: Pod,
    /// The controller's kind (`Deployment`, `StatefulSet`, …, or `Pod` for a bare pod).
    pub kind: &'static str,
    /// The controller's name (usage rules and messages go by it).
    pub workload: String,
    /// A StatefulSet pod's ordinal: its pods are created in this order.
    pub ordinal: Option<usize>,
}

/// What expanding the manifests gave.
#[derive(Default)]
pub struct Expanded {
    pub pods: Vec<ModelPod>,
    pub claims: Vec<PersistentVolumeClaim>,
    pub notes: Vec<String>,
}

/// The annotation Helm marks hooks with: they run around installs, not as part of them.
const HELM_HOOK: &str = "helm.sh/hook";

fn name_of(meta: &ObjectMeta) -> String {
    meta.name
        .clone()
        .or_else(|| meta.generate_name.as_ref().map(|g| format!("{g}x")))
        .unwrap_or_default()
}

struct Controller<'a> {
    kind: &'static str,
    api_version: &'static str,
    meta: &'a ObjectMeta,
    namespace: String,
}

impl<'a> Controller<'a> {
    /// The controller `obj`, its kind and apiVersion from k8s-openapi's constants.
    fn of<K>(obj: &'a K, ns_of: &dyn Fn(&ObjectMeta) -> String) -> Self
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        Controller {
            kind: K::KIND,
            api_version: K::API_VERSION,
            meta: obj.metadata(),
            namespace: ns_of(obj.metadata()),
        }
    }

    /// `count` pods named `<controller>-<i>`, as a ReplicaSet's or a Job's first wave.
    fn numbered(&self, template: &PodTemplateSpec, count: i32, out: &mut Expanded) {
        for i in 0..count.max(0) {
            let name = format!("{}-{i}", name_of(self.meta));
            out.pods.push(self.model_pod(template, name, None));
        }
    }

    fn pod(&self, template: &PodTemplateSpec, name: String) -> Pod {
        let tmeta = template.metadata.clone().unwrap_or_default();
        Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(self.namespace.clone()),
                labels: tmeta.labels,
                annotations: tmeta.annotations,
                owner_references: Some(vec![OwnerReference {
                    api_version: self.api_version.into(),
                    kind: self.kind.into(),
                    name: name_of(self.meta),
                    uid: String::new(),
                    controller: Some(true),
                    block_owner_deletion: None,
                }]),
                ..ObjectMeta::default()
            },
            spec: template.spec.clone(),
            status: None,
        }
    }

    fn model_pod(
        &self,
        template: &PodTemplateSpec,
        name: String,
        ordinal: Option<usize>,
    ) -> ModelPod {
        ModelPod {
            pod: self.pod(template, name),
            kind: self.kind,
            workload: name_of(self.meta),
            ordinal,
        }
    }
}

/// Expands every workload of `manifests`; objects without a namespace go to `namespace`.
pub fn expand(manifests: &Snapshot, namespace: &str, nodes: &[Node]) -> Expanded {
    let mut out = Expanded::default();
    let ns_of = |m: &ObjectMeta| m.namespace.clone().unwrap_or_else(|| namespace.to_string());
    for d in &manifests.objects.deployments {
        let d = d.get();
        let spec = d.spec.as_ref();
        let template = spec.map(|s| s.template.clone()).unwrap_or_default();
        let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
        Controller::of(d, &ns_of).numbered(&template, replicas, &mut out);
    }
    for rs in &manifests.objects.replica_sets {
        let rs = rs.get();
        let spec = rs.spec.as_ref();
        let template = spec.and_then(|s| s.template.clone()).unwrap_or_default();
        let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
        Controller::of(rs, &ns_of).numbered(&template, replicas, &mut out);
    }
    stateful_sets(manifests, &ns_of, &mut out);
    daemon_sets(manifests, &ns_of, nodes, &mut out);
    jobs(manifests, &ns_of, &mut out);
    for p in &manifests.objects.pods {
        let mut pod = p.get().clone();
        pod.metadata.name = Some(name_of(&pod.metadata));
        pod.metadata.namespace = Some(ns_of(&pod.metadata));
        let workload = name_of(&pod.metadata);
        out.pods.push(ModelPod {
            pod,
            kind: "Pod",
            workload,
            ordinal: None,
        });
    }
    out
}

fn stateful_sets(manifests: &Snapshot, ns_of: &dyn Fn(&ObjectMeta) -> String, out: &mut Expanded) {
    for s in &manifests.objects.stateful_sets {
        let s = s.get();
        let name = name_of(&s.metadata);
        let c = Controller::of(s, ns_of);
        let Some(spec) = s.spec.as_ref() else {
            continue;
        };
        for i in 0..usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0) {
            let mut mp = c.model_pod(&spec.template, format!("{name}-{i}"), Some(i));
            // The controller adds a volume per claim template, named after it.
            for t in spec.volume_claim_templates.iter().flatten() {
                let tname = name_of(&t.metadata);
                let claim = format!("{tname}-{name}-{i}");
                out.claims.push(PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some(claim.clone()),
                        namespace: Some(c.namespace.clone()),
                        labels: t.metadata.labels.clone(),
                        ..ObjectMeta::default()
                    },
                    spec: t.spec.clone(),
                    status: None,
                });
                let pod_spec = mp.pod.spec.get_or_insert_with(PodSpec::default);
                let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
                volumes.retain(|v| v.name != tname);
                volumes.push(k8s_openapi::api::core::v1::Volume {
                    name: tname,
                    persistent_volume_claim: Some(
                        k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                            claim_name: claim,
                            read_only: None,
                        },
                    ),
                    ..Default::default()
                });
            }
            out.pods.push(mp);
        }
    }
}

/// The tolerations the DaemonSet controller adds to its pods (pkg/controller/daemon/util).
fn daemon_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Toleration::default()
    };
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// One pod per node the DaemonSet may run on (its nodeSelector matches and it tolerates the
/// node's NoSchedule/NoExecute taints), bound to that node by node affinity as the
/// DaemonSet controller does.
fn daemon_sets(
    manifests: &Snapshot,
    ns_of: &dyn Fn(&ObjectMeta) -> String,
    nodes: &[Node],
    out: &mut Expanded,
) {
    for ds in &manifests.objects.daemon_sets {
        let ds = ds.get();
        let c = Controller::of(ds, ns_of);
        let Some(spec) = ds.spec.as_ref() else {
            continue;
        };
        let pod_spec = spec.template.spec.clone().unwrap_or_default();
        let mut tols = pod_spec.tolerations.clone().unwrap_or_default();
        tols.extend(daemon_tolerations());
        for n in nodes {
            let node = n.metadata.name.clone().unwrap_or_default();
            let labels = n.metadata.labels.clone().unwrap_or_default();
            let selected = pod_spec
                .node_selector
                .iter()
                .flatten()
                .all(|(k, v)| labels.get(k) == Some(v));
            let tolerated = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or_default()
                .iter()
                .filter(|t| matches!(t.effect.as_str(), "NoSchedule" | "NoExecute"))
                .all(|t| {
                    crate::index::tolerates(
                        &tols,
                        &t.key,
                        t.value.as_deref().unwrap_or_default(),
                        &t.effect,
                    )
                });
            if !(selected && tolerated) {
                continue;
            }
            let mut mp = c.model_pod(
                &spec.template,
                format!("{}-{node}", name_of(&ds.metadata)),
                None,
            );
            let s = mp.pod.spec.get_or_insert_with(PodSpec::default);
            s.tolerations = Some(tols.clone());
            s.affinity = Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_fields: Some(vec![NodeSelectorRequirement {
                                key: "metadata.name".into(),
                                operator: "In".into(),
                                values: Some(vec![node.clone()]),
                            }]),
                            match_expressions: None,
                        }],
                    }),
                    preferred_during_scheduling_ignored_during_execution: None,
                }),
                ..Affinity::default()
            });
            out.pods.push(mp);
        }
    }
}

/// A Job's first wave of pods (`parallelism`, at most `completions`); Helm hooks are left
/// out: they run around the install, not in it.
fn jobs(manifests: &Snapshot, ns_of: &dyn Fn(&ObjectMeta) -> String, out: &mut Expanded) {
    for j in &manifests.objects.jobs {
        let j = j.get();
        if let Some(hook) = j
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HELM_HOOK))
        {
            out.notes.push(format!(
                "Job {} is a Helm {hook} hook: not part of the install",
                name_of(&j.metadata)
            ));
            continue;
        }
        let c = Controller::of(j, ns_of);
        let Some(spec) = j.spec.as_ref() else {
            continue;
        };
        let parallel = spec.parallelism.unwrap_or(1);
        let n = spec
            .completions
            .map_or(parallel, |c| c.min(parallel))
            .max(0);
        c.numbered(&spec.template, n, out);
    }
}
