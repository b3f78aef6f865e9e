//! The live path against the fake API server: same findings as the snapshot, one paged LIST
//! per kind, degrade on 403 and missing metrics, never hang, clear errors for bad kubeconfigs.

mod common;

use assert_cmd::Command;
use common::fake_api::{FakeApi, MetricsMode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn ttdoctor() -> Command {
    let mut c = Command::cargo_bin("ttdoctor").unwrap();
    c.env_remove("KUBECONFIG")
        .env_remove("NO_COLOR")
        .env_remove("TTDOCTOR_PAGE_SIZE")
        .env("HOME", std::env::temp_dir());
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn run(args: &[&str]) -> Run {
    let start = Instant::now();
    let out = ttdoctor().args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        elapsed: start.elapsed(),
    }
}

/// The comparable part of a JSON report: every finding with its links.
fn findings(json: &str) -> Vec<(String, String, String, String, Vec<String>)> {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut v: Vec<_> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["ruleId"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
                f["causedBy"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    v.sort();
    v
}

fn live_check(fake: &FakeApi, dir: &Path, extra: &[&str]) -> Run {
    let kc = fake.write_kubeconfig(dir);
    let mut args = vec!["check", "--kubeconfig", kc.to_str().unwrap(), "-o", "json"];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn live_check_finds_exactly_what_the_snapshot_check_finds() {
    for fx in [
        "seed-broken-cluster.yaml",
        "healthy.yaml",
        "control-plane-taint.yaml",
        "no-default-storageclass.yaml",
        "multiple-default-storageclass.yaml",
        "no-storageclass-at-all.yaml",
        "images-missing.yaml",
        "image-pull-backoff.yaml",
        "mysql-no-leader.yaml",
        "tsdb-no-leader.yaml",
        "not-ready-restarts.yaml",
        "memory-pressure.yaml",
        "memory-overcommit-no-metrics.yaml",
        "nodeselector-unmatched.yaml",
        "ui-not-ready.yaml",
    ] {
        let fake = FakeApi::from_snapshot_file(fixture(fx));
        let dir = tempfile::tempdir().unwrap();
        let live = live_check(&fake, dir.path(), &[]);
        let snap = run(&[
            "check",
            "--snapshot",
            fixture(fx).to_str().unwrap(),
            "-o",
            "json",
        ]);
        assert_eq!(
            live.code, snap.code,
            "{fx}: exit codes differ\n{}",
            live.stderr
        );
        assert_eq!(
            findings(&live.stdout),
            findings(&snap.stdout),
            "{fx}: live and snapshot findings differ"
        );
        assert_eq!(
            fake.secret_requests(),
            0,
            "{fx}: secrets must never be read"
        );
        assert_eq!(fake.write_count(), 0, "{fx}: check must not write");
    }
}

#[test]
fn snapshot_round_trip_gives_identical_findings() {
    let fake = FakeApi::from_snapshot_file(fixture("seed-broken-cluster.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path());
    let out = dir.path().join("snap.yaml");
    let r = run(&[
        "snapshot",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let from_file = run(&["check", "--snapshot", out.to_str().unwrap(), "-o", "json"]);
    let live = live_check(&fake, dir.path(), &[]);
    assert_eq!(findings(&from_file.stdout), findings(&live.stdout));
    assert_eq!(from_file.code, 1);
    // The file is the kubectl shape: a v1 List, then the NodeMetricsList.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("apiVersion: v1\nitems:"),
        "{}",
        &text[..200]
    );
    assert!(text.contains("kind: NodeMetricsList"));
}

#[test]
fn a_big_cluster_is_read_with_one_paged_list_per_kind() {
    let fake = FakeApi::from_snapshot_file(fixture("big-cluster.yaml"));
    let pods = fake.objects("pods").len();
    assert!(pods > 1000, "big-cluster has {pods} pods");
    let dir = tempfile::tempdir().unwrap();
    let r = live_check(&fake, dir.path(), &["-v"]);
    assert_eq!(r.code, 0, "a healthy big cluster passes: {}", r.stderr);
    let reqs = fake.requests();
    // Pods: ceil(pods / 500) pages, each a LIST with limit=500, chained by continue tokens.
    let pod_lists: Vec<_> = reqs
        .iter()
        .filter(|q| q.method == "GET" && q.path == "/api/v1/pods")
        .collect();
    assert_eq!(
        pod_lists.len(),
        pods.div_ceil(500),
        "one request per page of pods"
    );
    assert!(
        pod_lists
            .iter()
            .all(|q| q.param("limit").as_deref() == Some("500"))
    );
    assert_eq!(
        pod_lists
            .iter()
            .filter(|q| q.param("continue").is_some())
            .count(),
        pod_lists.len() - 1
    );
    // No per-object GETs: every request is a collection path (a LIST) or the metrics list.
    for q in &reqs {
        let segments = q.path.trim_matches('/').split('/').count();
        let is_list = match q.path.split('/').nth(1) {
            Some("api") => segments == 3 || segments == 5, // /api/v1/pods, /api/v1/namespaces/ns/pods
            Some("apis") => segments == 4 || segments == 6, // /apis/g/v/r, /apis/g/v/namespaces/ns/r
            _ => false,
        };
        assert!(
            q.method == "GET" && is_list,
            "unexpected request {} {}",
            q.method,
            q.path
        );
    }
    // The local Host (`--local`) is never asked of the API server.
    assert!(
        reqs.iter().all(|q| !q.path.ends_with("/hosts")),
        "a request for hosts"
    );
    // One LIST per kind, and more pages only where there are more than 500 objects.
    assert!(
        reqs.len() <= ttdoctor::snapshot::Kind::ALL.len() + 3 * 3,
        "{} requests",
        reqs.len()
    );
    assert!(
        r.stderr.contains("pods (v1)") && r.stderr.contains("page(s)"),
        "-v shows per-kind counts: {}",
        r.stderr
    );
}

#[test]
fn the_page_size_can_be_tuned_for_benchmarks() {
    let fake = FakeApi::from_snapshot_file(fixture("big-cluster.yaml"));
    let pods = fake.objects("pods").len();
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path());
    let args = ["check", "--kubeconfig", kc.to_str().unwrap(), "-o", "json"];
    for (env, limit) in [("200", 200), ("0", 500), ("lots", 500)] {
        fake.reset_counts();
        let out = ttdoctor()
            .env("TTDOCTOR_PAGE_SIZE", env)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "TTDOCTOR_PAGE_SIZE={env}");
        let reqs = fake.requests();
        let limit_text = limit.to_string();
        assert!(
            reqs.iter()
                .all(|q| q.param("limit").as_deref() == Some(limit_text.as_str())),
            "TTDOCTOR_PAGE_SIZE={env}: limit={limit} on every LIST"
        );
        let pod_lists = reqs.iter().filter(|q| q.path == "/api/v1/pods").count();
        assert_eq!(pod_lists, pods.div_ceil(limit), "TTDOCTOR_PAGE_SIZE={env}");
    }
}

#[test]
fn a_forbidden_kind_skips_the_rules_that_need_it() {
    let fake = FakeApi::from_snapshot_file(fixture("seed-broken-cluster.yaml"));
    fake.forbid("list", "persistentvolumeclaims", Some("train-ticket"));
    fake.forbid("list", "events", Some("train-ticket"));
    let dir = tempfile::tempdir().unwrap();
    let r = live_check(&fake, dir.path(), &[]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let rule = |id: &str| {
        doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    let sto = rule("TT-STO-004");
    assert_eq!(sto["status"], "skipped");
    assert_eq!(
        sto["reason"],
        "forbidden: cannot list persistentvolumeclaims in namespace train-ticket"
    );
    // Events only enrich messages: without them the scheduling check still runs, from the
    // pods' PodScheduled conditions.
    assert_eq!(rule("TT-SCHED-002")["status"], "failed");
    let skipped: Vec<(&Value, &Value)> = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] == "skipped")
        .map(|x| (&x["id"], &x["reason"]))
        .collect();
    // Only the rules that read PVCs need them, and the one that reads nothing but events (the
    // fork's Job refused for its service account); the host rules wait for `--local`.
    let forbidden: Vec<(&Value, &Value)> = skipped
        .iter()
        .copied()
        .filter(|(id, _)| id.as_str().is_some_and(|i| !i.starts_with("TT-HOST-")))
        .collect();
    let pvcs = "forbidden: cannot list persistentvolumeclaims in namespace train-ticket";
    let events = "forbidden: cannot list events in namespace train-ticket";
    assert_eq!(
        forbidden,
        [
            (&json!("TT-DEP-002"), &json!(events)),
            (&json!("TT-STO-004"), &json!(pvcs)),
            (&json!("TT-STO-005"), &json!(pvcs)),
        ],
        "{skipped:?}"
    );
    // The rest still runs, and the verdict reflects what could be checked.
    let findings = doc["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["ruleId"] == "TT-DB-001"));
    assert!(!findings.iter().any(|f| f["ruleId"] == "TT-STO-004"));
    assert_eq!(r.code, 1);
    let human = live_check_human(&fake, dir.path());
    assert!(
        human.contains(
            "skipped: forbidden: cannot list persistentvolumeclaims in namespace train-ticket"
        ),
        "{human}"
    );
}

#[test]
fn pods_forbidden_cluster_wide_fall_back_to_the_namespace() {
    let fake = FakeApi::from_snapshot_file(fixture("seed-broken-cluster.yaml"));
    fake.forbid("list", "pods", None);
    let dir = tempfile::tempdir().unwrap();
    let r = live_check(&fake, dir.path(), &[]);
    let doc: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    assert!(
        doc["notes"]
            .to_string()
            .contains("read namespace train-ticket only"),
        "{}",
        doc["notes"]
    );
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["ruleId"] == "TT-POD-001")
    );
    assert!(
        fake.requests()
            .iter()
            .any(|q| q.path == "/api/v1/namespaces/train-ticket/pods")
    );
}

fn live_check_human(fake: &FakeApi, dir: &Path) -> String {
    let kc = fake.write_kubeconfig(dir);
    run(&["check", "--kubeconfig", kc.to_str().unwrap(), "-v"]).stdout
}

#[test]
fn missing_metrics_fall_back_quickly() {
    for mode in [MetricsMode::NotFound, MetricsMode::Unavailable] {
        let fake = FakeApi::from_snapshot_file(fixture("memory-pressure.yaml"));
        fake.set_metrics(mode);
        let dir = tempfile::tempdir().unwrap();
        let r = live_check(&fake, dir.path(), &[]);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        let usage = doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == "TT-MEM-001")
            .unwrap()
            .clone();
        assert_eq!(usage["status"], "skipped");
        assert!(
            doc["notes"]
                .to_string()
                .contains("node metrics unavailable"),
            "{}",
            doc["notes"]
        );
        assert_eq!(
            fake.count("GET", "/apis/metrics.k8s.io"),
            ttdoctor::snapshot::Kind::ALL
                .iter()
                .filter(|k| k.meta().optional)
                .count(),
            "exactly one request per metrics kind, no retries"
        );
        assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    }
}

#[test]
fn nothing_listening_exits_3_fast() {
    // Bind and drop a port so that nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\nusers:\n- name: u\n  user: {{token: very-secret-token}}\ncontexts:\n- name: lab\n  context: {{cluster: c, user: u}}\ncurrent-context: lab\n")).unwrap();
    let r = run(&[
        "check",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--request-timeout",
        "10s",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")) && r.stderr.contains("context lab"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("onnection refused"), "{}", r.stderr);
    assert!(!r.stderr.contains("very-secret-token") && !r.stdout.contains("very-secret-token"));
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
}

#[test]
fn a_server_that_never_answers_exits_3_at_the_timeout() {
    let fake = FakeApi::from_snapshot_file(fixture("healthy.yaml"));
    fake.set_hang(true);
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path());
    let r = run(&[
        "check",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--request-timeout",
        "1s",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("within 1s"), "{}", r.stderr);
    assert!(
        r.elapsed >= Duration::from_secs(1) && r.elapsed < Duration::from_secs(6),
        "took {:?}",
        r.elapsed
    );
}

#[test]
fn a_503_storm_is_not_retried() {
    let fake = FakeApi::from_snapshot_file(fixture("healthy.yaml"));
    fake.set_status_for_all(503);
    let dir = tempfile::tempdir().unwrap();
    let r = live_check(&fake, dir.path(), &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    assert!(
        fake.requests().len() <= ttdoctor::snapshot::Kind::ALL.len(),
        "{} requests: retried",
        fake.requests().len()
    );
}

#[test]
fn bad_kubeconfigs_exit_2_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken-kubeconfig");
    std::fs::write(&bad, "apiVersion: v1\nclusters: [\n").unwrap();
    let r = run(&["check", "--kubeconfig", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("broken-kubeconfig") && r.stderr.contains("parse"),
        "{}",
        r.stderr
    );

    let fake = FakeApi::from_snapshot_file(fixture("healthy.yaml"));
    let kc = fake.write_kubeconfig(dir.path());
    let r = run(&[
        "check",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--context",
        "prod",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("context \"prod\" not found (contexts: fake)"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "check",
        "--kubeconfig",
        dir.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing"), "{}", r.stderr);
    assert_eq!(
        fake.requests().len(),
        0,
        "nothing is sent with a bad configuration"
    );
}

#[test]
fn endpoint_rules_use_slices_when_endpoints_are_forbidden() {
    let rule_status = |doc: &Value, id: &str| {
        doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    // Endpoints forbidden: EndpointSlices still tell which Services have ready pods.
    let fake = FakeApi::from_snapshot_file(fixture("mysql-no-leader.yaml"));
    fake.forbid("list", "endpoints", Some("train-ticket"));
    let dir = tempfile::tempdir().unwrap();
    let r = live_check(&fake, dir.path(), &[]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        rule_status(&doc, "TT-DB-001"),
        "failed",
        "nacosdb-mysql-leader still found"
    );
    assert_eq!(
        rule_status(&doc, "TT-UI-002"),
        "passed",
        "the UI's slice has a ready endpoint"
    );
    // Both forbidden: the endpoint rules cannot judge and say so.
    fake.forbid(
        "list",
        "endpointslices.discovery.k8s.io",
        Some("train-ticket"),
    );
    let r = live_check(&fake, dir.path(), &[]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    for id in ["TT-DB-001", "TT-UI-001", "TT-UI-002"] {
        assert_eq!(rule_status(&doc, id), "skipped", "{id}");
    }
}

const XENON_LINE: &str = "2026/11/27 09:01:12.441 [WARNING] mysql[localhost:3306].ping.error[Error 1045: Access denied for user 'root'@'::1' (using password: NO)].downs:11,downslimits:3";

fn db_finding(json: &str) -> Value {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "TT-DB-001" && f["object"]["name"] == "nacosdb-mysql-leader")
        .unwrap_or_else(|| panic!("no TT-DB-001 finding on nacosdb-mysql-leader: {json}"))
        .clone()
}

/// The proof of a leaderless MySQL is in xenon's log: the live check reads it (only the logs
/// the findings name), quotes the line and carries it as evidence in the JSON report.
#[test]
fn a_live_check_quotes_the_log_line_that_proves_the_cause() {
    let fake = FakeApi::from_snapshot_file(fixture("mysql-no-leader.yaml"));
    let log = format!(
        "2026/11/27 09:01:10 [INFO] raft.start\n{XENON_LINE}\n2026/11/27 09:01:14 [ERROR] server.loop.Check.mysql.down\n"
    );
    fake.set_log("train-ticket", "nacosdb-mysql-0", "xenon", false, &log);
    let dir = tempfile::tempdir().unwrap();
    let r = live_check(&fake, dir.path(), &[]);
    let f = db_finding(&r.stdout);
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "Confirmed by the log of xenon in train-ticket/nacosdb-mysql-0: \"{XENON_LINE}\""
        )),
        "{message}"
    );
    assert_eq!(f["evidence"][0]["signature"], "xenon-root-ipv6");
    assert_eq!(f["evidence"][0]["line"], XENON_LINE);
    assert_eq!(f["evidence"][0]["log"]["pod"], "nacosdb-mysql-0");
    let log_requests: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|q| q.path.ends_with("/log"))
        .map(|q| q.path)
        .collect();
    // xenon of each member of the leaderless set and the crashed run of nacos-0's
    // crash-looping init container: the logs the findings name, nothing else.
    let mut pods: Vec<&str> = log_requests
        .iter()
        .map(|p| p.split('/').nth(6).unwrap())
        .collect();
    pods.sort_unstable();
    assert_eq!(
        pods,
        [
            "nacos-0",
            "nacosdb-mysql-0",
            "nacosdb-mysql-1",
            "nacosdb-mysql-2"
        ]
    );
    assert_eq!(fake.secret_requests(), 0);
}

/// A log that cannot be read (forbidden, or a kubelet that never answers) leaves the finding
/// as the API shows it and a note that says which log and why; the verdict does not change.
#[test]
fn an_unreadable_log_leaves_a_note_and_the_same_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let plain = {
        let fake = FakeApi::from_snapshot_file(fixture("mysql-no-leader.yaml"));
        live_check(&fake, dir.path(), &[])
    };
    for how in ["forbidden", "hang"] {
        let fake = FakeApi::from_snapshot_file(fixture("mysql-no-leader.yaml"));
        fake.set_log(
            "train-ticket",
            "nacosdb-mysql-0",
            "xenon",
            false,
            XENON_LINE,
        );
        if how == "forbidden" {
            fake.forbid_everywhere("get", "pods/log");
        } else {
            fake.set_log_hang(true);
        }
        let r = live_check(&fake, dir.path(), &["--request-timeout", "1"]);
        assert_eq!(r.code, plain.code, "{how}: {}", r.stderr);
        assert_eq!(findings(&r.stdout), findings(&plain.stdout), "{how}");
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        let notes = doc["notes"].to_string();
        let why = if how == "forbidden" {
            "forbidden"
        } else {
            "no answer within"
        };
        assert!(
            notes.contains("the log of xenon in train-ticket/nacosdb-mysql-0 could not be read")
                && notes.contains(why),
            "{how}: {notes}"
        );
        assert!(db_finding(&r.stdout).get("evidence").is_none());
    }
}

/// `snapshot --with-logs` saves the log tails the findings want, so an offline check of the
/// file quotes the same line as the live check.
#[test]
fn a_snapshot_taken_with_logs_proves_the_cause_offline() {
    let fake = FakeApi::from_snapshot_file(fixture("mysql-no-leader.yaml"));
    fake.set_log(
        "train-ticket",
        "nacosdb-mysql-0",
        "xenon",
        false,
        XENON_LINE,
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path());
    let live = live_check(&fake, dir.path(), &[]);
    for name in ["with-logs.yaml", "with-logs.json.gz"] {
        let out = dir.path().join(name);
        let r = run(&[
            "snapshot",
            "--with-logs",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("4 log tail(s)"), "{}", r.stderr);
        let offline = run(&["check", "--snapshot", out.to_str().unwrap(), "-o", "json"]);
        assert_eq!(findings(&offline.stdout), findings(&live.stdout), "{name}");
        assert_eq!(
            db_finding(&offline.stdout)["evidence"][0]["line"],
            XENON_LINE
        );
    }
    let without = dir.path().join("plain.yaml");
    let r = run(&[
        "snapshot",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "-o",
        without.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let offline = run(&[
        "check",
        "--snapshot",
        without.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(db_finding(&offline.stdout).get("evidence").is_none());
}
