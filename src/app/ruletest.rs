//! Rule tests as data (`ttdoctor test-rules`): every case of every `tests/<RULE>.yaml` is
//! checked against the whole pack, so cause links are tested too; the findings of the rule
//! under test must be exactly the expected ones.

use super::Error;
use crate::engine::{self, RunOptions};
use crate::finding::{Finding, Report};
use crate::index::Index;
use crate::model::ObjectRef;
use crate::rules::cases::{self, Case, CaseFile, Expected};
use crate::rules::{self, Rule};
use std::path::Path;

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub file: String,
    pub rule: String,
    pub case: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

/// A case file: its path and text.
pub type CaseSource = (String, String);

/// The rules and case files of a directory (`DIR/*.yaml`, `DIR/tests/*.yaml`) added to the
/// built-in pack, or the built-in pack and its own cases.
pub fn load(dir: Option<&Path>) -> Result<(Vec<Rule>, Vec<CaseSource>), Error> {
    let rules = rules::load(dir).map_err(|e| super::checker::rule_errors(&e))?;
    let files = match dir {
        Some(d) => {
            let tests = d.join("tests");
            if !tests.is_dir() {
                return Err(Error::Usage(format!(
                    "{} has no tests/ directory of rule cases (tests/<RULE-ID>.yaml)",
                    d.display()
                )));
            }
            rules::read_yaml_files(&tests).map_err(Error::Usage)?
        }
        None => rules::embedded_in("tests")
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
    };
    Ok((rules, files))
}

/// Runs every case of `files` against `rules`.
pub fn run(rules: &[Rule], files: &[(String, String)]) -> Result<Vec<CaseResult>, Error> {
    let mut results = Vec::new();
    for (path, text) in files {
        let file = cases::parse(path, text).map_err(Error::Usage)?;
        if rules::find(rules, &file.rule).is_none() {
            return Err(Error::Usage(format!(
                "{path}: no rule {} (cases must name a loaded rule)",
                file.rule
            )));
        }
        for case in &file.cases {
            let failures = match run_case(rules, &file, case) {
                Ok(report) => compare(&file, case, &report),
                Err(e) => vec![e],
            };
            results.push(CaseResult {
                file: path.clone(),
                rule: file.rule.clone(),
                case: case.name.clone(),
                failures,
            });
        }
    }
    Ok(results)
}

/// The report of the whole pack on one case, the rule under test with the case's params.
pub fn run_case(rules: &[Rule], file: &CaseFile, case: &Case) -> Result<Report, String> {
    let snap = cases::snapshot(file, case)?;
    let mut tuned: Vec<Rule> = Vec::new();
    let rules: &[Rule] = if case.params.is_empty() {
        rules
    } else {
        // Recompile the rule under test so the override does not leak into other cases.
        for r in rules {
            let text = rules::embedded()
                .find(|(p, _)| *p == r.source)
                .map(|(_, t)| t.to_string())
                .or_else(|| std::fs::read_to_string(&r.source).ok())
                .ok_or_else(|| format!("cannot re-read {}", r.source))?;
            tuned.push(rules::compile(&r.source, &text).map_err(|e| e.to_string())?);
        }
        for (k, v) in &case.params {
            rules::set_param(&mut tuned, &file.rule, k, v.clone())?;
        }
        &tuned
    };
    let deployment = match &case.deployment {
        Some(objects) => crate::deploy::Source::Text(
            objects
                .iter()
                .map(|o| format!("---\n{}\n", serde_json::to_string(o).unwrap_or_default()))
                .collect(),
        ),
        None => crate::deploy::Source::default(),
    };
    let opts = RunOptions {
        namespace: file.namespace.clone(),
        phase: case.phase,
        deployment,
    };
    Ok(engine::run(rules, Index::new(snap), &opts))
}

fn qualified(file: &CaseFile, r: &ObjectRef) -> ObjectRef {
    let namespaced =
        crate::snapshot::Kind::parse(&r.kind).is_some_and(crate::snapshot::Kind::namespaced);
    ObjectRef {
        namespace: r
            .namespace
            .clone()
            .or_else(|| namespaced.then(|| file.namespace.clone())),
        ..r.clone()
    }
}

fn compare(file: &CaseFile, case: &Case, report: &Report) -> Vec<String> {
    let mut failures: Vec<String> = report
        .errors
        .iter()
        .map(|e| format!("rule error: {e}"))
        .collect();
    let mut got: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule_id.eq_ignore_ascii_case(&file.rule))
        .collect();
    let outcome = report
        .rules
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(&file.rule))
        .map(|r| &r.outcome);
    if let Some(crate::finding::RuleOutcome::Skipped(why)) = outcome
        && !case.expect.is_empty()
    {
        failures.push(format!("the rule was skipped: {why}"));
    }
    if let Some(part) = &case.skipped {
        match outcome {
            Some(crate::finding::RuleOutcome::Skipped(why)) if why.contains(part.as_str()) => {}
            Some(crate::finding::RuleOutcome::Skipped(why)) => failures.push(format!(
                "skipped because {why:?}, which does not contain {part:?}"
            )),
            other => failures.push(format!("expected the rule skipped, got {other:?}")),
        }
    }
    for want in &case.expect {
        let target = match cases::parse_ref(&want.object) {
            Ok(r) => qualified(file, &r),
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        match got.iter().position(|f| f.object == target) {
            Some(i) => failures.extend(differences(report, got.remove(i), want, file)),
            None => failures.push(format!("expected a finding on {target}, got none")),
        }
    }
    for f in got {
        failures.push(format!("unexpected finding on {}: {}", f.object, f.message));
    }
    failures
}

fn differences(report: &Report, f: &Finding, want: &Expected, file: &CaseFile) -> Vec<String> {
    let mut out = Vec::new();
    let on = &f.object;
    if let Some(s) = want.severity
        && s != f.severity
    {
        out.push(format!("{on}: severity {} , expected {s}", f.severity));
    }
    if let Some(m) = &want.message
        && !f.message.contains(m.as_str())
    {
        out.push(format!(
            "{on}: message {:?} does not contain {m:?}",
            f.message
        ));
    }
    if let Some(causes) = &want.caused_by {
        let mut got: Vec<String> = f
            .caused_by
            .iter()
            .map(|&c| {
                let c = &report.findings[c];
                format!("{} {}", c.rule_id, c.object)
            })
            .collect();
        let mut wanted: Vec<String> = causes
            .iter()
            .map(|c| match c.split_once(' ') {
                Some((rule, obj)) => cases::parse_ref(obj)
                    .map_or_else(|e| e, |r| format!("{rule} {}", qualified(file, &r))),
                None => format!("{c:?} is not `RULE Kind/name`"),
            })
            .collect();
        got.sort();
        wanted.sort();
        if got != wanted {
            out.push(format!("{on}: caused by {got:?}, expected {wanted:?}"));
        }
    }
    if let Some(ev) = &want.evidence {
        let got: Vec<&str> = f.evidence.iter().map(|e| e.signature.as_str()).collect();
        if &got != ev {
            out.push(format!("{on}: evidence {got:?}, expected {ev:?}"));
        }
    }
    if let Some(fx) = &want.fix {
        out.extend(fix_differences(on, "fix", f.fix.as_ref(), fx, file));
    }
    if let Some(fx) = &want.durable_fix {
        out.extend(fix_differences(
            on,
            "durable_fix",
            f.durable_fix.as_ref(),
            fx,
            file,
        ));
    }
    out
}

fn fix_differences(
    on: &ObjectRef,
    what: &str,
    fix: Option<&crate::finding::Fix>,
    want: &cases::ExpectedFix,
    file: &CaseFile,
) -> Vec<String> {
    let Some(fix) = fix else {
        return vec![format!("{on}: expected a {what}, the finding has none")];
    };
    let target =
        |t: &str| cases::parse_ref(t).map_or_else(|e| e, |r| qualified(file, &r).to_string());
    let mut out = Vec::new();
    if let Some(s) = want.safety
        && s != fix.safety
    {
        out.push(format!("{on}: {what} safety {}, expected {s}", fix.safety));
    }
    if let Some(patches) = &want.patches {
        let got: Vec<(String, &serde_json::Value)> = fix
            .patches
            .iter()
            .map(|p| (p.target.to_string(), &p.body))
            .collect();
        let wanted: Vec<(String, &serde_json::Value)> = patches
            .iter()
            .map(|p| (target(&p.target), &p.body))
            .collect();
        if got != wanted {
            out.push(format!(
                "{on}: {what} patches {}, expected {}",
                serde_json::to_string(&got).unwrap_or_default(),
                serde_json::to_string(&wanted).unwrap_or_default()
            ));
        }
    }
    if let Some(execs) = &want.execs {
        let got: Vec<(String, &str, &[String])> = fix
            .execs
            .iter()
            .map(|e| {
                (
                    e.target.to_string(),
                    e.container.as_str(),
                    e.command.as_slice(),
                )
            })
            .collect();
        let wanted: Vec<(String, &str, &[String])> = execs
            .iter()
            .map(|e| {
                (
                    target(&e.target),
                    e.container.as_str(),
                    e.command.as_slice(),
                )
            })
            .collect();
        if got != wanted {
            out.push(format!("{on}: {what} execs {got:?}, expected {wanted:?}"));
        }
    }
    if let Some(commands) = &want.commands
        && commands != &fix.commands
    {
        out.push(format!(
            "{on}: {what} commands {:?}, expected {commands:?}",
            fix.commands
        ));
    }
    out
}

/// The first case of `rule` whose finding has a fix: its finding, for `explain`.
pub fn example(rules: &[Rule], rule: &str) -> Option<Finding> {
    let (path, text) = rules::embedded_in("tests")
        .find(|(_, t)| cases::parse("", t).is_ok_and(|f| f.rule.eq_ignore_ascii_case(rule)))?;
    let file = cases::parse(path, text).ok()?;
    file.cases.iter().find_map(|case| {
        let report = run_case(rules, &file, case).ok()?;
        report
            .findings
            .into_iter()
            .find(|f| f.rule_id.eq_ignore_ascii_case(rule) && f.fix.is_some())
    })
}

/// The results for people: one line per failing case with its failures, then a summary.
pub fn summary(results: &[CaseResult]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let failed: Vec<&CaseResult> = results.iter().filter(|r| !r.failures.is_empty()).collect();
    for r in &failed {
        writeln!(out, "FAIL {} {:?} ({})", r.rule, r.case, r.file).unwrap();
        for f in &r.failures {
            writeln!(out, "     {f}").unwrap();
        }
    }
    let rules: std::collections::BTreeSet<&str> = results.iter().map(|r| r.rule.as_str()).collect();
    writeln!(
        out,
        "{} case(s) of {} rule(s): {} passed, {} failed",
        results.len(),
        rules.len(),
        results.len() - failed.len(),
        failed.len()
    )
    .unwrap();
    out
}
