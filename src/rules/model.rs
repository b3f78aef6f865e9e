//! The schema of a rule file. Rules are data: everything a check needs to find, explain and
//! fix one problem lives in one YAML file under `rules/`.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

/// How bad a finding is. Ordered: `Info < Warn < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        })
    }
}

/// When a rule is meaningful: before TrainTicket is deployed, after, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Pre,
    Post,
    Both,
}

impl Phase {
    /// Whether a rule of this phase runs when the user asked for `selected`.
    pub fn runs_in(self, selected: Phase) -> bool {
        self == Phase::Both || selected == Phase::Both || self == selected
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
            Phase::Both => "both",
        })
    }
}

/// Whether `ttdoctor fix --auto` may apply a fix on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Safety {
    /// Metadata-only and reversible (labels, annotations, taints).
    Safe,
    /// Restarts or changes workloads or data; needs `--unsafe`.
    Unsafe,
    /// Steps a person runs; never applied by ttdoctor.
    Manual,
}

impl fmt::Display for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Safety::Safe => "safe",
            Safety::Unsafe => "unsafe",
            Safety::Manual => "manual",
        })
    }
}

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
    /// Templates: exact commands; a rendered command with newlines becomes several.
    #[serde(default)]
    pub commands: Vec<Spanned<String>>,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    Json,
    Merge,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseLink {
    /// The id of the rule whose findings may cause this one.
    pub rule: String,
    /// CEL over `object` (this finding's object) and `cause` (the other finding's object).
    pub when: Spanned<String>,
}
