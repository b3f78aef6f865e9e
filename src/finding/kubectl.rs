//! The kubectl command that makes the same change as a patch or an exec, derived from it so
//! that what a fix shows and what it applies never disagree.

use super::{Exec, Patch};
use crate::model::PatchType;
use crate::snapshot::Kind;
use crate::text::shell_quote;
use serde_json::Value;

/// `(plural, singular, " -n ns")`: kubectl takes either name; `patch` commands have always
/// used the plural, `label`/`annotate` the singular.
fn resource_and_ns(p: &Patch) -> (String, String, String) {
    let singular = p.target.kind.to_lowercase();
    let plural = Kind::parse(&p.target.kind).map_or(singular.clone(), |k| k.plural().to_string());
    let ns = p
        .target
        .namespace
        .as_ref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    (plural, singular, ns)
}

/// The command for one patch: `kubectl label`/`annotate`/`taint` when the patch is only
/// that (keeping a resourceVersion precondition as `--resource-version`), else
/// `kubectl patch` with the exact body, preconditions included.
pub fn patch_command(p: &Patch) -> String {
    let (plural, singular, ns) = resource_and_ns(p);
    let target = format!("{plural} {}{ns}", p.target.name);
    let one = format!("{singular} {}{ns}", p.target.name);
    if let Some(cmd) = metadata_command(p, &one).or_else(|| taint_command(p, &target)) {
        return cmd;
    }
    exact(&target, p)
}

/// `kubectl patch` with the exact body, preconditions included: what the fix plan shows
/// beside each change, so replaying it by hand guards against concurrent changes the same way.
pub fn exact_patch_command(p: &Patch) -> String {
    let (plural, _, ns) = resource_and_ns(p);
    exact(&format!("{plural} {}{ns}", p.target.name), p)
}

fn exact(target: &str, p: &Patch) -> String {
    let ty = match p.patch_type {
        PatchType::Json => "json",
        PatchType::Merge => "merge",
    };
    let body = p.body.to_string().replace('\'', "'\\''");
    format!("kubectl patch {target} --type={ty} -p '{body}'")
}

/// `key=value` or `key-` changes of labels or annotations, if that is all the patch does.
fn metadata_command(p: &Patch, target: &str) -> Option<String> {
    let (field, changes, rv) = match p.patch_type {
        PatchType::Json => {
            let mut field = None;
            let mut changes = Vec::new();
            for op in p.body.as_array()? {
                let path = op["path"].as_str()?;
                let kind = op["op"].as_str()?;
                if kind == "test" {
                    continue;
                }
                let (f, key) = path
                    .strip_prefix("/metadata/labels/")
                    .map(|k| ("label", k))
                    .or_else(|| {
                        path.strip_prefix("/metadata/annotations/")
                            .map(|k| ("annotate", k))
                    })?;
                if field.is_some_and(|x| x != f) {
                    return None;
                }
                field = Some(f);
                let key = key.replace("~1", "/").replace("~0", "~");
                changes.push(match (kind, op["value"].as_str()) {
                    ("remove", _) => format!("{key}-"),
                    ("add" | "replace", Some(v)) => format!("{key}={}", shell_quote(v)),
                    _ => return None,
                });
            }
            (field?, changes, None)
        }
        PatchType::Merge => {
            let meta = p.body.as_object()?;
            if meta.len() != 1 {
                return None;
            }
            let meta = meta.get("metadata")?.as_object()?;
            let rv = meta
                .get("resourceVersion")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            let others: Vec<&String> = meta.keys().filter(|k| *k != "resourceVersion").collect();
            let [key] = others[..] else { return None };
            let field = match key.as_str() {
                "labels" => "label",
                "annotations" => "annotate",
                _ => return None,
            };
            let mut changes = Vec::new();
            for (k, v) in meta[key].as_object()? {
                changes.push(match v {
                    Value::Null => format!("{k}-"),
                    Value::String(s) => format!("{k}={}", shell_quote(s)),
                    _ => return None,
                });
            }
            (field, changes, rv.map(String::from))
        }
    };
    if changes.is_empty() {
        return None;
    }
    let rv = rv
        .map(|r| format!(" --resource-version={r}"))
        .unwrap_or_default();
    Some(format!(
        "kubectl {field} {target} {} --overwrite{rv}",
        changes.join(" ")
    ))
}

/// `[test /spec/taints A, replace /spec/taints B]` on a node: the taints removed and added.
fn taint_command(p: &Patch, target: &str) -> Option<String> {
    let ops = p.body.as_array()?;
    let [test, replace] = &ops[..] else {
        return None;
    };
    if test["op"] != "test"
        || replace["op"] != "replace"
        || test["path"] != "/spec/taints"
        || replace["path"] != "/spec/taints"
    {
        return None;
    }
    let before = test["value"].as_array()?;
    let after = replace["value"].as_array()?;
    let show = |t: &Value, suffix: &str| -> Option<String> {
        let key = t["key"].as_str()?;
        let value = t["value"]
            .as_str()
            .map(|v| format!("={v}"))
            .unwrap_or_default();
        Some(format!("{key}{value}:{}{suffix}", t["effect"].as_str()?))
    };
    let mut changes = Vec::new();
    for t in before.iter().filter(|t| !after.contains(t)) {
        changes.push(show(t, "-")?);
    }
    for t in after.iter().filter(|t| !before.contains(t)) {
        changes.push(show(t, "")?);
    }
    (!changes.is_empty()).then(|| format!("kubectl taint {target} {}", changes.join(" ")))
}

/// The command for one exec: `kubectl exec POD -n NS -c CONTAINER -- argv…`.
pub fn exec_command(e: &Exec) -> String {
    let argv: Vec<String> = e.command.iter().map(|a| shell_quote(a)).collect();
    let ns = e.target.namespace.as_deref().unwrap_or("default");
    format!(
        "kubectl exec {} -n {ns} -c {} -- {}",
        e.target.name,
        e.container,
        argv.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectRef;
    use serde_json::json;

    fn patch(kind: &str, ns: Option<&str>, ty: PatchType, body: Value) -> Patch {
        Patch {
            target: ObjectRef {
                kind: kind.into(),
                namespace: ns.map(String::from),
                name: "x".into(),
            },
            patch_type: ty,
            body,
        }
    }

    #[test]
    fn commands_follow_the_patch() {
        let label = patch(
            "Pod",
            Some("tt"),
            PatchType::Json,
            json!([
            {"op": "test", "path": "/metadata/labels/role", "value": "follower"},
            {"op": "add", "path": "/metadata/labels/role", "value": "leader"}]),
        );
        assert_eq!(
            patch_command(&label),
            "kubectl label pod x -n tt role=leader --overwrite"
        );
        let ann = patch(
            "StorageClass",
            None,
            PatchType::Merge,
            json!({"metadata": {"resourceVersion": "7",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "false", "storageclass.beta.kubernetes.io/is-default-class": "false"}}}),
        );
        assert_eq!(
            patch_command(&ann),
            "kubectl annotate storageclass x storageclass.beta.kubernetes.io/is-default-class=false storageclass.kubernetes.io/is-default-class=false --overwrite --resource-version=7"
        );
        let taint = patch(
            "Node",
            None,
            PatchType::Json,
            json!([
            {"op": "test", "path": "/spec/taints", "value": [{"key": "k", "effect": "NoSchedule"}, {"key": "p", "effect": "PreferNoSchedule"}]},
            {"op": "replace", "path": "/spec/taints", "value": [{"key": "p", "effect": "PreferNoSchedule"}]}]),
        );
        assert_eq!(patch_command(&taint), "kubectl taint nodes x k:NoSchedule-");
        let other = patch(
            "Node",
            None,
            PatchType::Json,
            json!([{"op": "add", "path": "/spec/unschedulable", "value": true}]),
        );
        assert_eq!(
            patch_command(&other),
            r#"kubectl patch nodes x --type=json -p '[{"op":"add","path":"/spec/unschedulable","value":true}]'"#
        );
        let exec = Exec {
            target: ObjectRef {
                kind: "Pod".into(),
                namespace: Some("tt".into()),
                name: "p".into(),
            },
            container: "mysql".into(),
            command: vec!["mysql".into(), "-e".into(), "SELECT 1;".into()],
        };
        assert_eq!(
            exec_command(&exec),
            "kubectl exec p -n tt -c mysql -- mysql -e \"SELECT 1;\""
        );
    }
}
