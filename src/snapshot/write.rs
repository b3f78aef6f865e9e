//! Writing a snapshot in the shape `check --snapshot` reads: the kubectl `v1 List`, then one
//! list per metrics kind (and the local Host) that was read, then what could not be read (so a re-check skips the
//! same rules). YAML or JSON, optionally gzip-compressed, written object by object from the
//! typed store: no second copy of the cluster is built.

use super::{Kind, KindVisitor, Object, Snapshot};
use serde_json::{Map, Value, json};
use std::io::Write;

/// The `kind` of the document that records unreadable kinds.
const INFO_KIND: &str = "SnapshotInfo";
/// The `kind` of the document that holds container log tails (`snapshot --with-logs`).
const LOGS_KIND: &str = "PodLogs";
const INFO_API_VERSION: &str = "ttdoctor/v1";

/// How to write a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    pub json: bool,
    pub gzip: bool,
}

impl Format {
    /// From a file name: `.json`/`.json.gz` → JSON, else YAML; `.gz` → compressed.
    pub fn for_path(path: &std::path::Path) -> Format {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let gzip = name.ends_with(".gz");
        let base = name.trim_end_matches(".gz");
        Format {
            json: base.ends_with(".json"),
            gzip,
        }
    }
}

/// Writes the snapshot to `out` in `format`.
pub fn write(snap: &Snapshot, format: Format, out: impl Write) -> std::io::Result<()> {
    let mut out: Box<dyn Write> = if format.gzip {
        Box::new(flate2::write::GzEncoder::new(
            std::io::BufWriter::with_capacity(1 << 20, out),
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(std::io::BufWriter::with_capacity(1 << 20, out))
    };
    let mut w = Writer {
        out: &mut out,
        json: format.json,
        first: true,
        documents: 0,
    };
    // The List: every kind kubectl lists, each sorted by namespace and name as the API
    // server returns them.
    w.open_list("v1")?;
    let apart = |k: &Kind| k.meta().optional || k.meta().local;
    for &kind in Kind::ALL.iter().filter(|k| !apart(k)) {
        w.items(snap, kind)?;
    }
    w.close_list("List")?;
    // Metrics and the local Host: a list of their own, only when read.
    for &kind in Kind::ALL.iter().filter(|k| apart(k)) {
        if snap.available(kind) {
            w.open_list(kind.api_version())?;
            w.items(snap, kind)?;
            w.close_list(&format!("{}List", kind.name()))?;
        }
    }
    if !snap.logs.is_empty() {
        let logs: Vec<Value> = snap
            .logs
            .iter()
            .map(|(r, text)| {
                let mut v = serde_json::to_value(r).expect("a log reference serializes");
                v["text"] = Value::String(text.clone());
                v
            })
            .collect();
        w.document(&json!({"apiVersion": INFO_API_VERSION, "kind": LOGS_KIND, "logs": logs}))?;
    }
    if !snap.unavailable.is_empty() || !snap.notes.is_empty() {
        let unavailable: Map<String, Value> = snap
            .unavailable
            .iter()
            .map(|(k, v)| (k.name().to_string(), Value::String(v.clone())))
            .collect();
        let doc = json!({"apiVersion": INFO_API_VERSION, "kind": INFO_KIND,
            "unavailable": unavailable, "notes": snap.notes});
        w.document(&doc)?;
    }
    out.flush()
}

struct Writer<'a> {
    out: &'a mut dyn Write,
    json: bool,
    /// No item written yet in the open list.
    first: bool,
    /// Documents written so far.
    documents: usize,
}

impl Writer<'_> {
    /// A List as kubectl prints it: `apiVersion`, `items`, then `kind` and `metadata` (keys
    /// in order), each document after the first preceded by `---` in YAML.
    fn open_list(&mut self, api_version: &str) -> std::io::Result<()> {
        let separator = if self.documents > 0 { "---\n" } else { "" };
        self.documents += 1;
        self.first = true;
        if self.json {
            write!(
                self.out,
                "{{\"apiVersion\":{},\"items\":[",
                Value::from(api_version)
            )
        } else {
            write!(self.out, "{separator}apiVersion: {api_version}\nitems:")
        }
    }

    fn close_list(&mut self, kind: &str) -> std::io::Result<()> {
        if self.json {
            writeln!(
                self.out,
                "],\"kind\":{},\"metadata\":{{\"resourceVersion\":\"\"}}}}",
                Value::from(kind)
            )
        } else {
            if self.first {
                self.out.write_all(b" []\n")?;
            }
            write!(
                self.out,
                "kind: {kind}\nmetadata:\n  resourceVersion: \"\"\n"
            )
        }
    }

    /// One object, from its stored compact JSON.
    fn item(&mut self, raw: &[u8]) -> std::io::Result<()> {
        if self.json {
            if !self.first {
                self.out.write_all(b",")?;
            }
            self.out.write_all(raw)?;
        } else {
            if self.first {
                self.out.write_all(b"\n")?;
            }
            let v: Value = serde_json::from_slice(raw)?;
            let text = serde_saphyr::to_string(&v).map_err(std::io::Error::other)?;
            for (i, line) in text.lines().enumerate() {
                let lead = if i == 0 { "- " } else { "  " };
                writeln!(self.out, "{lead}{line}")?;
            }
        }
        self.first = false;
        Ok(())
    }

    /// The objects of one kind, sorted by namespace and name.
    fn items(&mut self, snap: &Snapshot, kind: Kind) -> std::io::Result<()> {
        struct Items<'a, 'w>(&'a Snapshot, &'a mut Writer<'w>);
        impl KindVisitor for Items<'_, '_> {
            type Output = std::io::Result<()>;
            fn visit<T: Object>(self) -> Self::Output {
                let list = self.0.list::<T>();
                let mut order: Vec<usize> = (0..list.len()).collect();
                order.sort_by(|&a, &b| key(&list[a]).cmp(&key(&list[b])));
                for i in order {
                    self.1.item(list[i].raw())?;
                }
                Ok(())
            }
        }
        kind.visit(Items(snap, self))
    }

    fn document(&mut self, doc: &Value) -> std::io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut *self.out, doc)?;
            self.out.write_all(b"\n")
        } else {
            let text = serde_saphyr::to_string(doc).map_err(std::io::Error::other)?;
            self.documents += 1;
            write!(self.out, "---\n{text}")
        }
    }
}

fn key<T: Object>(o: &super::Stored<T>) -> (&str, &str) {
    (o.namespace().unwrap_or_default(), o.name())
}

pub(super) fn is_info(map: &Map<String, Value>) -> bool {
    map.get("apiVersion").and_then(Value::as_str) == Some(INFO_API_VERSION)
        && matches!(
            map.get("kind").and_then(Value::as_str),
            Some(INFO_KIND | LOGS_KIND)
        )
}

/// What the live collection could not read (kept unavailable on re-check), and the log
/// tails taken with the snapshot.
pub(super) fn read_info(snap: &mut Snapshot, map: &Map<String, Value>) -> Result<(), String> {
    for log in map
        .get("logs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r: crate::model::LogRef =
            serde_json::from_value(log.clone()).map_err(|e| format!("{LOGS_KIND}: {e}"))?;
        let text = log.get("text").and_then(Value::as_str).unwrap_or_default();
        snap.logs.insert(r, text.to_string());
    }
    for (k, reason) in map
        .get("unavailable")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let kind = Kind::parse(k).ok_or_else(|| format!("{INFO_KIND}: unknown kind {k:?}"))?;
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_file_name() {
        let f = |p: &str| Format::for_path(std::path::Path::new(p));
        assert_eq!(
            f("c.json.gz"),
            Format {
                json: true,
                gzip: true
            }
        );
        assert_eq!(
            f("c.yaml"),
            Format {
                json: false,
                gzip: false
            }
        );
        assert!(f("C.JSON").json);
    }

    #[test]
    fn what_is_written_reads_back() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: n1}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n---\n{\"kind\":\"NodeMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"items\":[]}\n";
        let mut snap = super::super::load_str(text, "t").unwrap();
        snap.unavailable.insert(Kind::Event, "forbidden".into());
        for json in [false, true] {
            for gzip in [false, true] {
                let mut buf = Vec::new();
                write(&snap, Format { json, gzip }, &mut buf).unwrap();
                let back = super::super::load_reader(&buf[..], "t", Default::default()).unwrap();
                assert_eq!(back.objects.nodes.len(), 1);
                let names: Vec<_> = back
                    .objects
                    .namespaces
                    .iter()
                    .map(|n| n.name().to_string())
                    .collect();
                assert_eq!(names, ["a", "b"], "sorted like the API server");
                assert!(back.available(Kind::NodeMetrics), "json {json} gzip {gzip}");
                assert_eq!(back.unavailable.get(&Kind::Event).unwrap(), "forbidden");
            }
        }
    }
}
