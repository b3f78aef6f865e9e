//! `ttdoctor/v1` Host: facts about the machine ttdoctor runs on (memory, swap, cores, the
//! disks containerd and the kubelet write to, the images in containerd, the kubelet's swap
//! settings). No API server serves it: `crate::host` reads it on the node, and a snapshot
//! taken there (`snapshot --local`) keeps it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, Resource};
use serde::{Deserialize, Serialize};

/// One machine, named by its hostname. Sizes are in bytes.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Host {
    pub metadata: ObjectMeta,
    pub memory: HostMemory,
    pub swap: HostSwap,
    /// Logical cores.
    pub cpus: u64,
    /// The filesystems holding containerd's root and the kubelet's root.
    pub disks: Vec<HostDisk>,
    pub containerd: HostContainerd,
    pub kubelet: HostKubelet,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostMemory {
    pub total: u64,
    /// What can be allocated without swapping (`MemAvailable`).
    pub available: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostSwap {
    pub total: u64,
    pub used: u64,
}

/// The filesystem a directory lives on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostDisk {
    /// The directory asked about (`/var/lib/containerd`), whether or not it exists yet.
    pub path: String,
    /// The mount point of the filesystem holding it.
    pub mount: String,
    pub total: u64,
    pub available: u64,
}

/// What containerd holds, as `crictl` or `ctr` lists it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostContainerd {
    /// Where containerd keeps its content and snapshots (`root` in its config).
    pub root: String,
    /// `crictl` or `ctr`: the tool that listed the images (or failed to); null when neither
    /// is on the PATH.
    pub tool: Option<String>,
    /// The references in the `k8s.io` namespace (tags and digests); null when not listed.
    pub images: Option<Vec<String>>,
    /// Why the images could not be listed, and what to do.
    pub error: Option<String>,
}

/// The kubelet's settings that decide whether it starts with swap on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct HostKubelet {
    /// The config file read; null when there is none (the kubelet is not set up yet).
    pub config: Option<String>,
    pub fail_swap_on: Option<bool>,
    /// `memorySwap.swapBehavior`: `NoSwap` or `LimitedSwap`.
    pub swap_behavior: Option<String>,
}

/// Written with its `apiVersion` and `kind`, like every object of a snapshot.
impl Serialize for Host {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            api_version: &'static str,
            kind: &'static str,
            metadata: &'a ObjectMeta,
            memory: &'a HostMemory,
            swap: &'a HostSwap,
            cpus: u64,
            disks: &'a [HostDisk],
            containerd: &'a HostContainerd,
            kubelet: &'a HostKubelet,
        }
        Wire {
            api_version: <Host as Resource>::API_VERSION,
            kind: <Host as Resource>::KIND,
            metadata: &self.metadata,
            memory: &self.memory,
            swap: &self.swap,
            cpus: self.cpus,
            disks: &self.disks,
            containerd: &self.containerd,
            kubelet: &self.kubelet,
        }
        .serialize(s)
    }
}

impl Resource for Host {
    const API_VERSION: &'static str = "ttdoctor/v1";
    const GROUP: &'static str = "ttdoctor";
    const KIND: &'static str = "Host";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "hosts";
    type Scope = ClusterResourceScope;
}

impl Metadata for Host {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Format, Kind, Snapshot, load_reader, write};

    fn host() -> Host {
        Host {
            metadata: ObjectMeta {
                name: Some("node-1".into()),
                ..Default::default()
            },
            memory: HostMemory {
                total: 64 << 30,
                available: 40 << 30,
            },
            swap: HostSwap {
                total: 2 << 30,
                used: 0,
            },
            cpus: 16,
            disks: vec![HostDisk {
                path: "/var/lib/containerd".into(),
                mount: "/".into(),
                total: 100 << 30,
                available: 30 << 30,
            }],
            containerd: HostContainerd {
                root: "/var/lib/containerd".into(),
                tool: Some("crictl".into()),
                images: Some(vec!["docker.io/library/busybox:1.32".into()]),
                error: None,
            },
            kubelet: HostKubelet::default(),
        }
    }

    #[test]
    fn a_snapshot_keeps_its_host_in_yaml_and_json() {
        let mut snap = Snapshot::default();
        snap.push(host());
        snap.notes.push("taken on node-1".into());
        for json in [false, true] {
            let mut out = Vec::new();
            write(&snap, Format { json, gzip: false }, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("HostList"), "{text}");
            let back = load_reader(text.as_bytes(), "t", Default::default()).unwrap();
            assert!(back.available(Kind::Host), "json {json}: {text}");
            assert_eq!(back.objects.hosts.len(), 1);
            assert_eq!(back.objects.hosts[0].get(), &host(), "json {json}");
            assert_eq!(back.notes, ["taken on node-1"]);
        }
    }

    #[test]
    fn a_snapshot_without_host_facts_says_so() {
        let mut snap = Snapshot::default();
        snap.read
            .extend(Kind::ALL.iter().filter(|k| !k.meta().local));
        assert!(!snap.available(Kind::Host), "not read: not available");
        let mut out = Vec::new();
        write(&snap, Format::for_path("x.yaml".as_ref()), &mut out).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("Host"));
        assert_eq!(Kind::parse("host"), Some(Kind::Host));
        assert_eq!(
            Kind::from_type("Host", Some("ttdoctor/v1")),
            Some(Kind::Host)
        );
        assert!(Kind::Host.meta().local && !Kind::Host.meta().optional);
    }
}
