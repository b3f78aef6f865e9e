//! Evaluates compiled rules against a snapshot and links findings cause → symptom.

pub mod functions;
pub mod template;
pub mod values;

use crate::finding::{
    Finding, Fix, ObjectRef, Patch, Report, RuleOutcome, RuleResult, fingerprint,
};
use crate::index::Index;
use crate::rules::model::Phase;
use crate::rules::{Rule, Target};
use crate::snapshot::Kind;
use functions::World;
use kube_cel::KubeCelExt;
use kube_cel::cel::{Context, Program, Value};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use values::{field, str_at, string};

/// CEL built-ins and macros, and the kube-cel library, besides our own helpers.
const BUILTINS: &[&str] = &[
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "contains",
    "size",
    "max",
    "min",
    "startsWith",
    "endsWith",
    "string",
    "bytes",
    "double",
    "int",
    "uint",
    "optional.none",
    "optional.of",
    "optional.ofNonZeroValue",
    "value",
    "hasValue",
    "or",
    "orValue",
    "matches",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "substring",
    "trim",
    "join",
    "reverse",
    "strings.quote",
    "format",
    "distinct",
    "flatten",
    "sort",
    "sum",
    "first",
    "last",
    "slice",
    "isSorted",
    "lists.range",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    "find",
    "findAll",
    "quantity",
    "isQuantity",
    "asInteger",
    "asApproximateFloat",
    "isInteger",
    "isGreaterThan",
    "isLessThan",
    "compareTo",
    "add",
    "sub",
    "sign",
    "math.greatest",
    "math.least",
    "math.ceil",
    "math.floor",
    "math.round",
    "math.abs",
    "math.sign",
    "math.trunc",
    "math.sqrt",
    "math.isNaN",
    "math.isInf",
    "math.isFinite",
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    "url",
    "isURL",
    "ip",
    "isIP",
    "cidr",
    "isCIDR",
    "base64.encode",
    "base64.decode",
];

/// Whether an expression may call `name`. Operators (`_==_`, `@in`, `!_`) always exist.
pub fn known_function(name: &str) -> bool {
    !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || functions::NAMES.contains(&name)
        || BUILTINS.contains(&name)
        // `math.least(…)` is recorded as a call of `least` on `math`.
        || BUILTINS.iter().any(|b| b.rsplit_once('.').is_some_and(|(_, f)| f == name))
}

/// The first line of a possibly long error text.
pub fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Namespace for namespaced rules (`applies_to.namespace: target`).
    pub namespace: String,
    pub phase: Phase,
}

/// Runs `rules` over the snapshot in `ix`.
pub fn run(rules: &[Rule], ix: Index, opts: &RunOptions) -> Report {
    let t0 = std::time::Instant::now();
    let world = Arc::new(World::new(ix));
    let profile = std::env::var_os("TTDOCTOR_PROFILE").is_some();
    if profile {
        eprintln!("world: {:?}", t0.elapsed());
    }
    let mut root = Context::default().with_all();
    functions::register(&mut root, &world);
    root.add_variable_from_value("namespace", string(opts.namespace.clone()));

    let mut report = Report::default();
    // The object value of each finding, for cause links.
    let mut objects: Vec<Value> = Vec::new();
    for rule in rules {
        let outcome = match skip_reason(rule, &world, opts) {
            Some(reason) => RuleOutcome::Skipped(reason),
            None => {
                let before = report.findings.len();
                let errors_before = report.errors.len();
                let t = std::time::Instant::now();
                evaluate(rule, &world, &root, opts, &mut report, &mut objects);
                if profile {
                    eprintln!("{}: {:?}", rule.spec.id, t.elapsed());
                }
                if report.errors.len() > errors_before {
                    RuleOutcome::Error(format!(
                        "{} evaluation error(s)",
                        report.errors.len() - errors_before
                    ))
                } else if report.findings.len() > before {
                    RuleOutcome::Failed
                } else {
                    RuleOutcome::Passed
                }
            }
        };
        report.rules.push(RuleResult {
            id: rule.spec.id.clone(),
            title: rule.spec.title.clone(),
            category: rule.spec.category.clone(),
            severity: rule.spec.severity,
            outcome,
        });
    }
    link_causes(rules, &root, &mut report, &objects);
    if !world.ix.has(Kind::NodeMetrics) {
        report.notes.push(
            "node metrics unavailable (no NodeMetricsList / metrics-server): memory checks use requests and limits only".into(),
        );
    }
    report.notes.extend(world.ix.snap.notes.iter().cloned());
    if world.ix.has(Kind::NodeMetrics) {
        // metrics-server leaves out nodes it could not scrape — often the overloaded one.
        let unmeasured: Vec<String> = world
            .ix
            .snap
            .nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .filter(|n| world.ix.node_memory(n).usage.is_none())
            .collect();
        if !unmeasured.is_empty() {
            report.notes.push(format!(
                "no metrics for node(s) {}: their memory is judged by requests and limits only",
                unmeasured.join(", ")
            ));
        }
    }
    for (kind, n) in &world.ix.snap.ignored_kinds {
        report
            .notes
            .push(format!("ignored {n} object(s) of kind {kind}"));
    }
    report
}

fn skip_reason(rule: &Rule, world: &World, opts: &RunOptions) -> Option<String> {
    if !rule.spec.phase.runs_in(opts.phase) {
        return Some(format!(
            "{}-deploy check; --phase {}",
            rule.spec.phase, opts.phase
        ));
    }
    let own = match rule.target {
        Target::Kind(k) => Some(k),
        Target::Cluster => None,
    };
    let groups = own
        .map(|k| vec![k])
        .into_iter()
        .chain(rule.requires.iter().cloned());
    for group in groups {
        // Readable when any alternative is; otherwise say why the first one is not.
        if group.iter().any(|&k| world.ix.has(k)) {
            continue;
        }
        return Some(match group.first() {
            Some(Kind::NodeMetrics) | None => "node metrics unavailable".into(),
            Some(k) => world
                .ix
                .snap
                .unavailable
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("{k} unavailable")),
        });
    }
    None
}

fn namespace_of_rule(rule: &Rule, opts: &RunOptions) -> Option<String> {
    match rule.spec.applies_to.namespace.as_deref() {
        Some("all") => None,
        None | Some("target") => Some(opts.namespace.clone()),
        Some(ns) => Some(ns.to_string()),
    }
}

/// The candidates a rule runs on, with the reference each finding will name.
fn candidates(rule: &Rule, world: &World, opts: &RunOptions) -> Vec<(ObjectRef, Value)> {
    let kind = match rule.target {
        Target::Cluster => {
            let obj = ObjectRef {
                kind: "Cluster".into(),
                namespace: None,
                name: "cluster".into(),
            };
            return vec![(obj, values::map(vec![]))];
        }
        Target::Kind(k) => k,
    };
    let want_ns = if kind.namespaced() {
        namespace_of_rule(rule, opts)
    } else {
        None
    };
    world
        .objects(kind)
        .iter()
        .filter_map(|v| {
            let ns = str_at(v, &["metadata", "namespace"]);
            let name = str_at(v, &["metadata", "name"]).unwrap_or_default();
            if want_ns.as_ref().is_some_and(|w| ns.as_ref() != Some(w)) {
                return None;
            }
            if rule.name_re.as_ref().is_some_and(|re| !re.is_match(&name)) {
                return None;
            }
            let labels = field(v, "metadata").and_then(|m| field(m, "labels"));
            let label_ok = rule.spec.applies_to.labels.iter().all(|(k, want)| {
                labels
                    .and_then(|l| field(l, k))
                    .is_some_and(|got| matches!(got, Value::String(s) if s.as_str() == want))
            });
            label_ok.then(|| {
                (
                    ObjectRef {
                        kind: kind.name().into(),
                        namespace: ns,
                        name,
                    },
                    v.clone(),
                )
            })
        })
        .collect()
}

pub(crate) fn exec(p: &Program, ctx: &Context) -> Result<Value, String> {
    // A rule must never take the run down; the CEL interpreter can panic on odd input.
    match std::panic::catch_unwind(AssertUnwindSafe(|| p.execute(ctx))) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("expression evaluation panicked".into()),
    }
}

fn truthy(v: &Value, what: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "{what} must be a bool, got {}",
            template::display(other)
        )),
    }
}

fn evaluate(
    rule: &Rule,
    world: &World,
    root: &Context,
    opts: &RunOptions,
    report: &mut Report,
    objects: &mut Vec<Value>,
) {
    let mut rctx = root.new_inner_scope();
    rctx.add_variable_from_value("params", rule.params.clone());
    for (name, p) in &rule.shared {
        match exec(p, &rctx) {
            Ok(v) => rctx.add_variable_from_value(name.clone(), v),
            Err(e) => {
                report.errors.push(format!(
                    "{} ({}): shared {name}: {e}",
                    rule.spec.id, rule.source
                ));
                return;
            }
        }
    }
    for (obj_ref, obj) in candidates(rule, world, opts) {
        let mut ctx = rctx.new_inner_scope();
        ctx.add_variable_from_value("object", obj.clone());
        match evaluate_one(rule, &mut ctx, &obj_ref) {
            Ok(Some(f)) => {
                report.findings.push(f);
                objects.push(obj);
            }
            Ok(None) => {}
            Err(e) => report.errors.push(format!(
                "{} ({}) on {obj_ref}: {e}",
                rule.spec.id, rule.source
            )),
        }
    }
}

fn evaluate_one(
    rule: &Rule,
    ctx: &mut Context,
    obj_ref: &ObjectRef,
) -> Result<Option<Finding>, String> {
    if let Some(filter) = &rule.filter
        && !truthy(
            &exec(filter, ctx).map_err(|e| format!("applies_to.where: {e}"))?,
            "applies_to.where",
        )?
    {
        return Ok(None);
    }
    for (name, p) in &rule.lets {
        let v = exec(p, ctx).map_err(|e| format!("let {name}: {e}"))?;
        ctx.add_variable_from_value(name.clone(), v);
    }
    if !truthy(
        &exec(&rule.when, ctx).map_err(|e| format!("when: {e}"))?,
        "when",
    )? {
        return Ok(None);
    }
    let mut severity = rule.spec.severity;
    for (p, s) in &rule.escalate {
        if truthy(
            &exec(p, ctx).map_err(|e| format!("escalate: {e}"))?,
            "escalate.when",
        )? {
            severity = severity.max(*s);
        }
    }
    let message = rule
        .message
        .render(ctx)
        .map_err(|e| format!("message: {e}"))?;
    let fix = rule
        .fix
        .as_ref()
        .map(|f| render_fix(f, ctx, "fix"))
        .transpose()?;
    let durable_fix = rule
        .durable_fix
        .as_ref()
        .map(|f| render_fix(f, ctx, "durable_fix"))
        .transpose()?;
    Ok(Some(Finding {
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
    }))
}

/// The elements of a `for_each` list, or one pass without `item`.
fn each(list: &Option<Program>, ctx: &Context, what: &str) -> Result<Vec<Option<Value>>, String> {
    match list {
        None => Ok(vec![None]),
        Some(list) => match exec(list, ctx).map_err(|e| format!("{what}.for_each: {e}"))? {
            Value::List(l) => Ok(l.iter().cloned().map(Some).collect()),
            other => Err(format!(
                "{what}.for_each must be a list, got {}",
                template::display(&other)
            )),
        },
    }
}

fn render_fix(f: &crate::rules::CompiledFix, ctx: &Context, what: &str) -> Result<Fix, String> {
    let mut commands = Vec::new();
    for c in &f.commands {
        let text = c.render(ctx).map_err(|e| format!("{what}.commands: {e}"))?;
        commands.extend(
            text.lines()
                .map(str::trim_end)
                .filter(|l| !l.trim().is_empty())
                .map(String::from),
        );
    }
    let mut patches = Vec::new();
    for p in &f.patches {
        for item in each(&p.for_each, ctx, &format!("{what}.patches"))? {
            let mut pctx = ctx.new_inner_scope();
            if let Some(item) = item {
                pctx.add_variable_from_value("item", item);
            }
            if let Some(w) = &p.when
                && !truthy(
                    &exec(w, &pctx).map_err(|e| format!("{what}.patches.when: {e}"))?,
                    "patches.when",
                )?
            {
                continue;
            }
            patches.push(render_patch(p, &pctx)?);
        }
    }
    let mut execs = Vec::new();
    for e in &f.execs {
        for item in each(&e.for_each, ctx, &format!("{what}.execs"))? {
            let mut ectx = ctx.new_inner_scope();
            if let Some(item) = item {
                ectx.add_variable_from_value("item", item);
            }
            let r = |t: &template::Template, field: &str| {
                t.render(&ectx)
                    .map_err(|err| format!("{what}.execs.{field}: {err}"))
            };
            let command = match exec(&e.command, &ectx)
                .map_err(|err| format!("{what}.execs.command: {err}"))?
            {
                Value::List(l) => l.iter().map(template::display).collect(),
                other => {
                    return Err(format!(
                        "{what}.execs.command must be a list of strings, got {}",
                        template::display(&other)
                    ));
                }
            };
            execs.push(crate::finding::Exec {
                target: ObjectRef {
                    kind: "Pod".into(),
                    namespace: Some(r(&e.namespace, "namespace")?),
                    name: r(&e.pod, "pod")?,
                },
                container: r(&e.container, "container")?,
                command,
            });
        }
    }
    // A fix whose changes all turned out conditional-off is steps for a person.
    let safety = if patches.is_empty() && execs.is_empty() {
        crate::rules::model::Safety::Manual
    } else {
        f.safety
    };
    Ok(Fix {
        safety,
        summary: f
            .summary
            .render(ctx)
            .map_err(|e| format!("{what}.summary: {e}"))?,
        commands,
        patches,
        execs,
    })
}

fn render_patch(p: &crate::rules::CompiledPatch, ctx: &Context) -> Result<Patch, String> {
    let body = exec(&p.body, ctx).map_err(|e| format!("fix.patches.body: {e}"))?;
    Ok(Patch {
        target: ObjectRef {
            kind: p.kind.clone(),
            namespace: p
                .namespace
                .as_ref()
                .map(|n| n.render(ctx))
                .transpose()
                .map_err(|e| format!("fix.patches.namespace: {e}"))?,
            name: p
                .name
                .render(ctx)
                .map_err(|e| format!("fix.patches.name: {e}"))?,
        },
        patch_type: p.patch_type,
        body: values::to_json(&body),
    })
}

/// Evaluates every `caused_by` link between pairs of findings (findings are few, so pairs
/// are cheap; the snapshot is never scanned here).
fn link_causes(rules: &[Rule], root: &Context, report: &mut Report, objects: &[Value]) {
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
        // The symptom's own `let` bindings are visible to its link conditions.
        let mut sctx = root.new_inner_scope();
        sctx.add_variable_from_value("params", rule.params.clone());
        sctx.add_variable_from_value("object", objects[i].clone());
        let mut lets_ok = true;
        for (name, p) in rule.shared.iter().chain(&rule.lets) {
            match exec(p, &sctx) {
                Ok(v) => sctx.add_variable_from_value(name.clone(), v),
                Err(e) => {
                    errors.push(format!(
                        "{} caused_by on {}: let {name}: {e}",
                        f.rule_id, f.object
                    ));
                    lets_ok = false;
                    break;
                }
            }
        }
        if !lets_ok {
            continue;
        }
        for (cause_rule, p) in &rule.caused_by {
            for &j in by_rule.get(cause_rule.as_str()).into_iter().flatten() {
                if i == j {
                    continue;
                }
                let mut ctx = sctx.new_inner_scope();
                ctx.add_variable_from_value("cause", objects[j].clone());
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
