//! Evaluates compiled rules against an indexed snapshot and links findings cause → symptom.

mod causes;
mod evaluate;
mod evidence;
mod render;

use crate::expr::{self, World};
use crate::finding::{Report, RuleOutcome, RuleResult};
use crate::index::Index;
use crate::model::{LogRef, ObjectRef, Phase};
use crate::rules::{Rule, Target};
use crate::snapshot::Kind;
use kube_cel::cel::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Namespace for namespaced rules (`applies_to.namespace: target`).
    pub namespace: String,
    pub phase: Phase,
    /// The deployment rules compare the cluster with (`--profile`, `--manifests`).
    pub deployment: crate::deploy::Source,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            namespace: crate::pack::DEFAULT_NAMESPACE.into(),
            phase: Phase::Both,
            deployment: crate::deploy::Source::default(),
        }
    }
}

/// Runs `rules` over the snapshot in `ix`, with the container logs the snapshot carries.
pub fn run(rules: &[Rule], ix: Index, opts: &RunOptions) -> Report {
    start(rules, ix, opts).finish(&BTreeMap::new())
}

/// Rules evaluated, before evidence from logs and cause links.
pub struct Evaluation<'r> {
    rules: &'r [Rule],
    world: Arc<World>,
    root: kube_cel::cel::Context<'static>,
    report: Report,
    /// The object and bindings of each finding, for cause links.
    bound: Vec<Bound>,
}

/// A finding's object and the values its rule bound for it (`shared`, then `let`, in
/// order): its cause links read them again instead of evaluating them again.
pub(super) struct Bound {
    object: Value,
    vars: Vec<(String, Value)>,
}

/// Evaluates every rule.
pub fn start<'r>(rules: &'r [Rule], ix: Index, opts: &RunOptions) -> Evaluation<'r> {
    let t0 = Instant::now();
    let world = Arc::new(World::new(ix, opts.deployment.clone(), &opts.namespace));
    let root = expr::root_context(&world, &opts.namespace);
    let mut report = Report::default();
    report
        .timings
        .push(("expression world".into(), t0.elapsed()));
    let t_rules = Instant::now();
    // Rules are independent: they run on every core, and their results are merged in rule
    // order, so the report does not depend on which finished first.
    let evaluated = crate::par::map(rules, |rule| {
        let t = Instant::now();
        let mut part = Report::default();
        let mut bound = Vec::new();
        let outcome = match skip_reason(rule, &world, opts) {
            Some(reason) => RuleOutcome::Skipped(reason),
            None => evaluate::rule(rule, &world, &root, opts, &mut part, &mut bound),
        };
        (outcome, t.elapsed(), part, bound)
    });
    let mut bound = Vec::new();
    for (rule, (outcome, took, part, objs)) in rules.iter().zip(evaluated) {
        report.findings.extend(part.findings);
        report.errors.extend(part.errors);
        report.notes.extend(part.notes);
        bound.extend(objs);
        report.timings.push((rule.spec.id.clone(), took));
        report.rules.push(RuleResult {
            id: rule.spec.id.clone(),
            title: rule.spec.title.clone(),
            category: rule.spec.category.clone(),
            severity: rule.spec.severity,
            outcome,
        });
    }
    report
        .timings
        .push(("rules (wall, all cores)".into(), t_rules.elapsed()));
    Evaluation {
        rules,
        world,
        root,
        report,
        bound,
    }
}

impl Evaluation<'_> {
    /// Records how long a stage before the rules took (shown first with `TTDOCTOR_PROFILE`).
    pub fn timing(&mut self, stage: &str, took: Duration) {
        self.report.timings.insert(0, (stage.to_string(), took));
    }

    /// The container logs the findings' rules want to read, and that the snapshot does not
    /// already carry.
    pub fn wanted_logs(&self) -> BTreeSet<LogRef> {
        let have = &self.world.snap().logs;
        self.report
            .findings
            .iter()
            .flat_map(|f| f.wants_logs.iter().map(|(_, l)| l))
            .filter(|l| !have.contains_key(*l))
            .cloned()
            .collect()
    }

    /// Attaches the evidence found in `logs` (and in the snapshot's own logs), links causes
    /// and adds the notes: the finished report.
    pub fn finish(mut self, logs: &BTreeMap<LogRef, Result<String, String>>) -> Report {
        let t = Instant::now();
        evidence::attach(self.rules, &mut self.report, &self.world.snap().logs, logs);
        causes::link(self.rules, &self.root, &mut self.report, &self.bound);
        let mut report = self.report;
        report
            .timings
            .push(("evidence and cause links".into(), t.elapsed()));
        notes(&self.world, &mut report);
        // Objects that loaded but did not decode whole when indexed or read by a rule.
        report.errors.extend(self.world.ix.errors.iter().cloned());
        report.errors.extend(self.world.take_errors());
        report
    }
}

/// What the reader should know about the data.
fn notes(world: &World, report: &mut Report) {
    let snap = world.snap();
    // Without nodes (`ttdoctor host`) there is no node memory to judge either way.
    if !world.ix.has(Kind::NodeMetrics) && !snap.objects.nodes.is_empty() {
        report.notes.push(
            "node metrics unavailable (no NodeMetricsList / metrics-server): memory checks use requests and limits only".into(),
        );
    }
    report.notes.extend(snap.notes.iter().cloned());
    if world.ix.has(Kind::NodeMetrics) {
        // metrics-server leaves out nodes it could not scrape — often the overloaded one.
        let unmeasured: Vec<String> = snap
            .objects
            .nodes
            .iter()
            .map(|n| n.name().to_string())
            .filter(|n| world.ix.node_memory(n).usage.is_none())
            .collect();
        if !unmeasured.is_empty() {
            report.notes.push(format!(
                "no metrics for node(s) {}: their memory is judged by requests and limits only",
                unmeasured.join(", ")
            ));
        }
    }
    for (kind, n) in &snap.ignored_kinds {
        report
            .notes
            .push(format!("ignored {n} object(s) of kind {kind}"));
    }
}

fn skip_reason(rule: &Rule, world: &World, opts: &RunOptions) -> Option<String> {
    if !rule.spec.phase.runs_in(opts.phase) {
        return Some(format!(
            "{}-deploy check; --phase {}",
            rule.spec.phase, opts.phase
        ));
    }
    let own = match rule.target {
        Target::Kind(k) => Some(vec![k]),
        Target::Cluster => None,
    };
    for group in own.iter().chain(&rule.requires) {
        // Readable when any alternative is; otherwise say why the first one is not.
        if group.iter().any(|&k| world.ix.has(k)) {
            continue;
        }
        return Some(match group.first() {
            // Metrics are optional: a snapshot without them says nothing about usage.
            Some(k) if k.meta().optional => "node metrics unavailable".into(),
            Some(k) if k.meta().local => {
                format!("no {k} facts: run `ttdoctor host`, or `check --local`, on the node")
            }
            None => "nothing to read".into(),
            Some(k) => world
                .snap()
                .unavailable
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("{k} unavailable")),
        });
    }
    None
}

/// The objects a rule runs on, with the reference each finding will name.
fn candidates(rule: &Rule, world: &World, opts: &RunOptions) -> Vec<(ObjectRef, Value)> {
    let kind = match rule.target {
        Target::Cluster => {
            let obj = ObjectRef {
                kind: "Cluster".into(),
                namespace: None,
                name: "cluster".into(),
            };
            return vec![(obj, expr::values::map(vec![]))];
        }
        Target::Kind(k) => k,
    };
    let want_ns = match rule.spec.applies_to.namespace.as_deref() {
        _ if !kind.namespaced() => None,
        Some("all") => None,
        None | Some("target") => Some(opts.namespace.as_str()),
        Some(ns) => Some(ns),
    };
    world
        .snap()
        .metas(kind)
        .enumerate()
        .filter(|(_, m)| want_ns.is_none_or(|w| m.namespace.as_deref() == Some(w)))
        .filter(|(_, m)| {
            let name = m.name.as_deref().unwrap_or_default();
            rule.name_re.as_ref().is_none_or(|re| re.is_match(name))
        })
        .filter(|(_, m)| {
            rule.spec
                .applies_to
                .labels
                .iter()
                .all(|(k, want)| m.labels.as_ref().and_then(|l| l.get(k)) == Some(want))
        })
        .map(|(index, m)| {
            let obj = ObjectRef {
                kind: kind.name().into(),
                namespace: m.namespace.clone(),
                name: m
                    .name
                    .clone()
                    .or_else(|| m.generate_name.clone())
                    .unwrap_or_default(),
            };
            (obj, world.value(expr::ObjId { kind, index }))
        })
        .collect()
}

/// Time spent per stage, for `TTDOCTOR_PROFILE`.
pub type Timings = Vec<(String, Duration)>;
