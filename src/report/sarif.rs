//! SARIF 2.1.0 output, for code-scanning UIs. Rules carry their help text; a finding's
//! Kubernetes object is a logical location, and the snapshot file (or the cluster) its artifact.

use crate::finding::Report;
use crate::model::Severity;
use crate::rules::Rule;
use serde_json::{Value, json};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warn => "warning",
        Severity::Info => "note",
    }
}

/// `artifact` is the snapshot path, or a URI naming the cluster for live runs.
pub fn to_sarif(report: &Report, rules: &[Rule], artifact: &str) -> String {
    let rule_index: std::collections::HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.spec.id.as_str(), i))
        .collect();
    let driver_rules: Vec<Value> = rules
        .iter()
        .map(|r| {
            let s = &r.spec;
            let fix = s.fix.as_ref().map(|f| format!("\n\nFix ({}): {}", f.safety, f.summary.value.trim())).unwrap_or_default();
            json!({
                "id": s.id,
                "name": s.id.replace('-', ""),
                "shortDescription": {"text": s.title},
                "fullDescription": {"text": s.explanation.trim()},
                "help": {
                    "text": format!("{}{fix}", s.explanation.trim()),
                    "markdown": format!("**{}**\n\n{}{fix}", s.title, s.explanation.trim()),
                },
                "helpUri": s.references.first(),
                "defaultConfiguration": {"level": level(s.severity)},
                "properties": {"category": s.category, "phase": s.phase.to_string(), "tags": [s.category.clone(), "kubernetes"]},
            })
        })
        .map(|mut v| {
            if v["helpUri"].is_null() {
                v.as_object_mut().expect("object").remove("helpUri");
            }
            v
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let fqn = match &f.object.namespace {
                Some(ns) => format!("{ns}/{}/{}", f.object.kind, f.object.name),
                None => format!("{}/{}", f.object.kind, f.object.name),
            };
            let mut text = f.message.clone();
            if let Some(fix) = &f.fix {
                text.push_str(&format!(" Fix ({}): {}", fix.safety, fix.summary));
            }
            let mut r = json!({
                "ruleId": f.rule_id,
                "level": level(f.severity),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": artifact}},
                    "logicalLocations": [{"name": f.object.name, "fullyQualifiedName": fqn, "kind": "resource"}],
                }],
                "partialFingerprints": {"ttdoctorFingerprint/v1": f.fingerprint},
                "properties": {"category": f.category, "objectKind": f.object.kind},
            });
            if let Some(i) = rule_index.get(f.rule_id.as_str()) {
                r["ruleIndex"] = json!(i);
            }
            if let Some(s) = &f.suppressed {
                r["suppressions"] = json!([{"kind": "external", "justification": s.reason}]);
            }
            if !f.caused_by.is_empty() {
                r["relatedLocations"] = Value::Array(
                    f.caused_by
                        .iter()
                        .enumerate()
                        .map(|(n, &c)| {
                            let cf = &report.findings[c];
                            json!({"id": n, "message": {"text": format!("caused by {} {}", cf.rule_id, cf.object)},
                                   "logicalLocations": [{"name": cf.object.name, "kind": "resource"}]})
                        })
                        .collect(),
                );
            }
            r
        })
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ttdoctor",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": driver_rules,
            }},
            "results": results,
            "invocations": [{"executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": report.errors.iter().map(|e| json!({"level": "error", "message": {"text": e}})).collect::<Vec<_>>()}],
        }],
    });
    serde_json::to_string_pretty(&doc).expect("sarif serializes") + "\n"
}
