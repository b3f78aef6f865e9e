//! What a check produces: findings about named objects, each with its fix, linked cause → symptom.

use crate::rules::model::{PatchType, Phase, Safety, Severity};
use serde::Serialize;
use std::fmt;

/// The object a finding is about. `kind: Cluster` for cluster-wide findings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[serde(rename_all = "camelCase")]
pub struct Fix {
    pub safety: Safety,
    pub summary: String,
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub execs: Vec<Exec>,
}

/// A command run in one container through the pods/exec API.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Exec {
    /// The pod.
    pub target: ObjectRef,
    pub container: String,
    pub command: Vec<String>,
}

/// One API change a fix makes.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
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
    /// A second fix that removes the root cause (see the rule's `durable_fix`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durable_fix: Option<Fix>,
    /// Indexes (into the report's findings) of the findings that cause this one.
    #[serde(skip)]
    pub caused_by: Vec<usize>,
    /// Indexes of the findings this one causes.
    #[serde(skip)]
    pub causes: Vec<usize>,
    /// Same rule on the same object → same fingerprint, across runs and sources.
    pub fingerprint: String,
    /// Set when a `.ttdoctor.yaml` suppression accepts this finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<crate::config::Suppression>,
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
    /// The rule's expressions failed on some object: the rule is broken (exit 2).
    Error(String),
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

/// The severity at which a run fails (`--fail-on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    #[default]
    Error,
    Warn,
    Info,
    Never,
}

impl FailOn {
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warn => Some(Severity::Warn),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }

    /// Whether a finding of this severity fails the run.
    pub fn fails(self, s: Severity) -> bool {
        self.threshold().is_some_and(|t| s >= t)
    }
}

impl Report {
    /// Findings that count: not suppressed.
    pub fn active(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_none())
    }

    pub fn max_severity(&self) -> Option<Severity> {
        self.active().map(|f| f.severity).max()
    }

    pub fn count(&self, s: Severity) -> usize {
        self.active().filter(|f| f.severity == s).count()
    }

    pub fn suppressed(&self) -> usize {
        self.findings.len() - self.active().count()
    }

    /// The documented exit code, the same for every output format: 2 when a rule failed to
    /// evaluate, 1 when an unsuppressed finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: FailOn) -> i32 {
        if !self.errors.is_empty() {
            crate::cli::exit::USAGE
        } else if self.active().any(|f| fail_on.fails(f.severity)) {
            crate::cli::exit::FINDINGS
        } else {
            crate::cli::exit::OK
        }
    }

    /// Marks findings accepted by `suppressions`; expired ones stop suppressing and leave
    /// a note.
    pub fn apply_suppressions(&mut self, suppressions: &[crate::config::Suppression], today: i64) {
        for s in suppressions {
            if s.expired(today) {
                let n = self.findings.iter().filter(|f| s.matches(f)).count();
                self.notes.push(format!(
                    "suppression of {} expired on {} and no longer applies ({n} finding(s) back): {}",
                    s.rule,
                    s.expires.as_deref().unwrap_or_default(),
                    s.reason
                ));
                continue;
            }
            for f in self.findings.iter_mut().filter(|f| f.suppressed.is_none()) {
                if s.matches(f) {
                    f.suppressed = Some(s.clone());
                }
            }
        }
    }
}
