//! Every fixture yields exactly its expected findings — no more, no less — with the expected
//! cause → symptom links. Expected lists live in `fixtures/expected/<fixture>.txt`; each was
//! read and checked against the fixture's story in `fixtures/README.md`.
//! `TTDOCTOR_BLESS=1 cargo test --test fixtures` rewrites them (then read the diff!).

use std::path::{Path, PathBuf};
use ttdoctor::engine::{self, RunOptions};
use ttdoctor::finding::Report;
use ttdoctor::index::Index;
use ttdoctor::model::{Phase, Severity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(fixture: &str) -> Report {
    let rules = ttdoctor::rules::load(None).expect("rules load");
    let snap = ttdoctor::snapshot::load_file(&root().join("fixtures").join(fixture))
        .expect("fixture loads");
    let opts = RunOptions {
        namespace: "train-ticket".into(),
        phase: Phase::Both,
        ..Default::default()
    };
    engine::run(&rules, Index::new(snap), &opts)
}

/// One line per finding: severity, rule, object; then one indented line per cause.
fn lines(report: &Report) -> String {
    let mut out: Vec<String> = report
        .findings
        .iter()
        .map(|f| {
            let mut s = format!("{} {} {}", f.severity, f.rule_id, f.object);
            let mut causes: Vec<String> = f
                .caused_by
                .iter()
                .map(|&c| {
                    format!(
                        "\n    caused by {} {}",
                        report.findings[c].rule_id, report.findings[c].object
                    )
                })
                .collect();
            causes.sort();
            s.extend(causes);
            s
        })
        .collect();
    out.sort();
    out.join("\n") + "\n"
}

fn assert_expected(fixture: &str) -> Report {
    let report = check(fixture);
    assert!(
        report.errors.is_empty(),
        "rule errors on {fixture}: {:#?}",
        report.errors
    );
    let got = lines(&report);
    let expected_path = root()
        .join("fixtures/expected")
        .join(Path::new(fixture).with_extension("txt"));
    if std::env::var_os("TTDOCTOR_BLESS").is_some() {
        std::fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
        std::fs::write(&expected_path, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    assert_eq!(
        got,
        expected,
        "findings of {fixture} differ from {}",
        expected_path.display()
    );
    report
}

macro_rules! fixture_tests {
    ($($name:ident => $file:literal),* $(,)?) => {
        $( #[test] fn $name() { assert_expected($file); } )*
    };
}

fixture_tests! {
    healthy => "healthy.yaml",
    seed_broken_cluster => "seed-broken-cluster.yaml",
    control_plane_taint => "control-plane-taint.yaml",
    no_default_storageclass => "no-default-storageclass.yaml",
    multiple_default_storageclass => "multiple-default-storageclass.yaml",
    no_storageclass_at_all => "no-storageclass-at-all.yaml",
    images_missing => "images-missing.yaml",
    image_pull_backoff => "image-pull-backoff.yaml",
    mysql_no_leader => "mysql-no-leader.yaml",
    tsdb_no_leader => "tsdb-no-leader.yaml",
    not_ready_restarts => "not-ready-restarts.yaml",
    memory_pressure => "memory-pressure.yaml",
    memory_overcommit_no_metrics => "memory-overcommit-no-metrics.yaml",
    nodeselector_unmatched => "nodeselector-unmatched.yaml",
    ui_not_ready => "ui-not-ready.yaml",
    reference_v1_36 => "reference/real-apiserver-v1.36-sample.yaml",
}

#[test]
fn healthy_cluster_has_no_warnings_or_errors() {
    let r = check("healthy.yaml");
    assert!(
        r.findings.iter().all(|f| f.severity == Severity::Info),
        "{}",
        lines(&r)
    );
    assert!(
        r.findings.iter().any(|f| f.rule_id == "TT-UI-001"),
        "the UI info finding is missing"
    );
}

#[test]
fn json_twins_give_the_same_findings() {
    assert_eq!(lines(&check("healthy.json")), lines(&check("healthy.yaml")));
    // The seed's JSON twin has no metrics document, so only the usage rule differs.
    let without_usage = |r: &Report| -> Vec<String> {
        lines(r)
            .split("\n")
            .filter(|l| !l.contains("TT-MEM-001"))
            .map(String::from)
            .collect()
    };
    let json = check("seed-broken-cluster.json");
    assert_eq!(
        without_usage(&json),
        without_usage(&check("seed-broken-cluster.yaml"))
    );
    assert!(!json.findings.iter().any(|f| f.rule_id == "TT-MEM-001"));
}

/// The seed write-up's failures, each named explicitly (independent of the golden file).
#[test]
fn seed_cluster_reports_every_failure_of_the_write_up_cause_first() {
    let r = check("seed-broken-cluster.yaml");
    let has = |rule: &str, name: &str| {
        r.findings
            .iter()
            .position(|f| f.rule_id == rule && f.object.name.contains(name))
            .unwrap_or_else(|| panic!("missing {rule} on {name}:\n{}", lines(&r)))
    };
    let taint = has("TT-NODE-001", "k8s-master");
    has("TT-STO-001", "cluster");
    let pvc = has("TT-STO-004", "data-tsdb-mysql-2");
    let nacosdb = has("TT-DB-001", "nacosdb-mysql-leader");
    let tsdb = has("TT-DB-001", "tsdb-mysql-leader");
    let nacos0 = has("TT-POD-001", "nacos-0");
    let node01_images = has("TT-IMG-001", "k8s-node-01");
    let avatar = has("TT-IMG-002", "ts-avatar-service");
    has("TT-SCHED-001", "ts-admin-route-service");
    has("TT-SCHED-001", "ts-admin-travel-service");
    let mem = has("TT-MEM-001", "k8s-node-01");
    has("TT-UI-001", "ts-ui-dashboard");
    for name in [
        "ts-contacts-service",
        "ts-order-other-service",
        "ts-wait-order-service",
    ] {
        let i = has("TT-POD-002", name);
        assert!(
            r.findings[i].caused_by.contains(&tsdb),
            "{name} should be linked to tsdb-mysql-leader"
        );
    }
    assert_eq!(
        r.findings[mem].severity,
        Severity::Error,
        "98% memory is an error"
    );
    assert_eq!(
        r.findings[nacos0].caused_by,
        vec![nacosdb],
        "nacos-0 is a symptom of the nacosdb leader"
    );
    assert!(r.findings[avatar].caused_by.contains(&node01_images));
    assert!(
        r.findings[pvc]
            .caused_by
            .iter()
            .any(|&c| r.findings[c].rule_id == "TT-STO-001")
    );
    let pending_for_taint: Vec<_> = r.findings[taint]
        .causes
        .iter()
        .map(|&i| r.findings[i].object.name.clone())
        .collect();
    assert!(
        pending_for_taint
            .iter()
            .any(|n| n.starts_with("ts-travel2-service")),
        "{pending_for_taint:?}"
    );
    assert!(
        pending_for_taint
            .iter()
            .any(|n| n.starts_with("ts-voucher-service")),
        "{pending_for_taint:?}"
    );
}
