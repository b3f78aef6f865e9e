//! `ttdoctor host`, `check --local` and `snapshot --local` as a user runs them on a node: with
//! fake `crictl`/`ctr` scripts on the PATH (a temporary directory), or no tool at all (off a
//! node). The machine's own memory, swap and disks are read for real, so only what the fake
//! tools decide is asserted exactly.

#![cfg(unix)]

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A deployment of two images: one the fake containerd holds, one it lacks.
const MANIFESTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - {name: c0, image: \"busybox:1.32\", resources: {requests: {cpu: 10m, memory: 16Mi}}}
        - {name: c1, image: \"nacos/nacos-server:2.0.1\", resources: {requests: {cpu: 10m, memory: 16Mi}}}
";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A temporary directory: the only PATH the binary gets, with a manifests file beside it.
struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("app.yaml"), MANIFESTS).unwrap();
        Node { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn manifests(&self) -> String {
        self.dir.path().join("app.yaml").display().to_string()
    }

    /// Puts an executable shell script `name` on the PATH (builtins only: nothing else is
    /// on it).
    fn tool(&self, name: &str, body: &str) {
        let p = self.bin().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn ttdoctor(&self) -> Command {
        let mut c = Command::cargo_bin("ttdoctor").unwrap();
        c.env_clear()
            .env("PATH", self.bin())
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path());
        c
    }

    /// Runs `ttdoctor ARGS`: exit code, stdout.
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = self.ttdoctor().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let (code, out) = self.run(args);
        let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        (code, doc)
    }
}

/// `crictl images -o json` listing busybox (by tag and digest) and pause.
const CRICTL: &str = r#"[ "$1" = images ] || exit 9
echo '{"images": [{"id": "sha256:a", "repoTags": ["docker.io/library/busybox:1.32"], "repoDigests": ["docker.io/library/busybox@sha256:b"]},'
echo ' {"id": "sha256:c", "repoTags": ["registry.k8s.io/pause:3.10"], "repoDigests": []}]}'"#;

fn rule<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no rule {id} in {doc}"))
}

fn findings<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ruleId"] == id)
        .collect()
}

#[test]
fn host_lists_containerd_with_crictl_and_names_the_missing_image_with_its_pull_command() {
    let node = Node::new();
    node.tool("crictl", CRICTL);
    let m = node.manifests();
    let (code, doc) = node.json(&["host", "--manifests", &m, "-o", "json", "--fail-on", "warn"]);
    assert_eq!(code, 1, "a warning fails the run at --fail-on warn: {doc}");
    assert_eq!(doc["kind"], "CheckReport");
    let ids: Vec<&str> = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["TT-HOST-001", "TT-HOST-002", "TT-HOST-003", "TT-HOST-004"],
        "only the host rules run"
    );
    assert_eq!(rule(&doc, "TT-HOST-004")["status"], "failed");
    let f = findings(&doc, "TT-HOST-004");
    assert_eq!(f.len(), 1, "{doc}");
    assert_eq!(f[0]["object"]["kind"], "Host");
    assert_eq!(f[0]["severity"], "warn");
    let msg = f[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("lacks 1 of the 2 images")
            && msg.contains("(listed with crictl): nacos/nacos-server:2.0.1."),
        "{msg}"
    );
    assert_eq!(
        f[0]["fix"]["commands"][0],
        "sudo crictl pull docker.io/nacos/nacos-server:2.0.1"
    );
    let notes = doc["notes"].to_string();
    assert!(!notes.contains("not listed"), "{notes}");
}

#[test]
fn host_passes_the_image_check_when_containerd_holds_every_image() {
    let node = Node::new();
    node.tool(
        "ctr",
        "[ \"$*\" = \"-n k8s.io images ls -q\" ] || exit 9\n\
         echo docker.io/library/busybox:1.32\necho sha256:0123\necho docker.io/nacos/nacos-server:2.0.1",
    );
    let m = node.manifests();
    let (_, doc) = node.json(&["host", "--manifests", &m, "-o", "json"]);
    assert_eq!(rule(&doc, "TT-HOST-004")["status"], "passed", "{doc}");
    assert!(findings(&doc, "TT-HOST-004").is_empty());
}

#[test]
fn off_a_node_the_facts_are_printed_and_the_image_check_is_skipped_with_a_note() {
    let node = Node::new();
    let m = node.manifests();
    let (code, doc) = node.json(&[
        "host",
        "--manifests",
        &m,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    assert_eq!(code, 0, "{doc}");
    let r = rule(&doc, "TT-HOST-004");
    assert_eq!(r["status"], "skipped", "never a pass without a listing");
    assert_eq!(
        r["reason"],
        "containerd's images were not listed (neither crictl nor ctr is on the PATH)"
    );
    assert!(findings(&doc, "TT-HOST-004").is_empty());
    assert!(
        doc["notes"].as_array().unwrap().iter().any(|n| n
            == "containerd's images were not listed: neither crictl nor ctr is on the PATH (is this a node?)"),
        "{}",
        doc["notes"]
    );
    assert_eq!(doc["errors"], Value::Array(vec![]));
    // For people: the facts, then the checks, the skipped one with its reason.
    let (_, text) = node.run(&["host", "--manifests", &m, "--no-color"]);
    for want in [
        "memory",
        "swap",
        "cores",
        "disk /var/lib/containerd",
        "not listed: neither crictl nor ctr is on the PATH",
        "TT-HOST-001",
        "- TT-HOST-004",
        "(skipped: containerd's images were not listed (neither crictl nor ctr is on the PATH))",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
}

#[test]
fn crictl_without_root_skips_the_image_check_saying_to_use_sudo() {
    let node = Node::new();
    node.tool(
        "crictl",
        "echo 'WARN[0000] image connect using default endpoints: [unix:///run/containerd/containerd.sock]' >&2\n\
         echo 'FATA[0000] validate service connection: dial unix /run/containerd/containerd.sock: connect: permission denied' >&2\n\
         exit 1",
    );
    let m = node.manifests();
    let (_, doc) = node.json(&["host", "--manifests", &m, "-o", "json"]);
    let r = rule(&doc, "TT-HOST-004");
    assert_eq!(r["status"], "skipped");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("containerd's images were not listed: crictl failed: FATA[0000] validate service connection")
            && reason.contains("run ttdoctor with sudo"),
        "{reason}"
    );
}

#[test]
fn check_local_adds_this_host_to_a_snapshot_and_without_it_the_host_rules_skip() {
    let node = Node::new();
    node.tool("crictl", CRICTL);
    let m = node.manifests();
    let snap = fixture("healthy.yaml").display().to_string();
    let args = [
        "check",
        "--snapshot",
        &snap,
        "--manifests",
        &m,
        "-o",
        "json",
    ];
    let (_, doc) = node.json(&args);
    assert_eq!(rule(&doc, "TT-HOST-004")["status"], "skipped");
    assert!(
        rule(&doc, "TT-HOST-004")["reason"]
            .as_str()
            .unwrap()
            .starts_with("no Host facts: run `ttdoctor host`"),
        "{doc}"
    );
    let mut local = args.to_vec();
    local.push("--local");
    let (_, doc) = node.json(&local);
    assert_eq!(rule(&doc, "TT-HOST-004")["status"], "failed", "{doc}");
    assert_eq!(findings(&doc, "TT-HOST-004").len(), 1);
    assert!(
        doc["metadata"]["source"]
            .as_str()
            .unwrap()
            .ends_with("and this host")
    );
    // The cluster's own findings are still there.
    assert!(
        rule(&doc, "TT-STO-001")["status"] == "passed",
        "{}",
        rule(&doc, "TT-STO-001")
    );
}

#[test]
fn snapshot_local_keeps_the_host_for_a_later_check_anywhere() {
    let fake = common::fake_api::FakeApi::from_snapshot_file(fixture("healthy.yaml"));
    let node = Node::new();
    node.tool("crictl", CRICTL);
    let kc = fake.write_kubeconfig(node.dir.path());
    let out: PathBuf = node.dir.path().join("cluster.yaml");
    let (code, _) = node.run(&[
        "snapshot",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--local",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        !fake.requests().iter().any(|q| q.path.contains("hosts")),
        "the Host is never asked of the API server"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("kind: HostList"), "{text}");
    // Checked elsewhere (no tool on the PATH, no --local): the stored facts still answer.
    let other = Node::new();
    let m = other.manifests();
    let (_, doc) = other.json(&[
        "check",
        "--snapshot",
        out.to_str().unwrap(),
        "--manifests",
        &m,
        "-o",
        "json",
    ]);
    assert_eq!(rule(&doc, "TT-HOST-004")["status"], "failed", "{doc}");
    let loaded = ttdoctor::snapshot::load_file(Path::new(&out)).unwrap();
    let host = loaded.objects.hosts[0].get();
    assert_eq!(host.containerd.tool.as_deref(), Some("crictl"));
    assert_eq!(host.containerd.images.as_ref().map(Vec::len), Some(3));
}
