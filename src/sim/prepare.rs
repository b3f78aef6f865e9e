//! Work done once per simulation, shared by every order: what each distinct set of a pod's
//! node constraints makes of each node, the spreading selectors and their counts on the
//! cluster as it is, the image table, the zones.

use super::Cluster;
use super::filter::{Rejection, required_affinity_matches, static_filters};
use super::types::{
    ClaimState, NodeSelectorTerm, PreferredTerm, Selector, SimPod, Toleration, tolerated,
};
use crate::index::normalize_image;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The nodes NodeAffinity's PreFilter leaves to the Filter phase.
pub enum Narrow {
    All,
    /// `matchFields` on `metadata.name`: these nodes, in the cluster's order.
    Nodes(Vec<usize>),
    /// Every term names nodes and their intersection is empty.
    Conflict,
}

/// What one set of node constraints (node name, selector, affinity, tolerations) makes of
/// every node. Pods of one template share it.
pub struct Profile {
    /// The first static filter that rejects the node.
    pub reject: Vec<Option<Rejection>>,
    /// Whether the node matches the required node affinity and selector.
    pub affinity: Vec<bool>,
    /// TaintToleration's raw score: untolerated PreferNoSchedule taints.
    pub taint: Vec<i64>,
    /// NodeAffinity's raw score (the matching preferred terms' weights); `None` when it skips.
    pub preferred: Option<Vec<i64>>,
    pub narrow: Narrow,
}

/// A spreading selector of a namespace, and how many matching pods each node holds.
pub struct Group {
    pub initial: Vec<u32>,
}

/// Per pod: its profile, spreading group, the groups it counts in, images, PreFilter verdict.
pub struct PodPlan {
    pub profile: usize,
    pub group: Option<usize>,
    /// The groups whose selector matches the pod (in its namespace).
    pub hits: Vec<usize>,
    /// Image ids of the pod's images as ImageLocality names them (`None`: no node has it).
    pub images: Vec<Option<u32>>,
    /// Image ids the node holds once the pod runs there (the runtime's names).
    pub place_images: Vec<u32>,
    /// Whether VolumeBinding's Filter runs (the pod has claims that passed PreFilter).
    pub has_claims: bool,
    /// The PreFilter rejection message, if one rejects the pod.
    pub prefilter: Option<String>,
}

/// Hashes a small id with one multiplication (the ids are dense; SipHash is not needed).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A set of image ids.
pub type IdSet = HashSet<u32, std::hash::BuildHasherDefault<IdHasher>>;

/// Image sizes and where the images are.
pub struct Images {
    pub size: Vec<i64>,
    pub on_node: Vec<IdSet>,
    pub nodes_with: Vec<u32>,
}

/// Zone values (`topology.kubernetes.io/zone`): an id per node (absent reads as `""`).
pub struct Zones {
    pub value: Vec<usize>,
    pub present: Vec<bool>,
    pub count: usize,
    pub any: bool,
}

pub struct Prepared<'a> {
    pub cluster: &'a Cluster,
    pub pods: &'a [SimPod],
    pub plans: Vec<PodPlan>,
    pub profiles: Vec<Profile>,
    pub groups: Vec<Group>,
    pub images: Images,
    pub zones: Zones,
    pub has_hostname: Vec<bool>,
}

type ProfileKey<'a> = (
    &'a Option<String>,
    &'a BTreeMap<String, String>,
    &'a Option<Vec<NodeSelectorTerm>>,
    &'a Vec<PreferredTerm>,
    &'a Vec<Toleration>,
);

fn profile_key(p: &SimPod) -> ProfileKey<'_> {
    (
        &p.node_name,
        &p.node_selector,
        &p.required_affinity,
        &p.preferred_affinity,
        &p.tolerations,
    )
}

/// ImageLocality's `normalizedImageName`: `:latest` when the last path part has no tag.
pub fn scheduler_image_name(image: &str) -> String {
    let colon = image.rfind(':').map_or(-1, |i| i as i64);
    let slash = image.rfind('/').map_or(-1, |i| i as i64);
    if colon <= slash {
        format!("{image}:latest")
    } else {
        image.to_string()
    }
}

fn build_profile(cluster: &Cluster, pod: &SimPod) -> Profile {
    let nodes = &cluster.nodes;
    let prefer: Vec<Toleration> = pod
        .tolerations
        .iter()
        .filter(|t| t.effect.is_empty() || t.effect == "PreferNoSchedule")
        .cloned()
        .collect();
    let preferred_terms: Vec<&PreferredTerm> = pod
        .preferred_affinity
        .iter()
        .filter(|t| t.weight != 0 && !t.term.is_empty())
        .collect();
    Profile {
        reject: nodes.iter().map(|n| static_filters(pod, n)).collect(),
        affinity: nodes
            .iter()
            .map(|n| required_affinity_matches(pod, n))
            .collect(),
        taint: nodes
            .iter()
            .map(|n| {
                let untolerated = n
                    .taints
                    .iter()
                    .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&prefer, t));
                untolerated.count() as i64
            })
            .collect(),
        preferred: (!pod.preferred_affinity.is_empty()).then(|| {
            nodes
                .iter()
                .map(|n| {
                    preferred_terms
                        .iter()
                        .filter(|t| t.term.matches(&n.labels, Some(&n.name)))
                        .map(|t| i64::from(t.weight))
                        .sum()
                })
                .collect()
        }),
        narrow: narrow(cluster, pod),
    }
}

/// NodeAffinity's PreFilter: the union over terms of the names each term's `metadata.name
/// In` field requirements allow (all nodes as soon as one term has none).
fn narrow(cluster: &Cluster, pod: &SimPod) -> Narrow {
    let Some(terms) = pod.required_affinity.as_ref().filter(|t| !t.is_empty()) else {
        return Narrow::All;
    };
    let mut names: HashSet<&str> = HashSet::new();
    for t in terms {
        let mut term_names: Option<HashSet<&str>> = None;
        for r in &t.match_fields {
            if r.key == "metadata.name" && r.op == super::types::Op::In {
                let s: HashSet<&str> = r.values.iter().map(String::as_str).collect();
                term_names = Some(match term_names {
                    None => s,
                    Some(prev) => prev.intersection(&s).copied().collect(),
                });
            }
        }
        match term_names {
            None => return Narrow::All,
            Some(s) => names.extend(s),
        }
    }
    if names.is_empty() {
        return Narrow::Conflict;
    }
    Narrow::Nodes(
        cluster
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| names.contains(n.name.as_str()))
            .map(|(i, _)| i)
            .collect(),
    )
}

/// The PreFilter failures a pod meets, first first: NodeAffinity's conflict,
/// VolumeRestrictions' missing claim, VolumeBinding's lost, deleted or unbound immediate claim.
fn prefilter(pod: &SimPod, narrow: &Narrow) -> Option<String> {
    if matches!(narrow, Narrow::Conflict) {
        return Some("pod affinity terms conflict".into());
    }
    if let Some(c) = pod.claims.iter().find(|c| c.state == ClaimState::Missing) {
        return Some(format!("persistentvolumeclaim \"{}\" not found", c.name));
    }
    for c in &pod.claims {
        match &c.state {
            ClaimState::Lost { volume } => {
                return Some(format!(
                    "persistentvolumeclaim \"{}\" bound to non-existent persistentvolume \"{volume}\"",
                    c.name
                ));
            }
            ClaimState::Deleting => {
                return Some(format!(
                    "persistentvolumeclaim \"{}\" is being deleted",
                    c.name
                ));
            }
            _ => {}
        }
    }
    pod.claims
        .iter()
        .any(|c| matches!(c.state, ClaimState::UnboundImmediate(_)))
        .then(|| "pod has unbound immediate PersistentVolumeClaims".to_string())
}

/// Spreading selectors, deduplicated per namespace, with an index from a required label to
/// the selectors that require it.
#[derive(Default)]
struct GroupIndex<'a> {
    ids: HashMap<(&'a str, &'a Selector), usize>,
    selectors: Vec<(&'a str, &'a Selector)>,
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
    unindexed: HashMap<&'a str, Vec<usize>>,
}

impl<'a> GroupIndex<'a> {
    fn intern(&mut self, ns: &'a str, sel: &'a Selector) -> usize {
        if let Some(&id) = self.ids.get(&(ns, sel)) {
            return id;
        }
        let id = self.selectors.len();
        self.ids.insert((ns, sel), id);
        self.selectors.push((ns, sel));
        let key = sel
            .requirements
            .iter()
            .find(|r| r.op == super::types::Op::In && r.values.len() == 1);
        match key {
            Some(r) => self
                .by_label
                .entry((ns, r.key.as_str(), r.values[0].as_str()))
                .or_default()
                .push(id),
            None => self.unindexed.entry(ns).or_default().push(id),
        }
        id
    }

    /// The groups of `ns` whose selector matches `labels`.
    fn matching(&self, ns: &str, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let mut out: Vec<usize> = labels
            .iter()
            .filter_map(|(k, v)| self.by_label.get(&(ns, k.as_str(), v.as_str())))
            .flatten()
            .chain(self.unindexed.get(ns).into_iter().flatten())
            .copied()
            .filter(|&g| self.selectors[g].1.matches(labels))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn images(cluster: &Cluster, pods: &[SimPod]) -> (Images, HashMap<String, u32>) {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut size: Vec<i64> = Vec::new();
    let mut nodes_with: Vec<u32> = Vec::new();
    let mut intern = |name: &str, sz: i64, ids: &mut HashMap<String, u32>| -> u32 {
        if let Some(&id) = ids.get(name) {
            return id;
        }
        let id = u32::try_from(size.len()).expect("fewer than 2^32 images");
        ids.insert(name.to_string(), id);
        size.push(sz);
        nodes_with.push(0);
        id
    };
    let mut on_node = Vec::with_capacity(cluster.nodes.len());
    for n in &cluster.nodes {
        let mut set = IdSet::default();
        for img in &n.images {
            for name in &img.names {
                set.insert(intern(name, img.size, &mut ids));
            }
        }
        on_node.push(set);
    }
    // Images placed pods bring: size unknown unless some node reports it.
    for p in pods {
        for i in &p.images {
            intern(&normalize_image(i), 0, &mut ids);
        }
    }
    for set in &on_node {
        for &id in set {
            nodes_with[id as usize] += 1;
        }
    }
    let images = Images {
        size,
        on_node,
        nodes_with,
    };
    (images, ids)
}

fn zones(cluster: &Cluster) -> Zones {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    ids.insert("", 0);
    let mut value = Vec::with_capacity(cluster.nodes.len());
    let mut present = Vec::with_capacity(cluster.nodes.len());
    for n in &cluster.nodes {
        let z = n.labels.get(super::ZONE_LABEL);
        present.push(z.is_some());
        let z = z.map_or("", String::as_str);
        let next = ids.len();
        value.push(*ids.entry(z).or_insert(next));
    }
    Zones {
        count: ids.len(),
        any: present.iter().any(|&p| p),
        value,
        present,
    }
}

impl<'a> Prepared<'a> {
    pub fn new(cluster: &'a Cluster, pods: &'a [SimPod]) -> Prepared<'a> {
        let mut profile_ids: HashMap<ProfileKey<'a>, usize> = HashMap::new();
        let mut profiles = Vec::new();
        let mut groups = GroupIndex::default();
        let (images, image_ids) = images(cluster, pods);
        let mut plans = Vec::with_capacity(pods.len());
        for pod in pods {
            let profile = *profile_ids.entry(profile_key(pod)).or_insert_with(|| {
                profiles.push(build_profile(cluster, pod));
                profiles.len() - 1
            });
            let group = pod
                .spread
                .as_ref()
                .map(|s| groups.intern(&pod.namespace, s));
            plans.push(PodPlan {
                profile,
                group,
                hits: Vec::new(),
                images: pod
                    .images
                    .iter()
                    .map(|i| image_ids.get(&scheduler_image_name(i)).copied())
                    .collect(),
                place_images: pod
                    .images
                    .iter()
                    .map(|i| image_ids[&normalize_image(i)])
                    .collect(),
                has_claims: !pod.claims.is_empty(),
                prefilter: prefilter(pod, &profiles[profile].narrow),
            });
        }
        for (plan, pod) in plans.iter_mut().zip(pods) {
            plan.hits = groups.matching(&pod.namespace, &pod.labels);
        }
        let mut initial = vec![vec![0u32; cluster.nodes.len()]; groups.selectors.len()];
        for (i, n) in cluster.nodes.iter().enumerate() {
            for r in &n.pods {
                for g in groups.matching(&r.namespace, &r.labels) {
                    initial[g][i] += 1;
                }
            }
        }
        Prepared {
            cluster,
            pods,
            plans,
            profiles,
            groups: initial
                .into_iter()
                .map(|initial| Group { initial })
                .collect(),
            images,
            zones: zones(cluster),
            has_hostname: cluster
                .nodes
                .iter()
                .map(|n| n.labels.contains_key(super::HOSTNAME_LABEL))
                .collect(),
        }
    }
}
