//! Writing a snapshot in the shape `check --snapshot` reads: the kubectl `v1 List`, then the
//! NodeMetricsList, then what could not be read (so a re-check skips the same rules).

use super::{Kind, Snapshot};
use serde_json::{Value, json};

/// The `kind` of the document that records unreadable kinds.
pub const INFO_KIND: &str = "SnapshotInfo";
pub const INFO_API_VERSION: &str = "ttdoctor/v1";

/// Renders a snapshot as multi-document YAML.
pub fn to_yaml(snap: &Snapshot) -> Result<String, String> {
    let mut items: Vec<Value> = Vec::new();
    for kind in Kind::ALL {
        if kind == Kind::NodeMetrics {
            continue;
        }
        let mut objs = snap.json_of(kind);
        objs.sort_by_key(sort_key);
        items.extend(objs);
    }
    let list = json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
    let mut out = serde_saphyr::to_string(&list).map_err(|e| e.to_string())?;
    if let Some(metrics) = &snap.node_metrics {
        let doc = json!({
            "kind": "NodeMetricsList",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": metrics,
        });
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&doc).map_err(|e| e.to_string())?);
    }
    if !snap.unavailable.is_empty() || !snap.notes.is_empty() {
        let unavailable: serde_json::Map<String, Value> = snap
            .unavailable
            .iter()
            .map(|(k, v)| (k.name().to_string(), Value::String(v.clone())))
            .collect();
        let doc = json!({"apiVersion": INFO_API_VERSION, "kind": INFO_KIND,
            "unavailable": unavailable, "notes": snap.notes});
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&doc).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn sort_key(v: &Value) -> (String, String) {
    let m = &v["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
    )
}
