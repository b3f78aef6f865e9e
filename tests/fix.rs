//! `ttdoctor fix` against the fake API server: plans write nothing; `--auto` applies the safe
//! fixes with dry runs and preconditions, verifies them, and `--undo` restores exactly.

mod common;

use assert_cmd::Command;
use common::fake_api::FakeApi;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

struct Env {
    fake: FakeApi,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Env {
    fn new(fx: &str) -> Env {
        let fake = FakeApi::from_snapshot_file(fixture(fx));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = fake.write_kubeconfig(dir.path());
        Env {
            fake,
            dir,
            kubeconfig,
        }
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal.jsonl")
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::cargo_bin("ttdoctor")
            .unwrap()
            .env_remove("KUBECONFIG")
            .env("XDG_STATE_HOME", self.dir.path())
            .args(args)
            .args(["--kubeconfig", self.kubeconfig.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn fix(&self, extra: &[&str]) -> (i32, String, String) {
        let journal = self.journal();
        let mut args = vec!["fix", "--journal", journal.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn rule_ids(&self) -> Vec<String> {
        let (_, out, _) = self.run(&["check", "-o", "json"]);
        let doc: Value = serde_json::from_str(&out).unwrap();
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["ruleId"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every object in the store, by resource/namespace/name, minus what the server maintains.
    fn state(&self) -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        for r in [
            "nodes",
            "storageclasses.storage.k8s.io",
            "pods",
            "services",
            "persistentvolumeclaims",
            "deployments.apps",
            "statefulsets.apps",
        ] {
            for mut o in self.fake.objects(r) {
                let key = format!(
                    "{r}/{}/{}",
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap()
                );
                if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                    meta.remove("managedFields");
                }
                m.insert(key, o);
            }
        }
        m
    }
}

fn changed(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, b) in before {
        let a = &after[k];
        if a != b {
            for op in json_patch::diff(b, a).0 {
                out.push(format!("{k} {}", serde_json::to_value(&op).unwrap()));
            }
        }
    }
    out
}

fn label(o: &Value, k: &str) -> Option<String> {
    o["metadata"]["labels"][k].as_str().map(String::from)
}

#[test]
fn plan_writes_nothing_and_shows_diffs_and_commands() {
    let env = Env::new("seed-broken-cluster.yaml");
    let (code, out, err) = env.fix(&[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(env.fake.write_count(), 0, "a plan must not write");
    assert!(
        out.contains("metadata.labels.role: \"follower\" → \"leader\""),
        "{out}"
    );
    assert!(
        out.contains("kubectl patch nodes k8s-master --type=json"),
        "{out}"
    );
    assert!(
        out.contains("status: planned") && out.contains("status: manual"),
        "{out}"
    );
    let (_, json, _) = env.fix(&["-o", "json"]);
    let plan: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["safety"] == "safe")
            .count(),
        4
    );
    assert_eq!(env.fake.write_count(), 0);
}

#[test]
fn auto_fixes_each_fixable_fixture_touching_only_the_intended_fields() {
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "control-plane-taint.yaml",
            "TT-NODE-001",
            &["nodes//k8s-master {\"op\":\"remove\",\"path\":\"/spec/taints/0\"}"],
        ),
        (
            "no-default-storageclass.yaml",
            "TT-STO-001",
            &[
                "storageclasses.storage.k8s.io//openebs-hostpath {\"op\":\"add\",\"path\":\"/metadata/annotations/storageclass.kubernetes.io~1is-default-class\",\"value\":\"true\"}",
            ],
        ),
        (
            "multiple-default-storageclass.yaml",
            "TT-STO-002",
            &[
                "storageclasses.storage.k8s.io//local-path {\"op\":\"replace\",\"path\":\"/metadata/annotations/storageclass.kubernetes.io~1is-default-class\",\"value\":\"false\"}",
            ],
        ),
        (
            "mysql-no-leader.yaml",
            "TT-DB-001",
            &[
                "pods/train-ticket/nacosdb-mysql-0 {\"op\":\"replace\",\"path\":\"/metadata/labels/role\",\"value\":\"leader\"}",
            ],
        ),
        (
            "tsdb-no-leader.yaml",
            "TT-DB-001",
            &[
                "pods/train-ticket/tsdb-mysql-0 {\"op\":\"replace\",\"path\":\"/metadata/labels/role\",\"value\":\"leader\"}",
            ],
        ),
        (
            "nodeselector-unmatched.yaml",
            "TT-SCHED-001",
            &[
                "nodes//ubuntu {\"op\":\"add\",\"path\":\"/metadata/labels/mem-class\",\"value\":\"high\"}",
            ],
        ),
    ];
    for (fx, rule, expected_changes) in cases {
        let env = Env::new(fx);
        assert!(
            env.rule_ids().iter().any(|r| r == rule),
            "{fx} should have {rule} before fixing"
        );
        let before = env.state();
        let (_, out, err) = env.fix(&["--auto"]);
        assert!(out.contains("applied and verified"), "{fx}: {out}\n{err}");
        assert!(
            !env.rule_ids().iter().any(|r| r == rule),
            "{fx}: {rule} still there after fix --auto"
        );
        let changes = changed(&before, &env.state());
        let generation_free: Vec<&String> = changes
            .iter()
            .filter(|c| !c.contains("/metadata/generation"))
            .collect();
        assert_eq!(
            generation_free,
            expected_changes.iter().collect::<Vec<_>>(),
            "{fx}: unexpected changes"
        );
        // Every real write was preceded by a server-side dry run of the same patch.
        let patches: Vec<_> = env
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .collect();
        let dry = patches
            .iter()
            .filter(|r| r.param("dryRun").as_deref() == Some("All"))
            .count();
        assert_eq!(dry, patches.len() - dry, "{fx}: one dry run per real patch");
        assert_eq!(env.fake.secret_requests(), 0);
    }
}

#[test]
fn second_run_changes_nothing_and_undo_restores_exactly() {
    let env = Env::new("seed-broken-cluster.yaml");
    let before = env.state();
    let (_, out, err) = env.fix(&["--auto"]);
    assert_eq!(
        out.matches("applied and verified").count(),
        5,
        "{out}\n{err}"
    );
    // Round 2: once k8s-master is untainted, the mem-class=high pods fit there, so it is
    // labelled in the same run (two changes to one node, undone as one).
    assert!(err.contains("applied 5 change(s)"), "{err}");
    assert!(
        out.contains("safe TT-SCHED-001 Label node k8s-master"),
        "{out}"
    );
    assert!(
        !out.contains("manual TT-SCHED-001"),
        "the manual step of round 1 is superseded: {out}"
    );
    let fixed = env.state();
    assert_ne!(before, fixed);

    env.fake.reset_counts();
    let (_, out, err) = env.fix(&["--auto"]);
    assert_eq!(
        env.fake.real_write_count(),
        0,
        "second run must not write: {out}"
    );
    assert!(err.contains("no change applied"), "{err}");

    let (code, out, err) = env.fix(&["--undo"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("4 reverted, 0 refused"), "{out}");
    let restored = env.state();
    let diff: Vec<String> = changed(&before, &restored)
        .into_iter()
        .filter(|c| !c.contains("/metadata/generation"))
        .collect();
    assert!(diff.is_empty(), "undo left differences: {diff:?}");
    // Nothing more to undo.
    let (_, _, err) = env.fix(&["--undo"]);
    assert!(err.contains("nothing to undo"), "{err}");
}

#[test]
fn undo_refuses_objects_changed_since_the_fix() {
    // Someone re-tainted the node after the fix: undo must not touch the taints.
    let env = Env::new("control-plane-taint.yaml");
    env.fix(&["--auto"]);
    env.fake.mutate("", "v1", "nodes", None, "k8s-master", |n| {
        n["spec"]["taints"] = serde_json::json!([{"key": "maintenance", "effect": "NoSchedule"}]);
    });
    let (code, out, _) = env.fix(&["--undo"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("refused: Node k8s-master changed since ttdoctor fixed it"),
        "{out}"
    );
    let node = env
        .fake
        .get_object("", "v1", "nodes", None, "k8s-master")
        .unwrap();
    assert_eq!(
        node["spec"]["taints"],
        serde_json::json!([{"key": "maintenance", "effect": "NoSchedule"}])
    );
    // A refused undo stays pending: once the taint is cleared again, it can be undone.
    env.fake.mutate("", "v1", "nodes", None, "k8s-master", |n| {
        n["spec"]["taints"] = serde_json::json!([]);
    });
    let (code, out, _) = env.fix(&["--undo"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn undo_is_not_blocked_by_unrelated_changes() {
    // The kubelet and controllers keep writing to nodes (status, annotations, labels);
    // undo guards only the fields the fix set, so it goes through and keeps their changes.
    let env = Env::new("control-plane-taint.yaml");
    env.fix(&["--auto"]);
    env.fake.mutate("", "v1", "nodes", None, "k8s-master", |n| {
        n["metadata"]["labels"]["team"] = "infra".into();
        n["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-11-28T06:00:00Z".into();
    });
    let (code, out, _) = env.fix(&["--undo"]);
    assert_eq!(code, 0, "{out}");
    let node = env
        .fake
        .get_object("", "v1", "nodes", None, "k8s-master")
        .unwrap();
    assert_eq!(
        label(&node, "team").as_deref(),
        Some("infra"),
        "the other change is kept"
    );
    assert_eq!(
        node["spec"]["taints"][0]["key"], "node-role.kubernetes.io/control-plane",
        "the taint is back"
    );
}

#[test]
fn a_concurrent_change_between_plan_and_apply_is_a_conflict_and_is_kept() {
    let env = Env::new("mysql-no-leader.yaml");
    // Right after ttdoctor asks RBAC (plan done, before its dry run), xenon relabels the pod.
    env.fake
        .on_request("POST", "/apis/authorization.k8s.io", 1, |store| {
            store.mutate(
                "",
                "v1",
                "pods",
                Some("train-ticket"),
                "nacosdb-mysql-0",
                |p| {
                    p["metadata"]["labels"]["role"] = "candidate".into();
                },
            );
        });
    let (code, out, _) = env.fix(&["--auto"]);
    assert_eq!(code, 1);
    assert!(out.contains("conflict: changed by someone else"), "{out}");
    let pod = env
        .fake
        .get_object("", "v1", "pods", Some("train-ticket"), "nacosdb-mysql-0")
        .unwrap();
    assert_eq!(
        label(&pod, "role").as_deref(),
        Some("candidate"),
        "the other writer's change is kept"
    );
    assert_eq!(env.fake.real_write_count(), 0);
}

#[test]
fn a_merge_patch_with_a_stale_resource_version_is_a_conflict() {
    let env = Env::new("no-default-storageclass.yaml");
    env.fake
        .on_request("POST", "/apis/authorization.k8s.io", 1, |store| {
            store.mutate(
                "storage.k8s.io",
                "v1",
                "storageclasses",
                None,
                "openebs-hostpath",
                |sc| {
                    sc["metadata"]["annotations"]["owner"] = "platform-team".into();
                },
            );
        });
    let (_, out, _) = env.fix(&["--auto"]);
    assert!(out.contains("conflict: changed by someone else"), "{out}");
    let sc = env
        .fake
        .get_object(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            None,
            "openebs-hostpath",
        )
        .unwrap();
    assert_eq!(sc["metadata"]["annotations"]["owner"], "platform-team");
    assert!(
        sc["metadata"]["annotations"]
            .get("storageclass.kubernetes.io/is-default-class")
            .is_none()
    );
}

#[test]
fn a_forbidden_patch_is_not_permitted_in_the_plan_and_nothing_is_half_applied() {
    let env = Env::new("seed-broken-cluster.yaml");
    env.fake.forbid("patch", "nodes", None);
    let (_, plan, _) = env.fix(&[]);
    assert!(
        plan.contains("not permitted: cannot patch nodes k8s-master at the cluster scope"),
        "{plan}"
    );
    let before = env.state();
    let (_, out, _) = env.fix(&["--auto"]);
    assert_eq!(
        out.matches("applied and verified").count(),
        3,
        "pods and the StorageClass: {out}"
    );
    let after = env.state();
    assert_eq!(before["nodes//k8s-master"], after["nodes//k8s-master"]);
    assert_eq!(before["nodes//ubuntu"], after["nodes//ubuntu"]);
    assert!(
        !env.fake
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.starts_with("/api/v1/nodes")),
        "no node PATCH at all"
    );
}

#[test]
fn journal_records_before_and_after() {
    let env = Env::new("mysql-no-leader.yaml");
    env.fix(&["--auto"]);
    let text = std::fs::read_to_string(env.journal()).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["rule"], "TT-DB-001");
    assert_eq!(e["action"], "fix");
    assert_eq!(label(&e["before"], "role").as_deref(), Some("follower"));
    assert_eq!(label(&e["after"], "role").as_deref(), Some("leader"));
    assert!(e["before"]["metadata"].get("managedFields").is_none());
}

#[test]
fn the_durable_mysql_fix_execs_only_with_unsafe() {
    let env = Env::new("mysql-no-leader.yaml");
    env.fix(&["--auto"]);
    assert!(
        env.fake.execs().is_empty(),
        "--auto never runs unsafe fixes"
    );

    let env = Env::new("mysql-no-leader.yaml");
    let (_, out, err) = env.fix(&["--auto", "--unsafe"]);
    assert!(
        out.contains("[2] unsafe TT-DB-001 Create root@'::1'"),
        "{out}\n{err}"
    );
    let execs = env.fake.execs();
    let summary: Vec<(String, String, String)> = execs
        .iter()
        .map(|e| (e.pod.clone(), e.container.clone(), e.command[0].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("nacosdb-mysql-0".into(), "mysql".into(), "mysql".into()),
            ("nacosdb-mysql-1".into(), "mysql".into(), "mysql".into()),
            ("nacosdb-mysql-2".into(), "mysql".into(), "mysql".into()),
            (
                "nacosdb-mysql-0".into(),
                "xenon".into(),
                "/sbin/reboot".into()
            ),
            (
                "nacosdb-mysql-1".into(),
                "xenon".into(),
                "/sbin/reboot".into()
            ),
            (
                "nacosdb-mysql-2".into(),
                "xenon".into(),
                "/sbin/reboot".into()
            ),
        ]
    );
    assert_eq!(
        execs[0].command,
        vec![
            "mysql",
            "-uroot",
            "-e",
            "CREATE USER IF NOT EXISTS 'root'@'::1' IDENTIFIED WITH mysql_native_password BY ''; GRANT ALL ON *.* TO 'root'@'::1' WITH GRANT OPTION;"
        ]
    );
    let journal = std::fs::read_to_string(env.journal()).unwrap();
    assert_eq!(
        journal
            .lines()
            .filter(|l| l.contains("\"action\":\"exec\""))
            .count(),
        6
    );
}

#[test]
fn a_failing_exec_stops_the_fix_and_says_why() {
    let env = Env::new("mysql-no-leader.yaml");
    env.fake.on_exec(|req, _store| {
        if req.container == "mysql" {
            common::fake_api::ExecReply::fail(
                1,
                "ERROR 1045 (28000): Access denied for user 'root'@'localhost'",
            )
        } else {
            common::fake_api::ExecReply::default()
        }
    });
    let (_, out, _) = env.fix(&["--auto", "--unsafe"]);
    assert!(
        out.contains("failed: exec in Pod train-ticket/nacosdb-mysql-0 (container mysql)"),
        "{out}"
    );
    assert!(out.contains("Access denied"), "{out}");
    assert_eq!(
        env.fake.execs().len(),
        1,
        "the first failure stops the item"
    );
}
