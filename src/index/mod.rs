//! Lookups over a snapshot, so every join a rule asks for is a hash lookup (pods by node /
//! namespace / label / owner, services → pods and endpoints, images per node, events per
//! object, memory per node). Built from what every object's core holds; the maps a run may
//! not need (labels and owners per namespace, events, images) are built on first use.

pub mod images;
pub mod podstatus;
pub mod resources;
pub mod taints;

pub use images::normalize_image;
pub use resources::{Bound, pod_memory, pod_resource};
pub use taints::tolerates;

use crate::quantity::Quantity;
use crate::snapshot::{Kind, Snapshot, Stored};
use k8s_openapi::api::core::v1::{Node, Service};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

type Key = (String, String);

fn key(ns: Option<&str>, name: &str) -> Key {
    (ns.unwrap_or_default().to_string(), name.to_string())
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

/// The pods of one namespace by label and by owner.
#[derive(Default)]
struct NamespacePods {
    by_label: HashMap<(String, String), Vec<usize>>,
    by_owner: HashMap<(String, String), Vec<usize>>,
}

/// A snapshot plus its indexes.
pub struct Index {
    pub snap: Snapshot,
    node_by_name: HashMap<String, usize>,
    pods_by_node: HashMap<String, Vec<usize>>,
    pods_by_ns: HashMap<String, Vec<usize>>,
    memory_by_node: HashMap<String, NodeMemory>,
    deployment_of_rs: HashMap<Key, String>,
    service_by_key: HashMap<Key, usize>,
    endpoints_by_key: HashMap<Key, usize>,
    slices_by_service: HashMap<Key, Vec<usize>>,
    namespace_pods: Mutex<HashMap<String, Arc<NamespacePods>>>,
    events_by_object: OnceLock<HashMap<(String, String, String), Vec<usize>>>,
    images_by_node: Mutex<HashMap<String, Arc<HashSet<String>>>>,
    /// Objects whose full decode failed while indexing.
    pub errors: Vec<String>,
}

impl Index {
    pub fn new(snap: Snapshot) -> Index {
        let mut ix = Index {
            node_by_name: HashMap::new(),
            pods_by_node: HashMap::new(),
            pods_by_ns: HashMap::new(),
            memory_by_node: HashMap::new(),
            deployment_of_rs: HashMap::new(),
            service_by_key: HashMap::new(),
            endpoints_by_key: HashMap::new(),
            slices_by_service: HashMap::new(),
            namespace_pods: Mutex::default(),
            events_by_object: OnceLock::new(),
            images_by_node: Mutex::default(),
            errors: Vec::new(),
            snap,
        };
        ix.index_nodes();
        ix.index_pods();
        ix.index_services();
        ix
    }

    fn note<T: crate::snapshot::Object>(errors: &mut Vec<String>, o: &Stored<T>) {
        if let Some(e) = o.decode_error() {
            errors.push(e.to_string());
        }
    }

    /// Nodes by name and their memory (usage from metrics).
    fn index_nodes(&mut self) {
        let s = &self.snap.objects;
        for (i, stored) in s.nodes.iter().enumerate() {
            let mem = |m: Option<
                &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
            >| {
                m.and_then(|m| m.get("memory"))
                    .and_then(|q| Quantity::parse(&q.0).ok())
                    .map_or(0, Quantity::ceil_units)
            };
            // Not kept: a typed node with its image list is twice its JSON.
            let (memory, error) = stored.with_full(|n| {
                let status = n.status.as_ref();
                NodeMemory {
                    capacity: mem(status.and_then(|s| s.capacity.as_ref())),
                    allocatable: mem(status.and_then(|s| s.allocatable.as_ref())),
                    ..NodeMemory::default()
                }
            });
            self.errors.extend(error);
            let name = stored.name().to_string();
            self.memory_by_node.insert(name.clone(), memory);
            self.node_by_name.insert(name, i);
        }
        for stored in &s.node_metrics {
            let m = stored.get();
            Self::note(&mut self.errors, stored);
            let usage = m
                .usage
                .get("memory")
                .and_then(|q| Quantity::parse(&q.0).ok());
            if let (Some(entry), Some(u)) = (self.memory_by_node.get_mut(stored.name()), usage) {
                entry.usage = Some(u.ceil_units());
            }
        }
    }

    /// Pods by namespace and node; memory requested per node; Deployments of ReplicaSets.
    fn index_pods(&mut self) {
        let s = &self.snap.objects;
        for rs in &s.replica_sets {
            if let Some((kind, name)) = rs.meta().controller()
                && kind == "Deployment"
            {
                self.deployment_of_rs
                    .insert(key(rs.namespace(), rs.name()), name.to_string());
            }
        }
        for (i, p) in s.pods.iter().enumerate() {
            let core = p.core();
            let ns = p.namespace().unwrap_or_default();
            match self.pods_by_ns.get_mut(ns) {
                Some(v) => v.push(i),
                None => {
                    self.pods_by_ns.insert(ns.to_string(), vec![i]);
                }
            }
            if let Some(node) = core.node_name() {
                match self.pods_by_node.get_mut(node) {
                    Some(v) => v.push(i),
                    None => {
                        self.pods_by_node.insert(node.to_string(), vec![i]);
                    }
                }
                if core.is_active()
                    && let Some(m) = self.memory_by_node.get_mut(node)
                {
                    let (req, lim) = pod_memory(core);
                    m.requests += req;
                    m.limits += lim;
                }
            }
        }
    }

    /// Services and their Endpoints and EndpointSlices by key.
    fn index_services(&mut self) {
        let s = &self.snap.objects;
        for (i, svc) in s.services.iter().enumerate() {
            self.service_by_key
                .insert(key(svc.namespace(), svc.name()), i);
        }
        for (i, ep) in s.endpoints.iter().enumerate() {
            self.endpoints_by_key
                .insert(key(ep.namespace(), ep.name()), i);
        }
        for (i, sl) in s.endpoint_slices.iter().enumerate() {
            if let Some(svc) = sl.meta().label("kubernetes.io/service-name") {
                self.slices_by_service
                    .entry(key(sl.namespace(), svc))
                    .or_default()
                    .push(i);
            }
        }
    }

    /// The label and owner maps of one namespace's pods, built on first use (a run asks
    /// about a few namespaces).
    fn namespace(&self, ns: &str) -> Arc<NamespacePods> {
        let mut all = self.namespace_pods.lock().expect("not poisoned");
        if let Some(n) = all.get(ns) {
            return Arc::clone(n);
        }
        let mut n = NamespacePods::default();
        for &i in self.pods_in_namespace(ns) {
            let p = &self.snap.objects.pods[i];
            let meta = p.meta();
            for (k, v) in meta.labels.iter().flatten() {
                n.by_label
                    .entry((k.clone(), v.clone()))
                    .or_default()
                    .push(i);
            }
            if let Some((kind, name)) = meta.controller() {
                n.by_owner
                    .entry((kind.to_string(), name.to_string()))
                    .or_default()
                    .push(i);
                if kind == "ReplicaSet"
                    && let Some(d) = self.deployment_of_rs.get(&key(Some(ns), name))
                {
                    n.by_owner
                        .entry(("Deployment".into(), d.clone()))
                        .or_default()
                        .push(i);
                }
            }
        }
        let n = Arc::new(n);
        all.insert(ns.to_string(), Arc::clone(&n));
        n
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.node_by_name
            .get(name)
            .map(|&i| self.snap.objects.nodes[i].get())
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.service_by_key
            .get(&(ns.to_string(), name.to_string()))
            .map(|&i| self.snap.objects.services[i].get())
    }

    pub fn pods_on_node(&self, node: &str) -> Vec<usize> {
        self.pods_by_node.get(node).cloned().unwrap_or_default()
    }

    pub fn pods_in_namespace(&self, ns: &str) -> &[usize] {
        self.pods_by_ns.get(ns).map_or(&[], Vec::as_slice)
    }

    /// Pods of a controller (Deployment pods are found through their ReplicaSets).
    pub fn pods_owned_by(&self, ns: &str, kind: &str, name: &str) -> Vec<usize> {
        self.namespace(ns)
            .by_owner
            .get(&(kind.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Pods in `ns` whose labels include every pair of `selector`. An empty selector
    /// selects nothing, as for a Service.
    pub fn pods_matching(&self, ns: &str, selector: &BTreeMap<String, String>) -> Vec<usize> {
        let pods = self.namespace(ns);
        let by_label = &pods.by_label;
        let mut lists: Vec<&Vec<usize>> = Vec::with_capacity(selector.len());
        for (k, v) in selector {
            match by_label.get(&(k.clone(), v.clone())) {
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
                .get()
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
                    .get()
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
        let events = &self.snap.objects.events;
        let by_object = self.events_by_object.get_or_init(|| {
            let mut m: HashMap<(String, String, String), Vec<usize>> = HashMap::new();
            for (i, e) in events.iter().enumerate() {
                let o = &e.core().involved_object;
                m.entry((
                    o.kind.clone().unwrap_or_default(),
                    o.namespace.clone().unwrap_or_default(),
                    o.name.clone().unwrap_or_default(),
                ))
                .or_default()
                .push(i);
            }
            m
        });
        let mut v = by_object
            .get(&(kind.to_string(), ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default();
        v.sort_by_key(|&i| events[i].core().time());
        v
    }

    /// The images a node holds: `node.status.images`, and every image a container on it has
    /// pulled (it has an imageID), even when the kubelet's capped list leaves it out.
    fn images(&self, node: &str) -> Arc<HashSet<String>> {
        let mut all = self.images_by_node.lock().expect("not poisoned");
        if let Some(i) = all.get(node) {
            return Arc::clone(i);
        }
        let mut set: HashSet<String> = self
            .node(node)
            .and_then(|n| n.status.as_ref())
            .and_then(|st| st.images.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|img| img.names.iter().flatten())
            .map(|n| normalize_image(n))
            .collect();
        for &i in self.pods_by_node.get(node).into_iter().flatten() {
            let st = self.snap.objects.pods[i].core().status.as_ref();
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
            set.extend(pulled);
        }
        let set = Arc::new(set);
        all.insert(node.to_string(), Arc::clone(&set));
        set
    }

    /// Whether the node has the image. containerd lists `repo:tag` and `repo@digest` as
    /// separate names, so a `repo:tag@digest` reference matches either.
    pub fn node_has_image(&self, node: &str, image: &str) -> bool {
        if !self.node_by_name.contains_key(node) {
            return false;
        }
        let imgs = self.images(node);
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
        if !self.node_by_name.contains_key(node) {
            return Vec::new();
        }
        let mut v: Vec<String> = self.images(node).iter().cloned().collect();
        v.sort();
        v
    }

    pub fn node_memory(&self, node: &str) -> NodeMemory {
        self.memory_by_node.get(node).copied().unwrap_or_default()
    }

    /// The top-level controller of a pod: a Deployment for ReplicaSet pods, else the
    /// direct controller.
    pub fn top_owner(&self, pod: usize) -> Option<(String, String)> {
        let p = &self.snap.objects.pods[pod];
        let (kind, name) = p.meta().controller()?;
        if kind == "ReplicaSet"
            && let Some(d) = self.deployment_of_rs.get(&key(p.namespace(), name))
        {
            return Some(("Deployment".into(), d.clone()));
        }
        Some((kind.to_string(), name.to_string()))
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.snap.available(kind)
    }
}
