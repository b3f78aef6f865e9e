//! The CI contract: every machine-readable output validates against its published schema,
//! and every format gives the same documented exit code.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn run(fx: &str, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("ttdoctor")
        .unwrap()
        .args([
            "check",
            "--snapshot",
            path(&format!("fixtures/{fx}")).to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn schema(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path(rel)).unwrap()).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate:\n{}",
        errors.join("\n")
    );
}

#[test]
fn json_and_yaml_validate_against_the_published_schema() {
    let validator =
        jsonschema::draft7::new(&schema("schemas/ttdoctor-report-v1.schema.json")).unwrap();
    let (code, text) = run("seed-broken-cluster.yaml", &["-o", "json"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&validator, &doc, "json report");
    assert_eq!(doc["apiVersion"], "ttdoctor/v1");
    assert_eq!(doc["summary"]["exitCode"], 1);
    assert_eq!(doc["summary"]["errors"], 13);
    // Cause/symptom links are fingerprints of other findings.
    let findings = doc["findings"].as_array().unwrap();
    let nacos0 = findings
        .iter()
        .find(|f| f["object"]["name"] == "nacos-0")
        .unwrap();
    let cause_fp = nacos0["causedBy"][0].as_str().unwrap();
    let cause = findings
        .iter()
        .find(|f| f["fingerprint"] == cause_fp)
        .unwrap();
    assert_eq!(cause["object"]["name"], "nacosdb-mysql-leader");
    assert_eq!(cause["fix"]["safety"], "safe");
    assert_eq!(cause["fix"]["patches"][0]["target"]["kind"], "Pod");

    let (code, yaml) = run("seed-broken-cluster.yaml", &["-o", "yaml"]);
    assert_eq!(code, 1);
    let ydoc: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_valid(&validator, &ydoc, "yaml report");
    assert_eq!(ydoc, doc, "YAML and JSON carry the same document");
    let mut broken = doc.clone();
    broken["findings"][0]["severity"] = "critical".into();
    assert!(
        !validator.is_valid(&broken),
        "the schema must reject an unknown severity"
    );
}

#[test]
fn sarif_validates_against_sarif_2_1_0() {
    let validator = jsonschema::draft4::new(&schema("tests/data/sarif-schema-2.1.0.json")).unwrap();
    let (code, text) = run("seed-broken-cluster.yaml", &["-o", "sarif"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&validator, &doc, "sarif");
    let run0 = &doc["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["help"]["text"].as_str().is_some_and(|t| !t.is_empty()))
    );
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 21);
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[idx]["id"], r["ruleId"],
            "ruleIndex points at the rule"
        );
        assert!(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].is_string());
    }
    assert!(
        results.iter().any(|r| r["level"] == "error")
            && results.iter().any(|r| r["level"] == "note")
    );
    // The validator is not a rubber stamp.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));
}

#[test]
fn junit_parses_with_the_right_counts() {
    let (code, text) = run("seed-broken-cluster.yaml", &["-o", "junit"]);
    assert_eq!(code, 1);
    let mut reader = quick_xml::Reader::from_str(&text);
    let (mut cases, mut failures, mut root_failures) = (0, 0, None);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    b"testsuites" => {
                        let a = e.try_get_attribute("failures").unwrap().unwrap();
                        root_failures = Some(String::from_utf8(a.value.to_vec()).unwrap());
                    }
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    // 13 error findings fail at --fail-on error; every other rule × object passes.
    assert_eq!(failures, 13);
    assert_eq!(root_failures.as_deref(), Some("13"));
    // One case per finding (21), per passing rule (18) and per skipped rule (the 4 host
    // rules, without host facts): the seed fails 14 of the 36 rules.
    assert_eq!(cases, 21 + 18 + 4);
    assert_eq!(text.matches("<skipped").count(), 4);
    let (_, warn) = run(
        "seed-broken-cluster.yaml",
        &["-o", "junit", "--fail-on", "warn"],
    );
    assert_eq!(warn.matches("<failure").count(), 20);
}

#[test]
fn exit_codes_are_the_same_for_every_format() {
    // error-only, warn-only (plus info), clean (info only)
    let fixtures = [
        "no-storageclass-at-all.yaml",
        "multiple-default-storageclass.yaml",
        "healthy.yaml",
    ];
    let expected = [
        ("error", [1, 0, 0]),
        ("warn", [1, 1, 0]),
        ("info", [1, 1, 1]),
        ("never", [0, 0, 0]),
    ];
    for (fail_on, codes) in expected {
        for (fx, want) in fixtures.iter().zip(codes) {
            for format in ["human", "json", "yaml", "sarif", "junit"] {
                let (code, _) = run(fx, &["--fail-on", fail_on, "-o", format]);
                assert_eq!(code, want, "{fx} --fail-on {fail_on} -o {format}");
            }
        }
    }
}

#[test]
fn fingerprints_are_stable_across_runs_and_sources() {
    let fps = |fx: &str| -> Vec<(String, String)> {
        let doc: Value = serde_json::from_str(&run(fx, &["-o", "json"]).1).unwrap();
        let mut v: Vec<(String, String)> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["ruleId"].as_str().unwrap().to_string(),
                    f["fingerprint"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let a = fps("seed-broken-cluster.yaml");
    assert_eq!(a, fps("seed-broken-cluster.yaml"));
    // The JSON twin (kubectl -o json of the same cluster, without metrics) fingerprints alike.
    let b: Vec<_> = fps("seed-broken-cluster.json");
    let a_no_usage: Vec<_> = a
        .iter()
        .filter(|(r, _)| r != "TT-MEM-001")
        .cloned()
        .collect();
    assert_eq!(a_no_usage, b);
}

fn with_config(config: &str, fx: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ttdoctor.yaml");
    std::fs::write(&cfg, config).unwrap();
    let out = Command::cargo_bin("ttdoctor")
        .unwrap()
        .args([
            "check",
            "--snapshot",
            path(&format!("fixtures/{fx}")).to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn suppressions_need_a_reason_and_expire() {
    let ok = "suppressions:\n  - rule: TT-STO-003\n    reason: storage is provisioned by the lab's NFS operator after install\n";
    let (code, out, _) = with_config(ok, "no-storageclass-at-all.yaml", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 suppressed by config") && !out.contains("× TT-STO-003"),
        "{out}"
    );
    let (_, json, _) = with_config(ok, "no-storageclass-at-all.yaml", &["-o", "json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let sto = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "TT-STO-003")
        .unwrap();
    assert_eq!(
        sto["suppressed"]["reason"],
        "storage is provisioned by the lab's NFS operator after install"
    );
    assert_eq!(doc["summary"]["suppressed"], 1);

    let no_reason = "suppressions:\n  - rule: TT-STO-003\n";
    let (code, _, err) = with_config(no_reason, "no-storageclass-at-all.yaml", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("needs a `reason`"), "{err}");

    let expired =
        "suppressions:\n  - rule: TT-STO-003\n    reason: temporary\n    expires: 2020-01-31\n";
    let (code, out, _) = with_config(expired, "no-storageclass-at-all.yaml", &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("× TT-STO-003") && out.contains("expired on 2020-01-31"),
        "{out}"
    );

    // An object match narrows the suppression.
    let narrow = "suppressions:\n  - rule: TT-POD-002\n    object: {kind: Pod, name: ts-contacts-*}\n    reason: known slow starter\n";
    let (_, json, _) = with_config(narrow, "not-ready-restarts.yaml", &["-o", "json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let suppressed: Vec<_> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("suppressed").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert!(
        suppressed[0]["object"]["name"]
            .as_str()
            .unwrap()
            .starts_with("ts-contacts-service")
    );
}
