//! The binary as a user and a pipeline meet it: output, exit codes, formats, selection,
//! suppressions, rule docs.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

fn ttdoctor() -> Command {
    let mut c = Command::cargo_bin("ttdoctor").unwrap();
    c.env_remove("NO_COLOR").env_remove("KUBECONFIG");
    c
}

fn check(fx: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    ttdoctor()
        .args(["check", "--snapshot", &fixture(fx)])
        .args(extra)
        .assert()
}

#[test]
fn seed_cluster_exits_1_with_causes_first_and_fixes() {
    let out = check("seed-broken-cluster.yaml", &[])
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    // linkerd-style marks, the objects named, and the fix on the next lines.
    assert!(
        text.contains("× TT-DB-001 Every MySQL leader Service has an endpoint"),
        "{text}"
    );
    assert!(
        text.contains("kubectl label pod nacosdb-mysql-0 -n train-ticket role=leader --overwrite")
    );
    assert!(text.contains(
        "kubectl taint nodes k8s-master node-role.kubernetes.io/control-plane:NoSchedule-"
    ));
    assert!(text.contains("ctr -n=k8s.io images import"));
    // The mem-class=high pods have nowhere to go until the master is untainted (ubuntu and
    // k8s-node-01 are full by requests): no node label is offered as the fix yet.
    assert!(
        text.contains("no node carries its whole nodeSelector"),
        "{text}"
    );
    assert!(
        text.contains("mem-class=high; no Ready node that tolerates its taints has room"),
        "{text}"
    );
    assert!(text.contains("↳ caused by TT-DB-001 Service train-ticket/nacosdb-mysql-leader"));
    // Causes come before the symptoms they explain.
    let cause = text
        .find("× Service nacosdb-mysql-leader has no endpoints")
        .unwrap();
    let symptom = text.find("× Pod nacos-0 is Init:CrashLoopBackOff").unwrap();
    assert!(cause < symptom);
    // No color when stdout is not a terminal, and everything fits 100 columns.
    assert!(!text.contains('\u{1b}'), "escape codes in piped output");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "line over 100 columns: {line}");
    }
    assert!(text.contains("error(s)") && text.contains("root cause(s) to fix first"));
}

#[test]
fn healthy_cluster_exits_0() {
    check("healthy.yaml", &[])
        .code(0)
        .stdout(predicate::str::contains("no errors or warnings"));
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    check("does-not-exist.yaml", &[]).code(2).stderr(
        predicate::str::contains("does-not-exist.yaml")
            .and(predicate::str::contains("cannot read")),
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: [\n",
    )
    .unwrap();
    ttdoctor()
        .args(["check", "--snapshot", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid YAML"));
    ttdoctor()
        .args([
            "check",
            "--snapshot",
            &fixture("healthy.yaml"),
            "--phase",
            "sometimes",
        ])
        .assert()
        .code(2);
    ttdoctor()
        .args([
            "check",
            "--snapshot",
            &fixture("healthy.yaml"),
            "--param",
            "TT-MEM-001.nope=1",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no parameter \"nope\""));
}

#[test]
fn a_user_rule_fires_without_any_rust_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lab-001.yaml"),
        r#"id: LAB-001
title: Nodes carry a rack label
category: nodes
severity: error
phase: both
applies_to:
  kind: Node
when: label(object, 'topology.kubernetes.io/rack') == ''
message: Node ${object.metadata.name} has no rack label
explanation: The lab's scheduler policy needs racks.
fix:
  safety: safe
  summary: Label the node
  patches:
    - kind: Node
      name: ${object.metadata.name}
      type: json
      body: "[{'op': 'add', 'path': '/metadata/labels/topology.kubernetes.io~1rack', 'value': 'r1'}]"
"#,
    )
    .unwrap();
    let out = ttdoctor()
        .args([
            "check",
            "--snapshot",
            &fixture("healthy.yaml"),
            "--rules",
            dir.path().to_str().unwrap(),
            "--select",
            "LAB",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for node in ["k8s-master", "k8s-node-01", "ubuntu"] {
        assert!(
            text.contains(&format!("Node {node} has no rack label")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "kubectl label node {node} topology.kubernetes.io/rack=r1"
        )));
    }
    assert!(
        !text.contains("TT-"),
        "--select LAB should run only the lab rule"
    );
}

#[test]
fn broken_user_rule_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.yaml"), "id: LAB-002\ntitle: t\ncategory: c\nseverity: error\nphase: both\napplies_to: {kind: Node}\nwhen: 'object.metadata.name =='\nmessage: m\nexplanation: e\n").unwrap();
    ttdoctor()
        .args(["rules", "--rules", dir.path().to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("x.yaml:7")
                .and(predicate::str::contains("CEL does not compile")),
        );
}

#[test]
fn rules_and_explain_document_the_pack() {
    ttdoctor()
        .arg("rules")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("TT-DB-001").and(predicate::str::contains("TT-STO-001")));
    ttdoctor()
        .args(["explain", "tt-db-001"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("root@'::1'")
                .and(predicate::str::contains("fix (safe)"))
                .and(predicate::str::contains("issues/252")),
        );
    ttdoctor().args(["explain", "TT-NOPE-999"]).assert().code(2);
}

#[test]
fn select_ignore_and_phase_choose_rules() {
    let text = String::from_utf8(
        check("seed-broken-cluster.yaml", &["--select", "TT-STO,database"])
            .code(1)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(text.contains("TT-STO-001") && text.contains("TT-DB-001"));
    assert!(!text.contains("TT-NODE-001") && !text.contains("TT-MEM-"));
    // Ignoring every error rule leaves warnings only: exit 0 at --fail-on error.
    check(
        "seed-broken-cluster.yaml",
        &[
            "--ignore",
            "TT-NODE,TT-SCHED,TT-STO,TT-IMG-002,TT-DB,TT-POD-001,TT-MEM-001",
        ],
    )
    .code(0);
    // The pre-deploy phase skips the post-deploy checks.
    let pre = String::from_utf8(
        check("seed-broken-cluster.yaml", &["--phase", "pre", "-v"])
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(
        pre.contains("TT-DB-001") && pre.contains("skipped: post-deploy check; --phase pre"),
        "{pre}"
    );
}

#[test]
fn completions_print_a_script() {
    ttdoctor()
        .args(["completions", "bash"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("_ttdoctor"));
    ttdoctor()
        .args(["completions", "fish"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("complete -c ttdoctor"));
}

#[test]
fn works_as_a_kubectl_plugin() {
    // kubectl runs `kubectl-ttdoctor` from PATH with the remaining arguments.
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-ttdoctor");
    std::fs::copy(assert_cmd::cargo::cargo_bin("ttdoctor"), &plugin).unwrap();
    std::process::Command::new(&plugin)
        .args(["check", "--snapshot", &fixture("healthy.yaml")])
        .output()
        .map(|o| {
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        })
        .unwrap();
}
