//! A rule's tests, as data (like `kyverno test`): small cases of a few objects each, with the
//! findings the rule must give — or an empty list where it must not fire. One file per rule,
//! `tests/<RULE-ID>.yaml` beside the rule files.
//!
//! ```yaml
//! rule: TT-DB-001
//! cases:
//!   - name: no pod carries the leader label
//!     objects:                      # only the fields that matter
//!       - {kind: Service, metadata: {name: tsdb-mysql-leader}, spec: {selector: {app: tsdb, role: leader}}}
//!       - kind: Pod
//!         metadata: {name: tsdb-mysql-0, labels: {app: tsdb, role: follower}}
//!         status: {conditions: [{type: Ready, status: "True"}]}
//!     expect:
//!       - object: Service/tsdb-mysql-leader
//!         severity: error
//!         message: has no endpoints          # a part of the message
//!   - name: a leader exists
//!     objects: [...]
//!     expect: []                            # must not fire
//! ```

use crate::model::{ObjectRef, Phase, Safety, Severity};
use crate::snapshot::{Kind, Snapshot};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One rule's test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The rule under test.
    pub rule: String,
    /// The namespace the cases check (`-n`); objects without one are put there.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub cases: Vec<Case>,
}

fn default_namespace() -> String {
    crate::pack::DEFAULT_NAMESPACE.into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// `pre`, `post` or `both` (default).
    #[serde(default = "default_phase")]
    pub phase: Phase,
    /// Parameter overrides for the rule under test.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Kinds to treat as unreadable (`Event: forbidden`), as a live read would.
    #[serde(default)]
    pub unavailable: BTreeMap<String, String>,
    pub objects: Vec<Value>,
    /// Container log tails, as `snapshot --with-logs` captures them: `{pod, container,
    /// previous, text}` (the namespace defaults to the file's).
    #[serde(default)]
    pub logs: Vec<CaseLog>,
    /// The deployment the rules compare the cluster with (manifests, as `helm template`
    /// prints them); the built-in `default` profile when absent.
    #[serde(default)]
    pub deployment: Option<Vec<Value>>,
    /// The rule's findings, all of them; `[]` when it must not fire.
    pub expect: Vec<Expected>,
    /// The rule must report itself skipped (its `skip`, or a kind it needs missing), with a
    /// reason containing this.
    #[serde(default)]
    pub skipped: Option<String>,
}

fn default_phase() -> Phase {
    Phase::Both
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseLog {
    #[serde(default)]
    pub namespace: Option<String>,
    pub pod: String,
    pub container: String,
    #[serde(default)]
    pub previous: bool,
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// `Kind/name` or `Kind/namespace/name` (`Cluster/cluster` for cluster-wide findings).
    pub object: String,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// A part of the message.
    #[serde(default)]
    pub message: Option<String>,
    /// Findings of other rules that must be linked as causes: `RULE Kind/name`.
    #[serde(default)]
    pub caused_by: Option<Vec<String>>,
    /// The log signatures that matched (their names), in order.
    #[serde(default)]
    pub evidence: Option<Vec<String>>,
    #[serde(default)]
    pub fix: Option<ExpectedFix>,
    /// The rule's `durable_fix`, checked the same way.
    #[serde(default)]
    pub durable_fix: Option<ExpectedFix>,
}

/// What the finding's fix must be.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFix {
    #[serde(default)]
    pub safety: Option<Safety>,
    /// Every patch, exactly: `{target: Kind/[ns/]name, body: …}`.
    #[serde(default)]
    pub patches: Option<Vec<ExpectedPatch>>,
    /// Every command run in a container, exactly, in order.
    #[serde(default)]
    pub execs: Option<Vec<ExpectedExec>>,
    /// Every command shown, exactly.
    #[serde(default)]
    pub commands: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedExec {
    /// The pod: `Pod/name` or `Pod/namespace/name`.
    pub target: String,
    pub container: String,
    pub command: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPatch {
    pub target: String,
    pub body: Value,
}

/// Parses `Kind/name` or `Kind/namespace/name`.
pub fn parse_ref(s: &str) -> Result<ObjectRef, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let (kind, namespace, name) = match parts[..] {
        [k, n] => (k, None, n),
        [k, ns, n] => (k, Some(ns.to_string()), n),
        _ => return Err(format!("{s:?} is not Kind/name or Kind/namespace/name")),
    };
    let kind = if kind == "Cluster" {
        kind.to_string()
    } else {
        Kind::parse(kind)
            .ok_or_else(|| format!("{s:?}: unknown kind {kind:?}"))?
            .name()
            .to_string()
    };
    Ok(ObjectRef {
        kind,
        namespace,
        name: name.to_string(),
    })
}

/// Reads a case file; errors name the file.
pub fn parse(file: &str, text: &str) -> Result<CaseFile, String> {
    serde_saphyr::from_str(text)
        .map_err(|e| format!("{file}: {}", crate::text::first_line(&e.to_string())))
}

/// The snapshot of a case: its objects with what the API server would have filled in
/// (`apiVersion`, the namespace, a uid, a pod's empty container list), every kind read.
pub fn snapshot(file: &CaseFile, case: &Case) -> Result<Snapshot, String> {
    let mut snap = Snapshot::default();
    snap.read.extend(
        Kind::ALL
            .iter()
            .filter(|k| !k.meta().optional && !k.meta().local),
    );
    for (i, obj) in case.objects.iter().enumerate() {
        let at = format!("objects[{i}]");
        let name = obj
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}: no `kind`"))?;
        let kind = Kind::from_type(name, obj.get("apiVersion").and_then(Value::as_str))
            .ok_or_else(|| format!("{at}: unknown kind {name:?}"))?;
        let filled = with_defaults(obj.clone(), kind, &file.namespace, i);
        snap.insert_value(kind, filled)
            .map_err(|e| format!("{at}: not a valid {name}: {e}"))?;
    }
    for l in &case.logs {
        let r = crate::model::LogRef {
            namespace: l
                .namespace
                .clone()
                .unwrap_or_else(|| file.namespace.clone()),
            pod: l.pod.clone(),
            container: l.container.clone(),
            previous: l.previous,
        };
        snap.logs.insert(r, l.text.clone());
    }
    for (k, reason) in &case.unavailable {
        let kind = Kind::parse(k).ok_or_else(|| format!("unavailable: unknown kind {k:?}"))?;
        snap.unavailable.insert(kind, reason.clone());
    }
    Ok(snap)
}

fn with_defaults(mut obj: Value, kind: Kind, namespace: &str, i: usize) -> Value {
    let o = obj.as_object_mut().expect("checked: has a kind");
    o.entry("apiVersion").or_insert(kind.api_version().into());
    let meta = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(m) = meta.as_object_mut() {
        if kind.namespaced() {
            m.entry("namespace").or_insert(namespace.into());
        }
        m.entry("uid")
            .or_insert_with(|| format!("00000000-0000-4000-8000-{i:012}").into());
    }
    if kind == Kind::Pod
        && let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.entry("containers").or_insert(Value::Array(Vec::new()));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_and_defaults() {
        assert_eq!(parse_ref("svc/tt/x").unwrap().to_string(), "Service tt/x");
        assert_eq!(parse_ref("Cluster/cluster").unwrap().kind, "Cluster");
        assert!(parse_ref("Widget/x").is_err());
        let file = parse(
            "t.yaml",
            "rule: X-1\ncases:\n- name: c\n  objects:\n  - {kind: Pod, metadata: {name: p}, spec: {}}\n  expect: []\n",
        )
        .unwrap();
        let snap = snapshot(&file, &file.cases[0]).unwrap();
        let pod = snap.objects.pods[0].get();
        assert_eq!(pod.metadata.namespace.as_deref(), Some("train-ticket"));
        assert!(pod.metadata.uid.is_some());
        assert!(snap.available(Kind::Node) && !snap.available(Kind::NodeMetrics));
    }
}
