//! Cause → symptom links: every `caused_by` condition evaluated between pairs of findings
//! (findings are few, so pairs are cheap; the snapshot is never scanned here).

use crate::expr::{exec, truthy, values};
use crate::finding::Report;
use crate::rules::Rule;
use kube_cel::cel::{Context, Value};
use std::collections::HashMap;

pub(super) fn link(rules: &[Rule], root: &Context, report: &mut Report, objects: &[Value]) {
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
        // The symptom's own bindings are visible to its link conditions.
        let mut sctx = root.new_inner_scope();
        sctx.add_variable_from_value("params", rule.params.clone());
        sctx.add_variable_from_value("object", objects[i].clone());
        // The signatures the symptom's logs matched: they can settle which cause applies.
        let evidence = f
            .evidence
            .iter()
            .map(|e| values::string(e.signature.clone()))
            .collect();
        sctx.add_variable_from_value("evidence", values::list(evidence));
        let bound = rule
            .shared
            .iter()
            .chain(&rule.lets)
            .try_for_each(|(name, p)| {
                let v = exec(p, &sctx).map_err(|e| {
                    format!("{} caused_by on {}: let {name}: {e}", f.rule_id, f.object)
                })?;
                sctx.add_variable_from_value(name.clone(), v);
                Ok::<(), String>(())
            });
        if let Err(e) = bound {
            errors.push(e);
            continue;
        }
        for (cause_rule, p) in &rule.caused_by {
            // The cause rule's parameters: a link condition reads them rather than repeat them.
            let cause_params = rule_of.get(cause_rule.as_str()).map(|r| r.params.clone());
            for &j in by_rule.get(cause_rule.as_str()).into_iter().flatten() {
                if i == j {
                    continue;
                }
                let mut ctx = sctx.new_inner_scope();
                ctx.add_variable_from_value("cause", objects[j].clone());
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
