//! The generator: plans a cluster of the requested size around the TrainTicket deployment of
//! `fixtures/healthy.json`, injects the failures, and streams the snapshot to disk together
//! with the findings it must produce.

use super::base::{Base, Image, Remap, kind, name, namespace, str_at};
use super::emit::{Format, ListWriter, go_string};
use super::events::{Ev, Source};
use super::inject::{self, AVATAR_IMAGE};
use super::plan::{self, FillerImage, NodePlan, Params, PodPlan, Workload};
use super::util::{Rng, ts};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::Path;

pub struct Cluster {
    pub p: Params,
    pub seed: u64,
    pub now: i64,
    pub base: Base,
    pub nodes: Vec<NodePlan>,
    /// Worker indices holding the TrainTicket pods (the healthy fixture's three nodes).
    pub tt_nodes: [usize; 3],
    pub namespaces: Vec<String>,
    pub workloads: Vec<Workload>,
    pub pods: Vec<PodPlan>,
    pub pods_by_node: Vec<Vec<u32>>,
    pub images: Vec<FillerImage>,
    pub svc_ips: Vec<Option<String>>,
    pub events: Vec<Ev>,
    pub mem_node: Option<usize>,
    /// Images the carried pods have pulled, per node (normalized).
    pub carried_images: Vec<BTreeSet<String>>,
    pub expected: BTreeSet<String>,
}

/// The images TT-IMG-001 checks: the default profile's (`make deploy`), from the library.
fn tt_image_list(_root: &Path) -> Result<Vec<String>, String> {
    let source = ttdoctor::deploy::Source::default();
    let model = ttdoctor::deploy::load(&source, "train-ticket", &[])?;
    Ok(model
        .images()
        .iter()
        .map(|i| ttdoctor::index::normalize_image(i))
        .collect())
}

fn active(pod: &Value) -> bool {
    matches!(
        str_at(pod, &["status", "phase"]),
        Some("Pending" | "Running")
    )
}

fn pod_mem(pod: &Value) -> (i128, i128) {
    let core: ttdoctor::snapshot::PodCore =
        serde_json::from_value(pod.clone()).expect("a valid Pod");
    ttdoctor::index::pod_memory(&core)
}

impl Cluster {
    pub fn build(p: Params, root: &Path) -> Result<Cluster, String> {
        let seed = p.seed;
        let now = plan::now();
        let mut base = Base::load(&root.join("fixtures/healthy.json"))?;
        let mut nodes = plan::nodes(seed, p.nodes)?;
        let cps = nodes.iter().filter(|n| n.cp).count();
        let tt_nodes = [cps, cps + 1, cps + 2];
        rebind(&mut base, &mut nodes, tt_nodes, seed);
        let mut ctx = inject::Ctx {
            seed,
            now,
            nodes: &mut nodes,
            avatar_node: tt_nodes[1],
            scheduler: "default-scheduler-k8s-cp-1".into(),
            events: Vec::new(),
            expected: vec![format!("TT-UI-001 Service {}/ts-ui-dashboard", inject::NS)],
        };
        if p.inject {
            inject::no_tsdb_leader(&mut base.items, &mut ctx);
            inject::image_pull_backoff(&mut base.items, &mut ctx);
            inject::unmatched_selector(&mut base.items, &mut ctx);
        }
        let (events, expected) = (ctx.events, ctx.expected);
        let carried_images = carried_load(&base, &mut nodes);
        let system = system_load(&base, &mut nodes);
        let carried_pods = base.items.iter().filter(|v| kind(v) == "Pod").count();
        let filler_pods = p.pods.checked_sub(carried_pods + system).ok_or_else(|| {
            format!(
                "--pods {} is less than the {} system and TrainTicket pods",
                p.pods,
                carried_pods + system
            )
        })?;
        let carried_svcs = base.items.iter().filter(|v| kind(v) == "Service").count();
        let mut images = plan::catalog_images(seed);
        let (namespaces, workloads) = plan::workloads(
            seed,
            filler_pods,
            p.services.saturating_sub(carried_svcs),
            &mut images,
        );
        let mut c = Cluster {
            seed,
            now,
            tt_nodes,
            mem_node: None,
            pods: Vec::with_capacity(filler_pods),
            pods_by_node: vec![Vec::new(); nodes.len()],
            svc_ips: Vec::new(),
            events,
            carried_images,
            expected: expected.into_iter().collect(),
            base,
            nodes,
            namespaces,
            workloads,
            images,
            p,
        };
        c.plan_pods()?;
        c.assign_service_ips();
        c.plan_events();
        if c.p.inject {
            let workers = c.nodes.len() - cps;
            let mem = if workers > 3 {
                cps + 3 + (workers - 3) / 2
            } else {
                cps
            };
            c.mem_node = Some(mem);
            c.expected
                .insert(format!("TT-MEM-001 Node {}", c.nodes[mem].name));
            c.expect_image_findings(root)?;
        }
        Ok(c)
    }

    fn plan_pods(&mut self) -> Result<(), String> {
        for (wi, w) in self.workloads.iter().enumerate() {
            let mut rng = Rng::keyed(
                self.seed,
                &format!("pods:{}/{}", self.namespaces[w.ns], w.name),
            );
            for ord in 0..w.replicas {
                self.pods.push(PodPlan {
                    wl: wi as u32,
                    ord,
                    node: 0,
                    ip: String::new(),
                    suffix: rng.k8s_suffix(5),
                    created: w.created + 2 + i64::from(ord) * if w.sts { 25 } else { 0 },
                });
            }
        }
        plan::place(&mut self.nodes, &self.workloads, &mut self.pods)?;
        for (i, p) in self.pods.iter().enumerate() {
            self.pods_by_node[p.node as usize].push(i as u32);
        }
        Ok(())
    }

    fn assign_service_ips(&mut self) {
        let mut used: HashSet<String> = self
            .base
            .items
            .iter()
            .filter(|v| kind(v) == "Service")
            .filter_map(|v| str_at(v, &["spec", "clusterIP"]).map(str::to_string))
            .collect();
        let mut rng = Rng::keyed(self.seed, "service-ips");
        self.svc_ips = self
            .workloads
            .iter()
            .map(|w| {
                if !w.service || w.sts {
                    return None;
                }
                loop {
                    let ip = format!(
                        "10.{}.{}.{}",
                        96 + rng.below(16),
                        rng.below(256),
                        rng.range(1, 254)
                    );
                    if used.insert(ip.clone()) {
                        return Some(ip);
                    }
                }
            })
            .collect();
    }

    /// Recent rollouts (`kubectl rollout restart` in the last hour) until the events reach
    /// the requested count: ScalingReplicaSet, SuccessfulCreate, Scheduled, Pulled/Created/
    /// Started per container, Killing for the replaced pods, and some startup readiness
    /// failures (Warnings that are not failures).
    fn plan_events(&mut self) {
        let target = self.p.events.saturating_sub(self.events.len());
        let mut order: Vec<usize> = (0..self.workloads.len())
            .filter(|&i| !self.workloads[i].sts)
            .collect();
        let mut rng = Rng::keyed(self.seed, "rollouts");
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut out: Vec<Ev> = Vec::new();
        for wi in order {
            if out.len() >= target {
                break;
            }
            let t = self.now - rng.range(120, 3_300) as i64;
            self.workloads[wi].rollout = Some(t);
            let w = &self.workloads[wi];
            for i in w.pod0..w.pod0 + w.replicas as usize {
                self.pods[i].created = t + 1 + rng.below(4) as i64 + (i - w.pod0) as i64 * 3;
            }
            out.extend(self.rollout_events(wi, &mut rng));
        }
        out.truncate(target);
        // Fewer rollouts than events asked for: repeated startup probe failures fill up.
        let mut k = 0;
        while out.len() < target && !self.pods.is_empty() {
            let i = (k * 7919) % self.pods.len();
            k += 1;
            let w = &self.workloads[self.pods[i].wl as usize];
            let (ns, pname, uid) = (
                self.namespaces[w.ns].clone(),
                self.pod_name(i),
                self.pod_uid(i),
            );
            let node = self.nodes[self.pods[i].node as usize].name.clone();
            let port = self.images[w.image].port;
            let t = self.now - rng.range(60, 3_500) as i64;
            out.push(
                Ev::new(&ns, "Pod", &pname, &uid, "Unhealthy", format!("Readiness probe failed: Get \"http://{}:{port}/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)", self.pods[i].ip), Source::Kubelet(node), t)
                    .field(&w.name)
                    .warning(),
            );
        }
        self.events.extend(out);
    }

    fn rollout_events(&self, wi: usize, rng: &mut Rng) -> Vec<Ev> {
        let w = &self.workloads[wi];
        let t = w.rollout.expect("rollout");
        let ns = self.namespaces[w.ns].as_str();
        let (new_rs, old_rs) = (Self::rs_name(w, false), Self::rs_name(w, true));
        let deploy_uid = super::util::uid_of(self.seed, &format!("deploy:{ns}/{}", w.name));
        let scaled = |msg: String, at: i64| {
            let src = Source::Controller("deployment-controller");
            Ev::new(
                ns,
                "Deployment",
                &w.name,
                &deploy_uid,
                "ScalingReplicaSet",
                msg,
                src,
                at,
            )
        };
        let mut v = vec![
            scaled(
                format!("Scaled up replica set {new_rs} from 0 to {}", w.replicas),
                t,
            ),
            scaled(
                format!("Scaled down replica set {old_rs} from {} to 0", w.replicas),
                t + 20 + rng.below(20) as i64,
            ),
        ];
        for i in w.pod0..w.pod0 + w.replicas as usize {
            self.pod_rollout_events(i, rng, &mut v);
        }
        v
    }

    /// A pod of a rollout: created, scheduled, its containers pulled and started, maybe a
    /// failed readiness probe while starting; and the Killing of the pod it replaced.
    fn pod_rollout_events(&self, i: usize, rng: &mut Rng, v: &mut Vec<Ev>) {
        let w = &self.workloads[self.pods[i].wl as usize];
        let ns = self.namespaces[w.ns].as_str();
        let (pname, uid) = (self.pod_name(i), self.pod_uid(i));
        let node = self.nodes[self.pods[i].node as usize].name.clone();
        let created = self.pods[i].created;
        let new_rs = Self::rs_name(w, false);
        let rs_uid = super::util::uid_of(self.seed, &format!("rs:{ns}/{}", w.name));
        let rs_src = Source::Controller("replicaset-controller");
        let msg = format!("Created pod: {pname}");
        v.push(Ev::new(
            ns,
            "ReplicaSet",
            &new_rs,
            &rs_uid,
            "SuccessfulCreate",
            msg,
            rs_src,
            created,
        ));
        let sched = Source::Scheduler {
            instance: "default-scheduler-k8s-cp-1".into(),
            action: "Binding",
        };
        let msg = format!("Successfully assigned {ns}/{pname} to {node}");
        v.push(Ev::new(
            ns,
            "Pod",
            &pname,
            &uid,
            "Scheduled",
            msg,
            sched,
            created,
        ));
        let kubelet = |reason: &'static str, msg: String, at: i64, c: &str| {
            Ev::new(
                ns,
                "Pod",
                &pname,
                &uid,
                reason,
                msg,
                Source::Kubelet(node.clone()),
                at,
            )
            .field(c)
        };
        let img = &self.images[w.image];
        let mut at = created + 1;
        for (c, image, size) in self.containers_of(w) {
            v.extend(container_events(&kubelet, &c, &image, size, &mut at, rng));
        }
        if rng.chance(250) {
            let (ip, port) = (&self.pods[i].ip, img.port);
            let msg = format!(
                "Readiness probe failed: Get \"http://{ip}:{port}/healthz\": dial tcp {ip}:{port}: connect: connection refused"
            );
            let count = rng.range(1, 3) as u32;
            v.push(
                kubelet("Unhealthy", msg, at + 2, &w.name)
                    .warning()
                    .repeat(count, at + 12),
            );
        }
        // The pod this one replaced, on some worker.
        let mut old = Rng::keyed(self.seed, &format!("oldpod:{ns}/{pname}"));
        let old_name = format!("{}-{}", Self::rs_name(w, true), old.k8s_suffix(5));
        let first_worker = self.tt_nodes[0];
        let pick = old.below((self.nodes.len() - first_worker) as u64) as usize;
        let old_node = Source::Kubelet(self.nodes[first_worker + pick].name.clone());
        let msg = format!("Stopping container {}", w.name);
        v.push(
            Ev::new(
                ns,
                "Pod",
                &old_name,
                &old.uid(),
                "Killing",
                msg,
                old_node,
                created + 15,
            )
            .field(&w.name),
        );
    }

    /// (name, image, size) of a filler pod's containers.
    fn containers_of(&self, w: &Workload) -> Vec<(String, String, u64)> {
        let img = &self.images[w.image];
        let mut containers = vec![(w.name.clone(), img.spec_ref.clone(), img.size)];
        if let Some(s) = w.sidecar {
            let (image, size, _, name) = super::plan::SIDECARS[s];
            containers.push((name.to_string(), image.to_string(), size));
        }
        containers
    }

    /// After the deploy, TT-IMG-001 checks the nodes where a pod cannot pull (here the one
    /// the avatar pod moved to): compute its finding as the rule does.
    fn expect_image_findings(&mut self, root: &Path) -> Result<(), String> {
        let list = tt_image_list(root)?;
        for i in [self.tt_nodes[1]] {
            if self.nodes[i].cp {
                continue;
            }
            let mut has: HashSet<String> = self
                .node_images(i)
                .iter()
                .flat_map(|im| [im.tag_ref.clone(), im.digest_ref.clone()])
                .collect();
            has.extend(self.carried_images[i].iter().cloned());
            for &p in &self.pods_by_node[i] {
                has.insert(
                    self.images[self.workloads[self.pods[p as usize].wl as usize].image]
                        .tag_ref
                        .clone(),
                );
            }
            if list.iter().any(|img| !has.contains(img)) {
                self.expected
                    .insert(format!("TT-IMG-001 Node {}", self.nodes[i].name));
            }
        }
        Ok(())
    }

    /// What the kubelet lists in `status.images`: the 50 largest images on the node.
    pub fn node_images(&self, i: usize) -> Vec<Image> {
        let n = &self.nodes[i];
        let mut imgs: HashMap<String, Image> = HashMap::new();
        let mut add = |im: Image| {
            imgs.entry(im.tag_ref.clone()).or_insert(im);
        };
        let pause = "registry.k8s.io/pause:3.10";
        add(Image {
            tag_ref: pause.into(),
            digest_ref: format!(
                "registry.k8s.io/pause@sha256:{}",
                Rng::keyed(self.seed, pause).hex(64)
            ),
            size: 320_368,
        });
        let mut system = vec![&self.base.kube_proxy, &self.base.flannel];
        if n.cp {
            system.extend(self.base.static_pods.iter());
        }
        for pod in system {
            for c in pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .chain(pod["status"]["initContainerStatuses"].as_array())
                .flatten()
            {
                if let Some(im) = c["image"].as_str().and_then(|s| self.base.images.get(s)) {
                    add(im.clone());
                }
            }
        }
        if self.tt_nodes.contains(&i) {
            // The user imported every TrainTicket image on these nodes, except (failure 3)
            // the avatar image on the node its pod moves to.
            for im in self.base.images.values() {
                let missing = self.p.inject && i == self.tt_nodes[1] && im.tag_ref == AVATAR_IMAGE;
                if !missing && !im.tag_ref.starts_with("registry.k8s.io/") {
                    add(im.clone());
                }
            }
        }
        let filler = |idx: usize| {
            let f = &self.images[idx];
            Image {
                tag_ref: f.tag_ref.clone(),
                digest_ref: f.digest_ref.clone(),
                size: f.size,
            }
        };
        for &p in &self.pods_by_node[i] {
            let w = &self.workloads[self.pods[p as usize].wl as usize];
            add(filler(w.image));
        }
        // Images of pods that ran here before.
        let mut rng = Rng::keyed(self.seed, &format!("cache:{}", n.name));
        if !self.images.is_empty() && !n.cp {
            for _ in 0..rng.range(5, 40) {
                add(filler(rng.below(self.images.len() as u64) as usize));
            }
        }
        let mut v: Vec<Image> = imgs.into_values().collect();
        v.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.tag_ref.cmp(&b.tag_ref)));
        v.truncate(50);
        v
    }
}

/// A container started by the kubelet: pulled (30% of the time: its image was not there yet),
/// created, started. `at` moves past the pull.
fn container_events(
    kubelet: &dyn Fn(&'static str, String, i64, &str) -> Ev,
    c: &str,
    image: &str,
    size: u64,
    at: &mut i64,
    rng: &mut Rng,
) -> Vec<Ev> {
    let mut v = Vec::new();
    if rng.chance(300) {
        let (secs, ms) = (1 + size / 40_000_000, rng.below(1000));
        v.push(kubelet(
            "Pulling",
            format!("Pulling image \"{image}\""),
            *at,
            c,
        ));
        *at += secs as i64;
        let msg = format!(
            "Successfully pulled image \"{image}\" in {secs}.{ms:03}s ({secs}.{ms:03}s including waiting). Image size: {size} bytes."
        );
        v.push(kubelet("Pulled", msg, *at, c));
    } else {
        let msg = format!("Container image \"{image}\" already present on machine");
        v.push(kubelet("Pulled", msg, *at, c));
    }
    v.push(kubelet("Created", format!("Created container {c}"), *at, c));
    v.push(kubelet(
        "Started",
        format!("Started container {c}"),
        *at + 1,
        c,
    ));
    v
}

/// Moves the healthy fixture's objects onto the generated nodes: its three nodes become
/// workers 0–2 (names, addresses, uids, pod IPs), and the `kubernetes` Service points at the
/// control planes.
fn rebind(base: &mut Base, nodes: &mut [NodePlan], tt: [usize; 3], seed: u64) {
    let mut remap = Remap {
        exact: HashMap::new(),
        prefixes: Vec::new(),
        shift: 0,
    };
    for (old, &i) in base.old_nodes.iter().zip(&tt) {
        remap.exact.insert(old.name.clone(), nodes[i].name.clone());
        remap.exact.insert(old.ip.clone(), nodes[i].ip.clone());
        remap.exact.insert(
            old.uid.clone(),
            super::util::uid_of(seed, &format!("node:{}", nodes[i].name)),
        );
        remap
            .prefixes
            .push((old.pod_prefix.clone(), nodes[i].pod_prefix.clone()));
    }
    for item in &mut base.items {
        remap.apply(item);
    }
    let cp_ips: Vec<String> = nodes
        .iter()
        .filter(|n| n.cp)
        .map(|n| n.ip.clone())
        .collect();
    for item in &mut base.items {
        if namespace(item) == "default" && name(item) == "kubernetes" {
            match kind(item) {
                "Endpoints" => {
                    item["subsets"][0]["addresses"] =
                        cp_ips.iter().map(|ip| json!({"ip": ip})).collect();
                }
                "EndpointSlice" => {
                    item["endpoints"] = cp_ips
                        .iter()
                        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
                        .collect();
                }
                _ => {}
            }
        }
    }
    for item in base.items.iter().filter(|v| kind(v) == "Pod") {
        let (Some(node), Some(ip)) = (
            str_at(item, &["spec", "nodeName"]),
            str_at(item, &["status", "podIP"]),
        ) else {
            continue;
        };
        if let Some(n) = nodes.iter_mut().find(|n| n.name == node)
            && let Some(octet) = ip
                .strip_prefix(n.pod_prefix.as_str())
                .and_then(|o| o.parse::<u8>().ok())
        {
            n.mark_octet(octet);
        }
    }
}

/// Requests of the carried pods on their nodes; the images they pulled, per node.
fn carried_load(base: &Base, nodes: &mut [NodePlan]) -> Vec<BTreeSet<String>> {
    let mut images = vec![BTreeSet::new(); nodes.len()];
    for pod in base.items.iter().filter(|v| kind(v) == "Pod") {
        let Some(i) =
            str_at(pod, &["spec", "nodeName"]).and_then(|n| nodes.iter().position(|x| x.name == n))
        else {
            continue;
        };
        let st = &pod["status"];
        for c in st["containerStatuses"]
            .as_array()
            .into_iter()
            .chain(st["initContainerStatuses"].as_array())
            .flatten()
        {
            if c["imageID"].as_str().is_some_and(|id| !id.is_empty())
                && let Some(img) = c["image"].as_str()
            {
                images[i].insert(ttdoctor::index::normalize_image(img));
            }
        }
        if active(pod) {
            let (req, lim) = pod_mem(pod);
            nodes[i].req += req;
            nodes[i].lim += lim;
            nodes[i].pods += 1;
        }
    }
    images
}

/// kube-proxy and flannel on every node, the static pods on control planes: their requests,
/// and how many there are.
fn system_load(base: &Base, nodes: &mut [NodePlan]) -> usize {
    let per_node: Vec<(i128, i128)> = [&base.kube_proxy, &base.flannel]
        .iter()
        .map(|p| pod_mem(p))
        .collect();
    let per_cp: Vec<(i128, i128)> = base.static_pods.iter().map(pod_mem).collect();
    let mut count = 0;
    for n in nodes.iter_mut() {
        let extra = if n.cp { per_cp.as_slice() } else { &[] };
        for (req, lim) in per_node.iter().chain(extra) {
            n.req += req;
            n.lim += lim;
            n.pods += 1;
            count += 1;
        }
    }
    count
}

/// What a snapshot file holds, one source per object.
#[derive(Clone, Copy, Debug)]
enum Src {
    Carried(usize),
    Node(usize),
    /// Node, which (0 kube-proxy, 1 flannel, 2.. static pods).
    System(usize, usize),
    Pod(usize),
    Service(usize),
    Endpoints(usize),
    Slice(usize),
    StatefulSet(usize),
    Deployment(usize),
    ReplicaSet(usize, bool),
    Pvc(usize),
    Pv(usize),
    Namespace(usize),
    Event(usize),
}

const KINDS: &[&str] = &[
    "Node",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Namespace",
    "Pod",
    "Service",
    "Endpoints",
    "EndpointSlice",
    "StatefulSet",
    "Deployment",
    "ReplicaSet",
    "Event",
];

impl Cluster {
    /// (namespace, name, source) of every object of a kind, in the API server's order.
    fn sources(&self, k: &str) -> Vec<(String, String, Src)> {
        let mut v: Vec<(String, String, Src)> = self
            .base
            .items
            .iter()
            .enumerate()
            .filter(|(_, it)| kind(it) == k)
            .map(|(i, it)| (namespace(it).into(), name(it).into(), Src::Carried(i)))
            .collect();
        let cluster = String::new;
        match k {
            "Node" => v.extend(
                self.nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (cluster(), n.name.clone(), Src::Node(i))),
            ),
            "Namespace" => v.extend(
                self.namespaces
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (cluster(), n.clone(), Src::Namespace(i))),
            ),
            "Pod" => {
                v.extend(self.system_pod_sources());
                v.extend(
                    (0..self.pods.len()).map(|i| (self.pod_ns(i), self.pod_name(i), Src::Pod(i))),
                );
            }
            "PersistentVolumeClaim" | "PersistentVolume" => {
                for i in
                    (0..self.pods.len()).filter(|&i| self.workloads[self.pods[i].wl as usize].sts)
                {
                    v.push(if k == "PersistentVolume" {
                        (cluster(), format!("pvc-{}", self.pvc_uid(i)), Src::Pv(i))
                    } else {
                        (
                            self.pod_ns(i),
                            format!("data-{}", self.pod_name(i)),
                            Src::Pvc(i),
                        )
                    });
                }
            }
            "Event" => v.extend(
                self.events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.ns.clone(), e.name(), Src::Event(i))),
            ),
            _ => v.extend(self.workload_sources(k)),
        }
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }

    fn pod_ns(&self, i: usize) -> String {
        self.namespaces[self.workloads[self.pods[i].wl as usize].ns].clone()
    }

    /// kube-proxy and flannel on every node, the static pods on control planes.
    fn system_pod_sources(&self) -> Vec<(String, String, Src)> {
        let mut v = Vec::new();
        let sys = || "kube-system".to_string();
        for (i, n) in self.nodes.iter().enumerate() {
            v.push((
                sys(),
                self.system_pod_name(i, "kube-proxy-"),
                Src::System(i, 0),
            ));
            v.push((
                sys(),
                self.system_pod_name(i, "kube-flannel-ds-"),
                Src::System(i, 1),
            ));
            if n.cp {
                for (j, t) in self.base.static_pods.iter().enumerate() {
                    let component = name(t).trim_end_matches("k8s-master");
                    v.push((
                        sys(),
                        format!("{component}{}", n.name),
                        Src::System(i, j + 2),
                    ));
                }
            }
        }
        v
    }

    /// The filler workloads' objects of a kind: controllers, Services and their endpoints.
    fn workload_sources(&self, k: &str) -> Vec<(String, String, Src)> {
        let mut v = Vec::new();
        for (i, w) in self.workloads.iter().enumerate() {
            let ns = || self.namespaces[w.ns].clone();
            match k {
                "Service" if w.service => v.push((ns(), w.name.clone(), Src::Service(i))),
                "Endpoints" if w.service => v.push((ns(), w.name.clone(), Src::Endpoints(i))),
                "EndpointSlice" if w.service => v.push((ns(), self.slice_name(w), Src::Slice(i))),
                "StatefulSet" if w.sts => v.push((ns(), w.name.clone(), Src::StatefulSet(i))),
                "Deployment" if !w.sts => v.push((ns(), w.name.clone(), Src::Deployment(i))),
                "ReplicaSet" if !w.sts => {
                    v.push((ns(), Self::rs_name(w, false), Src::ReplicaSet(i, false)));
                    if w.rollout.is_some() {
                        v.push((ns(), Self::rs_name(w, true), Src::ReplicaSet(i, true)));
                    }
                }
                _ => {}
            }
        }
        v
    }

    fn object(&self, src: Src) -> Value {
        match src {
            Src::Carried(i) => self.base.items[i].clone(),
            Src::Node(i) => self.node(i),
            Src::System(i, which) => self.system_pod(i, which),
            Src::Pod(i) => self.pod(i),
            Src::Service(i) => self.service(i),
            Src::Endpoints(i) => self.endpoints(i),
            Src::Slice(i) => self.endpoint_slice(i),
            Src::StatefulSet(i) => self.stateful_set(i),
            Src::Deployment(i) => self.deployment(i),
            Src::ReplicaSet(i, old) => self.replica_set(i, old),
            Src::Pvc(i) => self.pvc(i),
            Src::Pv(i) => self.pv(i),
            Src::Namespace(i) => self.namespace(i),
            Src::Event(i) => self.events[i].to_value(self.seed),
        }
    }

    fn node(&self, i: usize) -> Value {
        let n = &self.nodes[i];
        let (template, tnode) = if n.cp {
            (&self.base.node_cp, "k8s-master")
        } else {
            (&self.base.node_worker, "ubuntu")
        };
        let mut v = self.rebased_node(template, tnode, i);
        let mut rng = Rng::keyed(self.seed, &format!("nodeobj:{}", n.name));
        let m = &mut v["metadata"];
        m["annotations"]["flannel.alpha.coreos.com/backend-data"] = format!(
            "{{\"VNI\":1,\"VtepMAC\":\"{}\"}}",
            (0..6).map(|_| rng.hex(2)).collect::<Vec<_>>().join(":")
        )
        .into();
        m["resourceVersion"] = rng.range(100_000, 9_000_000).to_string().into();
        m["uid"] = self.node_uid(i).into();
        if let Some(l) = m["labels"].as_object_mut() {
            l.remove("mem-class");
            l.insert(
                "topology.kubernetes.io/zone".into(),
                format!("zone-{}", ["a", "b", "c"][i % 3]).into(),
            );
        }
        let cidr = format!("{}0/24", n.pod_prefix);
        v["spec"] = json!({"podCIDR": cidr, "podCIDRs": [cidr]});
        if n.cp {
            v["spec"]["taints"] =
                json!([{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]);
        }
        let st = &mut v["status"];
        for (key, ki) in [("capacity", n.cap_ki), ("allocatable", n.alloc_ki)] {
            st[key]["memory"] = format!("{ki}Ki").into();
            st[key]["cpu"] = n.cpu.to_string().into();
        }
        let beat = ts(self.now - rng.range(5, 45) as i64);
        for c in st["conditions"].as_array_mut().into_iter().flatten() {
            if c["type"] != "NetworkUnavailable" {
                c["lastHeartbeatTime"] = beat.clone().into();
            }
        }
        st["images"] = self
            .node_images(i)
            .into_iter()
            .map(|im| json!({"names": [im.digest_ref, im.tag_ref], "sizeBytes": im.size}))
            .collect();
        let info = &mut st["nodeInfo"];
        info["bootID"] = rng.uid().into();
        info["machineID"] = rng.hex(32).into();
        info["systemUUID"] = rng.uid().to_uppercase().into();
        v
    }

    fn rebased_node(&self, template: &Value, tnode: &str, i: usize) -> Value {
        let old = self
            .base
            .old_nodes
            .iter()
            .find(|o| o.name == tnode)
            .expect("template node");
        let remap = Remap {
            exact: HashMap::from([
                (old.name.clone(), self.nodes[i].name.clone()),
                (old.ip.clone(), self.nodes[i].ip.clone()),
            ]),
            prefixes: Vec::new(),
            shift: self.nodes[i].created - old.created,
        };
        let mut v = template.clone();
        remap.apply(&mut v);
        v
    }

    /// The NodeMetricsList document: usage well under 85% of allocatable, except the node of
    /// failure 2 at 97%.
    fn metrics(&self) -> String {
        let mut out = String::from(
            r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":["#,
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let mut rng = Rng::keyed(self.seed, &format!("metrics:{}", n.name));
            let alloc = i128::from(n.alloc_ki) * 1024;
            let system = i128::from(rng.range(700, 1_600) as u32) << 20;
            let used = if Some(i) == self.mem_node {
                alloc * 97 / 100 + (alloc / 400)
            } else {
                (system + n.req * i128::from(rng.range(55, 95) as u32) / 100).min(alloc * 80 / 100)
            };
            let labels = self.node_labels(i);
            if i > 0 {
                out.push(',');
            }
            let mut name = Vec::new();
            go_string(&mut name, &n.name).expect("vec");
            out.push_str(&format!(
                r#"{{"metadata":{{"name":{},"creationTimestamp":"{}","labels":{}}},"timestamp":"{}","window":"{}.{}s","usage":{{"cpu":"{}n","memory":"{}Ki"}}}}"#,
                String::from_utf8(name).expect("utf-8"),
                ts(self.now + 5),
                super::emit::json_compact(&labels),
                ts(self.now - rng.range(2, 14) as i64),
                rng.range(10, 20),
                rng.below(1000),
                n.cpu * rng.range(40_000_000, 400_000_000),
                used / 1024,
            ));
        }
        out.push_str("]}");
        out
    }

    fn node_labels(&self, i: usize) -> Value {
        let n = &self.nodes[i];
        let mut l = json!({
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": n.name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": format!("zone-{}", ["a", "b", "c"][i % 3]),
        });
        if n.cp {
            l["node-role.kubernetes.io/control-plane"] = "".into();
            l["node.kubernetes.io/exclude-from-external-load-balancers"] = "".into();
        }
        l
    }

    /// Streams the snapshot to `out`; returns the number of objects written.
    pub fn write(&self, out: impl Write, format: Format) -> std::io::Result<usize> {
        let mut list = ListWriter::new(out, format)?;
        let mut count = 0;
        for k in KINDS {
            for (_, _, src) in self.sources(k) {
                list.item(&self.object(src))?;
                count += 1;
            }
        }
        list.finish(Some(&self.metrics()))?;
        Ok(count)
    }
}
