//! Rules are tested as data: every `rules/tests/<RULE>.yaml` is found and run (no Rust to
//! register a case), every rule of the pack has cases, and a user's rule ships as two YAML
//! files checked by `ttdoctor test-rules DIR`.

use assert_cmd::Command;
use std::path::Path;
use ttdoctor::app::ruletest;

#[test]
fn every_case_of_the_pack_passes() {
    let (rules, files) = ruletest::load(None).expect("pack and cases load");
    let results = ruletest::run(&rules, &files).expect("cases parse");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| format!("{} {:?}:\n  {}", r.rule, r.case, r.failures.join("\n  ")))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(results.len() >= 4, "{} cases", results.len());
}

#[test]
fn every_rule_has_cases_that_fire_and_cases_that_must_not() {
    let (rules, files) = ruletest::load(None).unwrap();
    let parsed: Vec<_> = files
        .iter()
        .map(|(p, t)| ttdoctor::rules::cases::parse(p, t).unwrap())
        .collect();
    let missing: Vec<&str> = rules
        .iter()
        .map(|r| r.spec.id.as_str())
        .filter(|id| {
            let cases: Vec<_> = parsed
                .iter()
                .filter(|f| f.rule == *id)
                .flat_map(|f| &f.cases)
                .collect();
            !(cases.iter().any(|c| !c.expect.is_empty())
                && cases.iter().any(|c| c.expect.is_empty()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a firing and a non-firing case in rules/tests/: {missing:?}"
    );
}

const RULE: &str = r#"id: LAB-002
title: Deployments set a memory limit
category: workloads
severity: warn
phase: both
applies_to:
  kind: Deployment
let:
  - unbounded: >-
      dig(object, 'spec.template.spec.containers', [])
      .filter(c, dig(c, 'resources.limits.memory', '') == '').map(c, c.name)
when: size(unbounded) > 0
message: Deployment ${object.metadata.name} runs ${unbounded.join(', ')} without a memory limit
explanation: An unbounded container can take a node's memory.
fix:
  safety: manual
  summary: Set resources.limits.memory on ${unbounded.join(', ')}
  steps:
    - kubectl set resources deployment ${object.metadata.name} -n ${object.metadata.namespace} --limits=memory=512Mi
"#;

const CASES: &str = r#"rule: LAB-002
cases:
  - name: a container without a limit
    objects:
      - kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: nginx, image: nginx}]}
    expect:
      - object: Deployment/web
        severity: warn
        message: runs nginx without a memory limit
        fix:
          safety: manual
          commands: [kubectl set resources deployment web -n train-ticket --limits=memory=512Mi]
  - name: limited containers are fine
    objects:
      - kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: nginx, image: nginx, resources: {limits: {memory: 64Mi}}}]}
    expect: []
"#;

fn write_rule_dir(dir: &Path, cases: &str) {
    std::fs::write(dir.join("lab-002.yaml"), RULE).unwrap();
    std::fs::create_dir(dir.join("tests")).unwrap();
    std::fs::write(dir.join("tests").join("LAB-002.yaml"), cases).unwrap();
}

#[test]
fn a_new_rule_ships_as_its_yaml_and_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    write_rule_dir(dir.path(), CASES);
    let out = Command::cargo_bin("ttdoctor")
        .unwrap()
        .args(["test-rules", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("2 case(s) of 1 rule(s): 2 passed, 0 failed"),
        "{text}"
    );
}

#[test]
fn a_wrong_expectation_fails_and_says_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    write_rule_dir(
        dir.path(),
        &CASES.replace("severity: warn", "severity: error"),
    );
    let out = Command::cargo_bin("ttdoctor")
        .unwrap()
        .args(["test-rules", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL LAB-002 \"a container without a limit\""),
        "{text}"
    );
    assert!(text.contains("severity warn"), "{text}");
    // A case that must not fire but does is a failure too.
    let dir = tempfile::tempdir().unwrap();
    write_rule_dir(dir.path(), &CASES.replace("memory: 64Mi", "cpu: 100m"));
    let out = Command::cargo_bin("ttdoctor")
        .unwrap()
        .args(["test-rules", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("unexpected finding on Deployment train-ticket/web"),
        "{text}"
    );
}
