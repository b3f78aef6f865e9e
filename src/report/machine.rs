//! The versioned machine-readable report (`-o json` / `-o yaml`), schema
//! `schemas/ttdoctor-report-v1.schema.json`.

use crate::finding::{FailOn, Fix, ObjectRef, Report, RuleOutcome};
use crate::model::{Phase, Severity};
use serde::Serialize;

pub const API_VERSION: &str = "ttdoctor/v1";

/// Where the data came from and how the run was configured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    pub source: String,
    pub namespace: String,
    pub phase: String,
    pub fail_on: FailOn,
    /// The exit code the binary gives this report (the summary repeats it).
    #[serde(skip)]
    pub exit_code: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    summary: Summary,
    findings: Vec<FindingOut<'a>>,
    rules: Vec<RuleOut<'a>>,
    notes: &'a [String],
    errors: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    tool: &'static str,
    version: &'static str,
    #[serde(flatten)]
    run: &'a RunInfo,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    errors: usize,
    warnings: usize,
    info: usize,
    suppressed: usize,
    rules_passed: usize,
    rules_failed: usize,
    rules_skipped: usize,
    exit_code: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FindingOut<'a> {
    rule_id: &'a str,
    title: &'a str,
    severity: Severity,
    category: &'a str,
    phase: Phase,
    object: &'a ObjectRef,
    message: &'a str,
    fingerprint: &'a str,
    /// Fingerprints of the findings that cause this one.
    caused_by: Vec<&'a str>,
    /// Fingerprints of the findings this one causes.
    causes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a Fix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    durable_fix: Option<&'a Fix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<&'a crate::finding::Suppression>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    evidence: &'a [crate::finding::Evidence],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleOut<'a> {
    id: &'a str,
    title: &'a str,
    category: &'a str,
    severity: Severity,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn document<'a>(report: &'a Report, run: &'a RunInfo) -> Document<'a> {
    let fp = |i: &usize| report.findings[*i].fingerprint.as_str();
    let count = |o: fn(&RuleOutcome) -> bool| report.rules.iter().filter(|r| o(&r.outcome)).count();
    Document {
        api_version: API_VERSION,
        kind: "CheckReport",
        metadata: Metadata {
            tool: "ttdoctor",
            version: env!("CARGO_PKG_VERSION"),
            run,
        },
        summary: Summary {
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warn),
            info: report.count(Severity::Info),
            suppressed: report.suppressed(),
            rules_passed: count(|o| *o == RuleOutcome::Passed),
            rules_failed: count(|o| *o == RuleOutcome::Failed),
            rules_skipped: count(|o| matches!(o, RuleOutcome::Skipped(_))),
            exit_code: run.exit_code,
        },
        findings: report
            .findings
            .iter()
            .map(|f| FindingOut {
                rule_id: &f.rule_id,
                title: &f.title,
                severity: f.severity,
                category: &f.category,
                phase: f.phase,
                object: &f.object,
                message: &f.message,
                fingerprint: &f.fingerprint,
                caused_by: f.caused_by.iter().map(fp).collect(),
                causes: f.causes.iter().map(fp).collect(),
                fix: f.fix.as_ref(),
                durable_fix: f.durable_fix.as_ref(),
                suppressed: f.suppressed.as_ref(),
                evidence: &f.evidence,
            })
            .collect(),
        rules: report
            .rules
            .iter()
            .map(|r| RuleOut {
                id: &r.id,
                title: &r.title,
                category: &r.category,
                severity: r.severity,
                status: match r.outcome {
                    RuleOutcome::Passed => "passed",
                    RuleOutcome::Failed => "failed",
                    RuleOutcome::Skipped(_) => "skipped",
                    RuleOutcome::Error(_) => "error",
                },
                reason: match &r.outcome {
                    RuleOutcome::Skipped(s) | RuleOutcome::Error(s) => Some(s),
                    _ => None,
                },
            })
            .collect(),
        notes: &report.notes,
        errors: &report.errors,
    }
}

pub fn to_json(report: &Report, run: &RunInfo) -> String {
    serde_json::to_string_pretty(&document(report, run)).expect("report serializes") + "\n"
}

pub fn to_yaml(report: &Report, run: &RunInfo) -> String {
    // Through JSON values so YAML and JSON carry exactly the same document.
    let v = serde_json::to_value(document(report, run)).expect("report serializes");
    serde_saphyr::to_string(&v).expect("report serializes")
}
