//! From API objects to the simulation's types: nodes with the pods bound to them (from a
//! snapshot's index), and pods to place (from typed Pods).

use super::Cluster;
use super::catalog::{Catalog, node_selector_terms};
use super::types::{
    HostPort, NodeImage, Owner, PodClaim, PreferredTerm, Resident, Resources, SimNode, SimPod,
    Taint, Toleration,
};
use crate::index::{Bound, Index, pod_resource, resources};
use crate::quantity::Quantity;
use crate::snapshot::{ContainerCore, PodCore, PodSpecCore, Resources as CoreResources, SmallMap};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use std::collections::BTreeMap;

/// The scheduler's default cpu request for a container without one, in millicores
/// (`schedutil.DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// The default memory request, in bytes (`schedutil.DefaultMemoryRequest`).
pub const DEFAULT_MEMORY: i64 = 200 << 20;

fn int(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// `PodRequests` for the three resources NodeResourcesFit always compares; `pods` is 1.
pub fn pod_requests(spec: &PodSpecCore) -> Resources {
    Resources {
        cpu: int(pod_resource(spec, "cpu", Bound::Request)),
        memory: int(pod_resource(spec, "memory", Bound::Request)),
        ephemeral_storage: int(pod_resource(spec, "ephemeral-storage", Bound::Request)),
        pods: 1,
    }
}

/// Whether a container's effective requests (requests, else limits, as API defaulting
/// copies them) name `resource`.
fn names(c: &ContainerCore, resource: &str) -> Option<i128> {
    let r = c.resources.as_ref()?;
    let q = r
        .requests
        .as_ref()
        .and_then(|m| m.get(resource))
        .or_else(|| r.limits.as_ref().and_then(|m| m.get(resource)))?;
    resources::amount(resource, q)
}

/// The pod's request for `resource` with `default` for every container that does not name
/// it (`NonMissingContainerRequests`), aggregated like `PodRequests`; pod-level requests
/// replace the aggregate; overhead is added.
fn nonzero_request(spec: &PodSpecCore, resource: &str, default: i128) -> i64 {
    let pod_level = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|m| m.get(resource))
        .and_then(|q| resources::amount(resource, q));
    let aggregate = pod_level.unwrap_or_else(|| {
        resources::containers_total(spec, |c| names(c, resource).unwrap_or(default))
    });
    int(aggregate + resources::overhead(spec, resource))
}

/// The non-zero requests (cpu and memory) LeastAllocated scores with; `pods` is 1.
pub fn pod_nonzero(spec: &PodSpecCore) -> Resources {
    Resources {
        cpu: nonzero_request(spec, "cpu", i128::from(DEFAULT_MILLI_CPU)),
        memory: nonzero_request(spec, "memory", i128::from(DEFAULT_MEMORY)),
        ephemeral_storage: 0,
        pods: 1,
    }
}

/// `schedutil.GetHostPorts`: ports with `hostPort > 0` of sidecar init containers and
/// containers.
fn host_ports(spec: &PodSpecCore) -> Vec<HostPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    sidecars
        .chain(&spec.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|&h| h > 0)?;
            Some(HostPort::new(
                p.host_ip.as_deref().unwrap_or_default(),
                p.protocol.as_deref().unwrap_or_default(),
                port,
            ))
        })
        .collect()
}

/// What a bound pod uses on its node, from its core.
pub fn resident(p: &PodCore) -> Resident {
    let meta = &p.metadata;
    let spec = p.spec.as_ref();
    Resident {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        labels: meta
            .labels
            .as_ref()
            .map(SmallMap::to_btree)
            .unwrap_or_default(),
        priority: spec.and_then(|s| s.priority).unwrap_or(0),
        requests: spec.map_or(
            Resources {
                pods: 1,
                ..Resources::default()
            },
            pod_requests,
        ),
        nonzero: spec.map_or(
            Resources {
                cpu: DEFAULT_MILLI_CPU,
                memory: DEFAULT_MEMORY,
                ephemeral_storage: 0,
                pods: 1,
            },
            pod_nonzero,
        ),
        host_ports: spec.map(host_ports).unwrap_or_default(),
    }
}

fn quantity(
    m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> i64 {
    m.and_then(|m| m.get(key))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| {
            int(if key == "cpu" {
                q.ceil_millis()
            } else {
                q.ceil_units()
            })
        })
}

/// A node without its pods.
pub fn node(n: &Node) -> SimNode {
    let spec = n.spec.as_ref();
    let status = n.status.as_ref();
    let alloc = status.and_then(|s| s.allocatable.as_ref());
    SimNode {
        name: n.metadata.name.clone().unwrap_or_default(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| Taint::new(&t.key, t.value.as_deref().unwrap_or_default(), &t.effect))
            .collect(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        allocatable: Resources {
            cpu: quantity(alloc, "cpu"),
            memory: quantity(alloc, "memory"),
            ephemeral_storage: quantity(alloc, "ephemeral-storage"),
            pods: quantity(alloc, "pods"),
        },
        images: status
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
            .map(|i| NodeImage {
                names: i.names.clone().unwrap_or_default(),
                size: i.size_bytes.unwrap_or(0),
            })
            .collect(),
        ..SimNode::default()
    }
}

/// The cluster of a snapshot: every node with every pod bound to it that is not Succeeded or
/// Failed, and the catalog of storage, Services and controllers.
pub fn from_index(ix: &Index) -> Cluster {
    from_index_without(ix, &std::collections::HashSet::new(), None)
}

/// [`from_index`] without the pods at `left_out` (indexes into the snapshot's pods): those a
/// re-install replaces; the catalog holds the namespaced objects of `namespaces` (all: `None`),
/// where the pods to place live.
pub fn from_index_without(
    ix: &Index,
    left_out: &std::collections::HashSet<usize>,
    namespaces: Option<&std::collections::BTreeSet<String>>,
) -> Cluster {
    let pods = &ix.snap.objects.pods;
    let nodes = ix
        .snap
        .objects
        .nodes
        .iter()
        .map(|stored| {
            let (mut n, _) = stored.with_full(node);
            for i in ix.pods_on_node(&n.name) {
                let core = pods[i].core();
                if core.is_active() && !left_out.contains(&i) {
                    n.add_pod(resident(core));
                }
            }
            n
        })
        .collect();
    Cluster::new(nodes, Catalog::from_index_in(ix, namespaces))
}

/// The spec as API defaulting leaves it, for what the scheduler reads: with `hostNetwork`,
/// a port without `hostPort` gets its `containerPort` (limits copied into missing requests
/// are handled where requests are counted).
fn defaulted_spec(pod: &Pod) -> PodSpec {
    let mut spec = pod.spec.clone().unwrap_or_default();
    if spec.host_network == Some(true) {
        let containers = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten());
        for port in containers.flat_map(|c| c.ports.iter_mut().flatten()) {
            if port.host_port.unwrap_or(0) == 0 {
                port.host_port = Some(port.container_port);
            }
        }
    }
    spec
}

/// The typed spec in the core form the resource helpers read.
fn core_spec(spec: &PodSpec) -> PodSpecCore {
    serde_json::to_value(spec)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Extended resources and hugepages a spec requests (NodeResourcesFit's scalar resources).
fn scalar_requests(spec: &PodSpecCore) -> Vec<String> {
    let keys = |r: Option<&CoreResources>| -> Vec<String> {
        r.into_iter()
            .flat_map(|r| r.requests.iter().chain(r.limits.iter()))
            .flat_map(SmallMap::keys)
            .filter(|k| !matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage"))
            .cloned()
            .collect()
    };
    let mut all: Vec<String> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| keys(c.resources.as_ref()))
        .chain(keys(spec.resources.as_ref()))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// What a pod asks for that the simulation does not model.
fn unmodelled(pod: &Pod, core: &PodSpecCore) -> Vec<String> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut note = |cond: bool, what: &str| {
        if cond {
            out.push(what.to_string());
        }
    };
    let affinity = spec.affinity.as_ref();
    note(
        affinity.is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some()),
        "pod affinity or anti-affinity (InterPodAffinity)",
    );
    note(
        spec.topology_spread_constraints
            .as_ref()
            .is_some_and(|c| !c.is_empty()),
        "topologySpreadConstraints of its own (PodTopologySpread)",
    );
    note(
        spec.resource_claims.as_ref().is_some_and(|c| !c.is_empty()),
        "resource claims (DynamicResources)",
    );
    note(
        spec.scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty()),
        "scheduling gates (SchedulingGates holds the pod back)",
    );
    note(
        spec.scheduler_name
            .as_deref()
            .is_some_and(|s| s != "default-scheduler"),
        "another scheduler (schedulerName)",
    );
    let volumes = spec.volumes.iter().flatten();
    note(
        volumes.clone().any(|v| v.ephemeral.is_some()),
        "generic ephemeral volumes (VolumeBinding)",
    );
    note(
        volumes.clone().any(|v| {
            v.gce_persistent_disk.is_some()
                || v.aws_elastic_block_store.is_some()
                || v.rbd.is_some()
                || v.iscsi.is_some()
        }),
        "inline disk volumes (VolumeRestrictions)",
    );
    for r in scalar_requests(core) {
        out.push(format!("extended resource {r} (NodeResourcesFit)"));
    }
    out
}

fn tolerations(pod: &Pod) -> Vec<Toleration> {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.tolerations.as_ref())
        .into_iter()
        .flatten()
        .map(|t| {
            let s = |v: &Option<String>| v.clone().unwrap_or_default();
            Toleration {
                key: s(&t.key),
                operator: s(&t.operator),
                value: s(&t.value),
                effect: s(&t.effect),
            }
        })
        .collect()
}

/// The StatefulSet ordinal: the `apps.kubernetes.io/pod-index` label, else the name's suffix.
fn ordinal(name: &str, labels: &BTreeMap<String, String>) -> Option<u32> {
    labels
        .get("apps.kubernetes.io/pod-index")
        .and_then(|v| v.parse().ok())
        .or_else(|| name.rsplit_once('-').and_then(|(_, n)| n.parse().ok()))
}

impl SimPod {
    /// A pod to place, from a typed Pod (as the API would hold it after admission: requests
    /// defaulted from limits are also derived here). Its claims are resolved in `catalog`.
    pub fn from_pod(pod: &Pod, catalog: &Catalog) -> SimPod {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let spec = defaulted_spec(pod);
        let core = core_spec(&spec);
        let node_affinity = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref());
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| Owner {
                kind: o.kind.clone(),
                name: o.name.clone(),
            });
        let is_sts = owner.as_ref().is_some_and(|o| o.kind == "StatefulSet");
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers);
        let images = containers
            .clone()
            .map(|c| c.image.clone().unwrap_or_default())
            .chain(
                spec.volumes
                    .iter()
                    .flatten()
                    .filter_map(|v| v.image.as_ref()?.reference.clone()),
            )
            .collect();
        let claims = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| PodClaim {
                name: c.claim_name.clone(),
                state: catalog.claim_state(&namespace, &c.claim_name),
            })
            .collect();
        SimPod {
            priority: spec.priority.unwrap_or(0),
            preempt_never: spec.preemption_policy.as_deref() == Some("Never"),
            requests: pod_requests(&core),
            nonzero: pod_nonzero(&core),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_affinity: node_affinity
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(node_selector_terms),
            preferred_affinity: node_affinity
                .and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .into_iter()
                .flatten()
                .map(|p| PreferredTerm {
                    weight: p.weight,
                    term: node_selector_terms(&k8s_openapi::api::core::v1::NodeSelector {
                        node_selector_terms: vec![p.preference.clone()],
                    })
                    .remove(0),
                })
                .collect(),
            tolerations: tolerations(pod),
            host_ports: host_ports(&core),
            claims,
            images,
            containers: containers.count(),
            ordinal: if is_sts {
                ordinal(&name, &labels)
            } else {
                None
            },
            parallel: is_sts
                && owner
                    .as_ref()
                    .is_some_and(|o| catalog.is_parallel(&namespace, &o.name)),
            spread: catalog.default_selector(
                &namespace,
                &labels,
                owner.as_ref().map(|o| (o.kind.as_str(), o.name.as_str())),
            ),
            unmodelled: unmodelled(pod, &core),
            owner,
            namespace,
            name,
            labels,
        }
    }
}
