//! The facts `ttdoctor host` read, as a small table before its findings.

use crate::quantity::format_bytes;
use crate::snapshot::Host;
use crate::text::WIDTH;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

fn bytes(n: u64) -> String {
    format_bytes(i128::from(n))
}

/// One row per fact; what could not be read says so.
pub fn facts(h: &Host) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(WIDTH as u16);
    t.set_header(vec!["host", h.metadata.name.as_deref().unwrap_or("?")]);
    t.add_row(vec![
        "memory".to_string(),
        format!(
            "{} total, {} available",
            bytes(h.memory.total),
            bytes(h.memory.available)
        ),
    ]);
    t.add_row(vec![
        "swap".to_string(),
        if h.swap.total == 0 {
            "off".to_string()
        } else {
            format!("{} ({} used)", bytes(h.swap.total), bytes(h.swap.used))
        },
    ]);
    t.add_row(vec!["cores".to_string(), h.cpus.to_string()]);
    for d in &h.disks {
        t.add_row(vec![
            format!("disk {}", d.path),
            format!(
                "{} free of {} on {}",
                bytes(d.available),
                bytes(d.total),
                d.mount
            ),
        ]);
    }
    let c = &h.containerd;
    let images = match (&c.images, &c.tool, &c.error) {
        (Some(i), tool, _) => format!(
            "{} references in namespace k8s.io (listed with {})",
            i.len(),
            tool.as_deref().unwrap_or("?")
        ),
        (None, _, Some(e)) => format!("not listed: {e}"),
        (None, _, None) => "not listed: neither crictl nor ctr is on the PATH".to_string(),
    };
    t.add_row(vec![format!("containerd {}", c.root), images]);
    let k = &h.kubelet;
    t.add_row(vec![
        "kubelet".to_string(),
        match &k.config {
            None => "no kubelet config".to_string(),
            Some(path) => format!(
                "{path}: failSwapOn {}, swapBehavior {}",
                k.fail_swap_on
                    .map_or("unset (true)".into(), |b| b.to_string()),
                k.swap_behavior.as_deref().unwrap_or("unset")
            ),
        },
    ]);
    format!("{t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{HostContainerd, HostDisk, HostSwap};

    #[test]
    fn every_fact_has_a_row_and_gaps_say_why() {
        let mut h = Host {
            cpus: 8,
            swap: HostSwap {
                total: 1 << 30,
                used: 0,
            },
            disks: vec![HostDisk {
                path: "/var/lib/containerd".into(),
                mount: "/".into(),
                total: 100 << 30,
                available: 30 << 30,
            }],
            ..Host::default()
        };
        let t = facts(&h);
        for want in [
            "swap",
            "1Gi (0 used)",
            "cores",
            "30Gi free of 100Gi on /",
            "not listed: neither crictl nor ctr",
            "no kubelet config",
        ] {
            assert!(t.contains(want), "{want:?} in\n{t}");
        }
        h.containerd = HostContainerd {
            root: "/var/lib/containerd".into(),
            tool: Some("ctr".into()),
            images: Some(vec!["docker.io/library/busybox:1.32".into()]),
            error: None,
        };
        assert!(facts(&h).contains("1 references in namespace k8s.io (listed with ctr)"));
    }
}
