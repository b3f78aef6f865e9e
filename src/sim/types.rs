//! The simulation's plain data: nodes, the pods already on them, pods to place, and the
//! scheduling vocabulary they share (taints, tolerations, label requirements, host ports).
//! Matching follows the Kubernetes helpers it is named after.

use std::collections::BTreeMap;

/// Amounts as the scheduler counts them (`int64` in Go): cpu in millicores, memory and
/// ephemeral-storage in bytes, pods as a count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.cpu += other.cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
    }

    pub fn sub(&mut self, other: &Resources) {
        self.cpu -= other.cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
    }
}

/// A node taint. `effect` is `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

impl Taint {
    pub fn new(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        }
    }
}

/// A pod toleration; empty strings stand for unset fields (an empty operator means `Equal`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Toleration {
    pub key: String,
    pub operator: String,
    pub value: String,
    pub effect: String,
}

impl Toleration {
    pub fn new(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: key.into(),
            operator: operator.into(),
            value: value.into(),
            effect: effect.into(),
        }
    }

    /// `Toleration.ToleratesTaint` (k8s.io/api core/v1 `toleration.go`): an empty effect or key
    /// matches any; `Exists` ignores the value; `Equal` (or empty) compares it exactly; `Lt`/`Gt`
    /// need the alpha gate `TaintTolerationComparisonOperators`, off in v1.36, so never match.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.as_str() {
            "" | "Equal" => self.value == taint.value,
            "Exists" => true,
            _ => false,
        }
    }
}

/// Whether any toleration tolerates the taint (`TolerationsTolerateTaint`).
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The operator of a label or field requirement. `Invalid` is an operator the API does not
/// know (or a requirement whose values do not fit its operator): the term holding it never
/// matches, as a parse error makes it in the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Invalid,
}

impl Op {
    pub fn parse(s: &str) -> Op {
        match s {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            _ => Op::Invalid,
        }
    }
}

/// One requirement of a label selector or node selector term (`labels.Requirement`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn new(key: &str, op: Op, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            op,
            values: values.iter().map(|v| (*v).to_string()).collect(),
        }
    }

    /// Whether `labels.NewRequirement` accepts it: `In`/`NotIn` need values, `Exists`/
    /// `DoesNotExist` none, `Gt`/`Lt` exactly one integer.
    pub fn is_valid(&self) -> bool {
        match self.op {
            Op::In | Op::NotIn => !self.values.is_empty(),
            Op::Exists | Op::DoesNotExist => self.values.is_empty(),
            Op::Gt | Op::Lt => self.values.len() == 1 && self.values[0].parse::<i64>().is_ok(),
            Op::Invalid => false,
        }
    }

    /// `Requirement.Matches` on a label value (`None`: the label is absent).
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (self.op, value) {
            (Op::In, Some(v)) => self.values.iter().any(|x| x == v),
            (Op::NotIn, v) => v.is_none_or(|v| self.values.iter().all(|x| x != v)),
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
            (Op::Gt | Op::Lt, Some(v)) => {
                let (Ok(have), Some(Ok(want))) = (
                    v.parse::<i64>(),
                    self.values.first().map(|w| w.parse::<i64>()),
                ) else {
                    return false;
                };
                if self.op == Op::Gt {
                    have > want
                } else {
                    have < want
                }
            }
            _ => false,
        }
    }

    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels.get(&self.key).map(String::as_str))
    }
}

/// A label selector: every requirement must match. An empty one matches everything (callers
/// that treat "empty" as "nothing", like the spreading plugin, check [`Selector::is_empty`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// `labels.SelectorFromSet`: one `In` requirement per pair.
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        Selector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement::new(k, Op::In, &[v]))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches_labels(labels))
    }
}

/// A `nodeSelectorTerm`: label expressions and field expressions (the node has one field,
/// `metadata.name`), ANDed. A term with neither matches no node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<Requirement>,
    pub match_fields: Vec<Requirement>,
}

impl NodeSelectorTerm {
    pub fn is_empty(&self) -> bool {
        self.match_expressions.is_empty() && self.match_fields.is_empty()
    }

    fn is_valid(&self) -> bool {
        self.match_expressions.iter().all(Requirement::is_valid)
            && self
                .match_fields
                .iter()
                .all(|r| matches!(r.op, Op::In | Op::NotIn) && r.values.len() == 1)
    }

    /// `nodeSelectorTerm.match` (component-helpers `nodeaffinity`). `node_name` is `None` where
    /// the caller has no node name (a PV's affinity is checked on labels only), which skips the
    /// field expressions as the helper does.
    pub fn matches(&self, labels: &BTreeMap<String, String>, node_name: Option<&str>) -> bool {
        if self.is_empty() || !self.is_valid() {
            return false;
        }
        if !self
            .match_expressions
            .iter()
            .all(|r| r.matches_labels(labels))
        {
            return false;
        }
        let Some(name) = node_name.filter(|n| !n.is_empty()) else {
            return true;
        };
        self.match_fields.iter().all(|r| {
            let value = if r.key == "metadata.name" { name } else { "" };
            match r.op {
                Op::In => r.values[0] == value,
                _ => r.values[0] != value,
            }
        })
    }
}

/// Terms ORed (`MatchNodeSelectorTerms`): true if any non-empty term matches.
pub fn terms_match(
    terms: &[NodeSelectorTerm],
    labels: &BTreeMap<String, String>,
    node_name: Option<&str>,
) -> bool {
    terms.iter().any(|t| t.matches(labels, node_name))
}

/// A preferred node-affinity term and its weight.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PreferredTerm {
    pub weight: i32,
    pub term: NodeSelectorTerm,
}

/// A host port as `HostPortInfo` keeps it: an empty IP is `0.0.0.0`, an empty protocol `TCP`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    pub fn new(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort {
            ip: if ip.is_empty() { "0.0.0.0" } else { ip }.to_string(),
            protocol: if protocol.is_empty() { "TCP" } else { protocol }.to_string(),
            port,
        }
    }

    /// `HostPortInfo.CheckConflict`: a wildcard IP on either side conflicts with any IP.
    pub fn conflicts(&self, used: &HostPort) -> bool {
        self.port == used.port
            && self.protocol == used.protocol
            && (self.ip == "0.0.0.0" || used.ip == "0.0.0.0" || self.ip == used.ip)
    }
}

/// A pod already bound to a node (or placed by the simulation): what it uses there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resident {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub priority: i32,
    /// `PodRequests` (the real requests; `pods` is 1).
    pub requests: Resources,
    /// The requests with the scheduler's non-zero defaults (100m, 200Mi) for scoring.
    pub nonzero: Resources,
    pub host_ports: Vec<HostPort>,
}

/// An image a node holds (`node.status.images`): its names, as the runtime reports them, and
/// size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeImage {
    pub names: Vec<String>,
    pub size: i64,
}

/// A node as the scheduler's cache sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The Ready condition. Informational: the scheduler reads taints, not conditions (the
    /// node lifecycle controller turns NotReady into a `not-ready` taint).
    pub ready: bool,
    /// `status.allocatable` (cpu, memory, ephemeral-storage, pods).
    pub allocatable: Resources,
    /// The sum of the residents' requests (`pods` counts them).
    pub requested: Resources,
    /// The sum of the residents' non-zero requests (cpu and memory; for scoring).
    pub nonzero_requested: Resources,
    /// Host ports the residents use.
    pub host_ports: Vec<HostPort>,
    pub images: Vec<NodeImage>,
    /// Every pod bound to the node that is not Succeeded or Failed.
    pub pods: Vec<Resident>,
}

impl SimNode {
    /// A node with no pods: `cpu` in millicores, `memory` in bytes.
    pub fn new(name: &str, cpu: i64, memory: i64, pods: i64) -> SimNode {
        let mut labels = BTreeMap::new();
        labels.insert("kubernetes.io/hostname".to_string(), name.to_string());
        SimNode {
            name: name.into(),
            labels,
            ready: true,
            allocatable: Resources {
                cpu,
                memory,
                ephemeral_storage: 0,
                pods,
            },
            ..SimNode::default()
        }
    }

    /// Adds a pod to the node and its sums.
    pub fn add_pod(&mut self, pod: Resident) {
        self.requested.add(&pod.requests);
        self.nonzero_requested.add(&pod.nonzero);
        self.host_ports.extend(pod.host_ports.iter().cloned());
        self.pods.push(pod);
    }
}

/// Why an unbound claim counts as "immediate" (the scheduler waits for the PV controller).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ImmediateWhy {
    /// No `storageClassName` and no default class.
    NoClass,
    /// The class named does not exist.
    MissingClass(String),
    /// The class binds immediately.
    ImmediateClass(String),
    /// `spec.volumeName` is set but the bind is not complete (pre-bound).
    PreBound(String),
}

impl std::fmt::Display for ImmediateWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImmediateWhy::NoClass => {
                f.write_str("it has no StorageClass and there is no default one")
            }
            ImmediateWhy::MissingClass(c) => write!(f, "its StorageClass {c} does not exist"),
            ImmediateWhy::ImmediateClass(c) => {
                write!(
                    f,
                    "its StorageClass {c} binds immediately and no volume is bound yet"
                )
            }
            ImmediateWhy::PreBound(v) => {
                write!(f, "it names volume {v} but is not bound to it yet")
            }
        }
    }
}

/// A `TopologySelectorTerm` of a StorageClass's `allowedTopologies`: every key must have one
/// of its values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TopologyTerm {
    pub expressions: Vec<(String, Vec<String>)>,
}

/// `MatchTopologySelectorTerms`: no terms match every node.
pub fn topology_matches(terms: &[TopologyTerm], labels: &BTreeMap<String, String>) -> bool {
    terms.is_empty()
        || terms.iter().any(|t| {
            t.expressions
                .iter()
                .all(|(k, vs)| labels.get(k).is_some_and(|v| vs.contains(v)))
        })
}

/// What the scheduler makes of a pod's PersistentVolumeClaim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClaimState {
    /// No such claim: VolumeRestrictions' PreFilter rejects the pod.
    Missing,
    /// Phase Lost: bound to a PV that no longer exists.
    Lost { volume: String },
    /// Being deleted.
    Deleting,
    /// Bound to `volume`; `node_affinity` is the PV's required node affinity (`None`: none),
    /// `volume_missing` when the PV is not known.
    Bound {
        volume: String,
        node_affinity: Option<Vec<NodeSelectorTerm>>,
        volume_missing: bool,
    },
    /// Unbound, and the scheduler will not bind it.
    UnboundImmediate(ImmediateWhy),
    /// Unbound with a WaitForFirstConsumer class: bound when a pod using it is placed, to a
    /// matching available PV or (if the class has a provisioner) a new one.
    WaitForFirstConsumer(DelayedClaim),
}

/// An unbound WaitForFirstConsumer claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DelayedClaim {
    pub class: String,
    /// The class's provisioner; `""` or `kubernetes.io/no-provisioner` cannot provision.
    pub provisioner: String,
    pub allowed_topologies: Vec<TopologyTerm>,
    /// The `volume.kubernetes.io/selected-node` annotation.
    pub selected_node: Option<String>,
    /// `resources.requests.storage` in bytes.
    pub request: i64,
    pub access_modes: Vec<String>,
    /// `Filesystem` unless set.
    pub volume_mode: String,
}

/// One PersistentVolumeClaim volume of a pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodClaim {
    pub name: String,
    pub state: ClaimState,
}

/// A pod's controlling owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// A pod to place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimPod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// `preemptionPolicy: Never`.
    pub preempt_never: bool,
    /// `PodRequests`: what NodeResourcesFit compares (`pods` is 1).
    pub requests: Resources,
    /// The requests with the non-zero defaults per container (100m cpu, 200Mi memory), for
    /// LeastAllocated.
    pub nonzero: Resources,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity terms (`None`: no required affinity; `Some(vec![])` matches no
    /// node).
    pub required_affinity: Option<Vec<NodeSelectorTerm>>,
    pub preferred_affinity: Vec<PreferredTerm>,
    pub tolerations: Vec<Toleration>,
    pub host_ports: Vec<HostPort>,
    pub claims: Vec<PodClaim>,
    /// Image references as the pod spec writes them: init containers, containers, image
    /// volumes.
    pub images: Vec<String>,
    /// Init containers plus containers (ImageLocality's threshold scales with it).
    pub containers: usize,
    pub owner: Option<Owner>,
    /// The StatefulSet ordinal.
    pub ordinal: Option<u32>,
    /// For a StatefulSet pod: whether the set creates its pods in parallel (else one at a
    /// time, in ordinal order, each waiting for the one before).
    pub parallel: bool,
    /// The selector of the default spreading constraints (`helper.DefaultSelector`: the
    /// selectors of the Services that select the pod, plus its ReplicaSet's or StatefulSet's);
    /// `None` when there is none, and spreading does not score the pod.
    pub spread: Option<Selector>,
    /// What the pod asks for that the simulation does not model (see the module docs).
    pub unmodelled: Vec<String>,
}

impl SimPod {
    /// A pod of `namespace/name` asking for `cpu` millicores and `memory` bytes (also its
    /// non-zero requests, unless a figure is 0).
    pub fn new(namespace: &str, name: &str, cpu: i64, memory: i64) -> SimPod {
        let requests = Resources {
            cpu,
            memory,
            ephemeral_storage: 0,
            pods: 1,
        };
        SimPod {
            namespace: namespace.into(),
            name: name.into(),
            requests,
            nonzero: Resources {
                cpu: if cpu == 0 { 100 } else { cpu },
                memory: if memory == 0 { 200 << 20 } else { memory },
                ..requests
            },
            containers: 1,
            ..SimPod::default()
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// What the pod leaves on a node once placed there.
    pub fn resident(&self) -> Resident {
        Resident {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            priority: self.priority,
            requests: self.requests,
            nonzero: self.nonzero,
            host_ports: self.host_ports.clone(),
        }
    }
}
