//! Cause → symptom links: every `caused_by` condition evaluated between pairs of findings
//! (findings are few, so pairs are cheap; the snapshot is never scanned here).

use super::Bound;
use crate::expr::{exec, truthy, values};
use crate::finding::Report;
use crate::rules::Rule;
use kube_cel::cel::Context;
use std::collections::HashMap;

pub(super) fn link(rules: &[Rule], root: &Context, report: &mut Report, bound: &[Bound]) {
    let mut by_rule: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in report.findings.iter().enumerate() {
        by_rule.entry(f.rule_id.as_str()).or_default().push(i);
    }
    let rule_of: HashMap<&str, &Rule> = rules.iter().map(|r| (r.spec.id.as_str(), r)).collect();
    let mut links = Vec::new();
    let mut errors = Vec::new();
    for (i, f) in report.findings.iter().enumerate() {
        let Some(rule) = rule_of.get(f.rule_id.as_str()) else {
            continue;
        };
        if rule.caused_by.is_empty() {
            continue;
        }
        // The symptom's own bindings are visible to its link conditions (the values its
        // rule computed for it).
        let mut sctx = root.new_inner_scope();
        sctx.add_variable_from_value("params", rule.params.clone());
        sctx.add_variable_from_value("object", bound[i].object.clone());
        // The signatures the symptom's logs matched: they can settle which cause applies.
        let evidence = f
            .evidence
            .iter()
            .map(|e| values::string(e.signature.clone()))
            .collect();
        sctx.add_variable_from_value("evidence", values::list(evidence));
        for (name, v) in &bound[i].vars {
            sctx.add_variable_from_value(name.clone(), v.clone());
        }
        for (cause_rule, p) in &rule.caused_by {
            // The cause rule's parameters: a link condition reads them rather than repeat them.
            let cause_params = rule_of.get(cause_rule.as_str()).map(|r| r.params.clone());
            for &j in by_rule.get(cause_rule.as_str()).into_iter().flatten() {
                if i == j {
                    continue;
                }
                let mut ctx = sctx.new_inner_scope();
                ctx.add_variable_from_value("cause", bound[j].object.clone());
                if let Some(cp) = &cause_params {
                    ctx.add_variable_from_value("cause_params", cp.clone());
                }
                match exec(p, &ctx).and_then(|v| truthy(&v, "caused_by.when")) {
                    Ok(true) => links.push((j, i)),
                    Ok(false) => {}
                    Err(e) => errors.push(format!(
                        "{} caused_by {cause_rule} on {}: {e}",
                        f.rule_id, f.object
                    )),
                }
            }
        }
    }
    for (cause, symptom) in links {
        report.findings[symptom].caused_by.push(cause);
        report.findings[cause].causes.push(symptom);
    }
    report.errors.extend(errors);
}
