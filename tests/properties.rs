//! Property tests: random damage to every fixture never makes ttdoctor panic, and objects that
//! lose fields (as sparse, hand-made or older objects do) never make a rule fail to evaluate;
//! quantities round-trip. Case counts are kept small enough for CI (see `CASES`).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use ttdoctor::engine::{self, RunOptions};
use ttdoctor::index::Index;
use ttdoctor::model::Phase;
use ttdoctor::quantity::Quantity;

/// Random cases per fixture and property.
const CASES: u32 = 24;

const FIXTURES: &[&str] = &[
    "seed-broken-cluster.json",
    "healthy.json",
    "control-plane-taint.yaml",
    "mysql-no-leader.yaml",
    "nodeselector-unmatched.yaml",
    "images-missing.yaml",
    "no-storageclass-at-all.yaml",
];

fn objects(fixture: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture);
    ttdoctor::snapshot::load_file(&path).unwrap().json_objects()
}

/// Every path to a value inside `v`, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The pack's report on a list of objects; `None` when the objects no longer load (a clear
/// load error is fine: what is checked is that nothing panics).
fn check(objects: &[Value]) -> Option<ttdoctor::finding::Report> {
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let snap = match ttdoctor::snapshot::load_str(&list.to_string(), "mutated") {
        Ok(s) => s,
        Err(e) => {
            if std::env::var_os("SHOW_LOAD_ERRORS").is_some() {
                eprintln!("{e}");
            }
            return None;
        }
    };
    let rules = ttdoctor::rules::load(None).unwrap();
    let opts = RunOptions {
        namespace: "train-ticket".into(),
        phase: Phase::Both,
        ..Default::default()
    };
    Some(engine::run(&rules, Index::new(snap), &opts))
}

/// Paths to the fields of each object whose removal alone leaves a valid object (the API's
/// required fields are not what sparse objects lack).
fn optional_fields(base: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, obj) in base.iter().enumerate() {
        let kind =
            ttdoctor::snapshot::Kind::from_type(obj["kind"].as_str().unwrap(), None).unwrap();
        let mut paths = Vec::new();
        pointers(obj, String::new(), &mut paths);
        for p in paths.into_iter().filter(|p| removable(&format!("/{i}{p}"))) {
            let mut o = obj.clone();
            remove(&mut o, &p);
            if ttdoctor::snapshot::Snapshot::default()
                .insert_value(kind, o)
                .is_ok()
            {
                out.push(format!("/{i}{p}"));
            }
        }
    }
    out
}

/// Keeps each object's identity (kind, apiVersion, name, namespace): what a real object
/// always has. Everything else may be missing.
fn removable(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    !(parts.len() == 3 && ["kind", "apiVersion", "metadata"].contains(&parts[2])
        || parts.len() == 4 && parts[2] == "metadata" && ["name", "namespace"].contains(&parts[3]))
}

#[test]
fn objects_missing_fields_never_break_a_rule() {
    let checked = std::cell::Cell::new(0usize);
    for fixture in FIXTURES {
        // A runner counts its cases: one per fixture.
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            ..Config::default()
        });
        let base = objects(fixture);
        let all = optional_fields(&base);
        let strategy = proptest::collection::vec(0..all.len(), 1..40);
        runner
            .run(&strategy, |picks| {
                let mut doc = Value::Array(base.clone());
                // Deepest first, so earlier removals do not move later paths.
                let mut chosen: Vec<&String> = picks.iter().map(|&i| &all[i]).collect();
                chosen.sort_by_key(|p| std::cmp::Reverse(p.len()));
                for p in chosen {
                    remove(&mut doc, p);
                }
                if let Some(report) = check(doc.as_array().unwrap()) {
                    checked.set(checked.get() + 1);
                    prop_assert!(
                        report.errors.is_empty(),
                        "{fixture}: rule errors {:?}",
                        report.errors
                    );
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    }
    // Most damaged snapshots still load (a removed required field is a clear load error):
    // the property is about rules, so most cases must reach them.
    let total = CASES as usize * FIXTURES.len();
    assert!(
        checked.get() * 2 > total,
        "only {} of {total} reached the rules",
        checked.get()
    );
    eprintln!(
        "{} of {total} damaged snapshots checked, 0 rule errors, 0 panics",
        checked.get()
    );
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9./:-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn values_of_the_wrong_type_never_panic() {
    for fixture in FIXTURES {
        // A runner counts its cases: one per fixture.
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            ..Config::default()
        });
        let base = objects(fixture);
        let mut all = Vec::new();
        pointers(&Value::Array(base.clone()), String::new(), &mut all);
        let strategy = (proptest::collection::vec(0..all.len(), 1..8), any_json());
        runner
            .run(&strategy, |(picks, junk)| {
                let mut doc = Value::Array(base.clone());
                for &i in &picks {
                    if let Some(v) = doc.pointer_mut(&all[i]) {
                        *v = junk.clone();
                    }
                }
                // Either a clear load error or a report: never a panic.
                let _ = check(doc.as_array().unwrap());
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    }
}

proptest! {
    #![proptest_config(Config { cases: 2_000, ..Config::default() })]

    #[test]
    fn quantities_round_trip(nanos in -(1i128 << 90)..(1i128 << 90)) {
        let q = Quantity::parse(&format!("{nanos}n")).unwrap();
        prop_assert_eq!(q.nanos(), nanos);
        prop_assert_eq!(Quantity::parse(&q.to_string()).unwrap(), q);
    }

    #[test]
    fn any_text_parses_or_errors(s in "\\PC{0,24}") {
        let _ = Quantity::parse(&s);
    }

    #[test]
    fn binary_suffixes_are_exact(n in 0i64..1_000_000, s in 0usize..6) {
        let (suffix, unit) = [("", 1i128), ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("Pi", 1 << 50)][s];
        let q = Quantity::parse(&format!("{n}{suffix}")).unwrap();
        prop_assert_eq!(q.ceil_units(), i128::from(n) * unit);
    }
}
