//! What the generator takes from `fixtures/healthy.json`: the TrainTicket deployment and the
//! system objects it carries over (rebound onto generated nodes), the templates it clones per
//! node (Node, kube-proxy, flannel, control-plane static pods), and the images with their
//! digests and sizes.

use super::util::ts;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One container image: `docker.io/x/y:tag`, `docker.io/x/y@sha256:…`, size.
#[derive(Clone, Debug)]
pub struct Image {
    pub tag_ref: String,
    pub digest_ref: String,
    pub size: u64,
}

pub struct Base {
    /// Objects carried over as they are (after rebinding): TrainTicket, openebs, coredns,
    /// metrics-server, Services of default/kube-system, StorageClasses, PVs, Namespaces.
    pub items: Vec<Value>,
    pub node_cp: Value,
    pub node_worker: Value,
    /// The healthy fixture's node names, in the order they are rebound onto workers 0, 1, 2.
    pub old_nodes: Vec<OldNode>,
    /// kube-system static pods of the control plane (etcd, apiserver, …) on `k8s-master`.
    pub static_pods: Vec<Value>,
    pub kube_proxy: Value,
    pub flannel: Value,
    /// Every image a healthy node or pod mentions, by tag reference.
    pub images: BTreeMap<String, Image>,
}

#[derive(Clone, Debug)]
pub struct OldNode {
    pub name: String,
    pub ip: String,
    pub uid: String,
    /// `10.244.N.`
    pub pod_prefix: String,
    pub created: i64,
}

/// Sizes of images the healthy nodes' capped lists leave out (so no size is recorded).
const EXTRA_SIZES: &[(&str, u64)] = &[
    ("busybox", 1_462_212),
    ("xenon", 34_812_563),
    ("mysqlclient", 118_634_100),
    ("flagd", 21_447_932),
    ("kube-proxy", 30_208_124),
    ("flannel-cni-plugin", 4_856_332),
    ("flannel", 32_251_614),
    ("coredns", 18_562_039),
    ("etcd", 56_909_194),
    ("kube-apiserver", 28_049_622),
    ("kube-controller-manager", 26_259_392),
    ("kube-scheduler", 20_678_852),
    ("metrics-server", 19_496_312),
    ("provisioner-localpv", 29_711_250),
    ("pause", 320_368),
];

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

pub fn kind(v: &Value) -> &str {
    str_at(v, &["kind"]).unwrap_or_default()
}

pub fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or_default()
}

pub fn namespace(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"]).unwrap_or_default()
}

/// `2026-11-25T10:12:56Z` → Unix seconds.
pub fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = super::util::days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    Some(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?)
}

/// Rewrites every string value (never keys): exact replacements, pod-IP prefixes, and
/// timestamps shifted by `shift` seconds.
pub struct Remap {
    pub exact: HashMap<String, String>,
    /// (`10.244.2.`, `10.64.2.`): pod IPs keep their last octet.
    pub prefixes: Vec<(String, String)>,
    pub shift: i64,
}

impl Remap {
    pub fn apply(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(r) = self.exact.get(s.as_str()) {
                    *s = r.clone();
                } else if let Some((_, to)) = self.prefixes.iter().find(|(from, _)| {
                    s.strip_prefix(from.as_str()).is_some_and(|rest| {
                        !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit())
                    })
                }) {
                    let octet = s.rsplit('.').next().unwrap_or_default().to_string();
                    *s = format!("{to}{octet}");
                } else if self.shift != 0
                    && let Some(t) = parse_ts(s)
                {
                    *s = ts(t + self.shift);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.apply(x)),
            Value::Object(m) => m.values_mut().for_each(|x| self.apply(x)),
            _ => {}
        }
    }
}

fn static_pod(v: &Value) -> bool {
    namespace(v) == "kube-system"
        && [
            "etcd-",
            "kube-apiserver-",
            "kube-controller-manager-",
            "kube-scheduler-",
        ]
        .iter()
        .any(|p| name(v).starts_with(p))
}

impl Base {
    pub fn load(path: &std::path::Path) -> Result<Base, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let list: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let find = |k: &str, n: &str| {
            items
                .iter()
                .find(|v| kind(v) == k && name(v).starts_with(n))
                .cloned()
                .ok_or_else(|| format!("healthy.json has no {k} {n}"))
        };
        let node_cp = find("Node", "k8s-master")?;
        let node_worker = find("Node", "ubuntu")?;
        let kube_proxy = find("Pod", "kube-proxy-")?;
        let flannel = find("Pod", "kube-flannel-ds-")?;
        let old_nodes = ["k8s-master", "k8s-node-01", "ubuntu"]
            .iter()
            .map(|n| {
                let node = find("Node", n)?;
                let cidr = str_at(&node, &["spec", "podCIDR"]).unwrap_or_default();
                Ok(OldNode {
                    name: (*n).to_string(),
                    ip: node["status"]["addresses"][0]["address"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    uid: str_at(&node, &["metadata", "uid"])
                        .unwrap_or_default()
                        .into(),
                    pod_prefix: cidr.trim_end_matches("0/24").to_string(),
                    created: parse_ts(
                        str_at(&node, &["metadata", "creationTimestamp"]).unwrap_or_default(),
                    )
                    .unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let images = collect_images(&items);
        let static_pods = items.iter().filter(|v| static_pod(v)).cloned().collect();
        let carried = items
            .into_iter()
            .filter(|v| {
                kind(v) != "Node"
                    && !static_pod(v)
                    && !(kind(v) == "Pod"
                        && (name(v).starts_with("kube-proxy-")
                            || name(v).starts_with("kube-flannel-ds-")))
            })
            .collect();
        Ok(Base {
            items: carried,
            node_cp,
            node_worker,
            old_nodes,
            static_pods,
            kube_proxy,
            flannel,
            images,
        })
    }
}

/// Images from the nodes' `status.images` (with sizes) and the pods' container statuses
/// (digests; sizes from [`EXTRA_SIZES`]).
fn collect_images(items: &[Value]) -> BTreeMap<String, Image> {
    let mut out: BTreeMap<String, Image> = BTreeMap::new();
    for node in items.iter().filter(|v| kind(v) == "Node") {
        for im in node["status"]["images"].as_array().into_iter().flatten() {
            let names: Vec<&str> = im["names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let (Some(d), Some(t)) = (
                names.iter().find(|n| n.contains("@sha256:")),
                names.iter().find(|n| !n.contains('@')),
            ) else {
                continue;
            };
            out.insert(
                (*t).to_string(),
                Image {
                    tag_ref: (*t).to_string(),
                    digest_ref: (*d).to_string(),
                    size: im["sizeBytes"].as_u64().unwrap_or_default(),
                },
            );
        }
    }
    for pod in items.iter().filter(|v| kind(v) == "Pod") {
        let st = &pod["status"];
        for c in st["containerStatuses"]
            .as_array()
            .into_iter()
            .chain(st["initContainerStatuses"].as_array())
            .flatten()
        {
            let (Some(image), Some(id)) = (c["image"].as_str(), c["imageID"].as_str()) else {
                continue;
            };
            if id.is_empty() || out.contains_key(image) {
                continue;
            }
            let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
            let short = repo.rsplit('/').next().unwrap_or(repo);
            let size = EXTRA_SIZES
                .iter()
                .find(|(k, _)| short == *k || short.starts_with(k))
                .map_or(50_000_000, |(_, s)| *s);
            out.insert(
                image.to_string(),
                Image {
                    tag_ref: image.to_string(),
                    digest_ref: id.to_string(),
                    size,
                },
            );
        }
    }
    out
}
