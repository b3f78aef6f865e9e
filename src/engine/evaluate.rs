//! One rule over its candidates: `where`, the `let`s, `when`, escalation, message and fixes.

use super::{Bound, RunOptions, candidates, render};
use crate::expr::{World, exec, truthy};
use crate::finding::{Finding, Report, RuleOutcome, fingerprint};
use crate::model::{LogRef, ObjectRef};
use crate::rules::{Containers, Rule};
use kube_cel::cel::{Context, Value};

/// Evaluates `rule`, appending its findings (and their objects and bindings, for cause
/// links) and errors.
pub(super) fn rule(
    rule: &Rule,
    world: &World,
    root: &Context,
    opts: &RunOptions,
    report: &mut Report,
    bound: &mut Vec<Bound>,
) -> RuleOutcome {
    let (findings_before, errors_before) = (report.findings.len(), report.errors.len());
    let mut rctx = root.new_inner_scope();
    rctx.add_variable_from_value("params", rule.params.clone());
    let mut shared_ready = rule.shared.is_empty();
    let mut shared = Vec::new();
    if rule.shared_first {
        let Ok(vars) = bind_shared(rule, &mut rctx).map_err(|e| report.errors.push(e)) else {
            return RuleOutcome::Error("1 evaluation error(s)".into());
        };
        shared = vars;
        shared_ready = true;
    }
    // Objects the rule could not judge (`skip`), with the reason.
    let mut skipped: Vec<(ObjectRef, String)> = Vec::new();
    for (obj_ref, obj) in candidates(rule, world, opts) {
        if !shared_ready {
            // Shared bindings (often the costly, cluster-wide ones) wait for the first object
            // that passes `where`.
            let mut ctx = rctx.new_inner_scope();
            ctx.add_variable_from_value("object", obj.clone());
            match passes(rule, &ctx) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) => {
                    report.errors.push(format!(
                        "{} ({}) on {obj_ref}: {e}",
                        rule.spec.id, rule.source
                    ));
                    continue;
                }
            }
            drop(ctx);
            let Ok(vars) = bind_shared(rule, &mut rctx).map_err(|e| report.errors.push(e)) else {
                return RuleOutcome::Error("1 evaluation error(s)".into());
            };
            shared = vars;
            shared_ready = true;
        }
        let mut ctx = rctx.new_inner_scope();
        ctx.add_variable_from_value("object", obj.clone());
        match one(rule, &mut ctx, &obj_ref, &mut skipped) {
            Ok(Some((f, lets))) => {
                report.findings.push(f);
                let vars = shared.iter().cloned().chain(lets).collect();
                bound.push(Bound { object: obj, vars });
            }
            Ok(None) => {}
            Err(e) => report.errors.push(format!(
                "{} ({}) on {obj_ref}: {e}",
                rule.spec.id, rule.source
            )),
        }
    }
    if report.errors.len() > errors_before {
        RuleOutcome::Error(format!(
            "{} evaluation error(s)",
            report.errors.len() - errors_before
        ))
    } else if report.findings.len() > findings_before {
        // Failed all the same; the objects it could not judge are named in a note.
        for (obj, why) in skipped {
            report
                .notes
                .push(format!("{} skipped on {obj}: {why}", rule.spec.id));
        }
        RuleOutcome::Failed
    } else if !skipped.is_empty() {
        // Nothing failed, but not everything was judged: not a pass.
        let mut reasons: Vec<String> = skipped.into_iter().map(|(_, why)| why).collect();
        reasons.dedup();
        RuleOutcome::Skipped(reasons.join("; "))
    } else {
        RuleOutcome::Passed
    }
}

/// Values bound by name, in order.
type Vars = Vec<(String, Value)>;

/// Binds the rule's `shared` values in `rctx`; they are returned for cause links.
fn bind_shared(rule: &Rule, rctx: &mut Context) -> Result<Vars, String> {
    let mut vars = Vec::new();
    for (name, p) in &rule.shared {
        let v = exec(p, rctx)
            .map_err(|e| format!("{} ({}): shared {name}: {e}", rule.spec.id, rule.source))?;
        rctx.add_variable_from_value(name.clone(), v.clone());
        vars.push((name.clone(), v));
    }
    Ok(vars)
}

fn passes(rule: &Rule, ctx: &Context) -> Result<bool, String> {
    match &rule.filter {
        Some(filter) => check(filter, ctx, "applies_to.where"),
        None => Ok(true),
    }
}

fn check(p: &kube_cel::cel::Program, ctx: &Context, what: &str) -> Result<bool, String> {
    truthy(&exec(p, ctx).map_err(|e| format!("{what}: {e}"))?, what)
}

fn one(
    rule: &Rule,
    ctx: &mut Context,
    obj_ref: &ObjectRef,
    skipped: &mut Vec<(ObjectRef, String)>,
) -> Result<Option<(Finding, Vars)>, String> {
    if !passes(rule, ctx)? {
        return Ok(None);
    }
    if let Some((when, reason)) = &rule.skip
        && check(when, ctx, "skip.when")?
    {
        let why = reason
            .render(ctx)
            .map_err(|e| format!("skip.reason: {e}"))?;
        skipped.push((obj_ref.clone(), crate::text::squeeze(&why)));
        return Ok(None);
    }
    let mut lets = Vec::new();
    for (name, p) in &rule.lets {
        let v = exec(p, ctx).map_err(|e| format!("let {name}: {e}"))?;
        ctx.add_variable_from_value(name.clone(), v.clone());
        lets.push((name.clone(), v));
    }
    if !check(&rule.when, ctx, "when")? {
        return Ok(None);
    }
    let mut severity = rule.spec.severity;
    for (p, s) in &rule.escalate {
        if check(p, ctx, "escalate.when")? {
            severity = severity.max(*s);
        }
    }
    // A message is one paragraph, however its YAML was folded.
    let message = crate::text::squeeze(
        &rule
            .message
            .render(ctx)
            .map_err(|e| format!("message: {e}"))?,
    );
    let fix = rule
        .fix
        .as_ref()
        .map(|f| render::fix(f, ctx, "fix"))
        .transpose()?;
    let durable_fix = rule
        .durable_fix
        .as_ref()
        .map(|f| render::fix(f, ctx, "durable_fix"))
        .transpose()?;
    let finding = Finding {
        rule_id: rule.spec.id.clone(),
        title: rule.spec.title.clone(),
        category: rule.spec.category.clone(),
        severity,
        phase: rule.spec.phase,
        fingerprint: fingerprint(&rule.spec.id, obj_ref),
        object: obj_ref.clone(),
        message,
        fix,
        durable_fix,
        caused_by: Vec::new(),
        causes: Vec::new(),
        suppressed: None,
        evidence: Vec::new(),
        wants_logs: wanted_logs(rule, ctx)?,
    };
    Ok(Some((finding, lets)))
}

/// The logs the rule's signatures want for this finding: the pods each names (its
/// `pods` list, or the finding's own pod).
fn wanted_logs(rule: &Rule, ctx: &Context) -> Result<Vec<(usize, LogRef)>, String> {
    let mut out = Vec::new();
    for (i, sig) in rule.log_signatures.iter().enumerate() {
        let pods = match &sig.pods {
            Some(p) => {
                match exec(p, ctx).map_err(|e| format!("log_signatures.{}.pods: {e}", sig.name))? {
                    Value::List(l) => l.to_vec(),
                    other => vec![other],
                }
            }
            None => ctx
                .get_variable("object")
                .map(|v| vec![crate::expr::values::to_value(v.as_ref())])
                .unwrap_or_default(),
        };
        let containers: Vec<String> = match &sig.containers {
            Containers::Named(c) => vec![c.clone()],
            Containers::Listed(p) => match exec(p, ctx)
                .map_err(|e| format!("log_signatures.{}.containers: {e}", sig.name))?
            {
                Value::List(l) => l.iter().map(crate::expr::template::display).collect(),
                other => vec![crate::expr::template::display(&other)],
            },
        };
        for p in &pods {
            let field = |path: &[&str]| -> Option<String> {
                let mut cur = p;
                for f in path {
                    cur = crate::expr::values::get(cur, f)?;
                }
                match cur {
                    Value::String(s) => Some(s.to_string()),
                    _ => None,
                }
            };
            let (Some(ns), Some(pod)) = (
                field(&["metadata", "namespace"]),
                field(&["metadata", "name"]),
            ) else {
                continue;
            };
            for c in &containers {
                out.push((
                    i,
                    LogRef {
                        namespace: ns.clone(),
                        pod: pod.clone(),
                        container: c.clone(),
                        previous: sig.previous,
                    },
                ));
            }
        }
    }
    Ok(out)
}
