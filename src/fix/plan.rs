//! Turning findings into a plan: one item per distinct change, with a preview of the fields it
//! touches and the kubectl command that does the same.

use crate::finding::{Patch, Report, kubectl};
use crate::model::ObjectRef;
use crate::model::{PatchType, Safety};
use crate::snapshot::{Kind, Snapshot};
use serde::Serialize;
use serde_json::Value;

/// What happened (or will happen) to one plan item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "kebab-case")]
pub enum ItemStatus {
    /// Would be applied by `--auto` (safe) or `--unsafe`.
    Planned,
    /// Printed for a person to run; ttdoctor never applies it.
    Manual,
    /// The API says the user may not make this change.
    NotPermitted(String),
    /// Not applied: unsafe without `--unsafe`, declined at the prompt, or nothing to change.
    Skipped(String),
    /// Someone else changed the object since it was read; their change is kept.
    Conflict(String),
    /// The server rejected the change for another reason.
    Failed(String),
    /// Applied; not re-checked yet.
    Applied,
    /// Applied, and the findings it targets are gone on re-check.
    Verified,
    /// Applied, but on re-check the finding is still there (with the new message).
    StillFailing(String),
}

/// One change: the patches of a fix, shared by every finding that asks for exactly it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    pub rule_id: String,
    /// The findings this item fixes (fingerprints) and their objects.
    pub fingerprints: Vec<String>,
    pub objects: Vec<ObjectRef>,
    pub safety: Safety,
    pub summary: String,
    pub patches: Vec<Patch>,
    /// Commands run in containers (pods/exec), in order.
    pub execs: Vec<crate::finding::Exec>,
    /// Per patch: the fields it changes, `path: before → after`.
    pub diffs: Vec<Vec<String>>,
    /// Per patch: the kubectl command that makes the same change.
    pub kubectl: Vec<String>,
    /// Manual steps (for manual fixes), or the commands of the rule's fix.
    pub commands: Vec<String>,
    /// From the rule's `durable_fix`: when it is applied, the plain fix of the same findings
    /// is not (e.g. no hand-set MySQL leader label while xenon is restarted to elect one).
    pub durable: bool,
    #[serde(flatten)]
    pub status: ItemStatus,
}

impl PlanItem {
    /// What identifies a change across fix rounds: the rule and exactly what it writes or runs.
    pub fn key(&self) -> String {
        serde_json::to_string(&(&self.rule_id, &self.patches, &self.execs)).unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FixPlan {
    pub items: Vec<PlanItem>,
}

/// Builds the plan for the active, root-cause findings of `report`, previewing each patch
/// against the objects in `snap`. Symptoms are left out: their cause's fix is the fix.
pub fn plan(report: &Report, snap: &Snapshot, only: &[String]) -> FixPlan {
    let mut items: Vec<PlanItem> = Vec::new();
    let fixes = report.active().flat_map(|f| {
        [(f.fix.as_ref(), false), (f.durable_fix.as_ref(), true)]
            .into_iter()
            .filter_map(move |(x, durable)| x.map(|x| (f, x, durable)))
    });
    for (f, fix, durable) in fixes {
        if !f.caused_by.is_empty() {
            continue;
        }
        if !only.is_empty()
            && !only
                .iter()
                .any(|o| f.rule_id.eq_ignore_ascii_case(o) || f.rule_id.starts_with(o.as_str()))
        {
            continue;
        }
        let automatic =
            fix.safety != Safety::Manual && (!fix.patches.is_empty() || !fix.execs.is_empty());
        if automatic && merge_into(&mut items, f, fix) {
            continue;
        }
        if automatic
            && let Some(existing) = items
                .iter_mut()
                .find(|i| i.patches == fix.patches && i.execs == fix.execs)
        {
            existing.fingerprints.push(f.fingerprint.clone());
            existing.objects.push(f.object.clone());
            continue;
        }
        let (diffs, kubectl) = if automatic {
            fix.patches
                .iter()
                .map(|p| (preview(snap, p), kubectl::exact_patch_command(p)))
                .unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        items.push(PlanItem {
            rule_id: f.rule_id.clone(),
            fingerprints: vec![f.fingerprint.clone()],
            objects: vec![f.object.clone()],
            safety: if automatic {
                fix.safety
            } else {
                Safety::Manual
            },
            summary: fix.summary.clone(),
            patches: if automatic {
                fix.patches.clone()
            } else {
                Vec::new()
            },
            execs: if automatic {
                fix.execs.clone()
            } else {
                Vec::new()
            },
            diffs,
            kubectl,
            commands: fix.commands.clone(),
            durable,
            status: if automatic {
                ItemStatus::Planned
            } else {
                ItemStatus::Manual
            },
        });
    }
    // Merged items changed their patches: preview them again.
    for item in items.iter_mut().filter(|i| i.safety != Safety::Manual) {
        item.diffs = item.patches.iter().map(|p| preview(snap, p)).collect();
        item.kubectl = item
            .patches
            .iter()
            .map(kubectl::exact_patch_command)
            .collect();
    }
    // Safe first, then unsafe, then manual: the order `--auto` works in.
    items.sort_by_key(|i| match i.safety {
        Safety::Safe => 0,
        Safety::Unsafe => 1,
        Safety::Manual => 2,
    });
    FixPlan { items }
}

/// Folds a one-patch JSON fix into an earlier item of the same rule that patches the same
/// object (two pods asking for different labels on one node): one patch, one precondition,
/// instead of a second patch whose precondition the first one breaks.
fn merge_into(
    items: &mut [PlanItem],
    f: &crate::finding::Finding,
    fix: &crate::finding::Fix,
) -> bool {
    let [p] = fix.patches.as_slice() else {
        return false;
    };
    if p.patch_type != PatchType::Json || !fix.execs.is_empty() {
        return false;
    }
    let Some(item) = items.iter_mut().find(|i| {
        i.rule_id == f.rule_id
            && i.execs.is_empty()
            && matches!(i.patches.as_slice(), [q] if q.target == p.target && q.patch_type == PatchType::Json && q != p)
    }) else {
        return false;
    };
    let (Some(ops), Some(new_ops)) = (item.patches[0].body.as_array().cloned(), p.body.as_array())
    else {
        return false;
    };
    let mut merged = ops;
    for op in new_ops {
        if !merged.contains(op) {
            merged.push(op.clone());
        }
    }
    item.patches[0].body = Value::Array(merged);
    item.summary = format!("{}; {}", item.summary, fix.summary);
    item.fingerprints.push(f.fingerprint.clone());
    item.objects.push(f.object.clone());
    item.commands.extend(fix.commands.iter().cloned());
    true
}

/// The object a patch targets, from the snapshot.
pub fn target_object(snap: &Snapshot, t: &ObjectRef) -> Option<Value> {
    let kind = Kind::parse(&t.kind)?;
    let i = snap.find(kind, t.namespace.as_deref(), &t.name)?;
    Some(snap.json_at(kind, i))
}

/// Applies a patch to a copy of `obj` the way the API server would.
pub fn apply_locally(obj: &Value, p: &Patch) -> Result<Value, String> {
    let mut doc = obj.clone();
    match p.patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(p.body.clone())
                .map_err(|e| format!("not a JSON patch: {e}"))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| e.to_string())?;
        }
        PatchType::Merge => {
            let mut body = p.body.clone();
            // resourceVersion in a merge patch is a precondition, not a change.
            if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            json_patch::merge(&mut doc, &body);
        }
    }
    Ok(doc)
}

/// `path: before → after` for every leaf that differs (lists compared whole).
pub fn field_diff(before: &Value, after: &Value) -> Vec<String> {
    fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    if path.is_empty() && matches!(k.as_str(), "status") {
                        continue;
                    }
                    if k == "resourceVersion" || k == "managedFields" {
                        continue;
                    }
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, x.get(k), y.get(k), out);
                }
            }
            (a, b) if a != b => {
                let show =
                    |v: Option<&Value>| v.map_or("(absent)".to_string(), ToString::to_string);
                out.push(format!("{path}: {} → {}", show(a), show(b)));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn preview(snap: &Snapshot, p: &Patch) -> Vec<String> {
    match target_object(snap, &p.target) {
        None => vec![format!("({} not found in the snapshot)", p.target)],
        Some(obj) => match apply_locally(&obj, p) {
            Ok(after) => {
                let d = field_diff(&obj, &after);
                if d.is_empty() {
                    vec!["(no change: already in the desired state)".into()]
                } else {
                    d
                }
            }
            Err(e) => vec![format!("(precondition fails on the current object: {e})")],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(ty: PatchType, body: Value) -> Patch {
        Patch {
            target: ObjectRef {
                kind: "Node".into(),
                namespace: None,
                name: "n1".into(),
            },
            patch_type: ty,
            body,
        }
    }

    #[test]
    fn json_patch_preview_and_failed_test() {
        let node = json!({"metadata": {"name": "n1", "labels": {"a": "1"}}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}});
        let p = patch(
            PatchType::Json,
            json!([
            {"op": "test", "path": "/spec/taints", "value": [{"key": "k", "effect": "NoSchedule"}]},
            {"op": "replace", "path": "/spec/taints", "value": []}]),
        );
        let after = apply_locally(&node, &p).unwrap();
        assert_eq!(
            field_diff(&node, &after),
            vec![r#"spec.taints: [{"effect":"NoSchedule","key":"k"}] → []"#]
        );
        let moved = json!({"metadata": {"name": "n1"}, "spec": {"taints": []}});
        assert!(
            apply_locally(&moved, &p).is_err(),
            "a failed test op must fail the patch"
        );
    }

    #[test]
    fn merge_patch_ignores_the_resource_version_precondition() {
        let sc = json!({"metadata": {"name": "s", "resourceVersion": "7"}});
        let p = patch(
            PatchType::Merge,
            json!({"metadata": {"resourceVersion": "7", "annotations": {"x": "true"}}}),
        );
        let after = apply_locally(&sc, &p).unwrap();
        assert_eq!(
            field_diff(&sc, &after),
            vec![r#"metadata.annotations: (absent) → {"x":"true"}"#]
        );
    }
}
