//! Lookups over a snapshot, built once so every join a rule asks for is a hash lookup
//! (pods by node / namespace / label / owner, services → pods and endpoints, images per node,
//! events per object, memory per node).

pub mod images;
pub mod podstatus;
pub mod resources;

pub use images::normalize_image;
pub use resources::pod_memory;

use crate::quantity::Quantity;
use crate::snapshot::{Kind, Snapshot};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use std::collections::{BTreeMap, HashMap, HashSet};

type Key = (String, String);

fn key(ns: Option<&str>, name: Option<&str>) -> Key {
    (
        ns.unwrap_or_default().to_string(),
        name.unwrap_or_default().to_string(),
    )
}

/// Memory figures for one node, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeMemory {
    pub capacity: i128,
    pub allocatable: i128,
    pub requests: i128,
    pub limits: i128,
    /// From metrics.k8s.io; `None` when metrics are unavailable.
    pub usage: Option<i128>,
}

/// A snapshot plus its indexes.
pub struct Index {
    pub snap: Snapshot,
    node_by_name: HashMap<String, usize>,
    pod_by_key: HashMap<Key, usize>,
    pods_by_node: HashMap<String, Vec<usize>>,
    pods_by_ns: HashMap<String, Vec<usize>>,
    pods_by_label: HashMap<(String, String, String), Vec<usize>>,
    pods_by_owner: HashMap<(String, String, String), Vec<usize>>,
    service_by_key: HashMap<Key, usize>,
    endpoints_by_key: HashMap<Key, usize>,
    slices_by_service: HashMap<Key, Vec<usize>>,
    events_by_object: HashMap<(String, String, String), Vec<usize>>,
    images_by_node: HashMap<String, HashSet<String>>,
    deployment_of_rs: HashMap<Key, String>,
    memory_by_node: HashMap<String, NodeMemory>,
}

impl Index {
    pub fn new(snap: Snapshot) -> Index {
        let mut ix = Index {
            node_by_name: HashMap::new(),
            pod_by_key: HashMap::new(),
            pods_by_node: HashMap::new(),
            pods_by_ns: HashMap::new(),
            pods_by_label: HashMap::new(),
            pods_by_owner: HashMap::new(),
            service_by_key: HashMap::new(),
            endpoints_by_key: HashMap::new(),
            slices_by_service: HashMap::new(),
            events_by_object: HashMap::new(),
            images_by_node: HashMap::new(),
            deployment_of_rs: HashMap::new(),
            memory_by_node: HashMap::new(),
            snap,
        };
        ix.build();
        ix
    }

    fn build(&mut self) {
        self.index_nodes();
        self.index_pods();
        self.index_services();
    }

    /// Nodes by name, their images and memory (usage from metrics).
    fn index_nodes(&mut self) {
        let s = &self.snap.objects;
        for (i, n) in s.nodes.iter().enumerate() {
            let name = n.metadata.name.clone().unwrap_or_default();
            let images = n
                .status
                .as_ref()
                .and_then(|st| st.images.as_ref())
                .into_iter()
                .flatten()
                .flat_map(|img| img.names.iter().flatten())
                .map(|n| normalize_image(n))
                .collect();
            self.images_by_node.insert(name.clone(), images);
            let status = n.status.as_ref();
            let mem = |m: Option<
                &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
            >| {
                m.and_then(|m| m.get("memory"))
                    .and_then(|q| Quantity::parse(&q.0).ok())
                    .map_or(0, Quantity::ceil_units)
            };
            self.memory_by_node.insert(
                name.clone(),
                NodeMemory {
                    capacity: mem(status.and_then(|s| s.capacity.as_ref())),
                    allocatable: mem(status.and_then(|s| s.allocatable.as_ref())),
                    ..NodeMemory::default()
                },
            );
            self.node_by_name.insert(name, i);
        }
        for m in &s.node_metrics {
            let name = m.metadata.name.clone().unwrap_or_default();
            let usage = m
                .usage
                .get("memory")
                .and_then(|q| Quantity::parse(&q.0).ok());
            if let (Some(entry), Some(u)) = (self.memory_by_node.get_mut(&name), usage) {
                entry.usage = Some(u.ceil_units());
            }
        }
    }

    /// Pods by key, namespace, label, owner (Deployments through their ReplicaSets) and
    /// node; images pulled on nodes; memory requested per node.
    fn index_pods(&mut self) {
        let s = &self.snap.objects;
        for rs in &s.replica_sets {
            if let Some(owner) = controller_of(&rs.metadata).filter(|o| o.0 == "Deployment") {
                self.deployment_of_rs.insert(
                    key(
                        rs.metadata.namespace.as_deref(),
                        rs.metadata.name.as_deref(),
                    ),
                    owner.1,
                );
            }
        }
        for (i, p) in s.pods.iter().enumerate() {
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            let name = p.metadata.name.clone().unwrap_or_default();
            self.pod_by_key.insert((ns.clone(), name), i);
            self.pods_by_ns.entry(ns.clone()).or_default().push(i);
            for (k, v) in p.metadata.labels.iter().flatten() {
                self.pods_by_label
                    .entry((ns.clone(), k.clone(), v.clone()))
                    .or_default()
                    .push(i);
            }
            if let Some((kind, name)) = controller_of(&p.metadata) {
                self.pods_by_owner
                    .entry((ns.clone(), kind.clone(), name.clone()))
                    .or_default()
                    .push(i);
                if kind == "ReplicaSet"
                    && let Some(d) = self.deployment_of_rs.get(&(ns.clone(), name))
                {
                    self.pods_by_owner
                        .entry((ns.clone(), "Deployment".into(), d.clone()))
                        .or_default()
                        .push(i);
                }
            }
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
            if let Some(node) = &node {
                // An image a container on the node has pulled (it has an imageID) is on the
                // node, even when the kubelet's capped status.images list leaves it out.
                let st = p.status.as_ref();
                let pulled = st
                    .and_then(|s| s.container_statuses.as_deref())
                    .unwrap_or_default()
                    .iter()
                    .chain(
                        st.and_then(|s| s.init_container_statuses.as_deref())
                            .unwrap_or_default(),
                    )
                    .filter(|c| !c.image_id.is_empty())
                    .map(|c| normalize_image(&c.image));
                self.images_by_node
                    .entry(node.clone())
                    .or_default()
                    .extend(pulled);
            }
            if let Some(node) = node {
                self.pods_by_node.entry(node.clone()).or_default().push(i);
                if is_active(p)
                    && let Some(m) = self.memory_by_node.get_mut(&node)
                {
                    let (req, lim) = pod_memory(p);
                    m.requests += req;
                    m.limits += lim;
                }
            }
        }
    }

    /// Services and their Endpoints and EndpointSlices by key; events by object.
    fn index_services(&mut self) {
        let s = &self.snap.objects;
        for (i, svc) in s.services.iter().enumerate() {
            self.service_by_key.insert(
                key(
                    svc.metadata.namespace.as_deref(),
                    svc.metadata.name.as_deref(),
                ),
                i,
            );
        }
        for (i, ep) in s.endpoints.iter().enumerate() {
            self.endpoints_by_key.insert(
                key(
                    ep.metadata.namespace.as_deref(),
                    ep.metadata.name.as_deref(),
                ),
                i,
            );
        }
        for (i, sl) in s.endpoint_slices.iter().enumerate() {
            let svc = sl
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .map(String::as_str);
            if let Some(svc) = svc {
                self.slices_by_service
                    .entry(key(sl.metadata.namespace.as_deref(), Some(svc)))
                    .or_default()
                    .push(i);
            }
        }
        for (i, ev) in s.events.iter().enumerate() {
            let o = &ev.involved_object;
            self.events_by_object
                .entry((
                    o.kind.clone().unwrap_or_default(),
                    o.namespace.clone().unwrap_or_default(),
                    o.name.clone().unwrap_or_default(),
                ))
                .or_default()
                .push(i);
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.node_by_name
            .get(name)
            .map(|&i| &self.snap.objects.nodes[i])
    }

    pub fn pod(&self, ns: &str, name: &str) -> Option<&Pod> {
        self.pod_by_key
            .get(&(ns.to_string(), name.to_string()))
            .map(|&i| &self.snap.objects.pods[i])
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.service_by_key
            .get(&(ns.to_string(), name.to_string()))
            .map(|&i| &self.snap.objects.services[i])
    }

    pub fn pods_on_node(&self, node: &str) -> Vec<usize> {
        self.pods_by_node.get(node).cloned().unwrap_or_default()
    }

    pub fn pods_in_namespace(&self, ns: &str) -> &[usize] {
        self.pods_by_ns.get(ns).map_or(&[], Vec::as_slice)
    }

    /// Pods of a controller (Deployment pods are found through their ReplicaSets).
    pub fn pods_owned_by(&self, ns: &str, kind: &str, name: &str) -> Vec<usize> {
        self.pods_by_owner
            .get(&(ns.to_string(), kind.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Pods in `ns` whose labels include every pair of `selector`. An empty selector
    /// selects nothing, as for a Service.
    pub fn pods_matching(&self, ns: &str, selector: &BTreeMap<String, String>) -> Vec<usize> {
        let mut lists: Vec<&Vec<usize>> = Vec::with_capacity(selector.len());
        for (k, v) in selector {
            match self
                .pods_by_label
                .get(&(ns.to_string(), k.clone(), v.clone()))
            {
                Some(l) => lists.push(l),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let Some((first, rest)) = lists.split_first() else {
            return Vec::new();
        };
        let rest: Vec<HashSet<usize>> = rest.iter().map(|l| l.iter().copied().collect()).collect();
        first
            .iter()
            .copied()
            .filter(|i| rest.iter().all(|s| s.contains(i)))
            .collect()
    }

    /// Pods a Service's selector picks.
    pub fn pods_of_service(&self, svc: &Service) -> Vec<usize> {
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        match svc.spec.as_ref().and_then(|s| s.selector.as_ref()) {
            Some(sel) => self.pods_matching(ns, sel),
            None => Vec::new(),
        }
    }

    /// Ready endpoint addresses behind a Service, from its Endpoints object, or from its
    /// EndpointSlices when there is no Endpoints object (Endpoints is deprecated in v1.33+).
    pub fn ready_endpoints(&self, ns: &str, name: &str) -> usize {
        let k = (ns.to_string(), name.to_string());
        if let Some(&i) = self.endpoints_by_key.get(&k) {
            return self.snap.objects.endpoints[i]
                .subsets
                .iter()
                .flatten()
                .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
                .sum();
        }
        // A dual-stack Service has one slice per address family: count each pod once.
        let ready: HashSet<String> = self
            .slices_by_service
            .get(&k)
            .into_iter()
            .flatten()
            .flat_map(|&i| {
                self.snap.objects.endpoint_slices[i]
                    .endpoints
                    .iter()
                    .flatten()
            })
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .map(|e| match &e.target_ref {
                Some(t) => format!(
                    "{}/{}",
                    t.kind.as_deref().unwrap_or(""),
                    t.name.as_deref().unwrap_or("")
                ),
                None => e.addresses.join(","),
            })
            .collect();
        ready.len()
    }

    /// Events about one object, oldest first.
    pub fn events_for(&self, kind: &str, ns: &str, name: &str) -> Vec<usize> {
        let mut v = self
            .events_by_object
            .get(&(kind.to_string(), ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default();
        v.sort_by_key(|&i| event_time(&self.snap.objects.events[i]));
        v
    }

    /// Whether the node has the image. containerd lists `repo:tag` and `repo@digest` as
    /// separate names, so a `repo:tag@digest` reference matches either.
    pub fn node_has_image(&self, node: &str, image: &str) -> bool {
        let Some(imgs) = self.images_by_node.get(node) else {
            return false;
        };
        let full = normalize_image(image);
        if imgs.contains(&full) {
            return true;
        }
        match full.split_once('@') {
            Some((named, digest)) => {
                let repo = named
                    .rsplit_once(':')
                    .filter(|(r, _)| !r.ends_with('/') && !r.contains('@'))
                    .map_or(named, |(r, _)| r);
                imgs.contains(named) || imgs.contains(&format!("{repo}@{digest}"))
            }
            None => false,
        }
    }

    pub fn node_images(&self, node: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .images_by_node
            .get(node)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        v.sort();
        v
    }

    pub fn node_memory(&self, node: &str) -> NodeMemory {
        self.memory_by_node.get(node).copied().unwrap_or_default()
    }

    /// The top-level controller of a pod: a Deployment for ReplicaSet pods, else the
    /// direct controller.
    pub fn top_owner(&self, pod: &Pod) -> Option<(String, String)> {
        let (kind, name) = controller_of(&pod.metadata)?;
        if kind == "ReplicaSet"
            && let Some(d) = self.deployment_of_rs.get(&(
                pod.metadata.namespace.clone().unwrap_or_default(),
                name.clone(),
            ))
        {
            return Some(("Deployment".into(), d.clone()));
        }
        Some((kind, name))
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.snap.available(kind)
    }
}

/// `(kind, name)` of the controlling owner reference.
pub fn controller_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(String, String)> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.kind.clone(), o.name.clone()))
}

/// Whether a pod still holds node resources (not Succeeded or Failed).
pub fn is_active(p: &Pod) -> bool {
    !matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// When an event last happened: its series' last observation, else lastTimestamp, else
/// eventTime (new-style events), else creation. Compared as instants, not strings.
fn event_time(e: &k8s_openapi::api::core::v1::Event) -> Option<k8s_openapi::jiff::Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
