//! The compact plan of a generated cluster: nodes, filler namespaces and workloads, where
//! each pod runs, and the events. Objects are built from it one at a time when written, so
//! only this plan (tens of bytes per pod) is held in memory.

use super::util::{Rng, days_from_civil};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// "Now" in every generated snapshot: the healthy fixture's last heartbeat plus a minute.
pub fn now() -> i64 {
    days_from_civil(2026, 11, 27) * 86_400 + 9 * 3600 + 40 * 60
}

/// Cluster birth (the healthy fixture's kubeadm init).
pub fn cluster_created() -> i64 {
    days_from_civil(2026, 11, 20) * 86_400 + 8 * 3600 + 12 * 60 + 29
}

#[derive(Clone, Debug)]
pub struct Params {
    pub label: String,
    pub nodes: usize,
    pub pods: usize,
    pub services: usize,
    pub events: usize,
    /// Inject the failures (off: the healthy base).
    pub inject: bool,
    pub seed: u64,
}

impl Params {
    /// M and L: Kubernetes' scalability envelope (5,000 nodes, 150,000 pods) and a tenth of it.
    pub fn preset(label: &str) -> Option<Params> {
        let (nodes, pods, services, events) = match label.to_ascii_uppercase().as_str() {
            "M" => (500, 15_000, 1_000, 15_000),
            "L" => (5_000, 150_000, 10_000, 150_000),
            _ => return None,
        };
        Some(Params {
            label: label.to_ascii_uppercase(),
            nodes,
            pods,
            services,
            events,
            inject: true,
            seed: 0x7474_646f_6374_6f72,
        })
    }

    pub fn custom(nodes: usize) -> Params {
        Params {
            label: "custom".into(),
            nodes,
            pods: nodes * 30,
            services: nodes * 2,
            events: nodes * 30,
            inject: true,
            seed: 0x7474_646f_6374_6f72,
        }
    }

    /// A file-name-safe key of everything that changes the output.
    pub fn key(&self) -> String {
        format!(
            "{}-n{}-p{}-s{}-e{}{}",
            self.label.to_ascii_lowercase(),
            self.nodes,
            self.pods,
            self.services,
            self.events,
            if self.inject { "" } else { "-healthy" }
        )
    }
}

#[derive(Clone, Debug)]
pub struct NodePlan {
    pub name: String,
    pub ip: String,
    /// `10.a.b.` of the node's pod CIDR `10.a.b.0/24`.
    pub pod_prefix: String,
    pub cp: bool,
    pub cap_ki: u64,
    pub alloc_ki: u64,
    pub cpu: u64,
    pub created: i64,
    /// Memory requests and limits of the active pods on it (bytes), and their count.
    pub req: i128,
    pub lim: i128,
    pub pods: u32,
    used_octets: [u64; 4],
}

impl NodePlan {
    pub fn alloc_bytes(&self) -> i128 {
        i128::from(self.alloc_ki) * 1024
    }

    pub fn mark_octet(&mut self, o: u8) {
        self.used_octets[usize::from(o / 64)] |= 1 << (o % 64);
    }

    /// The next free pod IP on the node.
    pub fn next_ip(&mut self) -> String {
        let o = (2..=254u8)
            .find(|o| self.used_octets[usize::from(o / 64)] & (1 << (o % 64)) == 0)
            .expect("fewer than 253 pods per node");
        self.mark_octet(o);
        format!("{}{o}", self.pod_prefix)
    }
}

/// An image filler pods run.
#[derive(Clone, Debug)]
pub struct FillerImage {
    /// As written in the pod spec.
    pub spec_ref: String,
    /// As containerd records it (`docker.io/library/nginx:1.27.3`).
    pub tag_ref: String,
    pub digest_ref: String,
    pub size: u64,
    pub port: u16,
    pub mem_mi: u64,
    pub stateful: bool,
}

/// Public images (name, size, port, typical memory request in Mi, stateful).
pub const CATALOG: &[(&str, u64, u16, u64, bool)] = &[
    ("nginx:1.27.3", 72_099_501, 80, 64, false),
    ("httpd:2.4.62", 58_273_614, 80, 64, false),
    ("redis:7.4.1", 45_161_408, 6379, 256, true),
    ("memcached:1.6.32", 31_250_110, 11211, 128, false),
    ("postgres:16.6", 158_893_602, 5432, 1024, true),
    ("mysql:8.4.3", 233_620_517, 3306, 1024, true),
    ("mongo:7.0.15", 262_001_839, 27017, 1024, true),
    ("rabbitmq:3.13.7-management", 112_310_449, 5672, 512, true),
    ("bitnami/kafka:3.8.1", 318_904_226, 9092, 1024, true),
    ("elasticsearch:8.16.1", 651_203_712, 9200, 2048, true),
    ("grafana/grafana:11.3.1", 121_785_033, 3000, 256, false),
    ("python:3.12.8-slim", 45_330_711, 8000, 256, false),
    ("node:22.12.0-alpine", 55_417_336, 3000, 256, false),
    (
        "eclipse-temurin:21.0.5_11-jre",
        94_660_122,
        8080,
        768,
        false,
    ),
    ("traefik:v3.2.1", 49_872_045, 80, 128, false),
    ("hashicorp/consul:1.20.1", 71_220_982, 8500, 256, false),
    (
        "quay.io/keycloak/keycloak:26.0.7",
        221_006_734,
        8080,
        1024,
        false,
    ),
    ("ghcr.io/dexidp/dex:v2.41.1", 33_410_216, 5556, 64, false),
];

/// Sidecars some filler pods carry (image, size, memory request in Mi, container name).
pub const SIDECARS: &[(&str, u64, u64, &str)] = &[
    ("envoyproxy/envoy:v1.32.2", 62_118_400, 64, "envoy"),
    (
        "cr.fluentbit.io/fluent/fluent-bit:3.2.2",
        39_771_006,
        32,
        "fluent-bit",
    ),
];

pub const APP_NAMES: &[&str] = &[
    "api",
    "web",
    "worker",
    "frontend",
    "auth",
    "billing",
    "search",
    "cart",
    "catalog",
    "checkout",
    "notifications",
    "reports",
    "ingest",
    "scheduler",
    "gateway",
    "ledger",
    "profile",
    "inventory",
    "pricing",
    "recommender",
    "mailer",
    "exporter",
    "admin",
    "uploader",
    "thumbnailer",
    "webhooks",
    "audit",
    "sessions",
    "graphql",
    "orders",
];

#[derive(Clone, Debug)]
pub struct Workload {
    pub ns: usize,
    pub name: String,
    pub sts: bool,
    pub replicas: u32,
    pub image: usize,
    pub sidecar: Option<usize>,
    pub req_mi: u64,
    pub lim_mi: u64,
    pub cpu_m: u64,
    pub service: bool,
    pub created: i64,
    /// A rollout in the last hour (its events are still there), with the old ReplicaSet.
    pub rollout: Option<i64>,
    pub hash: String,
    pub old_hash: String,
    /// Index of its first pod in [`Plan::pods`]; its pods are contiguous.
    pub pod0: usize,
    pub storage_gi: u64,
}

impl Workload {
    /// Memory request of one pod in bytes.
    pub fn pod_req(&self) -> i128 {
        i128::from(self.req_mi + self.sidecar.map_or(0, |s| SIDECARS[s].2)) << 20
    }

    pub fn pod_lim(&self) -> i128 {
        i128::from(self.lim_mi + self.sidecar.map_or(0, |s| SIDECARS[s].2 * 2)) << 20
    }
}

#[derive(Clone, Debug)]
pub struct PodPlan {
    pub wl: u32,
    pub ord: u32,
    pub node: u32,
    pub ip: String,
    /// Generated-name suffix (Deployment pods).
    pub suffix: String,
    pub created: i64,
}

/// Least-allocated placement (the default scheduler's NodeResourcesFit score), with the
/// requests of what already runs on each node; nodes are filled to at most 75% of
/// allocatable memory and 100 pods.
pub fn place(
    nodes: &mut [NodePlan],
    workloads: &[Workload],
    pods: &mut [PodPlan],
) -> Result<(), String> {
    let ratio = |n: &NodePlan| {
        u64::try_from(n.req * 1_000_000 / n.alloc_bytes().max(1)).unwrap_or(u64::MAX)
    };
    let mut heap: BinaryHeap<Reverse<(u64, u32)>> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.cp)
        .map(|(i, n)| Reverse((ratio(n), i as u32)))
        .collect();
    for p in pods.iter_mut() {
        let need = workloads[p.wl as usize].pod_req();
        let mut skipped = Vec::new();
        let chosen = loop {
            let Some(Reverse((_, i))) = heap.pop() else {
                return Err(format!(
                    "the nodes cannot hold {} pods at 75% of allocatable memory: give more nodes or fewer pods",
                    pods_len_hint(workloads)
                ));
            };
            let n = &nodes[i as usize];
            if n.req + need <= n.alloc_bytes() * 3 / 4 && n.pods < 100 {
                break i;
            }
            skipped.push(i);
            if skipped.len() > 64 {
                return Err("the nodes are full: give more nodes or fewer pods".into());
            }
        };
        for i in skipped {
            heap.push(Reverse((ratio(&nodes[i as usize]), i)));
        }
        let n = &mut nodes[chosen as usize];
        n.req += need;
        n.lim += workloads[p.wl as usize].pod_lim();
        n.pods += 1;
        p.node = chosen;
        p.ip = n.next_ip();
        heap.push(Reverse((ratio(n), chosen)));
    }
    Ok(())
}

fn pods_len_hint(workloads: &[Workload]) -> usize {
    workloads.iter().map(|w| w.replicas as usize).sum()
}

/// Filler workloads in namespaces `team-0001`… until `filler_pods` pods exist; the first
/// `services` (StatefulSets first, then Deployments spread evenly) get a Service.
pub fn workloads(
    seed: u64,
    filler_pods: usize,
    services: usize,
    images: &mut Vec<FillerImage>,
) -> (Vec<String>, Vec<Workload>) {
    let mut rng = Rng::keyed(seed, "workloads");
    let mut namespaces = Vec::new();
    let mut out: Vec<Workload> = Vec::new();
    let mut left = filler_pods;
    while left > 0 {
        let ns = namespaces.len();
        namespaces.push(format!("team-{:04}", ns + 1));
        let ns_created = cluster_created() + 3600 + rng.below(6 * 86_400) as i64;
        let count = rng.range(6, 30);
        let mut used = std::collections::HashSet::new();
        for _ in 0..count {
            if left == 0 {
                break;
            }
            let mut w = workload(
                &mut rng,
                seed,
                ns,
                &namespaces[ns],
                ns_created,
                images,
                &mut used,
            );
            w.replicas = w.replicas.min(left as u32);
            w.pod0 = filler_pods - left;
            left -= w.replicas as usize;
            out.push(w);
        }
    }
    let sts = out.iter().filter(|w| w.sts).count();
    let mut budget = services;
    for w in out.iter_mut().filter(|w| w.sts) {
        if budget > 0 {
            w.service = true;
            budget -= 1;
        }
    }
    let deploys = out.len() - sts;
    for (j, w) in out.iter_mut().filter(|w| !w.sts).enumerate() {
        w.service = (j + 1) * budget / deploys.max(1) > j * budget / deploys.max(1);
    }
    (namespaces, out)
}

fn workload(
    rng: &mut Rng,
    seed: u64,
    ns: usize,
    ns_name: &str,
    ns_created: i64,
    images: &mut Vec<FillerImage>,
    used: &mut std::collections::HashSet<String>,
) -> Workload {
    let stateful_pick = rng.chance(60);
    let public = stateful_pick || rng.chance(400);
    let image = if public {
        let candidates: Vec<usize> = (0..CATALOG.len())
            .filter(|&i| !stateful_pick || CATALOG[i].4)
            .collect();
        *rng.pick(&candidates)
    } else {
        images.len()
    };
    // Databases are named after their image, services after what they do.
    let base = if public && CATALOG[image].4 {
        CATALOG[image]
            .0
            .split(['/', ':'])
            .rev()
            .nth(1)
            .unwrap_or("db")
            .to_string()
    } else {
        rng.pick(APP_NAMES).to_string()
    };
    let mut name = base.clone();
    let mut k = 2;
    while !used.insert(name.clone()) {
        name = format!("{base}-{k}");
        k += 1;
    }
    if !public {
        let version = format!("1.{}.{}", rng.below(24), rng.below(10));
        let repo = format!("registry.internal.example/{ns_name}/{name}");
        images.push(FillerImage {
            spec_ref: format!("{repo}:{version}"),
            tag_ref: format!("{repo}:{version}"),
            digest_ref: format!("{repo}@sha256:{}", Rng::keyed(seed, &repo).hex(64)),
            size: rng.range(60_000_000, 700_000_000),
            port: 8080,
            mem_mi: *rng.pick(&[128, 192, 256, 256, 384, 512, 768]),
            stateful: false,
        });
    }
    let img = &images[image];
    let sts = stateful_pick && img.stateful;
    let req_mi = (img.mem_mi * rng.range(6, 14) / 10).div_ceil(16) * 16;
    let created = ns_created + rng.below(86_400) as i64;
    Workload {
        ns,
        name,
        sts,
        replicas: if sts {
            rng.range(1, 3) as u32
        } else {
            *rng.pick(&[2, 2, 3, 3, 3, 4, 5])
        },
        image,
        sidecar: if rng.chance(200) {
            Some(rng.below(SIDECARS.len() as u64) as usize)
        } else {
            None
        },
        req_mi,
        lim_mi: if rng.chance(500) { req_mi } else { req_mi * 2 },
        cpu_m: *rng.pick(&[50, 100, 100, 200, 250, 500]),
        service: false,
        created,
        rollout: None,
        hash: {
            let n = rng.range(9, 10) as usize;
            rng.k8s_suffix(n)
        },
        old_hash: {
            let n = rng.range(9, 10) as usize;
            rng.k8s_suffix(n)
        },
        pod0: 0,
        storage_gi: if sts {
            *rng.pick(&[1, 5, 10, 20, 50])
        } else {
            0
        },
    }
}

/// The public catalog as filler images (their indices are the catalog's).
pub fn catalog_images(seed: u64) -> Vec<FillerImage> {
    CATALOG
        .iter()
        .map(|&(r, size, port, mem_mi, stateful)| {
            let full = ttdoctor::index::normalize_image(r);
            let repo = full
                .rsplit_once(':')
                .map_or(full.as_str(), |(a, _)| a)
                .to_string();
            FillerImage {
                spec_ref: r.to_string(),
                tag_ref: full.clone(),
                digest_ref: format!("{repo}@sha256:{}", Rng::keyed(seed, &repo).hex(64)),
                size,
                port,
                mem_mi,
                stateful,
            }
        })
        .collect()
}

/// Nodes: control planes `k8s-cp-N` (tainted) and workers `k8s-node-NNNN`; workers 0–2 take
/// the healthy fixture's TrainTicket pods and are 64 GiB.
pub fn nodes(seed: u64, n: usize) -> Result<Vec<NodePlan>, String> {
    let cps = if n >= 8 { 3 } else { 1 };
    if n < cps + 3 {
        return Err(format!(
            "at least {} nodes (control plane + 3 workers)",
            cps + 3
        ));
    }
    let width = (n.to_string().len()).max(4);
    let mut rng = Rng::keyed(seed, "nodes");
    Ok((0..n)
        .map(|i| {
            let cp = i < cps;
            let name = if cp {
                format!("k8s-cp-{}", i + 1)
            } else {
                format!("k8s-node-{:0width$}", i - cps + 1)
            };
            let worker = i.saturating_sub(cps);
            let gib: u64 = if cp {
                16
            } else if worker < 3 {
                64
            } else {
                *rng.pick(&[32, 32, 48, 64, 64])
            };
            let cap_ki = gib * 1024 * 1024 - rng.range(60_000, 200_000);
            let host = i + 10;
            let created = if cp || rng.chance(700) {
                cluster_created() + (i as i64) * 90 + 600
            } else {
                cluster_created() + 86_400 + rng.below(5 * 86_400) as i64
            };
            let mut plan = NodePlan {
                name,
                ip: format!("172.20.{}.{}", host / 250, host % 250 + 2),
                pod_prefix: format!("10.{}.{}.", 64 + i / 256, i % 256),
                cp,
                cap_ki,
                alloc_ki: cap_ki - 102_400,
                cpu: gib / 4,
                created,
                req: 0,
                lim: 0,
                pods: 0,
                used_octets: [0; 4],
            };
            plan.mark_octet(0);
            plan.mark_octet(1);
            plan
        })
        .collect())
}
