//! What a check produces: findings about named objects, each with its fix, linked cause → symptom.

pub mod kubectl;

pub use crate::model::ObjectRef;
use crate::model::{PatchType, Phase, Safety, Severity};
use serde::{Deserialize, Serialize};

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
    pub suppressed: Option<Suppression>,
    /// Log lines that prove the finding's cause.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// The logs the rule's signatures want to read: (signature, log).
    #[serde(skip)]
    pub wants_logs: Vec<(usize, crate::model::LogRef)>,
}

/// A log line that matched one of the rule's signatures.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The signature's name.
    pub signature: String,
    pub log: crate::model::LogRef,
    pub line: String,
    /// What the line proves.
    pub proves: String,
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
    /// Time per stage and per rule, for profiling (`TTDOCTOR_PROFILE=1`).
    #[serde(skip)]
    pub timings: Vec<(String, std::time::Duration)>,
}

/// The outcome of a check, which the binary maps to its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing at or above the failing severity.
    Passed,
    /// A finding at or above the failing severity.
    Failed,
    /// A rule failed to evaluate: the result cannot be trusted.
    RuleErrors,
}

/// The severity at which a run fails (`--fail-on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
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

    /// How the run went, the same for every output format: rule errors first (a broken
    /// rule makes the result untrustworthy), then findings at or above `fail_on`.
    pub fn verdict(&self, fail_on: FailOn) -> Verdict {
        if !self.errors.is_empty() {
            Verdict::RuleErrors
        } else if self.active().any(|f| fail_on.fails(f.severity)) {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }

    /// Marks findings accepted by `suppressions`; expired ones stop suppressing and leave
    /// a note.
    pub fn apply_suppressions(&mut self, suppressions: &[Suppression], today: i64) {
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

/// One accepted exception.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// A rule id or prefix (`TT-MEM-003`, `TT-MEM`).
    pub rule: String,
    /// Which objects; omitted fields match anything, `name` may use `*` globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMatch>,
    /// Why this is acceptable. Mandatory.
    #[serde(default)]
    pub reason: String,
    /// `YYYY-MM-DD`: the last day the suppression applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Suppression {
    pub fn matches(&self, f: &Finding) -> bool {
        f.rule_id.starts_with(&self.rule)
            && self.object.as_ref().is_none_or(|o| o.matches(&f.object))
    }

    pub fn expired(&self, today: i64) -> bool {
        self.expires
            .as_deref()
            .and_then(crate::text::parse_date)
            .is_some_and(|d| d < today)
    }
}

impl ObjectMatch {
    fn matches(&self, o: &ObjectRef) -> bool {
        self.kind
            .as_ref()
            .is_none_or(|k| k.eq_ignore_ascii_case(&o.kind))
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| Some(n) == o.namespace.as_ref())
            && self
                .name
                .as_ref()
                .is_none_or(|n| crate::text::glob(n, &o.name))
    }
}
