//! Writing a snapshot in the shape `check --snapshot` reads: the kubectl `v1 List`, then one
//! list per metrics kind that was read, then what could not be read (so a re-check skips the
//! same rules). YAML or JSON, optionally gzip-compressed.

use super::{Kind, Snapshot};
use serde_json::{Map, Value, json};
use std::io::Write;

/// The `kind` of the document that records unreadable kinds.
const INFO_KIND: &str = "SnapshotInfo";
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

/// The documents of a snapshot file.
fn documents(snap: &Snapshot) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    for &kind in Kind::ALL.iter().filter(|k| !k.meta().optional) {
        let mut objs = snap.json_of(kind);
        objs.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        items.extend(objs);
    }
    let mut docs = vec![
        json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}),
    ];
    for &kind in Kind::ALL.iter().filter(|k| k.meta().optional) {
        if snap.available(kind) {
            docs.push(json!({
                "kind": format!("{}List", kind.name()),
                "apiVersion": kind.api_version(),
                "metadata": {},
                "items": snap.json_of(kind),
            }));
        }
    }
    if !snap.unavailable.is_empty() || !snap.notes.is_empty() {
        let unavailable: Map<String, Value> = snap
            .unavailable
            .iter()
            .map(|(k, v)| (k.name().to_string(), Value::String(v.clone())))
            .collect();
        docs.push(json!({"apiVersion": INFO_API_VERSION, "kind": INFO_KIND,
            "unavailable": unavailable, "notes": snap.notes}));
    }
    docs
}

/// Writes the snapshot to `out` in `format`.
pub fn write(snap: &Snapshot, format: Format, out: impl Write) -> std::io::Result<()> {
    let mut out: Box<dyn Write> = if format.gzip {
        Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(std::io::BufWriter::new(out))
    };
    for (i, doc) in documents(snap).iter().enumerate() {
        if format.json {
            serde_json::to_writer(&mut out, doc)?;
            out.write_all(b"\n")?;
        } else {
            if i > 0 {
                out.write_all(b"---\n")?;
            }
            let text = serde_saphyr::to_string(doc).map_err(std::io::Error::other)?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}

fn sort_key(v: &Value) -> (&str, &str) {
    let m = &v["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default(),
        m["name"].as_str().unwrap_or_default(),
    )
}

pub(super) fn is_info(map: &Map<String, Value>) -> bool {
    map.get("kind").and_then(Value::as_str) == Some(INFO_KIND)
        && map.get("apiVersion").and_then(Value::as_str) == Some(INFO_API_VERSION)
}

/// What the live collection could not read: kept unavailable on re-check.
pub(super) fn read_info(snap: &mut Snapshot, map: &Map<String, Value>) -> Result<(), String> {
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
        let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: n1}}\n---\n{\"kind\":\"NodeMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"items\":[]}\n";
        let mut snap = super::super::load_str(text, "t").unwrap();
        snap.unavailable.insert(Kind::Event, "forbidden".into());
        for json in [false, true] {
            for gzip in [false, true] {
                let mut buf = Vec::new();
                write(&snap, Format { json, gzip }, &mut buf).unwrap();
                let back = super::super::load_reader(&buf[..], "t", Default::default()).unwrap();
                assert_eq!(back.objects.nodes.len(), 1);
                assert!(back.available(Kind::NodeMetrics), "json {json} gzip {gzip}");
                assert_eq!(back.unavailable.get(&Kind::Event).unwrap(), "forbidden");
            }
        }
    }
}
