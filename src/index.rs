//! Lookups over a snapshot, built once so every join a rule asks for is a hash lookup
//! (pods by node / namespace / label / owner, services → pods and endpoints, images per node,
//! events per object, memory per node).

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
        let s = &self.snap;
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
        for m in s.node_metrics.iter().flatten() {
            let name = m.metadata.name.clone().unwrap_or_default();
            let usage = m
                .usage
                .get("memory")
                .and_then(|q| Quantity::parse(&q.0).ok());
            if let (Some(entry), Some(u)) = (self.memory_by_node.get_mut(&name), usage) {
                entry.usage = Some(u.ceil_units());
            }
        }
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
        self.node_by_name.get(name).map(|&i| &self.snap.nodes[i])
    }

    pub fn pod(&self, ns: &str, name: &str) -> Option<&Pod> {
        self.pod_by_key
            .get(&(ns.to_string(), name.to_string()))
            .map(|&i| &self.snap.pods[i])
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.service_by_key
            .get(&(ns.to_string(), name.to_string()))
            .map(|&i| &self.snap.services[i])
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
            return self.snap.endpoints[i]
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
            .flat_map(|&i| self.snap.endpoint_slices[i].endpoints.iter().flatten())
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
        v.sort_by_key(|&i| event_time(&self.snap.events[i]));
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
        Some("Succeeded") | Some("Failed")
    )
}

/// A pod's effective memory (requests, limits) in bytes, as the scheduler counts them
/// (component-helpers `PodRequests`): pod-level `spec.resources` when set; else the larger of
/// (regular containers + restartable "sidecar" init containers) and, for each init container,
/// itself plus the sidecars started before it; plus the runtime-class overhead.
pub fn pod_memory(p: &Pod) -> (i128, i128) {
    use k8s_openapi::api::core::v1::ResourceRequirements;
    let Some(spec) = p.spec.as_ref() else {
        return (0, 0);
    };
    let mem = |r: Option<&ResourceRequirements>, limits: bool| -> Option<i128> {
        let map = if limits {
            r.and_then(|r| r.limits.as_ref())
        } else {
            // A limit without a request defaults the request to the limit.
            r.and_then(|r| r.requests.as_ref().filter(|m| m.contains_key("memory")))
                .or_else(|| r.and_then(|r| r.limits.as_ref()))
        };
        map.and_then(|m| m.get("memory"))
            .and_then(|q| Quantity::parse(&q.0).ok())
            .map(Quantity::ceil_units)
    };
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get("memory"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, Quantity::ceil_units);
    let one = |limits: bool| {
        if let Some(pod_level) = mem(spec.resources.as_ref(), limits) {
            return pod_level + overhead;
        }
        let get = |c: &k8s_openapi::api::core::v1::Container| {
            mem(c.resources.as_ref(), limits).unwrap_or(0)
        };
        let regular: i128 = spec.containers.iter().map(get).sum();
        let (mut sidecars, mut init_peak) = (0i128, 0i128);
        for c in spec.init_containers.iter().flatten() {
            if c.restart_policy.as_deref() == Some("Always") {
                sidecars += get(c);
                init_peak = init_peak.max(sidecars);
            } else {
                init_peak = init_peak.max(get(c) + sidecars);
            }
        }
        (regular + sidecars).max(init_peak) + overhead
    };
    (one(false), one(true))
}

#[cfg(test)]
mod memory_tests {
    use super::pod_memory;

    #[test]
    fn memory_is_counted_like_the_scheduler() {
        let pod = |spec: serde_json::Value| {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": spec}))
                .unwrap()
        };
        let c = |name: &str, req: &str| serde_json::json!({"name": name, "resources": {"requests": {"memory": req}, "limits": {"memory": req}}});
        // The MySQL pods: init-mysql without resources, mysql 256Mi + xenon 128Mi.
        let mysql = pod(
            serde_json::json!({"initContainers": [{"name": "init-mysql"}], "containers": [c("mysql", "256Mi"), c("xenon", "128Mi")]}),
        );
        assert_eq!(pod_memory(&mysql).0, 384 << 20);
        // A big one-shot init container dominates; a limit alone sets the request.
        let init = pod(
            serde_json::json!({"initContainers": [c("migrate", "1Gi")], "containers": [{"name": "app", "resources": {"limits": {"memory": "300Mi"}}}]}),
        );
        assert_eq!(pod_memory(&init), (1 << 30, 1 << 30));
        // A sidecar runs beside everything after it.
        let mut sidecar = c("proxy", "100Mi");
        sidecar["restartPolicy"] = "Always".into();
        let with_sidecar = pod(
            serde_json::json!({"initContainers": [sidecar, c("init", "200Mi")], "containers": [c("app", "300Mi")]}),
        );
        assert_eq!(pod_memory(&with_sidecar).0, 400 << 20);
        // Pod-level resources win; overhead is added.
        let pod_level = pod(
            serde_json::json!({"resources": {"requests": {"memory": "2Gi"}}, "overhead": {"memory": "64Mi"}, "containers": [c("app", "300Mi")]}),
        );
        assert_eq!(pod_memory(&pod_level).0, (2 << 30) + (64 << 20));
    }
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

/// The canonical reference containerd records in `node.status.images`:
/// `busybox:1.32` → `docker.io/library/busybox:1.32`, no tag → `:latest`.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let first = repo.split('/').next().unwrap_or_default();
    let has_domain =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        // Docker Hub's other spellings, and its implicit `library/` for official images.
        let rest = repo.split_once('/').map_or("", |(_, r)| r);
        match first {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" if !rest.contains('/') => {
                format!("docker.io/library/{rest}")
            }
            "index.docker.io" | "registry-1.docker.io" => format!("docker.io/{rest}"),
            _ => repo.to_string(),
        }
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    match (tag, digest) {
        (Some(t), _) => {
            full.push(':');
            full.push_str(t);
        }
        (None, None) => full.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::normalize_image;

    #[test]
    fn image_names_normalize_like_containerd() {
        assert_eq!(
            normalize_image("busybox:1.32"),
            "docker.io/library/busybox:1.32"
        );
        assert_eq!(
            normalize_image("codewisdom/ts-auth-service:1.0.0"),
            "docker.io/codewisdom/ts-auth-service:1.0.0"
        );
        assert_eq!(
            normalize_image("prom/node-exporter"),
            "docker.io/prom/node-exporter:latest"
        );
        assert_eq!(
            normalize_image("ghcr.io/open-feature/flagd:v0.6.7"),
            "ghcr.io/open-feature/flagd:v0.6.7"
        );
        assert_eq!(
            normalize_image("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(
            normalize_image("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image("index.docker.io/codewisdom/x:1"),
            "docker.io/codewisdom/x:1"
        );
        assert_eq!(
            normalize_image("docker.io/library/nginx@sha256:00"),
            "docker.io/library/nginx@sha256:00"
        );
    }
}
