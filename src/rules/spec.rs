//! The schema of a rule file. Rules are data: everything a check needs to find, explain and
//! fix one problem lives in one YAML file under `rules/`.

pub use crate::model::{PatchType, Phase, Safety, Severity};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// One rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id, e.g. `TT-STO-001`.
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub phase: Phase,
    pub applies_to: AppliesTo,
    /// Kinds the rule reads besides `applies_to.kind`; when one could not be read the rule
    /// is skipped with the reason.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Objects the rule cannot judge (the data it needs was not collected): not checked, and
    /// the rule is reported skipped with the reason instead of passed.
    #[serde(default)]
    pub skip: Option<Skip>,
    /// Constants the expressions see as `params` (thresholds, image lists, …).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Named expressions evaluated once per run, before any object (they cannot use
    /// `object`): facts about the whole snapshot that every object's check shares.
    #[serde(default)]
    pub shared: Vec<BTreeMap<String, Spanned<String>>>,
    /// Named expressions evaluated in order before `when`; each is a variable afterwards.
    #[serde(default, rename = "let")]
    pub lets: Vec<BTreeMap<String, Spanned<String>>>,
    /// CEL: the rule fires for `object` when this is true.
    pub when: Spanned<String>,
    /// Raise the severity when a further condition holds.
    #[serde(default)]
    pub escalate: Vec<Escalation>,
    /// Template: text with `${cel}` parts.
    pub message: Spanned<String>,
    /// Why this happens, in prose.
    pub explanation: String,
    #[serde(default)]
    pub fix: Option<FixSpec>,
    /// A second fix that removes the root cause rather than the symptom, typically unsafe
    /// (applied only with `fix --unsafe`); planned as its own item.
    #[serde(default)]
    pub durable_fix: Option<FixSpec>,
    /// Findings of other rules that explain this one (cause → symptom).
    #[serde(default)]
    pub caused_by: Vec<CauseLink>,
    /// Lines in container logs that prove (or rule out) this finding's cause: read live for
    /// the pods a finding names (or from a snapshot taken `--with-logs`).
    #[serde(default)]
    pub log_signatures: Vec<LogSignature>,
    /// Upstream issues and documents.
    #[serde(default)]
    pub references: Vec<String>,
}

/// Which objects a rule is evaluated for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    /// A kind (`Pod`, `Node`, …) or `Cluster` for one evaluation over the whole snapshot.
    pub kind: String,
    /// `target` (the namespace given with `-n`, the default for namespaced kinds), `all`,
    /// or a namespace name.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Regular expression the object's name must match entirely.
    #[serde(default)]
    pub name: Option<String>,
    /// Labels the object must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// CEL over `object` and `params`, evaluated before the `let`s: a cheap filter that
    /// spares the rest of the rule for objects that cannot match (like matchConditions).
    #[serde(default, rename = "where")]
    pub filter: Option<Spanned<String>>,
}

/// When an object cannot be judged, and why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skip {
    /// CEL over `object`, `params` and the `shared` bindings (evaluated before the `let`s).
    pub when: Spanned<String>,
    /// Template: the reason shown for the skipped rule.
    pub reason: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub when: Spanned<String>,
    pub severity: Severity,
}

/// A fix, declared as data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSpec {
    pub safety: Safety,
    /// Template: one line saying what the fix does.
    pub summary: Spanned<String>,
    /// Templates: what a person runs when the fix makes no API change (a manual fix, or one
    /// whose patches are all conditioned off). A rendered step with newlines becomes several.
    /// The commands of patches and execs are derived from them, never written.
    #[serde(default)]
    pub steps: Vec<Spanned<String>>,
    /// API changes that carry out the fix (what `ttdoctor fix` applies).
    #[serde(default)]
    pub patches: Vec<PatchSpec>,
    /// Commands run in containers through the pods/exec API (never safe: they change
    /// workloads; no server-side dry run exists for them).
    #[serde(default)]
    pub execs: Vec<ExecSpec>,
}

/// One command in one container.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    /// CEL list: one exec per element, which the other fields see as `item`.
    #[serde(default)]
    pub for_each: Option<Spanned<String>>,
    /// Template.
    pub namespace: Spanned<String>,
    /// Template: the pod.
    pub pod: Spanned<String>,
    /// Template: the container.
    pub container: Spanned<String>,
    /// CEL producing the argv, a list of strings.
    pub command: Spanned<String>,
}

/// One change to one object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSpec {
    /// CEL list: one patch per element, which the other fields see as `item`.
    #[serde(default)]
    pub for_each: Option<Spanned<String>>,
    /// CEL: make this patch only when true (a fix without patches is manual).
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    pub kind: String,
    /// Template; omit for cluster-scoped kinds.
    #[serde(default)]
    pub namespace: Option<Spanned<String>>,
    /// Template.
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub patch_type: PatchType,
    /// CEL producing the patch body (a list of JSON-patch operations, or a merge-patch map).
    pub body: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseLink {
    /// The id of the rule whose findings may cause this one.
    pub rule: String,
    /// CEL over `object` (this finding's object) and `cause` (the other finding's object).
    pub when: Spanned<String>,
}

/// A line in a container's log that proves something about a finding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSignature {
    /// A short name, which `caused_by.when` conditions see in `evidence`.
    pub name: String,
    /// CEL list of the pods whose log to read; the finding's object when it is a pod.
    #[serde(default)]
    pub pods: Option<Spanned<String>>,
    /// The container.
    #[serde(default)]
    pub container: Option<String>,
    /// Or: CEL list of container names (for example the ones crash looping).
    #[serde(default)]
    pub containers: Option<Spanned<String>>,
    /// The log of the container's previous instance (a crash-looping container's last run).
    #[serde(default)]
    pub previous: bool,
    /// A regular expression a log line matches.
    pub pattern: String,
    /// What a matching line proves, in one sentence.
    pub proves: String,
}
