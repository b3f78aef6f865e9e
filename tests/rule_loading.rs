//! Rules are data: a rule file in a user directory works without touching Rust, and broken
//! rule files are rejected at load with file, line and reason.

use std::path::Path;
use ttdoctor::rules;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn load_errors(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", text);
    match rules::load(Some(dir.path())) {
        Ok(_) => panic!("rule should have been rejected:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = r#"id: USER-001
title: Every namespace has a team label
category: cluster
severity: warn
phase: both
applies_to:
  kind: Namespace
  namespace: all
params:
  key: team
when: label(object, params.key) == ''
message: Namespace ${object.metadata.name} has no ${params.key} label
explanation: Teams own namespaces.
fix:
  safety: safe
  summary: Label it
  patches:
    - kind: Namespace
      name: ${object.metadata.name}
      type: json
      body: "[{'op': 'add', 'path': '/metadata/labels/' + params.key, 'value': 'unknown'}]"
"#;

#[test]
fn the_embedded_pack_loads() {
    let rules = rules::load(None).expect("embedded rules load");
    assert!(rules.len() >= 15, "only {} rules", rules.len());
    assert!(rules::find(&rules, "TT-DB-001").is_some());
}

#[test]
fn a_user_rule_loads_next_to_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "user-001.yaml", GOOD);
    let rules = rules::load(Some(dir.path())).expect("loads");
    let r = rules::find(&rules, "USER-001").expect("user rule present");
    assert!(r.source.ends_with("user-001.yaml"));
}

#[test]
fn a_user_rule_with_a_built_in_id_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "db.yaml",
        &GOOD.replace("id: USER-001", "id: TT-DB-001"),
    );
    let rules = rules::load(Some(dir.path())).expect("loads");
    let db: Vec<_> = rules.iter().filter(|r| r.spec.id == "TT-DB-001").collect();
    assert_eq!(db.len(), 1);
    assert!(db[0].source.ends_with("db.yaml"), "{}", db[0].source);
    assert_eq!(db[0].spec.title, "Every namespace has a team label");
}

#[test]
fn unknown_field_is_rejected_with_file_and_line() {
    let errs = load_errors(&GOOD.replace("category: cluster", "category: cluster\ncolour: red"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("bad.yaml"), "{}", errs[0]);
    assert!(errs[0].contains("colour"), "{}", errs[0]);
    assert!(errs[0].contains("line 4"), "{}", errs[0]);
}

#[test]
fn bad_yaml_is_rejected() {
    let errs = load_errors("id: X-1\ntitle: [unclosed\n");
    assert!(
        errs[0].contains("bad.yaml") && errs[0].contains("line"),
        "{}",
        errs[0]
    );
}

#[test]
fn cel_that_does_not_compile_is_rejected_with_its_line() {
    let errs = load_errors(&GOOD.replace(
        "when: label(object, params.key) == ''",
        "when: label(object, params.key) == (",
    ));
    assert!(errs[0].contains("bad.yaml:11"), "{}", errs[0]);
    assert!(
        errs[0].contains("when: CEL does not compile"),
        "{}",
        errs[0]
    );
}

#[test]
fn unknown_function_is_rejected() {
    let errs = load_errors(&GOOD.replace(
        "label(object, params.key) == ''",
        "lable(object, params.key) == ''",
    ));
    assert!(
        errs[0].contains("unknown function(s): lable"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("bad.yaml:11"), "{}", errs[0]);
}

#[test]
fn bad_template_is_rejected() {
    let errs =
        load_errors(&GOOD.replace("has no ${params.key} label", "has no ${params.key label"));
    assert!(
        errs[0].contains("message") && errs[0].contains("unclosed"),
        "{}",
        errs[0]
    );
}

#[test]
fn unknown_kind_duplicate_id_and_dangling_cause_are_rejected() {
    assert!(
        load_errors(&GOOD.replace("kind: Namespace", "kind: Gizmo"))[0]
            .contains("unknown kind \"Gizmo\"")
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", GOOD);
    write(dir.path(), "b.yaml", GOOD);
    let Err(errs) = rules::load(Some(dir.path())) else {
        panic!("two USER-001 rules should be rejected")
    };
    assert!(
        errs[0].to_string().contains("duplicate rule id USER-001"),
        "{}",
        errs[0]
    );
    let dangling = format!("{GOOD}caused_by:\n  - rule: NOPE-001\n    when: 'true'\n");
    assert!(load_errors(&dangling)[0].contains("unknown rule NOPE-001"));
    assert!(
        load_errors(&GOOD.replace("id: USER-001", "id: lowercase"))[0]
            .contains("upper-case words and numbers joined by dashes")
    );
}
