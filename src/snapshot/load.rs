//! Reading a snapshot file: the output of `kubectl get ... -A -o yaml|json` (a `v1 List`),
//! optionally followed by more documents (`NodeMetricsList` from `kubectl get --raw`), or
//! multi-document YAML of single objects; plain or gzip-compressed.

use super::{Kind, Snapshot};
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// A snapshot that could not be read; the message says where and why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct LoadError {
    pub source_name: String,
    pub message: String,
}

impl LoadError {
    fn new(source_name: &str, message: String) -> LoadError {
        LoadError {
            source_name: source_name.to_string(),
            message,
        }
    }
}

/// How strict to be.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Manifests (`helm template` output) rather than API output: an object that does not
    /// decode is skipped with a note instead of failing the load, and nothing is assumed
    /// about kinds that are absent.
    pub manifests: bool,
}

/// Reads and parses a snapshot file (`.gz` or not).
pub fn load_file(path: &Path) -> Result<Snapshot, LoadError> {
    load_file_with(path, LoadOptions::default())
}

pub fn load_file_with(path: &Path, opts: LoadOptions) -> Result<Snapshot, LoadError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| LoadError {
        source_name: name.clone(),
        message: format!("cannot read the file: {e}"),
    })?;
    load_reader(std::io::BufReader::new(file), &name, opts)
}

/// Parses a snapshot from any reader; gzip is recognised by its magic bytes. JSON is read as
/// a stream (the format for big clusters); YAML is read whole.
pub fn load_reader(
    mut reader: impl std::io::BufRead + Send,
    source_name: &str,
    opts: LoadOptions,
) -> Result<Snapshot, LoadError> {
    let err = |message| LoadError::new(source_name, message);
    let gzip = reader
        .fill_buf()
        .map_err(|e| err(format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn std::io::BufRead + Send> = if gzip {
        Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    let first = first_byte(&mut reader).map_err(|e| err(format!("cannot read: {e}")))?;
    if matches!(first, Some(b'{' | b'[')) && !opts.manifests {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let loader = Loader { opts };
        let mut snap = super::stream::read(reader, workers, |doc, snap| {
            let value: Value =
                serde_json::from_slice(&doc.head).map_err(|e| format!("invalid JSON: {e}"))?;
            loader
                .document(snap, value)
                .map_err(|m| format!("document: {m}"))
        })
        .map_err(&err)?;
        if snap.is_empty() && snap.read.is_empty() && snap.ignored_kinds.is_empty() {
            return Err(err(NO_OBJECTS.into()));
        }
        mark_missing_cluster_kinds(&mut snap);
        return Ok(snap);
    }
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    load_str_with(&text, source_name, opts)
}

const NO_OBJECTS: &str =
    "no Kubernetes objects found (expected the output of `kubectl get ... -o yaml`)";

/// The first byte after a byte-order mark and white space, left unread.
fn first_byte(reader: &mut impl std::io::BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let skip = if buf.starts_with("\u{feff}".as_bytes()) {
            3
        } else {
            buf.iter().take_while(|b| b.is_ascii_whitespace()).count()
        };
        if skip == 0 {
            return Ok(Some(buf[0]));
        }
        reader.consume(skip);
    }
}

/// Parses snapshot text; `source_name` names it in errors.
pub fn load_str(text: &str, source_name: &str) -> Result<Snapshot, LoadError> {
    load_str_with(text, source_name, LoadOptions::default())
}

pub fn load_str_with(
    text: &str,
    source_name: &str,
    opts: LoadOptions,
) -> Result<Snapshot, LoadError> {
    let err = |message| LoadError::new(source_name, message);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('[')) && !opts.manifests {
        return load_reader(trimmed.as_bytes(), source_name, opts);
    }
    let docs = parse_documents(text).map_err(&err)?;
    if docs.iter().all(Value::is_null) {
        return Err(err(NO_OBJECTS.into()));
    }
    let loader = Loader { opts };
    let mut snap = Snapshot::default();
    for (d, doc) in docs.into_iter().enumerate() {
        loader
            .document(&mut snap, doc)
            .map_err(|m| err(format!("document {}: {m}", d + 1)))?;
    }
    if !opts.manifests {
        mark_missing_cluster_kinds(&mut snap);
    }
    Ok(snap)
}

/// Every cluster has nodes and namespaces: none in the file means they were not asked for,
/// so rules that need them skip instead of judging an empty cluster.
fn mark_missing_cluster_kinds(snap: &mut Snapshot) {
    for kind in [Kind::Node, Kind::Namespace] {
        if snap.count(kind) == 0 {
            snap.unavailable.entry(kind).or_insert_with(|| {
                format!(
                    "no {kind} objects in the snapshot (take it with `kubectl get nodes,storageclasses,…,events -A -o yaml`)"
                )
            });
        }
    }
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

struct Loader {
    opts: LoadOptions,
}

impl Loader {
    fn document(&self, snap: &mut Snapshot, doc: Value) -> Result<(), String> {
        let Value::Object(mut map) = doc else {
            return match doc {
                Value::Null => Ok(()),
                Value::Array(items) => self.items(snap, items, None),
                _ => Err("expected a Kubernetes object or List, found a scalar".into()),
            };
        };
        let kind = map
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or("object without a `kind` field")?;
        if super::write::is_info(&map) {
            return super::write::read_info(snap, &map);
        }
        if kind.ends_with("List") && map.contains_key("items") {
            let items = match map.remove("items") {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err(format!("{kind}: `items` is not a list")),
            };
            let item_kind = (kind != "List").then(|| kind.trim_end_matches("List").to_string());
            if let Some(k) = item_kind.as_deref().and_then(|k| Kind::from_type(k, None)) {
                // A typed list (`NodeMetricsList`) read even when empty.
                snap.read.insert(k);
            }
            return self.items(snap, items, item_kind.as_deref());
        }
        self.insert(snap, &kind, Value::Object(map))
    }

    fn items(
        &self,
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
            self.insert(snap, &kind, item)
                .map_err(|m| format!("item {}: {m}", i + 1))?;
        }
        Ok(())
    }

    fn insert(&self, snap: &mut Snapshot, kind_name: &str, mut value: Value) -> Result<(), String> {
        let api_version = value.get("apiVersion").and_then(Value::as_str);
        let Some(kind) = Kind::from_type(kind_name, api_version) else {
            snap.ignore(kind_name);
            return Ok(());
        };
        if let Some(o) = value.as_object_mut() {
            // An older version of the same group (`extensions/v1beta1`) decodes into the
            // current type, as kubectl converts it; the type checks its apiVersion.
            o.insert("apiVersion".into(), kind.api_version().into());
            o.insert("kind".into(), kind.name().into());
            name_generated(o, snap.count(kind));
        }
        let id = describe(kind_name, &value);
        match snap.insert_value(kind, value) {
            Ok(()) => Ok(()),
            Err(e) if self.opts.manifests => {
                snap.notes
                    .push(format!("skipped {id}: not a valid {kind_name}: {e}"));
                Ok(())
            }
            Err(e) => Err(format!("{id} is not a valid {kind_name}: {e}")),
        }
    }
}

/// An object with only a `generateName` (as templates write them) gets the name the API
/// server would give it: the prefix and a suffix (here its position, so names stay unique).
fn name_generated(o: &mut serde_json::Map<String, Value>, position: usize) {
    let Some(Value::Object(meta)) = o.get_mut("metadata") else {
        return;
    };
    if meta.get("name").and_then(Value::as_str).is_some() {
        return;
    }
    if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
        let name = format!("{prefix}{position:05}");
        meta.insert("name".into(), name.into());
    }
}

pub(super) fn describe(kind: &str, v: &Value) -> String {
    let meta = v.get("metadata");
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    match (field("namespace"), field("name").or(field("generateName"))) {
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
        assert_eq!(s.objects.nodes.len(), 1);
        assert_eq!(s.objects.node_metrics.len(), 1);
        assert!(s.available(Kind::NodeMetrics));
        assert_eq!(s.ignored_kinds.get("Widget"), Some(&1));
    }

    #[test]
    fn reads_single_object_documents_json_and_gzip() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n";
        assert_eq!(load_str(yaml, "t").unwrap().objects.namespaces.len(), 2);
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}]}"#;
        assert_eq!(load_str(json, "t").unwrap().objects.namespaces.len(), 1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, json.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let s = load_reader(&bytes[..], "t.json.gz", LoadOptions::default()).unwrap();
        assert_eq!(s.objects.namespaces.len(), 1);
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

    #[test]
    fn manifests_skip_what_does_not_decode_and_accept_old_groups() {
        let text = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec: {replicas: 2, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: []}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: 7}\n";
        let s = load_str_with(text, "m.yaml", LoadOptions { manifests: true }).unwrap();
        assert_eq!(s.objects.deployments.len(), 1);
        assert!(s.notes[0].contains("skipped Pod bad"), "{:?}", s.notes);
    }
}
