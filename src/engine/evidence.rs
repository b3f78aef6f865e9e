//! Evidence from container logs: the lines a rule's signatures match in the logs of the pods
//! its findings name. A match is quoted in the finding; a log that cannot be read leaves a
//! note and the check goes on.

use crate::finding::{Evidence, Report};
use crate::model::LogRef;
use crate::rules::Rule;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this much of a matching line is quoted.
const QUOTE: usize = 240;

pub(super) fn attach(
    rules: &[Rule],
    report: &mut Report,
    captured: &BTreeMap<LogRef, String>,
    fetched: &BTreeMap<LogRef, Result<String, String>>,
) {
    let rule_of: HashMap<&str, &Rule> = rules.iter().map(|r| (r.spec.id.as_str(), r)).collect();
    let mut unreadable: BTreeSet<String> = BTreeSet::new();
    for f in &mut report.findings {
        let Some(rule) = rule_of.get(f.rule_id.as_str()) else {
            continue;
        };
        for (sig, log) in std::mem::take(&mut f.wants_logs) {
            let signature = &rule.log_signatures[sig];
            let text = match (captured.get(&log), fetched.get(&log)) {
                (Some(t), _) | (None, Some(Ok(t))) => t,
                (None, Some(Err(why))) => {
                    unreadable.insert(format!("{log} could not be read ({why}): findings that need it rest on the API's view only"));
                    continue;
                }
                (None, None) => continue,
            };
            // The most recent matching line.
            if let Some(line) = text.lines().rev().find(|l| signature.pattern.is_match(l)) {
                let line: String = line.trim().chars().take(QUOTE).collect();
                if !f
                    .evidence
                    .iter()
                    .any(|e| e.log == log && e.signature == signature.name)
                {
                    f.evidence.push(Evidence {
                        signature: signature.name.clone(),
                        log,
                        line,
                        proves: signature.proves.clone(),
                    });
                }
            }
        }
        if let Some(first) = f.evidence.first() {
            f.message = format!(
                "{} Confirmed by {}: \"{}\" ({}).",
                f.message.trim_end(),
                first.log,
                first.line,
                first.proves.trim_end_matches('.')
            );
        }
    }
    report.notes.extend(unreadable);
}
