//! Facts about the machine ttdoctor runs on, for `ttdoctor host` and `check --local`: memory,
//! swap, cores, free disk where containerd keeps images, the images really in containerd, the
//! kubelet's swap settings. Read without the API server, and never failing: what cannot be
//! read is left empty (and said in [`notes`]), so off a node the facts degrade cleanly.

mod command;
pub mod containerd;

use crate::snapshot::{Host, HostContainerd, HostDisk, HostKubelet, HostMemory, HostSwap};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// containerd's root when its config does not set one.
pub const CONTAINERD_ROOT: &str = "/var/lib/containerd";

/// Where to look. Every path is injectable so tests can point them at a temporary directory.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Where `crictl` and `ctr` are looked up (a PATH value); `None`: this process's PATH.
    pub path: Option<OsString>,
    /// How long one tool may take before it is killed.
    pub timeout: Duration,
    /// containerd's config, whose top-level `root` says where images are kept.
    pub containerd_config: PathBuf,
    pub kubelet_root: PathBuf,
    /// The kubelet's config file (kubeadm writes it here).
    pub kubelet_config: PathBuf,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            path: None,
            timeout: Duration::from_secs(10),
            containerd_config: "/etc/containerd/config.toml".into(),
            kubelet_root: "/var/lib/kubelet".into(),
            kubelet_config: "/var/lib/kubelet/config.yaml".into(),
        }
    }
}

/// Reads this machine's facts (blocking: the image listing may take up to the timeout).
pub fn read(opts: &HostOptions) -> Host {
    use sysinfo::{CpuRefreshKind, Disks, System};
    let mut sys = System::new();
    sys.refresh_memory();
    sys.refresh_cpu_list(CpuRefreshKind::nothing());
    let cpus = match sys.cpus().len() {
        0 => std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        n => n,
    };
    let mounts: Vec<Mount> = Disks::new_with_refreshed_list()
        .list()
        .iter()
        .map(|d| Mount {
            point: d.mount_point().to_path_buf(),
            total: d.total_space(),
            available: d.available_space(),
        })
        .collect();
    let root = std::fs::read_to_string(&opts.containerd_config)
        .ok()
        .and_then(|t| containerd_root(&t))
        .unwrap_or_else(|| CONTAINERD_ROOT.to_string());
    let disks = [Path::new(&root), &opts.kubelet_root]
        .into_iter()
        .filter_map(|p| disk_of(&mounts, p))
        .collect();
    let path = opts
        .path
        .clone()
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let listing = containerd::list(&path, opts.timeout);
    Host {
        metadata: ObjectMeta {
            name: Some(System::host_name().unwrap_or_else(|| "localhost".into())),
            ..ObjectMeta::default()
        },
        memory: HostMemory {
            total: sys.total_memory(),
            available: sys.available_memory(),
        },
        swap: HostSwap {
            total: sys.total_swap(),
            used: sys.used_swap(),
        },
        cpus: cpus as u64,
        disks,
        containerd: HostContainerd {
            root,
            tool: listing.tool,
            images: listing.images,
            error: listing.error,
        },
        kubelet: kubelet(&opts.kubelet_config),
    }
}

/// What the reader of a check should know about the host facts: what could not be read.
pub fn notes(host: &Host) -> Vec<String> {
    let mut out = Vec::new();
    let c = &host.containerd;
    match (&c.images, &c.tool, &c.error) {
        (Some(_), _, _) => {}
        (None, _, Some(e)) => out.push(format!("containerd's images were not listed: {e}")),
        (None, _, None) => out.push(
            "containerd's images were not listed: neither crictl nor ctr is on the PATH (is this a node?)"
                .into(),
        ),
    }
    if !host.disks.iter().any(|d| d.path == c.root) {
        out.push(format!(
            "no filesystem found holding containerd's root {}",
            c.root
        ));
    }
    out
}

/// A mounted filesystem.
#[derive(Clone, Debug)]
struct Mount {
    point: PathBuf,
    total: u64,
    available: u64,
}

/// The filesystem holding `dir`: the mount with the longest mount point above it (or above
/// its nearest existing parent, for a directory not created yet; symbolic links followed).
fn disk_of(mounts: &[Mount], dir: &Path) -> Option<HostDisk> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let real = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    let m = mounts
        .iter()
        .filter(|m| real.starts_with(&m.point))
        .max_by_key(|m| m.point.components().count())?;
    Some(HostDisk {
        path: dir.display().to_string(),
        mount: m.point.display().to_string(),
        total: m.total,
        available: m.available,
    })
}

/// The top-level `root = "…"` of a containerd config (TOML: top-level keys come before the
/// first `[table]`).
fn containerd_root(config: &str) -> Option<String> {
    let re = regex::Regex::new(r#"^\s*root\s*=\s*["']([^"']+)["']"#).expect("static regex");
    config
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| re.captures(l).map(|c| c[1].to_string()))
}

/// The kubelet's swap settings, from its config file when there is one.
fn kubelet(config: &Path) -> HostKubelet {
    let Ok(text) = std::fs::read_to_string(config) else {
        return HostKubelet::default();
    };
    let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_default();
    HostKubelet {
        config: Some(config.display().to_string()),
        fail_swap_on: v.get("failSwapOn").and_then(serde_json::Value::as_bool),
        swap_behavior: v
            .pointer("/memorySwap/swapBehavior")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_is_the_longest_mount_above_the_directory_or_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        let mounts = vec![
            Mount {
                point: "/".into(),
                total: 100,
                available: 50,
            },
            Mount {
                point: real.clone(),
                total: 10,
                available: 5,
            },
            Mount {
                point: real.join("containerd-other"),
                total: 1,
                available: 1,
            },
        ];
        // Not created yet: the filesystem of its parent.
        let d = disk_of(&mounts, &dir.path().join("containerd")).unwrap();
        assert_eq!(d.mount, real.display().to_string());
        assert_eq!((d.total, d.available), (10, 5));
        assert_eq!(d.path, dir.path().join("containerd").display().to_string());
        let d = disk_of(&mounts, Path::new("/nonexistent-root/x")).unwrap();
        assert_eq!(d.mount, "/");
        assert!(disk_of(&[], dir.path()).is_none());
    }

    #[test]
    fn containerd_root_is_read_from_the_top_of_its_config() {
        let cfg = "version = 2\nroot = \"/data/containerd\"\nstate = \"/run/containerd\"\n[plugins]\n  root = \"/x\"\n";
        assert_eq!(containerd_root(cfg).as_deref(), Some("/data/containerd"));
        assert_eq!(containerd_root("version = 2\n[grpc]\nroot = '/x'\n"), None);
        assert_eq!(containerd_root(""), None);
    }

    #[test]
    fn kubelet_swap_settings_come_from_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.yaml");
        assert_eq!(kubelet(&p), HostKubelet::default(), "no kubelet yet");
        std::fs::write(
            &p,
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailSwapOn: false\nmemorySwap:\n  swapBehavior: LimitedSwap\n",
        )
        .unwrap();
        let k = kubelet(&p);
        assert_eq!(k.fail_swap_on, Some(false));
        assert_eq!(k.swap_behavior.as_deref(), Some("LimitedSwap"));
        assert_eq!(k.config, Some(p.display().to_string()));
        std::fs::write(&p, ": not yaml [").unwrap();
        assert_eq!(kubelet(&p).fail_swap_on, None, "unreadable: unknown");
    }

    #[test]
    fn off_a_node_the_facts_are_read_and_the_gaps_noted() {
        let dir = tempfile::tempdir().unwrap();
        let opts = HostOptions {
            path: Some(dir.path().as_os_str().to_owned()),
            containerd_config: dir.path().join("none.toml"),
            kubelet_root: dir.path().join("kubelet"),
            kubelet_config: dir.path().join("kubelet/config.yaml"),
            ..HostOptions::default()
        };
        let h = read(&opts);
        assert!(h.memory.total > 0 && h.memory.available <= h.memory.total);
        assert!(h.cpus > 0);
        assert!(h.metadata.name.is_some());
        assert_eq!(h.containerd.root, CONTAINERD_ROOT);
        assert_eq!(h.containerd.tool, None);
        assert_eq!(h.containerd.images, None);
        assert_eq!(h.kubelet, HostKubelet::default());
        let kubelet_disk = h
            .disks
            .iter()
            .find(|d| d.path.ends_with("kubelet"))
            .expect("the temporary directory is on some filesystem");
        assert!(kubelet_disk.total >= kubelet_disk.available);
        let notes = notes(&h);
        assert!(
            notes[0].contains("neither crictl nor ctr is on the PATH"),
            "{notes:?}"
        );
    }
}
