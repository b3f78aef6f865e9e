//! The functions rule expressions call, declared once in [`HELPERS`]: name, parameters,
//! documentation, cost and implementation. Registration, the load-time checks, `ttdoctor
//! helpers` and the README's table all come from this table. These are generic Kubernetes
//! helpers: nothing here knows about TrainTicket.

use super::values::{self, Arg, as_int, as_str, field, list, map, str_at, string};
use super::world::{ObjId, World};
use crate::index::{pod_memory, podstatus};
use crate::quantity::{Quantity, format_bytes};
use crate::snapshot::{Kind, PodCore, Stored};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube_cel::cel::common::value::Val;
use kube_cel::cel::{ExecutionError, FunctionContext, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// How a helper's work and result grow, which decides where a rule may call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// Constant work and a small result.
    Small,
    /// A join from its argument (a node's pods, an object's events): linear over a run when
    /// each object asks for its own.
    Join,
    /// A collection that does not depend on the object (a namespace's pods): per object it
    /// would be copied again each time, so it belongs in `shared:`.
    Collection,
    /// Grows with the whole cluster (every node): never the range of a comprehension, whose
    /// steps copy their accumulator (quadratic); ask an aggregate helper instead.
    Cluster,
}

/// One helper.
pub struct Helper {
    pub name: &'static str,
    /// Parameter names, shown as the signature.
    pub params: &'static [&'static str],
    /// What it returns, in a few words.
    pub returns: &'static str,
    pub doc: &'static str,
    pub cost: Cost,
    pub run: fn(&World, &Args) -> Result<Value, ExecutionError>,
}

impl Helper {
    /// `pods_on_node(node)`.
    pub fn signature(&self) -> String {
        format!("{}({})", self.name, self.params.join(", "))
    }
}

/// The helper named `name`, if any.
pub fn find(name: &str) -> Option<&'static Helper> {
    HELPERS.iter().find(|h| h.name == name)
}

/// Facts about the whole cluster computed once per run, on first use.
#[derive(Default)]
pub(crate) struct Cache {
    largest_node: OnceLock<Option<usize>>,
    cluster_mem: OnceLock<Value>,
    node_ips: OnceLock<Value>,
    nodes_matching: Mutex<HashMap<String, Vec<usize>>>,
    /// `capacity(keys)` per key list.
    capacity: Mutex<HashMap<Vec<String>, Value>>,
}

/// A helper's arguments, read in place from the interpreter (no copy of the objects).
pub struct Args<'a> {
    name: &'static str,
    vals: Vec<Arg<'a>>,
}

impl Args<'_> {
    fn err(&self, message: impl Into<String>) -> ExecutionError {
        ExecutionError::FunctionError {
            function: self.name.to_string(),
            message: message.into(),
        }
    }

    pub fn raw(&self, i: usize) -> &dyn Val {
        self.vals[i].as_ref()
    }

    /// The argument as a `Value` (a deep copy).
    pub fn value(&self, i: usize) -> Value {
        values::to_value(self.raw(i))
    }

    pub fn str(&self, i: usize) -> Result<&str, ExecutionError> {
        as_str(self.raw(i)).ok_or_else(|| self.err(format!("argument {} must be a string", i + 1)))
    }

    pub fn int(&self, i: usize) -> Result<i64, ExecutionError> {
        let v = self.raw(i);
        as_int(v)
            .or_else(|| values::to_value(v).as_f64_lossy())
            .ok_or_else(|| self.err(format!("argument {} must be a number", i + 1)))
    }

    /// A snapshot object (as a rule got it from `object` or a helper).
    pub fn object(&self, i: usize) -> Result<ObjId, ExecutionError> {
        values::handle(self.raw(i))
            .and_then(ObjId::decode)
            .ok_or_else(|| {
                self.err(format!(
                    "argument {} must be an object of the snapshot (`object`, or one a helper returned)",
                    i + 1
                ))
            })
    }

    fn of_kind(&self, i: usize, kind: Kind) -> Result<usize, ExecutionError> {
        let id = self.object(i)?;
        if id.kind == kind {
            Ok(id.index)
        } else {
            Err(self.err(format!(
                "argument {} must be a {kind}, got a {}",
                i + 1,
                id.kind
            )))
        }
    }

    fn pod_core<'w>(&self, w: &'w World, i: usize) -> Result<&'w PodCore, ExecutionError> {
        Ok(w.snap().objects.pods[self.of_kind(i, Kind::Pod)?].core())
    }

    fn pod<'w>(&self, w: &'w World, i: usize) -> Result<&'w Pod, ExecutionError> {
        Ok(w.snap().objects.pods[self.of_kind(i, Kind::Pod)?].get())
    }

    /// A node given as an object or by name.
    fn node<'w>(&self, w: &'w World, i: usize) -> Result<Option<&'w Node>, ExecutionError> {
        match as_str(self.raw(i)) {
            Some(name) => Ok(w.ix.node(name)),
            None => Ok(Some(
                w.snap().objects.nodes[self.of_kind(i, Kind::Node)?].get(),
            )),
        }
    }

    fn selector(&self, i: usize) -> Result<BTreeMap<String, String>, ExecutionError> {
        values::string_map(self.raw(i))
            .ok_or_else(|| self.err(format!("argument {} must be a map of strings", i + 1)))
    }
}

trait Lossy {
    fn as_f64_lossy(&self) -> Option<i64>;
}

impl Lossy for Value {
    fn as_f64_lossy(&self) -> Option<i64> {
        match self {
            Value::UInt(u) => i64::try_from(*u).ok(),
            #[allow(clippy::cast_possible_truncation)]
            Value::Float(f) => Some(*f as i64),
            _ => None,
        }
    }
}

/// The function registered for a helper: checks the arity, reads the arguments in place.
pub(crate) type Registered =
    Box<dyn Fn(&mut FunctionContext) -> kube_cel::cel::ResolveResult + Send + Sync>;

pub(crate) fn registered(h: &'static Helper, w: std::sync::Arc<World>) -> Registered {
    Box::new(move |ftx: &mut FunctionContext| {
        if ftx.this.is_some() {
            return Err(ftx.error(format!("call it as {}, not as a method", h.signature())));
        }
        if ftx.args.len() != h.params.len() {
            return Err(ftx.error(format!(
                "takes {} argument(s), {}; got {}",
                h.params.len(),
                h.signature(),
                ftx.args.len()
            )));
        }
        let vals = ftx
            .args
            .iter()
            .map(|e| Value::resolve_val(e, ftx.ptx))
            .collect::<Result<Vec<_>, _>>()?;
        (h.run)(&w, &Args { name: h.name, vals })
    })
}

fn int(n: i128) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn labels_of(v: &dyn Val) -> BTreeMap<String, String> {
    field(v, "metadata")
        .and_then(|m| field(m, "labels"))
        .and_then(values::string_map)
        .unwrap_or_default()
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn cordoned(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

fn taints(n: &Node) -> &[Taint] {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

fn blocks(t: &Taint) -> bool {
    matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
}

/// Kubernetes toleration matching (key, operator, value, effect), as the scheduler does it.
pub fn tolerated(pod: &Pod, key: &str, value: &str, effect: &str) -> bool {
    let tols = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    crate::index::tolerates(tols, key, value, effect)
}

fn tolerates_taint(pod: &Pod, t: &Taint) -> bool {
    tolerated(
        pod,
        &t.key,
        t.value.as_deref().unwrap_or_default(),
        &t.effect,
    )
}

/// `{kind, name}` of the pod's top-level controller (`owner(pod)`), or null.
fn owner_value(w: &World, pod: usize) -> Value {
    match w.ix.top_owner(pod) {
        Some((kind, name)) => map(vec![("kind", string(kind)), ("name", string(name))]),
        None => Value::Null,
    }
}

fn node_name(n: &Node) -> &str {
    n.metadata.name.as_deref().unwrap_or_default()
}

/// The node with the most allocatable memory among `candidates` (ties: first by name).
fn most_memory<'a>(
    w: &World,
    candidates: impl Iterator<Item = (usize, &'a Node)>,
) -> Option<usize> {
    candidates
        .map(|(i, n)| {
            (
                w.ix.node_memory(node_name(n)).allocatable,
                std::cmp::Reverse(node_name(n)),
                i,
            )
        })
        .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
        .map(|b| b.2)
}

fn node_value(w: &World, i: Option<usize>) -> Value {
    i.map_or(Value::Null, |index| {
        w.value(ObjId {
            kind: Kind::Node,
            index,
        })
    })
}

fn node_address(n: &Node) -> Option<&str> {
    let addrs = n.status.as_ref()?.addresses.as_deref()?;
    let pick = |t: &str| {
        addrs
            .iter()
            .find(|a| a.type_ == t)
            .map(|a| a.address.as_str())
    };
    pick("ExternalIP").or_else(|| pick("InternalIP"))
}

fn model<'w>(w: &'w World, a: &Args) -> Result<&'w crate::deploy::Model, ExecutionError> {
    w.model()
        .map_err(|e| a.err(format!("the deployment could not be read: {e}")))
}

fn trial_entries(t: &crate::plan::Trial) -> Vec<(&'static str, Value)> {
    let names = |v: &[String]| list(v.iter().cloned().map(string).collect());
    vec![
        ("fit", Value::Int(t.fit as i64)),
        ("unfit", Value::Int(t.unfit as i64)),
        ("fit_pods", names(&t.fit_pods)),
        ("unfit_pods", names(&t.unfit_pods)),
        ("message", t.message.clone().map_or(Value::Null, string)),
        ("requested", Value::Int(t.memory.requested)),
        ("free", Value::Int(t.memory.free)),
        ("short", Value::Int(t.memory.short)),
    ]
}

fn capacity_value(w: &World, a: &Args) -> Result<Value, ExecutionError> {
    let keys: Vec<String> = values::as_list(a.raw(0))
        .ok_or_else(|| a.err("argument 1 must be a list of taint keys"))?
        .iter()
        .filter_map(|k| values::as_str(k.as_ref()).map(str::to_string))
        .collect();
    if let Some(v) = w.cache.capacity.lock().expect("not poisoned").get(&keys) {
        return Ok(v.clone());
    }
    let opts = crate::plan::Options::default();
    let c = crate::plan::capacity(&w.ix, w.namespace(), || w.model(), &keys, &opts)
        .map_err(|e| a.err(format!("the deployment could not be read: {e}")))?;
    let mut entries = trial_entries(&c.as_is);
    entries.extend([
        ("phase", string(c.phase)),
        ("pods", Value::Int(c.pods as i64)),
        ("uncreated", Value::Int(c.uncreated as i64)),
        ("untainted", map(trial_entries(&c.untainted))),
    ]);
    let v = map(entries);
    w.cache
        .capacity
        .lock()
        .expect("not poisoned")
        .insert(keys, v.clone());
    Ok(v)
}

fn kind_arg(a: &Args, i: usize) -> Result<Kind, ExecutionError> {
    let k = a.str(i)?;
    Kind::parse(k).ok_or_else(|| a.err(format!("unknown kind {k:?}")))
}

fn selector_key(sel: &BTreeMap<String, String>) -> String {
    sel.iter().map(|(k, v)| format!("{k}={v},")).collect()
}

/// Nodes carrying every label of `sel` (cached per selector: pods share selectors).
fn nodes_matching(w: &World, sel: &BTreeMap<String, String>) -> Vec<usize> {
    let key = selector_key(sel);
    let mut cache = w.cache.nodes_matching.lock().expect("not poisoned");
    cache
        .entry(key)
        .or_insert_with(|| {
            w.snap()
                .objects
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    let l = n.meta().labels.as_ref();
                    sel.iter().all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
                })
                .map(|(i, _)| i)
                .collect()
        })
        .clone()
}

macro_rules! helper {
    ($name:literal ($($p:literal),*) -> $ret:literal, $cost:ident, $doc:literal, |$w:ident, $a:ident| $body:expr) => {
        Helper {
            name: $name,
            params: &[$($p),*],
            returns: $ret,
            doc: $doc,
            cost: Cost::$cost,
            run: |$w: &World, $a: &Args| -> Result<Value, ExecutionError> { $body },
        }
    };
}

/// Every helper, in the order the documentation lists them.
pub static HELPERS: &[Helper] = &[
    // Objects.
    helper!("objects"("kind") -> "list", Cluster,
        "Every object of a kind (`'Node'`, `'pods'`, `'sc'`…). Grows with the cluster: prefer the joins and aggregates below.",
        |w, a| Ok(w.all(kind_arg(a, 0)?))),
    helper!("count"("kind") -> "int", Small,
        "How many objects of a kind the snapshot holds.",
        |w, a| Ok(Value::Int(w.snap().count(kind_arg(a, 0)?) as i64))),
    helper!("get"("kind", "namespace", "name") -> "object or null", Small,
    "One object by name; namespace `''` for cluster-scoped kinds.",
    |w, a| {
        let kind = kind_arg(a, 0)?;
        Ok(w.lookup(kind, a.str(1)?, a.str(2)?)
            .map_or(Value::Null, |index| w.value(ObjId { kind, index })))
    }),
    helper!("pod_count"("namespace") -> "int", Small,
        "How many pods a namespace has (without reading them).",
        |w, a| Ok(Value::Int(w.ix.pods_in_namespace(a.str(0)?).len() as i64))),
    helper!("pods_in"("namespace") -> "list of Pod", Collection,
        "The pods of a namespace.",
        |w, a| Ok(w.values(Kind::Pod, w.ix.pods_in_namespace(a.str(0)?).iter().copied()))),
    // The deployment (`--profile`, `--manifests`).
    helper!("model_images"() -> "list of string", Small,
        "The images the deployment's pods use (containers and init containers), in first-use order.",
        |w, a| Ok(list(model(w, a)?.images().into_iter().map(string).collect()))),
    helper!("model_requests"() -> "{cpu, memory, pods}", Small,
    "What the deployment's pods request in total (cpu in millicores, memory in bytes), and how many pods it makes (one per node for a DaemonSet).",
    |w, a| {
        let m = model(w, a)?;
        let (mut cpu, mut mem) = (0i128, 0i128);
        for p in &m.pods {
            if let Some(spec) = crate::deploy::core(&p.pod).spec.as_ref() {
                cpu += crate::index::pod_resource(spec, "cpu", crate::index::Bound::Request);
                mem += crate::index::pod_resource(spec, "memory", crate::index::Bound::Request);
            }
        }
        Ok(map(vec![("cpu", int(cpu)), ("memory", int(mem)), ("pods", Value::Int(m.pods.len() as i64))]))
    }),
    helper!("capacity"("taint_keys") -> "{phase, pods, uncreated, fit, unfit, fit_pods, unfit_pods, message, requested, free, short, untainted: {…}}", Small,
        "The scheduler simulation of the pods still to place in the target namespace: the deployment's before the install (`phase: 'pre'`); after it (`'post'`) the Pending ones and the `uncreated` ones their StatefulSets have yet to make. 10 seeded orders. `fit`/`unfit` count the pods placed or not in the worst order; `fit_pods` names those placed in every order, `unfit_pods` the others; `message` is the scheduler's for the first; memory in bytes: `requested` by those pods, `free` on the nodes they may use, `short` = what is missing even with perfect packing. `untainted` is the same with the NoSchedule/NoExecute taints of `taint_keys` removed from every node. Computed once per key list.",
        |w, a| capacity_value(w, a)),
    helper!("model_name"() -> "string", Small,
        "What the deployment is: `profile default`, `manifests chart.yaml`.",
        |w, a| Ok(string(model(w, a)?.name.clone()))),
    // Joins.
    helper!("pods_selected"("service") -> "list of Pod", Join,
    "The pods a Service's selector picks.",
    |w, a| {
        let svc = &w.snap().objects.services[a.of_kind(0, Kind::Service)?];
        Ok(w.values(Kind::Pod, w.ix.pods_of_service(svc.get())))
    }),
    helper!("pods_matching"("namespace", "labels") -> "list of Pod", Join,
        "The pods of a namespace carrying every label of the map (an empty map matches none, like a Service).",
        |w, a| Ok(w.values(Kind::Pod, w.ix.pods_matching(a.str(0)?, &a.selector(1)?)))),
    helper!("pods_not_ready"("namespace", "labels") -> "list of Pod", Join,
    "The pods of `pods_matching(namespace, labels)` that are active (not Failed or Succeeded) and not Ready: a DaemonSet's broken members, without copying the ready ones.",
    |w, a| {
        let pods = &w.ix.snap.objects.pods;
        let broken = w.ix.pods_matching(a.str(0)?, &a.selector(1)?).into_iter().filter(|&i| {
            let p = &pods[i];
            !matches!(p.core().phase(), Some("Failed" | "Succeeded")) && !p.with_full(podstatus::is_ready).0
        });
        Ok(w.values(Kind::Pod, broken))
    }),
    helper!("pods_owned"("controller") -> "list of Pod", Join,
    "The pods of a controller (a Deployment's through its ReplicaSets).",
    |w, a| {
        let id = a.object(0)?;
        let v = a.raw(0);
        let (ns, name) = (str_at(v, &["metadata", "namespace"]).unwrap_or_default(), str_at(v, &["metadata", "name"]).unwrap_or_default());
        Ok(w.values(Kind::Pod, w.ix.pods_owned_by(ns, id.kind.name(), name)))
    }),
    helper!("pods_on_node"("node") -> "list of Pod", Join,
    "The pods bound to a node (object or name).",
    |w, a| Ok(match a.node(w, 0)? {
        Some(n) => w.values(Kind::Pod, w.ix.pods_on_node(node_name(n))),
        None => list(Vec::new()),
    })),
    helper!("pod_summaries"("namespace") -> "list of {name, phase, node, owner, images}", Join,
    "One small record per pod of a namespace, from the index: `phase` and `node` (`''` when unset), `owner` as `owner(pod)`, `images` of its init containers then containers. For questions about every pod of a namespace without copying whole pods.",
    |w, a| {
        let pods = &w.ix.snap.objects.pods;
        let records = w.ix.pods_in_namespace(a.str(0)?).iter().map(|&i| {
            let core = pods[i].core();
            let spec = core.spec.as_ref();
            let images = spec.map(|s| s.init_containers.iter().flatten().chain(&s.containers)
                .map(|c| string(c.image.as_deref().unwrap_or_default())).collect()).unwrap_or_default();
            let owner = owner_value(w, i);
            map(vec![
                ("name", string(pods[i].name())),
                ("phase", string(core.phase().unwrap_or_default())),
                ("node", string(core.node_name().unwrap_or_default())),
                ("owner", owner),
                ("images", list(images)),
            ])
        });
        Ok(list(records.collect()))
    }),
    helper!("owner"("pod") -> "{kind, name} or null", Small,
    "The pod's top-level controller: a Deployment for ReplicaSet pods, else its direct controller.",
    |w, a| Ok(owner_value(w, a.of_kind(0, Kind::Pod)?))),
    helper!("events"("object") -> "list of Event", Join,
    "Events about an object, oldest first (matched by uid when both have one, so a recreated pod's old events are left out).",
    |w, a| {
        let id = a.object(0)?;
        let v = a.raw(0);
        let ns = str_at(v, &["metadata", "namespace"]).unwrap_or_default();
        let name = str_at(v, &["metadata", "name"]).unwrap_or_default();
        let uid = str_at(v, &["metadata", "uid"]).unwrap_or_default();
        let events = &w.snap().objects.events;
        let idx = w.ix.events_for(id.kind.name(), ns, name).into_iter().filter(|&i| {
            let eu = events[i].core().involved_object.uid.as_deref().unwrap_or_default();
            uid.is_empty() || eu.is_empty() || eu == uid
        });
        Ok(w.values(Kind::Event, idx.collect::<Vec<_>>()))
    }),
    helper!("ready_endpoints"("service") -> "int", Small,
    "Ready addresses behind a Service, from its Endpoints, else its EndpointSlices (a dual-stack pod counts once).",
    |w, a| {
        let v = a.raw(0);
        let ns = str_at(v, &["metadata", "namespace"]).unwrap_or_default();
        let name = str_at(v, &["metadata", "name"]).unwrap_or_default();
        Ok(Value::Int(w.ix.ready_endpoints(ns, name) as i64))
    }),
    // Pods as kubectl shows them.
    helper!("pod_status"("pod") -> "string", Small,
        "The STATUS column of `kubectl get pods` (`Init:CrashLoopBackOff`, `ImagePullBackOff`, `Terminating`…).",
        |w, a| Ok(string(podstatus::status(a.pod(w, 0)?)))),
    helper!("pod_ready"("pod") -> "bool", Small,
        "Whether the pod's Ready condition is True.",
        |w, a| Ok(Value::Bool(podstatus::is_ready(a.pod(w, 0)?)))),
    helper!("ready_count"("pod") -> "string", Small,
    "The READY column: `ready/total` containers.",
    |w, a| {
        let (r, t) = podstatus::ready_counts(a.pod(w, 0)?);
        Ok(string(format!("{r}/{t}")))
    }),
    helper!("restarts"("pod") -> "int", Small,
        "The RESTARTS column: restarts of all containers, init containers included.",
        |w, a| Ok(Value::Int(podstatus::restarts(a.pod(w, 0)?)))),
    // Images.
    helper!("node_has_image"("node", "image") -> "bool", Small,
    "Whether the node holds the image: in `node.status.images`, or pulled by a container running there (names normalized like containerd).",
    |w, a| Ok(Value::Bool(match a.node(w, 0)? {
        Some(n) => w.ix.node_has_image(node_name(n), a.str(1)?),
        None => false,
    }))),
    helper!("node_images"("node") -> "list of string", Join,
    "The images the node holds, normalized, sorted.",
    |w, a| Ok(match a.node(w, 0)? {
        Some(n) => list(w.ix.node_images(node_name(n)).into_iter().map(string).collect()),
        None => list(Vec::new()),
    })),
    helper!("images_listed"("node") -> "int", Small,
        "How many images the kubelet listed in `node.status.images` (it stops at `--node-status-max-images`, 50 by default).",
        |w, a| Ok(Value::Int(a.node(w, 0)?
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.images.as_ref())
            .map_or(0, Vec::len) as i64))),
    helper!("image_ref"("image") -> "string", Small,
        "An image reference as containerd records it: `busybox:1.32` → `docker.io/library/busybox:1.32`.",
        |_w, a| Ok(string(crate::index::normalize_image(a.str(0)?)))),
    // Memory.
    helper!("mem"("node") -> "{capacity, allocatable, requests, limits, free, usage}", Small,
    "A node's memory in bytes: requests and limits of its active pods, free = allocatable − requests, usage from metrics (null without).",
    |w, a| {
        let m = match a.node(w, 0)? {
            Some(n) => w.ix.node_memory(node_name(n)),
            None => Default::default(),
        };
        Ok(map(vec![
            ("capacity", int(m.capacity)),
            ("allocatable", int(m.allocatable)),
            ("requests", int(m.requests)),
            ("limits", int(m.limits)),
            ("free", int(m.allocatable - m.requests)),
            ("usage", m.usage.map_or(Value::Null, int)),
        ]))
    }),
    helper!("cluster_mem"() -> "{allocatable, requests, free, nodes}", Small,
        "Memory of the schedulable nodes (Ready, uncordoned, no NoSchedule/NoExecute taint) summed, in bytes; `nodes` counts them.",
        |w, _a| Ok(w.cache.cluster_mem.get_or_init(|| {
            let (mut alloc, mut req, mut n) = (0i128, 0i128, 0i64);
            for node in w.snap().objects.nodes.iter().map(Stored::get).filter(|n| schedulable(n)) {
                let m = w.ix.node_memory(node_name(node));
                alloc += m.allocatable;
                req += m.requests;
                n += 1;
            }
            map(vec![("allocatable", int(alloc)), ("requests", int(req)), ("free", int(alloc - req)), ("nodes", Value::Int(n))])
        }).clone())),
    helper!("pod_mem_request"("pod") -> "int", Small,
        "The pod's memory request in bytes, as the scheduler counts it (init containers, sidecars, pod-level resources, overhead).",
        |w, a| Ok(int(pod_memory(w.snap().objects.pods[a.of_kind(0, Kind::Pod)?].core()).0))),
    helper!("has_metrics"() -> "bool", Small,
        "Whether node metrics (metrics-server) were read.",
        |w, _a| Ok(Value::Bool(w.ix.has(Kind::NodeMetrics)))),
    // Scheduling.
    helper!("schedulable"("node") -> "bool", Small,
        "Ready, not cordoned, and no NoSchedule/NoExecute taint.",
        |w, a| Ok(Value::Bool(a.node(w, 0)?.is_some_and(schedulable)))),
    helper!("tolerates"("pod", "taint") -> "bool", Small,
    "Whether the pod tolerates the taint (key, operator, value, effect), as the scheduler matches them.",
    |w, a| {
        let t = a.raw(1);
        let f = |k: &str| str_at(t, &[k]).unwrap_or_default();
        Ok(Value::Bool(tolerated(a.pod(w, 0)?, f("key"), f("value"), f("effect"))))
    }),
    helper!("fits_ignoring_taints"("pod", "node") -> "bool", Small,
    "Whether the scheduler would place the pod on the node if the node had no taints: Ready, uncordoned, nodeSelector matched, memory free.",
    |w, a| {
        let pod = a.pod(w, 0)?;
        let core = a.pod_core(w, 0)?;
        Ok(Value::Bool(a.node(w, 1)?.is_some_and(|n| fits_ignoring_taints(w, pod, core, n))))
    }),
    helper!("best_node_for"("pod") -> "Node or null", Small,
    "The node with the most allocatable memory the pod could run on if its nodeSelector allowed: Ready, uncordoned, taints tolerated, memory free.",
    |w, a| {
        let pod = a.pod(w, 0)?;
        let need = pod_memory(a.pod_core(w, 0)?).0;
        let nodes = w.snap().objects.nodes.iter().map(Stored::get).enumerate().filter(|(_, n)| {
            let m = w.ix.node_memory(node_name(n));
            node_ready(n) && !cordoned(n)
                && taints(n).iter().all(|t| !blocks(t) || tolerates_taint(pod, t))
                && m.allocatable - m.requests >= need
        });
        Ok(node_value(w, most_memory(w, nodes)))
    }),
    helper!("largest_node"() -> "Node or null", Small,
    "The Ready, uncordoned node with the most allocatable memory (ties: first by name).",
    |w, _a| {
        let best = *w.cache.largest_node.get_or_init(|| {
            most_memory(w, w.snap().objects.nodes.iter().map(Stored::get).enumerate().filter(|(_, n)| node_ready(n) && !cordoned(n)))
        });
        Ok(node_value(w, best))
    }),
    helper!("nodes_matching"("labels") -> "list of Node", Cluster,
        "The nodes carrying every label of the map. Use `count_nodes` to count them.",
        |w, a| Ok(w.values(Kind::Node, nodes_matching(w, &a.selector(0)?)))),
    helper!("count_nodes"("labels") -> "int", Small,
        "How many nodes carry every label of the map.",
        |w, a| Ok(Value::Int(nodes_matching(w, &a.selector(0)?).len() as i64))),
    helper!("node_ip"("node") -> "string", Small,
        "The node's ExternalIP, else its InternalIP, else `''`.",
        |w, a| Ok(string(a.node(w, 0)?.and_then(node_address).unwrap_or_default()))),
    helper!("node_ips"() -> "list of string", Cluster,
        "The address of every node that has one (ExternalIP, else InternalIP), in snapshot order.",
        |w, _a| Ok(w.cache.node_ips.get_or_init(|| list(
            w.snap().objects.nodes.iter().map(Stored::get).filter_map(node_address).map(string).collect()
        )).clone())),
    // Access and text.
    helper!("dig"("value", "path", "default") -> "any", Small,
    "A nested field (`'status.phase'`), or the default when any part is missing or null (`has()` errors on a missing parent).",
    |_w, a| {
        let mut cur = a.raw(0);
        for part in a.str(1)?.split('.').filter(|p| !p.is_empty()) {
            match field(cur, part) {
                Some(v) if v.downcast_ref::<kube_cel::cel::common::types::CelNull>().is_none() => cur = v,
                _ => return Ok(a.value(2)),
            }
        }
        Ok(values::to_value(cur))
    }),
    helper!("label"("object", "key") -> "string", Small,
        "A label's value, `''` when absent.",
        |_w, a| Ok(string(labels_of(a.raw(0)).remove(a.str(1)?).unwrap_or_default()))),
    helper!("annotation"("object", "key") -> "string", Small,
    "An annotation's value, `''` when absent.",
    |_w, a| {
        let key = a.str(1)?;
        Ok(string(str_at(a.raw(0), &["metadata", "annotations", key]).unwrap_or_default()))
    }),
    helper!("keys"("map") -> "list of string", Small,
    "The keys of a map, sorted: iterate a map through them (a map's own order changes from run to run).",
    |_w, a| {
        let m = a.selector(0)?;
        Ok(list(m.into_keys().map(string).collect()))
    }),
    helper!("without"("map", "key") -> "map", Small,
    "A map of strings without one key (a selector minus a label).",
    |_w, a| {
        let mut m = a.selector(0)?;
        m.remove(a.str(1)?);
        Ok(map(m.iter().map(|(k, v)| (k.as_str(), string(v.clone()))).collect()))
    }),
    helper!("bytes"("quantity") -> "int", Small,
        "A memory quantity (`'64Gi'`, `'19176Mi'`) in bytes.",
        |_w, a| Quantity::parse(a.str(0)?).map(|q| int(q.ceil_units())).map_err(|e| a.err(e.to_string()))),
    helper!("fmt_bytes"("n") -> "string", Small,
        "Bytes for people: `1.6Gi`, `300Mi`.",
        |_w, a| Ok(string(format_bytes(i128::from(a.int(0)?))))),
    helper!("percent"("part", "whole") -> "int", Small,
    "`part * 100 / whole`, 0 when whole is 0.",
    |_w, a| {
        let (n, d) = (a.int(0)?, a.int(1)?);
        Ok(Value::Int(if d == 0 { 0 } else { n.saturating_mul(100) / d }))
    }),
    helper!("shq"("text") -> "string", Small,
        "The text quoted for a POSIX shell, for commands built from cluster data.",
        |_w, a| Ok(string(crate::text::shell_quote(&super::template::display(&a.value(0)))))),
];

/// Ready, uncordoned, and no NoSchedule/NoExecute taint.
fn schedulable(n: &Node) -> bool {
    node_ready(n) && !cordoned(n) && !taints(n).iter().any(blocks)
}

fn fits_ignoring_taints(w: &World, pod: &Pod, core: &PodCore, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let selector_ok = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| {
            sel.iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        });
    let m = w.ix.node_memory(node_name(node));
    node_ready(node)
        && !cordoned(node)
        && selector_ok
        && m.allocatable - m.requests >= pod_memory(core).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(tols: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tols}})).unwrap()
    }

    #[test]
    fn tolerations_match_like_the_scheduler() {
        let cp = "node-role.kubernetes.io/control-plane";
        let t = |p: &Pod| tolerated(p, cp, "", "NoSchedule");
        assert!(!t(&pod(serde_json::json!([]))));
        assert!(
            t(&pod(serde_json::json!([{"operator": "Exists"}]))),
            "empty key + Exists tolerates all"
        );
        assert!(t(&pod(
            serde_json::json!([{"key": cp, "operator": "Exists", "effect": "NoSchedule"}])
        )));
        assert!(!t(&pod(
            serde_json::json!([{"key": cp, "operator": "Exists", "effect": "NoExecute"}])
        )));
        assert!(
            t(&pod(serde_json::json!([{"key": cp, "operator": "Exists"}]))),
            "no effect matches every effect"
        );
        // Equal (the default operator) compares values; the taint has none.
        assert!(t(&pod(serde_json::json!([{"key": cp}]))));
        assert!(!t(&pod(serde_json::json!([{"key": cp, "value": "x"}]))));
        // The default not-ready/unreachable tolerations do not tolerate the control-plane taint.
        assert!(!t(&pod(
            serde_json::json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}])
        )));
    }

    #[test]
    fn names_are_unique_and_documented() {
        let mut names: Vec<&str> = HELPERS.iter().map(|h| h.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HELPERS.len());
        assert!(
            HELPERS
                .iter()
                .all(|h| !h.doc.is_empty() && h.doc.ends_with('.'))
        );
    }
}
