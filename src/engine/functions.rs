//! The snapshot and its joins, exposed to rule expressions as CEL functions. These are
//! generic Kubernetes helpers: nothing here knows about TrainTicket.

use super::values::{field, from_json, list, map, str_at, string};
use crate::index::{Index, pod_memory};
use crate::podstatus;
use crate::quantity::{Quantity, format_bytes};
use crate::snapshot::Kind;
use kube_cel::cel::extractors::Arguments;
use kube_cel::cel::{Context, ExecutionError, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The snapshot as CEL sees it: every object converted once, plus the index.
pub struct World {
    pub ix: Index,
    values: HashMap<Kind, Vec<Value>>,
    by_key: HashMap<(Kind, String, String), usize>,
}

impl World {
    pub fn new(ix: Index) -> World {
        let mut values = HashMap::new();
        let mut by_key = HashMap::new();
        for kind in Kind::ALL {
            let vals: Vec<Value> = ix
                .snap
                .json_of(kind)
                .into_iter()
                .map(|mut o| {
                    slim(&mut o);
                    from_json(&o)
                })
                .collect();
            for (i, v) in vals.iter().enumerate() {
                let ns = str_at(v, &["metadata", "namespace"]).unwrap_or_default();
                let name = str_at(v, &["metadata", "name"]).unwrap_or_default();
                by_key.insert((kind, ns, name), i);
            }
            values.insert(kind, vals);
        }
        World { ix, values, by_key }
    }

    pub fn objects(&self, kind: Kind) -> &[Value] {
        self.values.get(&kind).map_or(&[], Vec::as_slice)
    }

    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<&Value> {
        self.by_key
            .get(&(kind, ns.to_string(), name.to_string()))
            .map(|&i| &self.values[&kind][i])
    }

    fn pods(&self, idx: impl IntoIterator<Item = usize>) -> Value {
        let all = self.objects(Kind::Pod);
        list(idx.into_iter().map(|i| all[i].clone()).collect())
    }

    fn typed_pod(&self, v: &Value) -> Option<&k8s_openapi::api::core::v1::Pod> {
        let (ns, name) = ns_name(v);
        self.ix.pod(&ns, &name)
    }
}

/// Drops what rules never read but would pay for: the CEL interpreter copies a value each
/// time an expression touches it, and these fields are most of an object's size.
/// (`node.status.images` is served by `node_has_image`/`node_images`.)
fn slim(o: &mut serde_json::Value) {
    if let Some(meta) = o
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        meta.remove("managedFields");
        if let Some(a) = meta
            .get_mut("annotations")
            .and_then(serde_json::Value::as_object_mut)
        {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if o.get("kind").and_then(serde_json::Value::as_str) == Some("Node")
        && let Some(st) = o
            .get_mut("status")
            .and_then(serde_json::Value::as_object_mut)
    {
        st.remove("images");
    }
}

/// Names of the functions registered here, for load-time checks of rule expressions.
pub const NAMES: &[&str] = &[
    "objects",
    "get",
    "pods_selected",
    "pods_matching",
    "pods_owned",
    "ready_endpoints",
    "pods_on_node",
    "node_has_image",
    "node_images",
    "pod_status",
    "pod_ready",
    "ready_count",
    "restarts",
    "events",
    "owner",
    "mem",
    "pod_mem_request",
    "has_metrics",
    "bytes",
    "fmt_bytes",
    "percent",
    "nodes_matching",
    "schedulable",
    "tolerates",
    "fits_ignoring_taints",
    "without",
    "node_ip",
    "image_ref",
    "dig",
    "pods_in",
    "label",
    "annotation",
    "largest_node",
    "images_listed",
    "shq",
    "best_node_for",
];

fn ns_name(v: &Value) -> (String, String) {
    (
        str_at(v, &["metadata", "namespace"]).unwrap_or_default(),
        str_at(v, &["metadata", "name"]).unwrap_or_default(),
    )
}

fn err(function: &str, message: impl Into<String>) -> ExecutionError {
    ExecutionError::FunctionError {
        function: function.to_string(),
        message: message.into(),
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), ExecutionError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(err(
            name,
            format!("takes {n} argument(s), got {}", args.len()),
        ))
    }
}

fn as_str<'a>(name: &str, v: &'a Value) -> Result<&'a str, ExecutionError> {
    match v {
        Value::String(s) => Ok(s.as_str()),
        other => Err(err(name, format!("expected a string, got {other:?}"))),
    }
}

fn as_int(name: &str, v: &Value) -> Result<i64, ExecutionError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::UInt(u) => Ok(*u as i64),
        Value::Float(f) => Ok(*f as i64),
        other => Err(err(name, format!("expected a number, got {other:?}"))),
    }
}

/// A CEL map of strings (a label selector) as a Rust map.
fn string_map(name: &str, v: &Value) -> Result<BTreeMap<String, String>, ExecutionError> {
    match v {
        Value::Map(m) => Ok(m
            .map
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (kube_cel::cel::objects::Key::String(k), Value::String(v)) => {
                    Some((k.to_string(), v.to_string()))
                }
                _ => None,
            })
            .collect()),
        Value::Null => Ok(BTreeMap::new()),
        other => Err(err(
            name,
            format!("expected a map of strings, got {other:?}"),
        )),
    }
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    field(v, "metadata")
        .and_then(|m| field(m, "labels"))
        .and_then(|l| string_map("labels", l).ok())
        .unwrap_or_default()
}

fn name_arg(fname: &str, v: &Value) -> Result<String, ExecutionError> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        Value::Map(_) => Ok(ns_name(v).1),
        other => Err(err(
            fname,
            format!("expected an object or a name, got {other:?}"),
        )),
    }
}

fn taints(node: &Value) -> Vec<Value> {
    match field(node, "spec").and_then(|s| field(s, "taints")) {
        Some(Value::List(l)) => l.to_vec(),
        _ => Vec::new(),
    }
}

/// Kubernetes toleration matching (key/operator/value/effect).
fn tolerated(pod: &Value, taint: &Value) -> bool {
    let tols = match field(pod, "spec").and_then(|s| field(s, "tolerations")) {
        Some(Value::List(l)) => l.to_vec(),
        _ => return false,
    };
    let t = |v: &Value, f: &str| str_at(v, &[f]).unwrap_or_default();
    tols.iter().any(|tol| {
        let op = str_at(tol, &["operator"]).unwrap_or_else(|| "Equal".into());
        let key_ok = t(tol, "key").is_empty() && op == "Exists" || t(tol, "key") == t(taint, "key");
        let val_ok = op == "Exists" || t(tol, "value") == t(taint, "value");
        let eff_ok = t(tol, "effect").is_empty() || t(tol, "effect") == t(taint, "effect");
        key_ok && val_ok && eff_ok
    })
}

fn node_ready(node: &Value) -> bool {
    match field(node, "status").and_then(|s| field(s, "conditions")) {
        Some(Value::List(l)) => l.iter().any(|c| {
            str_at(c, &["type"]).as_deref() == Some("Ready")
                && str_at(c, &["status"]).as_deref() == Some("True")
        }),
        _ => false,
    }
}

/// Registers every helper on `ctx`, each holding a handle on the world.
pub fn register(ctx: &mut Context<'_>, w: &Arc<World>) {
    macro_rules! f {
        ($name:literal, |$w:ident, $args:ident| $body:expr) => {{
            let $w = Arc::clone(w);
            ctx.add_function(
                $name,
                move |Arguments($args): Arguments| -> Result<Value, ExecutionError> {
                    let $w: &World = &$w;
                    let $args: &[Value] = &$args;
                    $body
                },
            );
        }};
    }

    f!("objects", |w, a| {
        arity("objects", a, 1)?;
        let kind = as_str("objects", &a[0])?;
        let kind =
            Kind::parse(kind).ok_or_else(|| err("objects", format!("unknown kind {kind:?}")))?;
        Ok(list(w.objects(kind).to_vec()))
    });
    f!("get", |w, a| {
        arity("get", a, 3)?;
        let kind = as_str("get", &a[0])?;
        let kind = Kind::parse(kind).ok_or_else(|| err("get", format!("unknown kind {kind:?}")))?;
        Ok(w.get(kind, as_str("get", &a[1])?, as_str("get", &a[2])?)
            .cloned()
            .unwrap_or(Value::Null))
    });
    f!("pods_selected", |w, a| {
        arity("pods_selected", a, 1)?;
        let (ns, name) = ns_name(&a[0]);
        Ok(match w.ix.service(&ns, &name) {
            Some(svc) => w.pods(w.ix.pods_of_service(svc)),
            None => list(Vec::new()),
        })
    });
    f!("pods_matching", |w, a| {
        arity("pods_matching", a, 2)?;
        let sel = string_map("pods_matching", &a[1])?;
        Ok(w.pods(w.ix.pods_matching(as_str("pods_matching", &a[0])?, &sel)))
    });
    f!("pods_owned", |w, a| {
        arity("pods_owned", a, 1)?;
        let (ns, name) = ns_name(&a[0]);
        let kind = str_at(&a[0], &["kind"]).unwrap_or_default();
        Ok(w.pods(w.ix.pods_owned_by(&ns, &kind, &name)))
    });
    f!("ready_endpoints", |w, a| {
        arity("ready_endpoints", a, 1)?;
        let (ns, name) = ns_name(&a[0]);
        Ok(Value::Int(w.ix.ready_endpoints(&ns, &name) as i64))
    });
    f!("pods_on_node", |w, a| {
        arity("pods_on_node", a, 1)?;
        Ok(w.pods(w.ix.pods_on_node(&name_arg("pods_on_node", &a[0])?)))
    });
    f!("node_has_image", |w, a| {
        arity("node_has_image", a, 2)?;
        let node = name_arg("node_has_image", &a[0])?;
        Ok(Value::Bool(
            w.ix.node_has_image(&node, as_str("node_has_image", &a[1])?),
        ))
    });
    f!("node_images", |w, a| {
        arity("node_images", a, 1)?;
        let node = name_arg("node_images", &a[0])?;
        Ok(list(
            w.ix.node_images(&node).into_iter().map(string).collect(),
        ))
    });
    f!("pod_status", |w, a| {
        arity("pod_status", a, 1)?;
        Ok(string(
            w.typed_pod(&a[0])
                .map(podstatus::status)
                .unwrap_or_default(),
        ))
    });
    f!("pod_ready", |w, a| {
        arity("pod_ready", a, 1)?;
        Ok(Value::Bool(
            w.typed_pod(&a[0]).is_some_and(podstatus::is_ready),
        ))
    });
    f!("ready_count", |w, a| {
        arity("ready_count", a, 1)?;
        let (r, t) = w
            .typed_pod(&a[0])
            .map(podstatus::ready_counts)
            .unwrap_or_default();
        Ok(string(format!("{r}/{t}")))
    });
    f!("restarts", |w, a| {
        arity("restarts", a, 1)?;
        Ok(Value::Int(
            w.typed_pod(&a[0]).map_or(0, podstatus::restarts),
        ))
    });
    f!("events", |w, a| {
        // Events about this object, not an earlier object of the same name (StatefulSet pods
        // are recreated with the same name): match the uid when both sides have one.
        arity("events", a, 1)?;
        let (ns, name) = ns_name(&a[0]);
        let kind = str_at(&a[0], &["kind"]).unwrap_or_default();
        let uid = str_at(&a[0], &["metadata", "uid"]).unwrap_or_default();
        let all = w.objects(Kind::Event);
        Ok(list(
            w.ix.events_for(&kind, &ns, &name)
                .into_iter()
                .map(|i| &all[i])
                .filter(|e| {
                    let eu = str_at(e, &["involvedObject", "uid"]).unwrap_or_default();
                    uid.is_empty() || eu.is_empty() || eu == uid
                })
                .cloned()
                .collect(),
        ))
    });
    f!("owner", |w, a| {
        arity("owner", a, 1)?;
        Ok(match w.typed_pod(&a[0]).and_then(|p| w.ix.top_owner(p)) {
            Some((kind, name)) => map(vec![("kind", string(kind)), ("name", string(name))]),
            None => Value::Null,
        })
    });
    f!("mem", |w, a| {
        arity("mem", a, 1)?;
        let m = w.ix.node_memory(&name_arg("mem", &a[0])?);
        Ok(map(vec![
            ("capacity", Value::Int(m.capacity as i64)),
            ("allocatable", Value::Int(m.allocatable as i64)),
            ("requests", Value::Int(m.requests as i64)),
            ("limits", Value::Int(m.limits as i64)),
            ("free", Value::Int((m.allocatable - m.requests) as i64)),
            (
                "usage",
                m.usage.map_or(Value::Null, |u| Value::Int(u as i64)),
            ),
        ]))
    });
    f!("pod_mem_request", |w, a| {
        arity("pod_mem_request", a, 1)?;
        Ok(Value::Int(
            w.typed_pod(&a[0]).map_or(0, |p| pod_memory(p).0) as i64,
        ))
    });
    f!("has_metrics", |w, a| {
        arity("has_metrics", a, 0)?;
        Ok(Value::Bool(w.ix.has(Kind::NodeMetrics)))
    });
    f!("bytes", |_w, a| {
        arity("bytes", a, 1)?;
        let q =
            Quantity::parse(as_str("bytes", &a[0])?).map_err(|e| err("bytes", e.to_string()))?;
        Ok(Value::Int(q.ceil_units() as i64))
    });
    f!("fmt_bytes", |_w, a| {
        arity("fmt_bytes", a, 1)?;
        Ok(string(format_bytes(i128::from(as_int(
            "fmt_bytes",
            &a[0],
        )?))))
    });
    f!("percent", |_w, a| {
        arity("percent", a, 2)?;
        let (n, d) = (as_int("percent", &a[0])?, as_int("percent", &a[1])?);
        Ok(Value::Int(if d == 0 { 0 } else { (n * 100) / d }))
    });
    f!("nodes_matching", |w, a| {
        arity("nodes_matching", a, 1)?;
        let sel = string_map("nodes_matching", &a[0])?;
        Ok(list(
            w.objects(Kind::Node)
                .iter()
                .filter(|n| {
                    let l = labels_of(n);
                    sel.iter().all(|(k, v)| l.get(k) == Some(v))
                })
                .cloned()
                .collect(),
        ))
    });
    f!("schedulable", |_w, a| {
        arity("schedulable", a, 1)?;
        let n = &a[0];
        let cordoned = matches!(
            field(n, "spec").and_then(|s| field(s, "unschedulable")),
            Some(Value::Bool(true))
        );
        let blocking = taints(n).iter().any(|t| {
            matches!(
                str_at(t, &["effect"]).as_deref(),
                Some("NoSchedule") | Some("NoExecute")
            )
        });
        Ok(Value::Bool(node_ready(n) && !cordoned && !blocking))
    });
    f!("tolerates", |_w, a| {
        arity("tolerates", a, 2)?;
        Ok(Value::Bool(tolerated(&a[0], &a[1])))
    });
    f!("fits_ignoring_taints", |w, a| {
        // Would the scheduler place this pod on this node if the node had no taints?
        // Checks readiness, cordon, nodeSelector and free allocatable memory.
        arity("fits_ignoring_taints", a, 2)?;
        let (pod, node) = (&a[0], &a[1]);
        let sel = field(pod, "spec")
            .and_then(|s| field(s, "nodeSelector"))
            .map(|s| string_map("fits_ignoring_taints", s))
            .transpose()?
            .unwrap_or_default();
        let labels = labels_of(node);
        let cordoned = matches!(
            field(node, "spec").and_then(|s| field(s, "unschedulable")),
            Some(Value::Bool(true))
        );
        let need = w.typed_pod(pod).map_or(0, |p| pod_memory(p).0);
        let m = w.ix.node_memory(&ns_name(node).1);
        Ok(Value::Bool(
            node_ready(node)
                && !cordoned
                && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                && m.allocatable - m.requests >= need,
        ))
    });
    f!("without", |_w, a| {
        arity("without", a, 2)?;
        let mut m = string_map("without", &a[0])?;
        m.remove(as_str("without", &a[1])?);
        Ok(map(m
            .iter()
            .map(|(k, v)| (k.as_str(), string(v.clone())))
            .collect()))
    });
    f!("node_ip", |_w, a| {
        arity("node_ip", a, 1)?;
        let addrs = match field(&a[0], "status").and_then(|s| field(s, "addresses")) {
            Some(Value::List(l)) => l.to_vec(),
            _ => Vec::new(),
        };
        let pick = |t: &str| {
            addrs
                .iter()
                .find(|x| str_at(x, &["type"]).as_deref() == Some(t))
                .and_then(|x| str_at(x, &["address"]))
        };
        Ok(string(
            pick("ExternalIP")
                .or_else(|| pick("InternalIP"))
                .unwrap_or_default(),
        ))
    });
    f!("dig", |_w, a| {
        // dig(value, 'a.b.c', default): a nested field, or the default when any part is
        // missing or null (CEL's has() errors on a missing intermediate field).
        arity("dig", a, 3)?;
        let mut cur = &a[0];
        for part in as_str("dig", &a[1])?.split('.').filter(|p| !p.is_empty()) {
            match field(cur, part) {
                Some(Value::Null) | None => return Ok(a[2].clone()),
                Some(v) => cur = v,
            }
        }
        Ok(cur.clone())
    });
    f!("best_node_for", |w, a| {
        // The node with the most allocatable memory that could run this pod if its
        // nodeSelector allowed: Ready, uncordoned, every NoSchedule/NoExecute taint
        // tolerated, and enough free allocatable memory for its request. null if none.
        arity("best_node_for", a, 1)?;
        let pod = &a[0];
        let need = w.typed_pod(pod).map_or(0, |p| pod_memory(p).0);
        let best = w
            .objects(Kind::Node)
            .iter()
            .filter(|n| {
                let m = w.ix.node_memory(&ns_name(n).1);
                node_ready(n)
                    && !matches!(
                        field(n, "spec").and_then(|s| field(s, "unschedulable")),
                        Some(Value::Bool(true))
                    )
                    && taints(n).iter().all(|t| {
                        !matches!(
                            str_at(t, &["effect"]).as_deref(),
                            Some("NoSchedule") | Some("NoExecute")
                        ) || tolerated(pod, t)
                    })
                    && m.allocatable - m.requests >= need
            })
            .map(|n| {
                (
                    w.ix.node_memory(&ns_name(n).1).allocatable,
                    std::cmp::Reverse(ns_name(n).1),
                    n,
                )
            })
            .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(best.map_or(Value::Null, |b| b.2.clone()))
    });
    f!("shq", |_w, a| {
        // shq(s): s quoted for a POSIX shell, for commands built from cluster data.
        arity("shq", a, 1)?;
        Ok(string(crate::report::shell_quote(
            &super::template::display(&a[0]),
        )))
    });
    f!("images_listed", |w, a| {
        // How many images the kubelet lists in node.status.images (it caps the list).
        arity("images_listed", a, 1)?;
        let node = w.ix.node(&name_arg("images_listed", &a[0])?);
        let n = node
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.images.as_ref())
            .map_or(0, Vec::len);
        Ok(Value::Int(n as i64))
    });
    f!("pods_in", |w, a| {
        arity("pods_in", a, 1)?;
        Ok(w.pods(
            w.ix.pods_in_namespace(as_str("pods_in", &a[0])?)
                .iter()
                .copied(),
        ))
    });
    f!("label", |_w, a| {
        arity("label", a, 2)?;
        Ok(string(
            labels_of(&a[0])
                .remove(as_str("label", &a[1])?)
                .unwrap_or_default(),
        ))
    });
    f!("annotation", |_w, a| {
        arity("annotation", a, 2)?;
        let key = as_str("annotation", &a[1])?;
        let v = field(&a[0], "metadata")
            .and_then(|m| field(m, "annotations"))
            .and_then(|m| field(m, key))
            .and_then(|v| match v {
                Value::String(s) => Some(s.to_string()),
                _ => None,
            });
        Ok(string(v.unwrap_or_default()))
    });
    f!("largest_node", |w, a| {
        // The Ready, uncordoned node with the most allocatable memory (ties: first by name).
        arity("largest_node", a, 0)?;
        let best = w
            .objects(Kind::Node)
            .iter()
            .filter(|n| {
                node_ready(n)
                    && !matches!(
                        field(n, "spec").and_then(|s| field(s, "unschedulable")),
                        Some(Value::Bool(true))
                    )
            })
            .map(|n| {
                (
                    w.ix.node_memory(&ns_name(n).1).allocatable,
                    std::cmp::Reverse(ns_name(n).1),
                    n,
                )
            })
            .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(best.map_or(Value::Null, |b| b.2.clone()))
    });
    f!("image_ref", |_w, a| {
        arity("image_ref", a, 1)?;
        Ok(string(crate::index::normalize_image(as_str(
            "image_ref",
            &a[0],
        )?)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        from_json(&j)
    }

    #[test]
    fn tolerations_match_like_the_scheduler() {
        let taint = v(
            serde_json::json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}),
        );
        let pod = |tols: serde_json::Value| v(serde_json::json!({"spec": {"tolerations": tols}}));
        assert!(!tolerated(&pod(serde_json::json!([])), &taint));
        assert!(
            tolerated(&pod(serde_json::json!([{"operator": "Exists"}])), &taint),
            "empty key + Exists tolerates all"
        );
        assert!(tolerated(
            &pod(
                serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}])
            ),
            &taint
        ));
        assert!(!tolerated(
            &pod(
                serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoExecute"}])
            ),
            &taint
        ));
        assert!(
            tolerated(
                &pod(
                    serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}])
                ),
                &taint
            ),
            "no effect matches every effect"
        );
        // Equal (the default operator) compares values; the taint has none.
        assert!(tolerated(
            &pod(serde_json::json!([{"key": "node-role.kubernetes.io/control-plane"}])),
            &taint
        ));
        assert!(!tolerated(
            &pod(
                serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "value": "x"}])
            ),
            &taint
        ));
        // The default not-ready/unreachable tolerations do not tolerate the control-plane taint.
        assert!(!tolerated(
            &pod(
                serde_json::json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}])
            ),
            &taint
        ));
    }
}
