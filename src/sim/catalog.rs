//! The objects the scheduler looks up while it places a pod, besides nodes and pods:
//! StorageClasses, PersistentVolumeClaims and PersistentVolumes (VolumeBinding), Services,
//! ReplicaSets and StatefulSets (the default spreading selector). Filled from a snapshot, and by
//! the caller with objects that do not exist yet (claims from `volumeClaimTemplates`, …).

use super::types::{
    ClaimState, DelayedClaim, ImmediateWhy, NodeSelectorTerm, Op, Requirement, Selector,
    TopologyTerm,
};
use crate::quantity::Quantity;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{NodeSelector, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, HashMap, HashSet};

const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const DEFAULT_CLASS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

#[derive(Clone, Debug)]
struct Class {
    provisioner: String,
    wait_for_first_consumer: bool,
    allowed_topologies: Vec<TopologyTerm>,
    default: bool,
    created: Option<k8s_openapi::jiff::Timestamp>,
}

#[derive(Clone, Debug)]
struct Claim {
    class: Option<String>,
    volume_name: String,
    bind_completed: bool,
    lost: bool,
    deleting: bool,
    selected_node: Option<String>,
    uid: String,
    request: i64,
    access_modes: Vec<String>,
    volume_mode: String,
}

/// A PersistentVolume, as the binder's matching reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub class: String,
    /// `spec.capacity.storage` in bytes.
    pub capacity: i64,
    pub access_modes: Vec<String>,
    pub volume_mode: String,
    pub node_affinity: Option<Vec<NodeSelectorTerm>>,
    /// `spec.claimRef`: namespace, name, uid (empty when unset).
    pub claim_ref: Option<(String, String, String)>,
    /// Phase `Available` and not being deleted.
    pub available: bool,
}

/// StorageClasses, claims, volumes, Services and controllers, by name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    classes: BTreeMap<String, Class>,
    claims: HashMap<(String, String), Claim>,
    volumes: Vec<Volume>,
    volume_by_name: HashMap<String, usize>,
    /// Per namespace, the selectors of its Services (those with a selector).
    services: HashMap<String, Vec<BTreeMap<String, String>>>,
    /// `(namespace, kind, name)` of a ReplicaSet, StatefulSet or ReplicationController → its
    /// selector.
    owners: HashMap<(String, String, String), Selector>,
    parallel_sets: HashSet<(String, String)>,
}

fn bytes(q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> i64 {
    q.and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| i64::try_from(q.ceil_units()).unwrap_or(i64::MAX))
}

/// A `NodeSelector`'s terms in the simulation's form.
pub(crate) fn node_selector_terms(ns: &NodeSelector) -> Vec<NodeSelectorTerm> {
    let reqs = |r: Option<&Vec<k8s_openapi::api::core::v1::NodeSelectorRequirement>>| {
        r.into_iter()
            .flatten()
            .map(|r| Requirement {
                key: r.key.clone(),
                op: Op::parse(&r.operator),
                values: r.values.clone().unwrap_or_default(),
            })
            .collect()
    };
    ns.node_selector_terms
        .iter()
        .map(|t| NodeSelectorTerm {
            match_expressions: reqs(t.match_expressions.as_ref()),
            match_fields: reqs(t.match_fields.as_ref()),
        })
        .collect()
}

/// `metav1.LabelSelectorAsSelector`; `None` for a selector that selects nothing (nil) or does
/// not parse.
pub(crate) fn label_selector(sel: &LabelSelector) -> Option<Selector> {
    let mut s = Selector::from_map(&sel.match_labels.clone().unwrap_or_default());
    for e in sel.match_expressions.iter().flatten() {
        let op = match e.operator.as_str() {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            _ => return None,
        };
        let r = Requirement {
            key: e.key.clone(),
            op,
            values: e.values.clone().unwrap_or_default(),
        };
        if !r.is_valid() {
            return None;
        }
        s.requirements.push(r);
    }
    Some(s)
}

impl Catalog {
    /// Everything of the kinds the catalog holds in an index's snapshot.
    pub fn from_index(ix: &crate::index::Index) -> Catalog {
        Catalog::from_index_in(ix, None)
    }

    /// [`Catalog::from_index`] with the namespaced objects (claims, Services, ReplicaSets,
    /// StatefulSets) of `namespaces` only: the pods to place look up nothing elsewhere, and a
    /// big cluster's 15,000 ReplicaSets need not be decoded.
    pub fn from_index_in(
        ix: &crate::index::Index,
        namespaces: Option<&std::collections::BTreeSet<String>>,
    ) -> Catalog {
        let wanted =
            |ns: Option<&str>| namespaces.is_none_or(|set| ns.is_some_and(|ns| set.contains(ns)));
        let mut c = Catalog::default();
        let objects = &ix.snap.objects;
        for sc in &objects.storage_classes {
            c.add_storage_class(sc.get());
        }
        for pv in &objects.persistent_volumes {
            c.add_volume(pv.get());
        }
        for pvc in objects
            .persistent_volume_claims
            .iter()
            .filter(|o| wanted(o.namespace()))
        {
            c.insert_claim(pvc.get());
        }
        for svc in objects.services.iter().filter(|o| wanted(o.namespace())) {
            c.add_service(svc.get());
        }
        for rs in objects
            .replica_sets
            .iter()
            .filter(|o| wanted(o.namespace()))
        {
            c.add_replica_set(rs.get());
        }
        for sts in objects
            .stateful_sets
            .iter()
            .filter(|o| wanted(o.namespace()))
        {
            c.add_stateful_set(sts.get());
        }
        c
    }

    pub fn add_storage_class(&mut self, sc: &StorageClass) {
        let annotations = sc.metadata.annotations.as_ref();
        let default = DEFAULT_CLASS.iter().any(|a| {
            annotations
                .and_then(|m| m.get(*a))
                .is_some_and(|v| v == "true")
        });
        let allowed_topologies = sc
            .allowed_topologies
            .iter()
            .flatten()
            .map(|t| TopologyTerm {
                expressions: t
                    .match_label_expressions
                    .iter()
                    .flatten()
                    .map(|e| (e.key.clone(), e.values.clone()))
                    .collect(),
            })
            .collect();
        self.classes.insert(
            sc.metadata.name.clone().unwrap_or_default(),
            Class {
                provisioner: sc.provisioner.clone(),
                // The API defaults an unset mode to Immediate.
                wait_for_first_consumer: sc.volume_binding_mode.as_deref()
                    == Some("WaitForFirstConsumer"),
                allowed_topologies,
                default,
                created: sc.metadata.creation_timestamp.as_ref().map(|t| t.0),
            },
        );
    }

    /// The class the DefaultStorageClass admission plugin (and the PV controller, for an
    /// unbound claim) gives a claim without `storageClassName`: the newest default class, by
    /// name on ties (`GetDefaultClass`).
    pub fn default_class(&self) -> Option<&str> {
        self.classes
            .iter()
            .filter(|(_, c)| c.default)
            .max_by(|(an, a), (bn, b)| a.created.cmp(&b.created).then(bn.cmp(an)))
            .map(|(n, _)| n.as_str())
    }

    pub fn add_volume(&mut self, pv: &PersistentVolume) {
        let spec = pv.spec.clone().unwrap_or_default();
        let name = pv.metadata.name.clone().unwrap_or_default();
        let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
        let v = Volume {
            name: name.clone(),
            class: spec.storage_class_name.clone().unwrap_or_default(),
            capacity: bytes(spec.capacity.as_ref().and_then(|c| c.get("storage"))),
            access_modes: spec.access_modes.clone().unwrap_or_default(),
            volume_mode: spec
                .volume_mode
                .clone()
                .unwrap_or_else(|| "Filesystem".into()),
            node_affinity: spec
                .node_affinity
                .as_ref()
                .and_then(|a| a.required.as_ref())
                .map(node_selector_terms),
            claim_ref: spec.claim_ref.as_ref().map(|r| {
                (
                    r.namespace.clone().unwrap_or_default(),
                    r.name.clone().unwrap_or_default(),
                    r.uid.clone().unwrap_or_default(),
                )
            }),
            available: phase == Some("Available") && pv.metadata.deletion_timestamp.is_none(),
        };
        match self.volume_by_name.get(&name) {
            Some(&i) => self.volumes[i] = v,
            None => {
                self.volume_by_name.insert(name, self.volumes.len());
                self.volumes.push(v);
            }
        }
    }

    /// Adds a claim that is about to be created: one without `storageClassName` gets the
    /// default class, as the DefaultStorageClass admission plugin gives it.
    pub fn add_claim(&mut self, pvc: &PersistentVolumeClaim) {
        let mut pvc = pvc.clone();
        let spec = pvc.spec.get_or_insert_with(Default::default);
        if spec.storage_class_name.is_none() {
            spec.storage_class_name = self.default_class().map(str::to_string);
        }
        self.insert_claim(&pvc);
    }

    fn insert_claim(&mut self, pvc: &PersistentVolumeClaim) {
        let spec = pvc.spec.clone().unwrap_or_default();
        let annotations = pvc.metadata.annotations.clone().unwrap_or_default();
        let claim = Claim {
            class: spec.storage_class_name.clone(),
            volume_name: spec.volume_name.clone().unwrap_or_default(),
            bind_completed: annotations.contains_key(BIND_COMPLETED),
            lost: pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost"),
            deleting: pvc.metadata.deletion_timestamp.is_some(),
            selected_node: annotations.get(SELECTED_NODE).cloned(),
            uid: pvc.metadata.uid.clone().unwrap_or_default(),
            request: bytes(
                spec.resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage")),
            ),
            access_modes: spec.access_modes.clone().unwrap_or_default(),
            volume_mode: spec.volume_mode.unwrap_or_else(|| "Filesystem".into()),
        };
        self.claims.insert(
            (
                pvc.metadata.namespace.clone().unwrap_or_default(),
                pvc.metadata.name.clone().unwrap_or_default(),
            ),
            claim,
        );
    }

    pub fn add_service(&mut self, svc: &Service) {
        // A Service without a selector selects nothing; an empty one adds no label.
        if let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.clone()) {
            self.services
                .entry(svc.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .push(sel);
        }
    }

    pub fn add_replica_set(&mut self, rs: &ReplicaSet) {
        if let Some(sel) = rs.spec.as_ref().and_then(|s| label_selector(&s.selector)) {
            self.add_owner(&rs.metadata, "ReplicaSet", sel);
        }
    }

    pub fn add_stateful_set(&mut self, sts: &StatefulSet) {
        let Some(spec) = sts.spec.as_ref() else {
            return;
        };
        if spec.pod_management_policy.as_deref() == Some("Parallel") {
            self.parallel_sets.insert((
                sts.metadata.namespace.clone().unwrap_or_default(),
                sts.metadata.name.clone().unwrap_or_default(),
            ));
        }
        if let Some(sel) = label_selector(&spec.selector) {
            self.add_owner(&sts.metadata, "StatefulSet", sel);
        }
    }

    fn add_owner(
        &mut self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        kind: &str,
        selector: Selector,
    ) {
        self.owners.insert(
            (
                meta.namespace.clone().unwrap_or_default(),
                kind.to_string(),
                meta.name.clone().unwrap_or_default(),
            ),
            selector,
        );
    }

    /// Whether the StatefulSet `ns/name` creates its pods in parallel.
    pub fn is_parallel(&self, ns: &str, name: &str) -> bool {
        self.parallel_sets
            .contains(&(ns.to_string(), name.to_string()))
    }

    pub fn volumes(&self) -> &[Volume] {
        &self.volumes
    }

    /// `helper.DefaultSelector`: the labels of every Service in `ns` whose selector matches
    /// the pod, merged, plus the selector of the pod's controlling ReplicaSet, StatefulSet or
    /// ReplicationController when it is known. `None` when that is empty.
    pub fn default_selector(
        &self,
        ns: &str,
        labels: &BTreeMap<String, String>,
        owner: Option<(&str, &str)>,
    ) -> Option<Selector> {
        let mut set = BTreeMap::new();
        for sel in self.services.get(ns).into_iter().flatten() {
            if sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                set.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let mut selector = Selector::from_map(&set);
        if let Some((kind, name)) = owner
            && let Some(s) = self
                .owners
                .get(&(ns.to_string(), kind.to_string(), name.to_string()))
        {
            selector.requirements.extend(s.requirements.iter().cloned());
        }
        (!selector.is_empty()).then_some(selector)
    }

    /// What the scheduler makes of the claim `ns/name` (`GetPodVolumeClaims`,
    /// `IsDelayBindingMode`).
    pub fn claim_state(&self, ns: &str, name: &str) -> ClaimState {
        let Some(c) = self.claims.get(&(ns.to_string(), name.to_string())) else {
            return ClaimState::Missing;
        };
        if c.lost {
            return ClaimState::Lost {
                volume: c.volume_name.clone(),
            };
        }
        if c.deleting {
            return ClaimState::Deleting;
        }
        if !c.volume_name.is_empty() && c.bind_completed {
            let pv = self
                .volume_by_name
                .get(&c.volume_name)
                .map(|&i| &self.volumes[i]);
            return ClaimState::Bound {
                volume: c.volume_name.clone(),
                node_affinity: pv.and_then(|v| v.node_affinity.clone()),
                volume_missing: pv.is_none(),
            };
        }
        // An unbound claim without a class gets the default one from the PV controller.
        let class = match c.class.as_deref() {
            Some(class) => class,
            None => self.default_class().unwrap_or_default(),
        };
        let immediate = |why| ClaimState::UnboundImmediate(why);
        if !c.volume_name.is_empty() {
            return immediate(ImmediateWhy::PreBound(c.volume_name.clone()));
        }
        if class.is_empty() {
            return immediate(ImmediateWhy::NoClass);
        }
        let Some(k) = self.classes.get(class) else {
            return immediate(ImmediateWhy::MissingClass(class.to_string()));
        };
        if !k.wait_for_first_consumer {
            return immediate(ImmediateWhy::ImmediateClass(class.to_string()));
        }
        ClaimState::WaitForFirstConsumer(DelayedClaim {
            class: class.to_string(),
            provisioner: k.provisioner.clone(),
            allowed_topologies: k.allowed_topologies.clone(),
            selected_node: c.selected_node.clone(),
            request: c.request,
            access_modes: c.access_modes.clone(),
            volume_mode: c.volume_mode.clone(),
        })
    }

    /// The uid of the claim `ns/name` (`""` when unknown): a PV's claimRef may pin it.
    pub(crate) fn claim_uid(&self, ns: &str, name: &str) -> &str {
        self.claims
            .get(&(ns.to_string(), name.to_string()))
            .map_or("", |c| c.uid.as_str())
    }
}
