//! The vendored CEL interpreter shares lists and maps (vendor/cel/PATCH.md). These tests pin
//! down that it still means what CEL means, and that binding, selecting and returning a
//! value no longer copies it.

use super::{compile, exec};
use kube_cel::KubeCelExt;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_string()))
}

fn map(entries: Vec<(&str, Value)>) -> Map {
    let m: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
        .collect();
    Map { map: Arc::new(m) }
}

/// `{"metadata": {"name": "p", "labels": {"app": "db"}}, "spec": {"ports": [80, 443]}}`,
/// with the inner `metadata` map returned alongside.
fn object() -> (Value, Map) {
    let labels = Value::Map(map(vec![("app", s("db"))]));
    let metadata = map(vec![("name", s("p")), ("labels", labels)]);
    let ports = Value::List(Arc::new(vec![Value::Int(80), Value::Int(443)]));
    let spec = Value::Map(map(vec![("ports", ports)]));
    let obj = Value::Map(map(vec![
        ("metadata", Value::Map(metadata.clone())),
        ("spec", spec),
    ]));
    (obj, metadata)
}

fn eval(src: &str) -> Result<Value, String> {
    let mut ctx = Context::default().with_all();
    ctx.add_variable_from_value("object", object().0);
    exec(&compile(src).expect("compiles"), &ctx)
}

#[test]
fn selecting_a_bound_map_returns_the_same_entries_not_a_copy() {
    let (obj, metadata) = object();
    let mut ctx = Context::default();
    ctx.add_variable_from_value("object", obj);
    let got = exec(&compile("object.metadata").expect("compiles"), &ctx).expect("runs");
    let Value::Map(got) = got else {
        panic!("a map, got {got:?}")
    };
    assert!(Arc::ptr_eq(&got.map, &metadata.map), "metadata was copied");
    let list = exec(&compile("object.spec.ports").expect("compiles"), &ctx).expect("runs");
    assert_eq!(
        list,
        Value::List(Arc::new(vec![Value::Int(80), Value::Int(443)]))
    );
}

#[test]
fn shared_values_keep_cel_semantics() {
    let t = |src: &str| assert_eq!(eval(src), Ok(Value::Bool(true)), "{src}");
    t("object.metadata.name == 'p'");
    t("object.metadata.labels == {'app': 'db'}");
    t("{'app': 'db'} == object.metadata.labels");
    t("object.metadata.labels != {'app': 'web'}");
    t("'app' in object.metadata.labels && !('x' in object.metadata.labels)");
    t("has(object.metadata.labels) && !has(object.metadata.uid)");
    t("443 in object.spec.ports && size(object.spec.ports) == 2");
    t("object.spec.ports + [8080] == [80, 443, 8080]");
    t("object.spec.ports == [80, 443] && object.spec.ports[1] == 443");
    t("object.spec.ports.map(p, p + 1) == [81, 444]");
    t("object.spec.ports.filter(p, p > 100) == [443]");
    t("object.spec.ports.exists(p, p == 80) && object.spec.ports.all(p, p > 0)");
    t("object.metadata.labels.all(k, k == 'app')");
    t("size(object) == 2 && object.metadata == object.metadata");
    t("[object.metadata.labels][0].app == 'db'");
}

#[test]
fn shared_values_fail_as_cel_fails() {
    assert!(eval("object.spec.ports[2]").is_err(), "index out of range");
    assert!(eval("object.metadata.uid").is_err(), "missing key");
    assert!(eval("object.metadata.name.size() > 0").is_ok());
    assert_eq!(
        eval("object.metadata.labels['nope']").map_err(|e| e.contains("nope")),
        Err(true)
    );
}
