//! JUnit XML: one testcase per rule × object, failing for findings at or above `--fail-on`,
//! so a CI test view agrees with the exit code.

use crate::finding::{FailOn, Report, RuleOutcome};
use std::collections::BTreeMap;
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

struct Case {
    name: String,
    classname: String,
    outcome: CaseOutcome,
}

enum CaseOutcome {
    Pass(Option<String>),
    Fail {
        kind: String,
        message: String,
        body: String,
    },
    Skip(String),
}

/// One test case per rule (per rule × object for rules with findings), by category.
fn cases(report: &Report, fail_on: FailOn) -> BTreeMap<(usize, String), Vec<Case>> {
    let mut suites: BTreeMap<(usize, String), Vec<Case>> = BTreeMap::new();
    for r in &report.rules {
        let cases = suites.entry(super::category_rank(&r.category)).or_default();
        let classname = format!("ttdoctor.{}", r.category);
        let findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule_id == r.id)
            .collect();
        match &r.outcome {
            RuleOutcome::Error(reason) => cases.push(Case {
                name: format!("{} {}", r.id, r.title),
                classname,
                outcome: CaseOutcome::Fail {
                    kind: "rule-error".into(),
                    message: reason.clone(),
                    body: report
                        .errors
                        .iter()
                        .filter(|e| e.starts_with(r.id.as_str()))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n"),
                },
            }),
            RuleOutcome::Skipped(reason) => cases.push(Case {
                name: format!("{} {}", r.id, r.title),
                classname,
                outcome: CaseOutcome::Skip(reason.clone()),
            }),
            RuleOutcome::Passed => cases.push(Case {
                name: format!("{} {}", r.id, r.title),
                classname,
                outcome: CaseOutcome::Pass(None),
            }),
            RuleOutcome::Failed => {
                for f in findings {
                    cases.push(Case {
                        name: format!("{} {}", f.rule_id, f.object),
                        classname: classname.clone(),
                        outcome: finding_outcome(f, fail_on),
                    });
                }
            }
        }
    }
    suites
}

fn finding_outcome(f: &crate::finding::Finding, fail_on: FailOn) -> CaseOutcome {
    if f.suppressed.is_none() && fail_on.fails(f.severity) {
        let fix = f
            .fix
            .as_ref()
            .map(|x| {
                format!(
                    "\nfix ({}): {}\n{}",
                    x.safety,
                    x.summary,
                    x.commands.join("\n")
                )
            })
            .unwrap_or_default();
        CaseOutcome::Fail {
            kind: f.severity.to_string(),
            message: f.message.clone(),
            body: format!("{}{fix}", f.message),
        }
    } else {
        let note = match &f.suppressed {
            Some(s) => format!("suppressed: {}", s.reason),
            None => format!("{}: {}", f.severity, f.message),
        };
        CaseOutcome::Pass(Some(note))
    }
}

pub fn to_junit(report: &Report, fail_on: FailOn) -> String {
    let suites = cases(report, fail_on);
    let count = |cases: &[Case], p: fn(&CaseOutcome) -> bool| {
        cases.iter().filter(|c| p(&c.outcome)).count()
    };
    let all: Vec<&Case> = suites.values().flatten().collect();
    let total_fail = all
        .iter()
        .filter(|c| matches!(c.outcome, CaseOutcome::Fail { .. }))
        .count();
    let total_skip = all
        .iter()
        .filter(|c| matches!(c.outcome, CaseOutcome::Skip(_)))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    writeln!(out, "<testsuites name=\"ttdoctor\" tests=\"{}\" failures=\"{total_fail}\" errors=\"{}\" skipped=\"{total_skip}\">", all.len(), report.errors.len()).unwrap();
    for ((_, cat), cases) in &suites {
        writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            esc(cat),
            cases.len(),
            count(cases, |o| matches!(o, CaseOutcome::Fail { .. })),
            count(cases, |o| matches!(o, CaseOutcome::Skip(_)))
        )
        .unwrap();
        for c in cases {
            write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"",
                esc(&c.name),
                esc(&c.classname)
            )
            .unwrap();
            match &c.outcome {
                CaseOutcome::Pass(None) => out.push_str("/>\n"),
                CaseOutcome::Pass(Some(note)) => writeln!(
                    out,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    esc(note)
                )
                .unwrap(),
                CaseOutcome::Skip(reason) => writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(reason)
                )
                .unwrap(),
                CaseOutcome::Fail {
                    kind,
                    message,
                    body,
                } => writeln!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    esc(kind),
                    esc(message),
                    esc(body)
                )
                .unwrap(),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    if !report.errors.is_empty() {
        out.push_str("  <testsuite name=\"rule-errors\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n");
        writeln!(out, "    <testcase name=\"rule evaluation\" classname=\"ttdoctor.engine\">\n      <error message=\"{} rule error(s)\">{}</error>\n    </testcase>", report.errors.len(), esc(&report.errors.join("\n"))).unwrap();
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
