//! What a check produces: findings about named objects, each with its fix, linked cause → symptom.

use crate::rules::model::{PatchType, Phase, Safety, Severity};
use serde::Serialize;
use std::fmt;

/// The object a finding is about. `kind: Cluster` for cluster-wide findings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A fix rendered for one finding.
#[derive(Clone, Debug, Serialize)]
pub struct Fix {
    pub safety: Safety,
    pub summary: String,
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
}

/// One API change a fix makes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Patch {
    pub target: ObjectRef,
    #[serde(rename = "type")]
    pub patch_type: PatchType,
    pub body: serde_json::Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub phase: Phase,
    pub object: ObjectRef,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// Indexes (into the report's findings) of the findings that cause this one.
    #[serde(skip)]
    pub caused_by: Vec<usize>,
    /// Indexes of the findings this one causes.
    #[serde(skip)]
    pub causes: Vec<usize>,
    /// Same rule on the same object → same fingerprint, across runs and sources.
    pub fingerprint: String,
}

/// Stable, short identity of a (rule, object) pair: FNV-1a 64 in hex.
pub fn fingerprint(rule_id: &str, object: &ObjectRef) -> String {
    let text = format!(
        "{rule_id}\0{}\0{}\0{}",
        object.kind,
        object.namespace.as_deref().unwrap_or(""),
        object.name
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// How one rule fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum RuleOutcome {
    Passed,
    Failed,
    /// Not run: wrong phase, or the data it needs could not be read.
    Skipped(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleResult {
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    #[serde(flatten)]
    pub outcome: RuleOutcome,
}

/// The result of one check run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub rules: Vec<RuleResult>,
    /// Things the reader should know about the data (metrics missing, kinds ignored, …).
    pub notes: Vec<String>,
    /// Rule expressions that failed to evaluate (a defect in a rule).
    pub errors: Vec<String>,
}

impl Report {
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
}
