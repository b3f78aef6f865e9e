//! Compiling one rule file: parse, validate every expression and template against what it may
//! see (functions, variables, costly shapes), and keep the programs.

use super::spec::{self, FixSpec, RuleSpec, Safety};
use super::{CompiledExec, CompiledFix, CompiledPatch, Rule, RuleError, Target};
use crate::expr::{self, Template, check};
use crate::snapshot::Kind;
use kube_cel::cel::Program;
use regex::Regex;
use serde_saphyr::Spanned;
use std::collections::BTreeSet;

/// Parses and compiles one rule file.
pub fn compile(file: &str, text: &str) -> Result<Rule, RuleError> {
    let spec: RuleSpec = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = crate::text::first_line(&msg);
        RuleError {
            file: file.to_string(),
            line: None,
            reason: msg.strip_prefix("error: ").unwrap_or(msg).to_string(),
        }
    })?;
    let mut c = Compiler {
        file,
        known: ["object", "params", "namespace"].map(String::from).into(),
        per_object: ["object".to_string()].into(),
        cluster_sized: BTreeSet::new(),
        once: spec.applies_to.kind == "Cluster",
    };
    c.rule(spec)
}

struct Compiler<'a> {
    file: &'a str,
    known: BTreeSet<String>,
    per_object: BTreeSet<String>,
    cluster_sized: BTreeSet<String>,
    /// A `Cluster` rule is evaluated once: nothing in it is repeated per object.
    once: bool,
}

/// When an expression is evaluated.
#[derive(Clone, Copy, PartialEq)]
enum When {
    OncePerRun,
    PerObject,
}

impl Compiler<'_> {
    fn fail(&self, line: Option<u64>, reason: String) -> RuleError {
        RuleError {
            file: self.file.to_string(),
            line,
            reason,
        }
    }

    /// Compiles and checks an expression that may also see `extra` variables.
    fn program(
        &self,
        field: &str,
        s: &Spanned<String>,
        extra: &[&str],
        when: When,
    ) -> Result<Program, RuleError> {
        let line = Some(s.referenced.line());
        let p = expr::compile(&s.value)
            .map_err(|e| self.fail(line, format!("{field}: CEL does not compile: {e}")))?;
        self.check(field, &p, line, extra, when)?;
        Ok(p)
    }

    fn check(
        &self,
        field: &str,
        p: &Program,
        line: Option<u64>,
        extra: &[&str],
        when: When,
    ) -> Result<(), RuleError> {
        let mut known = self.known.clone();
        let mut per_object = self.per_object.clone();
        for x in extra {
            known.insert((*x).to_string());
            per_object.insert((*x).to_string());
        }
        let scope = check::Scope {
            known: &known,
            per_object: (when == When::PerObject && !self.once).then_some(&per_object),
            cluster_sized: &self.cluster_sized,
        };
        match check::check(p, &scope).first() {
            Some(problem) => Err(self.fail(line, format!("{field}: {problem}"))),
            None => Ok(()),
        }
    }

    fn template(
        &self,
        field: &str,
        s: &Spanned<String>,
        extra: &[&str],
    ) -> Result<Template, RuleError> {
        let line = Some(s.referenced.line());
        let t =
            Template::compile(&s.value).map_err(|m| self.fail(line, format!("{field}: {m}")))?;
        for p in t.programs() {
            self.check(field, p, line, extra, When::PerObject)?;
        }
        Ok(t)
    }

    /// `name: expression` bindings, each visible to the next.
    fn bindings(
        &mut self,
        what: &str,
        list: &[std::collections::BTreeMap<String, Spanned<String>>],
        when: When,
    ) -> Result<Vec<(String, Program)>, RuleError> {
        let mut out = Vec::new();
        for binding in list {
            let [(name, expr)] = binding.iter().collect::<Vec<_>>()[..] else {
                return Err(self.fail(
                    None,
                    format!("{what}: each entry must be a single `name: expression`"),
                ));
            };
            let p = self.program(&format!("{what}.{name}"), expr, &[], when)?;
            if when == When::OncePerRun {
                let refs = p.references();
                if refs.has_variable("object") {
                    return Err(self.fail(
                        Some(expr.referenced.line()),
                        format!("{what}.{name}: is evaluated once per run and cannot use `object` (use `let`)"),
                    ));
                }
            } else {
                self.per_object.insert(name.clone());
            }
            if check::is_cluster_sized(&p, &self.cluster_sized) {
                self.cluster_sized.insert(name.clone());
            }
            self.known.insert(name.clone());
            out.push((name.clone(), p));
        }
        Ok(out)
    }

    fn rule(&mut self, spec: RuleSpec) -> Result<Rule, RuleError> {
        static ID: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
            Regex::new(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$").expect("static regex")
        });
        if !ID.is_match(&spec.id) {
            return Err(self.fail(
                None,
                format!(
                    "id {:?} must be upper-case words and numbers joined by dashes, like ABC-DEF-001",
                    spec.id
                ),
            ));
        }
        let target = self.target(&spec)?;
        let name_re = match &spec.applies_to.name {
            Some(re) => Some(
                Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| self.fail(None, format!("applies_to.name: {e}")))?,
            ),
            None => None,
        };
        let requires = self.requires(&spec)?;
        let shared = self.bindings("shared", &spec.shared, When::OncePerRun)?;
        let filter = spec
            .applies_to
            .filter
            .as_ref()
            .map(|f| self.program("applies_to.where", f, &[], When::PerObject))
            .transpose()?;
        // Shared bindings wait for the first object that passes `where` (a rule without
        // candidates then costs nothing), unless `where` reads them.
        let shared_first = filter.as_ref().is_some_and(|f| {
            let reads = crate::expr::check::reads(f);
            shared.iter().any(|(name, _)| reads.contains(name))
        });
        // Before the `let`s: a skipped object is not evaluated further.
        let skip = spec
            .skip
            .as_ref()
            .map(|s| {
                Ok((
                    self.program("skip.when", &s.when, &[], When::PerObject)?,
                    self.template("skip.reason", &s.reason, &[])?,
                ))
            })
            .transpose()?;
        let lets = self.bindings("let", &spec.lets, When::PerObject)?;
        let when = self.program("when", &spec.when, &[], When::PerObject)?;
        let escalate = spec
            .escalate
            .iter()
            .map(|e| {
                Ok((
                    self.program("escalate.when", &e.when, &[], When::PerObject)?,
                    e.severity,
                ))
            })
            .collect::<Result<Vec<_>, RuleError>>()?;
        let message = self.template("message", &spec.message, &[])?;
        let fix = spec.fix.as_ref().map(|f| self.fix("fix", f)).transpose()?;
        let durable_fix = spec
            .durable_fix
            .as_ref()
            .map(|f| self.fix("durable_fix", f))
            .transpose()?;
        let log_signatures = self.signatures(&spec)?;
        let caused_by = spec
            .caused_by
            .iter()
            .map(|c| {
                let extra = ["cause", "cause_params", "evidence"];
                let p = self.program("caused_by.when", &c.when, &extra, When::OncePerRun)?;
                Ok((c.rule.clone(), p))
            })
            .collect::<Result<Vec<_>, RuleError>>()?;
        let params = super::params_value(&spec.params);
        Ok(Rule {
            source: self.file.to_string(),
            target,
            name_re,
            filter,
            skip,
            requires,
            params,
            shared,
            shared_first,
            lets,
            when,
            escalate,
            message,
            fix,
            durable_fix,
            caused_by,
            log_signatures,
            spec,
        })
    }

    fn signatures(&self, spec: &RuleSpec) -> Result<Vec<super::CompiledSignature>, RuleError> {
        spec.log_signatures
            .iter()
            .map(|s| {
                let what = format!("log_signatures.{}", s.name);
                if s.pods.is_none() && spec.applies_to.kind != "Pod" {
                    return Err(self.fail(
                        None,
                        format!(
                            "{what}: say which pods (`pods:`): the rule does not apply to pods"
                        ),
                    ));
                }
                Ok(super::CompiledSignature {
                    name: s.name.clone(),
                    pods: s
                        .pods
                        .as_ref()
                        .map(|p| self.program(&format!("{what}.pods"), p, &[], When::PerObject))
                        .transpose()?,
                    containers: match (&s.container, &s.containers) {
                        (Some(c), None) => super::Containers::Named(c.clone()),
                        (None, Some(list)) => super::Containers::Listed(self.program(
                            &format!("{what}.containers"),
                            list,
                            &[],
                            When::PerObject,
                        )?),
                        _ => {
                            return Err(self.fail(
                                None,
                                format!("{what}: give either `container` or `containers`"),
                            ));
                        }
                    },
                    previous: s.previous,
                    pattern: Regex::new(&s.pattern)
                        .map_err(|e| self.fail(None, format!("{what}.pattern: {e}")))?,
                    proves: s.proves.clone(),
                })
            })
            .collect()
    }

    fn target(&self, spec: &RuleSpec) -> Result<Target, RuleError> {
        if spec.applies_to.kind == "Cluster" {
            return Ok(Target::Cluster);
        }
        Kind::parse(&spec.applies_to.kind)
            .map(Target::Kind)
            .ok_or_else(|| {
                self.fail(
                    None,
                    format!("applies_to.kind: unknown kind {:?}", spec.applies_to.kind),
                )
            })
    }

    /// Each entry is a kind, or alternatives `A|B` of which one readable kind is enough.
    fn requires(&self, spec: &RuleSpec) -> Result<Vec<Vec<Kind>>, RuleError> {
        spec.requires
            .iter()
            .map(|entry| {
                entry
                    .split('|')
                    .map(|k| {
                        Kind::parse(k.trim())
                            .ok_or_else(|| self.fail(None, format!("requires: unknown kind {k:?}")))
                    })
                    .collect()
            })
            .collect()
    }

    fn fix(&self, what: &str, f: &FixSpec) -> Result<CompiledFix, RuleError> {
        if !f.execs.is_empty() && f.safety == Safety::Safe {
            return Err(self.fail(
                None,
                format!("{what}: a fix that execs into containers cannot be `safe`"),
            ));
        }
        let changes = !f.patches.is_empty() || !f.execs.is_empty();
        if changes && f.safety == Safety::Manual {
            return Err(self.fail(
                None,
                format!("{what}: a manual fix has steps, not patches or execs"),
            ));
        }
        let conditional = f.patches.iter().any(|p| p.when.is_some());
        if changes && !conditional && !f.steps.is_empty() {
            return Err(self.fail(
                Some(f.steps[0].referenced.line()),
                format!(
                    "{what}.steps: the commands of patches and execs are derived from them; steps are for fixes that make no API change (manual, or every patch conditioned off)"
                ),
            ));
        }
        if !changes && f.steps.is_empty() {
            return Err(self.fail(None, format!("{what}: a fix needs patches, execs or steps")));
        }
        Ok(CompiledFix {
            safety: f.safety,
            summary: self.template(&format!("{what}.summary"), &f.summary, &[])?,
            steps: f
                .steps
                .iter()
                .map(|c| self.template(&format!("{what}.steps"), c, &[]))
                .collect::<Result<_, _>>()?,
            patches: f
                .patches
                .iter()
                .map(|p| self.patch(what, p))
                .collect::<Result<_, _>>()?,
            execs: f
                .execs
                .iter()
                .map(|e| self.exec(what, e))
                .collect::<Result<_, _>>()?,
        })
    }

    fn for_each(
        &self,
        field: &str,
        list: Option<&Spanned<String>>,
    ) -> Result<Option<Program>, RuleError> {
        list.map(|e| self.program(field, e, &[], When::PerObject))
            .transpose()
    }

    fn patch(&self, what: &str, p: &spec::PatchSpec) -> Result<CompiledPatch, RuleError> {
        let kind = Kind::parse(&p.kind).ok_or_else(|| {
            self.fail(
                None,
                format!("{what}.patches.kind: unknown kind {:?}", p.kind),
            )
        })?;
        let item: &[&str] = if p.for_each.is_some() { &["item"] } else { &[] };
        Ok(CompiledPatch {
            for_each: self.for_each(&format!("{what}.patches.for_each"), p.for_each.as_ref())?,
            when: p
                .when
                .as_ref()
                .map(|e| self.program(&format!("{what}.patches.when"), e, item, When::PerObject))
                .transpose()?,
            kind,
            namespace: p
                .namespace
                .as_ref()
                .map(|n| self.template(&format!("{what}.patches.namespace"), n, item))
                .transpose()?,
            name: self.template(&format!("{what}.patches.name"), &p.name, item)?,
            patch_type: p.patch_type,
            body: self.program(
                &format!("{what}.patches.body"),
                &p.body,
                item,
                When::PerObject,
            )?,
        })
    }

    fn exec(&self, what: &str, e: &spec::ExecSpec) -> Result<CompiledExec, RuleError> {
        let item: &[&str] = if e.for_each.is_some() { &["item"] } else { &[] };
        Ok(CompiledExec {
            for_each: self.for_each(&format!("{what}.execs.for_each"), e.for_each.as_ref())?,
            namespace: self.template(&format!("{what}.execs.namespace"), &e.namespace, item)?,
            pod: self.template(&format!("{what}.execs.pod"), &e.pod, item)?,
            container: self.template(&format!("{what}.execs.container"), &e.container, item)?,
            command: self.program(
                &format!("{what}.execs.command"),
                &e.command,
                item,
                When::PerObject,
            )?,
        })
    }
}
