//! The fix journal: every change ttdoctor applied, with the object before and after, so that
//! `fix --undo` can put it back — and refuse when someone changed it since.

use crate::model::ObjectRef;
use crate::model::PatchType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One applied change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Identifies the `fix` (or `fix --undo`) invocation.
    pub run: String,
    /// `fix` or `undo`.
    pub action: String,
    /// For undo entries: the run they reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    pub time: String,
    pub rule: String,
    pub target: ObjectRef,
    pub patch_type: PatchType,
    pub patch: Value,
    pub before: Value,
    pub after: Value,
}

/// Opens a file readable by its owner only: journals and snapshots hold whole objects,
/// which may include environment values.
pub fn private_file(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// A JSON-lines journal file.
pub struct Journal {
    pub path: PathBuf,
}

/// `$XDG_STATE_HOME/ttdoctor/journal.jsonl`, else `~/.local/state/ttdoctor/journal.jsonl`.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("ttdoctor").join("journal.jsonl")
}

/// A run id: UTC time plus the process id, sortable.
pub fn new_run_id() -> String {
    format!("{}-{}", now(), std::process::id())
}

pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Objects as journaled: without managedFields, which are noise and can be large.
pub fn trimmed(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

impl Journal {
    pub fn at(path: Option<&Path>) -> Journal {
        Journal {
            path: path.map_or_else(default_path, Path::to_path_buf),
        }
    }

    /// Appends one entry and flushes it to disk before the next change is made.
    pub fn append(&self, e: &Entry) -> Result<(), String> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        let mut f = private_file(&self.path, true)
            .map_err(|err| format!("cannot open journal {}: {err}", self.path.display()))?;
        let line = serde_json::to_string(e).map_err(|err| err.to_string())?;
        writeln!(f, "{line}")
            .and_then(|_| f.sync_data())
            .map_err(|err| format!("cannot write journal {}: {err}", self.path.display()))
    }

    pub fn entries(&self) -> Result<Vec<Entry>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read journal {}: {e}", self.path.display())),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| format!("{}:{}: {e}", self.path.display(), i + 1))
            })
            .collect()
    }

    /// The most recent `fix` run with changes not reverted yet, and those changes — one
    /// per object: the object's state before the run's first change and after its last.
    /// Commands run in containers (`exec` entries) cannot be undone and are left out.
    pub fn last_undoable_run(&self) -> Result<Option<(String, Vec<Entry>)>, String> {
        let all = self.entries()?;
        let reverted: std::collections::HashSet<(&str, &ObjectRef)> = all
            .iter()
            .filter_map(|e| e.undoes.as_deref().map(|r| (r, &e.target)))
            .collect();
        let pending = |run: &str| -> Vec<Entry> {
            let mut per_object: Vec<Entry> = Vec::new();
            for e in all.iter().filter(|e| e.run == run && e.action == "fix") {
                if reverted.contains(&(run, &e.target)) {
                    continue;
                }
                match per_object.iter_mut().find(|x| x.target == e.target) {
                    Some(x) => x.after = e.after.clone(),
                    None => per_object.push(e.clone()),
                }
            }
            per_object
        };
        let mut runs: Vec<&str> = all
            .iter()
            .filter(|e| e.action == "fix")
            .map(|e| e.run.as_str())
            .collect();
        runs.dedup();
        for run in runs.into_iter().rev() {
            let entries = pending(run);
            if !entries.is_empty() {
                return Ok(Some((run.to_string(), entries)));
            }
        }
        Ok(None)
    }
}

/// The JSON patch that restores the fields a fix changed, each guarded by a `test` that the
/// field still holds what the fix left (or, for a field the fix removed, that its parent
/// does). Other changes to the object since — a kubelet's status update, a controller's
/// annotation — do not block the undo; a change to a field the fix set does.
pub fn inverse_patch(e: &Entry) -> json_patch::Patch {
    let after = strip(&e.after);
    let restore =
        serde_json::to_value(json_patch::diff(&after, &strip(&e.before))).unwrap_or_default();
    let restore = restore.as_array().cloned().unwrap_or_default();
    let mut tests: Vec<Value> = Vec::new();
    for op in &restore {
        let path = op["path"].as_str().unwrap_or_default();
        let (at, value) = match after.pointer(path) {
            Some(v) => (path.to_string(), v.clone()),
            None => {
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p).to_string();
                let v = after.pointer(&parent).cloned().unwrap_or(Value::Null);
                (parent, v)
            }
        };
        let test = serde_json::json!({"op": "test", "path": at, "value": value});
        if !tests.contains(&test) {
            tests.push(test);
        }
    }
    tests.extend(restore);
    serde_json::from_value(Value::Array(tests)).unwrap_or(json_patch::Patch(Vec::new()))
}

/// The object without the fields the server owns, so the diff only restores user fields.
fn strip(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "managedFields",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            m.remove(k);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(run: &str, action: &str, undoes: Option<&str>) -> Entry {
        Entry {
            run: run.into(),
            action: action.into(),
            undoes: undoes.map(String::from),
            time: now(),
            rule: "TT-DB-001".into(),
            target: ObjectRef {
                kind: "Pod".into(),
                namespace: Some("ns".into()),
                name: "p".into(),
            },
            patch_type: PatchType::Json,
            patch: json!([]),
            before: json!({"metadata": {"name": "p", "resourceVersion": "1", "labels": {"role": "follower"}}}),
            after: json!({"metadata": {"name": "p", "resourceVersion": "2", "labels": {"role": "leader"}}}),
        }
    }

    #[test]
    fn inverse_restores_labels_under_a_test_of_what_the_fix_set() {
        let p = inverse_patch(&entry("r1", "fix", None));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!([
            {"op": "test", "path": "/metadata/labels/role", "value": "leader"},
            {"op": "replace", "path": "/metadata/labels/role", "value": "follower"}])
        );
    }

    #[test]
    fn last_undoable_run_skips_undone_runs() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(Some(&dir.path().join("j.jsonl")));
        assert!(j.last_undoable_run().unwrap().is_none());
        j.append(&entry("r1", "fix", None)).unwrap();
        j.append(&entry("r2", "fix", None)).unwrap();
        assert_eq!(j.last_undoable_run().unwrap().unwrap().0, "r2");
        j.append(&entry("r3", "undo", Some("r2"))).unwrap();
        assert_eq!(j.last_undoable_run().unwrap().unwrap().0, "r1");
    }

    #[test]
    fn several_changes_to_one_object_undo_as_one_and_refused_ones_stay_pending() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(Some(&dir.path().join("j.jsonl")));
        let mut second = entry("r1", "fix", None);
        second.before = second.after.clone();
        second.after = json!({"metadata": {"name": "p", "resourceVersion": "3", "labels": {"role": "leader", "x": "y"}}});
        j.append(&entry("r1", "fix", None)).unwrap();
        j.append(&second).unwrap();
        let (_, pending) = j.last_undoable_run().unwrap().unwrap();
        assert_eq!(pending.len(), 1, "one object, one undo");
        assert_eq!(pending[0].before["metadata"]["resourceVersion"], "1");
        assert_eq!(pending[0].after["metadata"]["resourceVersion"], "3");
        // Another object of the same run was reverted: this one is still pending.
        let mut other = entry("u1", "undo", Some("r1"));
        other.target.name = "q".into();
        j.append(&other).unwrap();
        assert_eq!(j.last_undoable_run().unwrap().unwrap().1.len(), 1);
    }
}
