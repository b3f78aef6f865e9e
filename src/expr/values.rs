//! CEL values: building them, turning them into JSON, and reading the interpreter's own
//! representation (`dyn Val`) without copying it.

use kube_cel::cel::Value;
use kube_cel::cel::common::types::{CelInt, CelList, CelMap, CelMapKey, CelNull, CelString};
use kube_cel::cel::common::value::Val;
use kube_cel::cel::objects::{Key, Map};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The map key under which a snapshot object carries its handle (see [`super::ObjId`]).
/// JSON and YAML keys are strings, so an integer key never meets a real field.
pub const HANDLE_KEY: i64 = 0;

/// JSON → CEL. Integers become `int` (never `uint`) so comparisons with literals just work.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(from_json).collect())),
        serde_json::Value::Object(o) => {
            let map: HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), from_json(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// CEL → JSON (patch bodies, messages). Map keys are sorted; object handles are left out.
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::UInt(u) => (*u).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => s.as_str().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m
                .map
                .iter()
                .filter(|(k, _)| !matches!(k, Key::Int(HANDLE_KEY)))
                .map(|(k, v)| (key_string(k), to_json(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().collect())
        }
        other => serde_json::Value::String(format!("{other:?}")),
    }
}

fn key_string(k: &Key) -> String {
    match k {
        Key::String(s) => s.to_string(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}

pub fn string(s: impl Into<String>) -> Value {
    Value::String(Arc::new(s.into()))
}

pub fn list(items: Vec<Value>) -> Value {
    Value::List(Arc::new(items))
}

pub fn map(entries: Vec<(&str, Value)>) -> Value {
    let map: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// A field of a map value, read in place.
pub fn field<'a>(v: &'a dyn Val, name: &str) -> Option<&'a dyn Val> {
    v.downcast_ref::<CelMap>()
        .and_then(|m| m.inner().get(&CelMapKey::from(name.to_string())))
        .map(AsRef::as_ref)
}

/// A string at a path of map fields, read in place.
pub fn str_at<'a>(v: &'a dyn Val, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = field(cur, p)?;
    }
    as_str(cur)
}

pub fn as_str(v: &dyn Val) -> Option<&str> {
    v.downcast_ref::<CelString>().map(CelString::inner)
}

pub fn as_int(v: &dyn Val) -> Option<i64> {
    v.downcast_ref::<CelInt>().map(|i| *i.inner())
}

/// The elements of a list value, read in place.
pub fn as_list(v: &dyn Val) -> Option<&[Box<dyn Val>]> {
    v.downcast_ref::<CelList>().map(CelList::inner)
}

/// The handle a snapshot object carries.
pub fn handle(v: &dyn Val) -> Option<i64> {
    v.downcast_ref::<CelMap>()
        .and_then(|m| m.inner().get(&CelMapKey::from(HANDLE_KEY)))
        .and_then(|h| as_int(h.as_ref()))
}

/// A map of strings (a label selector) read in place.
pub fn string_map(v: &dyn Val) -> Option<std::collections::BTreeMap<String, String>> {
    if v.downcast_ref::<CelNull>().is_some() {
        return Some(Default::default());
    }
    let m = v.downcast_ref::<CelMap>()?;
    Some(
        m.inner()
            .iter()
            .filter_map(|(k, v)| match (k, as_str(v.as_ref())) {
                (CelMapKey::String(k), Some(v)) => Some((k.inner().to_string(), v.to_string())),
                _ => None,
            })
            .collect(),
    )
}

/// A deep copy of a value read in place, as a `Value`.
pub fn to_value(v: &dyn Val) -> Value {
    Value::try_from(v).unwrap_or(Value::Null)
}

/// Map fields of a `Value` (for tests and conversions that already hold a `Value`).
pub fn get<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Map(m) => m.map.get(&Key::String(Arc::new(name.to_string()))),
        _ => None,
    }
}

/// Keeps a borrowed-or-owned interpreter value around for reading.
pub type Arg<'a> = Cow<'a, dyn Val>;
