//! Reading a snapshot file: the output of `kubectl get ... -A -o yaml` (a `v1 List`), optionally
//! followed by more documents (`NodeMetricsList` from `kubectl get --raw`), or multi-document
//! YAML of single objects, or the same as JSON.

use super::Snapshot;
use serde_json::Value;
use std::path::Path;

/// A snapshot that could not be read; the message says where and why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct LoadError {
    pub source_name: String,
    pub message: String,
}

/// Reads and parses a snapshot file.
pub fn load_file(path: &Path) -> Result<Snapshot, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        source_name: name.clone(),
        message: format!("cannot read the file: {e}"),
    })?;
    load_str(&text, &name)
}

/// Parses snapshot text; `source_name` names it in errors.
pub fn load_str(text: &str, source_name: &str) -> Result<Snapshot, LoadError> {
    let err = |message: String| LoadError {
        source_name: source_name.to_string(),
        message,
    };
    let docs = parse_documents(text).map_err(&err)?;
    if docs.iter().all(Value::is_null) {
        return Err(err(
            "no Kubernetes objects found (expected the output of `kubectl get ... -o yaml`)".into(),
        ));
    }
    let mut snap = Snapshot::default();
    for (d, doc) in docs.into_iter().enumerate() {
        add_document(&mut snap, doc).map_err(|m| err(format!("document {}: {m}", d + 1)))?;
    }
    // Every cluster has nodes and namespaces: none in the file means they were not asked
    // for, so rules that need them skip instead of judging an empty cluster.
    for (kind, empty) in [
        (super::Kind::Node, snap.nodes.is_empty()),
        (super::Kind::Namespace, snap.namespaces.is_empty()),
    ] {
        if empty {
            snap.unavailable.entry(kind).or_insert_with(|| {
                format!(
                    "no {kind} objects in the snapshot (take it with `kubectl get nodes,storageclasses,…,events -A -o yaml`)"
                )
            });
        }
    }
    Ok(snap)
}

fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON: one or more concatenated documents, as `kubectl -o json` and `--raw` print.
        let mut docs = Vec::new();
        for doc in serde_json::Deserializer::from_str(trimmed).into_iter::<Value>() {
            docs.push(doc.map_err(|e| format!("invalid JSON at line {}: {e}", e.line()))?);
        }
        return Ok(docs);
    }
    // Snapshots of big clusters exceed serde-saphyr's default budget (meant for config files).
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 200_000_000,
            max_nodes: 100_000_000,
            max_total_scalar_bytes: 1 << 31,
            max_documents: 100_000,
            max_reader_input_bytes: Some(1 << 31),
        },
    };
    serde_saphyr::from_multiple_with_options::<Value>(text, options)
        .map_err(|e| format!("invalid YAML: {e}"))
}

fn add_document(snap: &mut Snapshot, doc: Value) -> Result<(), String> {
    let Value::Object(mut map) = doc else {
        return match doc {
            Value::Null => Ok(()),
            Value::Array(items) => add_items(snap, items, None),
            _ => Err("expected a Kubernetes object or List, found a scalar".into()),
        };
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or("object without a `kind` field")?;
    if kind == super::write::INFO_KIND
        && map.get("apiVersion").and_then(Value::as_str) == Some(super::write::INFO_API_VERSION)
    {
        // What the live collection could not read: keep it unavailable on re-check.
        for (k, reason) in map
            .get("unavailable")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let kind =
                super::Kind::parse(k).ok_or_else(|| format!("{kind}: unknown kind {k:?}"))?;
            snap.unavailable
                .insert(kind, reason.as_str().unwrap_or("unavailable").to_string());
        }
        for note in map
            .get("notes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            snap.notes.extend(note.as_str().map(String::from));
        }
        return Ok(());
    }
    if kind.ends_with("List") {
        let items = match map.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return Err(format!("{kind}: `items` is not a list")),
        };
        let item_kind = (kind != "List").then(|| kind.trim_end_matches("List").to_string());
        return add_items(snap, items, item_kind.as_deref());
    }
    insert(snap, &kind, Value::Object(map))
}

fn add_items(
    snap: &mut Snapshot,
    items: Vec<Value>,
    item_kind: Option<&str>,
) -> Result<(), String> {
    for (i, item) in items.into_iter().enumerate() {
        let kind = item
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| item_kind.map(str::to_string))
            .ok_or_else(|| format!("item {}: no `kind` field", i + 1))?;
        insert(snap, &kind, item).map_err(|m| format!("item {}: {m}", i + 1))?;
    }
    Ok(())
}

fn insert(snap: &mut Snapshot, kind: &str, value: Value) -> Result<(), String> {
    let id = describe(kind, &value);
    snap.insert_json(kind, value)
        .map_err(|e| format!("{id} is not a valid {kind}: {e}"))
}

fn describe(kind: &str, v: &Value) -> String {
    let meta = v.get("metadata");
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    match (field("namespace"), field("name")) {
        (Some(ns), Some(n)) => format!("{kind} {ns}/{n}"),
        (None, Some(n)) => format!("{kind} {n}"),
        _ => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_list_and_a_metrics_document() {
        let text = r#"apiVersion: v1
items:
- apiVersion: v1
  kind: Node
  metadata:
    name: n1
- apiVersion: example.com/v1
  kind: Widget
  metadata:
    name: w
kind: List
metadata:
  resourceVersion: ""
---
{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[{"metadata":{"name":"n1"},"timestamp":"2026-11-27T10:00:00Z","window":"20s","usage":{"cpu":"250m","memory":"1Gi"}}]}
"#;
        let s = load_str(text, "t").unwrap();
        assert_eq!(s.nodes.len(), 1);
        assert_eq!(s.node_metrics.as_ref().unwrap().len(), 1);
        assert_eq!(s.ignored_kinds.get("Widget"), Some(&1));
    }

    #[test]
    fn reads_single_object_documents_and_json() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n";
        assert_eq!(load_str(yaml, "t").unwrap().namespaces.len(), 2);
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}]}"#;
        assert_eq!(load_str(json, "t").unwrap().namespaces.len(), 1);
    }

    #[test]
    fn errors_say_where() {
        let e = load_str(
            "kind: List\nitems:\n  - kind: Pod\n    metadata: [1\n",
            "f.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("f.yaml: invalid YAML"), "{e}");
        let e = load_str(
            "kind: List\nitems:\n- kind: Pod\n  apiVersion: v1\n  metadata:\n    name: p\n    namespace: ns\n  spec:\n    containers: 7\n",
            "f.yaml",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("item 1: Pod ns/p is not a valid Pod"),
            "{e}"
        );
        let e = load_str("", "f.yaml").unwrap_err();
        assert!(e.to_string().contains("no Kubernetes objects"), "{e}");
        let e = load_str("hello", "f.yaml").unwrap_err();
        assert!(e.to_string().contains("scalar"), "{e}");
    }
}
