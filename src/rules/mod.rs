//! Loading rules: the embedded rule pack plus any user directory, parsed, validated and
//! compiled once. A bad rule file is rejected with its file, line and reason.

pub mod model;

use crate::engine::template::Template;
use crate::snapshot::Kind;
use kube_cel::cel::{Program, Value};
use model::{PatchType, RuleSpec, Safety, Severity};
use regex::Regex;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// Which objects a compiled rule is evaluated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Cluster,
    Kind(Kind),
}

/// A rule ready to evaluate.
pub struct Rule {
    pub spec: RuleSpec,
    /// Where the rule came from (`rules/…` for the embedded pack, a path for user rules).
    pub source: String,
    pub target: Target,
    pub name_re: Option<Regex>,
    pub filter: Option<Program>,
    /// Kinds the rule reads; each entry lists alternatives (any one readable is enough).
    pub requires: Vec<Vec<Kind>>,
    pub params: Value,
    pub shared: Vec<(String, Program)>,
    pub lets: Vec<(String, Program)>,
    pub when: Program,
    pub escalate: Vec<(Program, Severity)>,
    pub message: Template,
    pub fix: Option<CompiledFix>,
    pub durable_fix: Option<CompiledFix>,
    pub caused_by: Vec<(String, Program)>,
}

pub struct CompiledFix {
    pub safety: Safety,
    pub summary: Template,
    pub commands: Vec<Template>,
    pub patches: Vec<CompiledPatch>,
    pub execs: Vec<CompiledExec>,
}

pub struct CompiledExec {
    pub for_each: Option<Program>,
    pub namespace: Template,
    pub pod: Template,
    pub container: Template,
    pub command: Program,
}

pub struct CompiledPatch {
    pub for_each: Option<Program>,
    pub when: Option<Program>,
    pub kind: String,
    pub namespace: Option<Template>,
    pub name: Template,
    pub patch_type: PatchType,
    pub body: Program,
}

/// A rule file that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RuleError {
    pub file: String,
    pub line: Option<u64>,
    pub reason: String,
}

/// The embedded rule pack, plus the `*.yaml`/`*.yml` files of `user_dir`.
pub fn load(user_dir: Option<&Path>) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut sources: Vec<(String, String)> = EMBEDDED_RULES
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    let mut errors = Vec::new();
    if let Some(dir) = user_dir {
        match read_dir_sorted(dir) {
            Ok(files) => sources.extend(files),
            Err(e) => errors.push(RuleError {
                file: dir.display().to_string(),
                line: None,
                reason: e,
            }),
        }
    }
    let mut rules = Vec::new();
    for (file, text) in &sources {
        match compile(file, text) {
            Ok(r) => rules.push(r),
            Err(e) => errors.push(e),
        }
    }
    rules.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    check_references(&rules, &mut errors);
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read rule directory: {e}"))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            std::fs::read_to_string(&p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .collect()
}

/// Duplicate ids and `caused_by` links to rules that do not exist.
fn check_references(rules: &[Rule], errors: &mut Vec<RuleError>) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for r in rules {
        if let Some(first) = seen.insert(&r.spec.id, &r.source) {
            errors.push(RuleError {
                file: r.source.clone(),
                line: None,
                reason: format!("duplicate rule id {} (also defined in {first})", r.spec.id),
            });
        }
    }
    for r in rules {
        for link in &r.spec.caused_by {
            if !seen.contains_key(link.rule.as_str()) {
                errors.push(RuleError {
                    file: r.source.clone(),
                    line: Some(link.when.referenced.line()),
                    reason: format!("caused_by names unknown rule {}", link.rule),
                });
            }
        }
    }
}

/// Parses and compiles one rule file.
pub fn compile(file: &str, text: &str) -> Result<Rule, RuleError> {
    let fail = |line: Option<u64>, reason: String| RuleError {
        file: file.to_string(),
        line,
        reason,
    };
    let spec: RuleSpec = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = crate::engine::first_line(&msg);
        fail(None, msg.strip_prefix("error: ").unwrap_or(msg).to_string())
    })?;
    let id_ok = Regex::new(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$").expect("static regex");
    if !id_ok.is_match(&spec.id) {
        return Err(fail(
            None,
            format!(
                "id {:?} must be upper-case words and numbers joined by dashes, like ABC-DEF-001",
                spec.id
            ),
        ));
    }
    let target = if spec.applies_to.kind == "Cluster" {
        Target::Cluster
    } else {
        Target::Kind(Kind::parse(&spec.applies_to.kind).ok_or_else(|| {
            fail(
                None,
                format!("applies_to.kind: unknown kind {:?}", spec.applies_to.kind),
            )
        })?)
    };
    let name_re = match &spec.applies_to.name {
        Some(re) => Some(
            Regex::new(&format!("^(?:{re})$"))
                .map_err(|e| fail(None, format!("applies_to.name: {e}")))?,
        ),
        None => None,
    };
    // Each entry is a kind, or alternatives `A|B` of which one readable kind is enough.
    let requires = spec
        .requires
        .iter()
        .map(|entry| {
            entry
                .split('|')
                .map(|k| {
                    Kind::parse(k.trim())
                        .ok_or_else(|| fail(None, format!("requires: unknown kind {k:?}")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut vars: HashSet<String> = ["object", "params", "namespace", "cause"]
        .map(String::from)
        .into();
    let prog =
        |field: &str, s: &Spanned<String>, vars: &HashSet<String>| -> Result<Program, RuleError> {
            let line = Some(s.referenced.line());
            let p = Program::compile(&s.value).map_err(|e| {
                fail(
                    line,
                    format!(
                        "{field}: CEL does not compile: {}",
                        crate::engine::first_line(&e.to_string())
                    ),
                )
            })?;
            check_program(&p, vars).map_err(|m| fail(line, format!("{field}: {m}")))?;
            Ok(p)
        };
    let tmpl =
        |field: &str, s: &Spanned<String>, vars: &HashSet<String>| -> Result<Template, RuleError> {
            let line = Some(s.referenced.line());
            let t = Template::compile(&s.value).map_err(|m| fail(line, format!("{field}: {m}")))?;
            for p in t.programs() {
                check_program(p, vars).map_err(|m| fail(line, format!("{field}: {m}")))?;
            }
            Ok(t)
        };
    let filter = spec
        .applies_to
        .filter
        .as_ref()
        .map(|f| prog("applies_to.where", f, &vars))
        .transpose()?;
    let mut shared = Vec::new();
    for binding in &spec.shared {
        if binding.len() != 1 {
            return Err(fail(
                None,
                "shared: each entry must be a single `name: expression`".into(),
            ));
        }
        let (name, expr) = binding.iter().next().expect("one entry");
        let p = prog(&format!("shared.{name}"), expr, &vars)?;
        if p.references().has_variable("object") || p.references().has_variable("cause") {
            return Err(fail(
                Some(expr.referenced.line()),
                format!(
                    "shared.{name}: is evaluated once per run and cannot use `object` (use `let`)"
                ),
            ));
        }
        shared.push((name.clone(), p));
        vars.insert(name.clone());
    }
    let mut lets = Vec::new();
    for binding in &spec.lets {
        if binding.len() != 1 {
            return Err(fail(
                None,
                "let: each entry must be a single `name: expression`".into(),
            ));
        }
        let (name, expr) = binding.iter().next().expect("one entry");
        lets.push((name.clone(), prog(&format!("let.{name}"), expr, &vars)?));
        vars.insert(name.clone());
    }
    let when = prog("when", &spec.when, &vars)?;
    let escalate = spec
        .escalate
        .iter()
        .map(|e| Ok((prog("escalate.when", &e.when, &vars)?, e.severity)))
        .collect::<Result<Vec<_>, RuleError>>()?;
    let message = tmpl("message", &spec.message, &vars)?;
    let compile_fix = |what: &str, f: &model::FixSpec| -> Result<CompiledFix, RuleError> {
        let mut item_vars = vars.clone();
        item_vars.insert("item".into());
        let iv = &item_vars;
        if !f.execs.is_empty() && f.safety == Safety::Safe {
            return Err(fail(
                None,
                format!("{what}: a fix that execs into containers cannot be `safe`"),
            ));
        }
        Ok(CompiledFix {
            safety: f.safety,
            summary: tmpl(&format!("{what}.summary"), &f.summary, &vars)?,
            commands: f
                .commands
                .iter()
                .map(|c| tmpl(&format!("{what}.commands"), c, &vars))
                .collect::<Result<_, _>>()?,
            patches: f
                .patches
                .iter()
                .map(|p| {
                    Kind::parse(&p.kind).ok_or_else(|| {
                        fail(
                            None,
                            format!("{what}.patches.kind: unknown kind {:?}", p.kind),
                        )
                    })?;
                    Ok(CompiledPatch {
                        for_each: p
                            .for_each
                            .as_ref()
                            .map(|e| prog(&format!("{what}.patches.for_each"), e, iv))
                            .transpose()?,
                        when: p
                            .when
                            .as_ref()
                            .map(|e| prog(&format!("{what}.patches.when"), e, iv))
                            .transpose()?,
                        kind: p.kind.clone(),
                        namespace: p
                            .namespace
                            .as_ref()
                            .map(|n| tmpl(&format!("{what}.patches.namespace"), n, iv))
                            .transpose()?,
                        name: tmpl(&format!("{what}.patches.name"), &p.name, iv)?,
                        patch_type: p.patch_type,
                        body: prog(&format!("{what}.patches.body"), &p.body, iv)?,
                    })
                })
                .collect::<Result<_, RuleError>>()?,
            execs: f
                .execs
                .iter()
                .map(|e| {
                    Ok(CompiledExec {
                        for_each: e
                            .for_each
                            .as_ref()
                            .map(|x| prog(&format!("{what}.execs.for_each"), x, iv))
                            .transpose()?,
                        namespace: tmpl(&format!("{what}.execs.namespace"), &e.namespace, iv)?,
                        pod: tmpl(&format!("{what}.execs.pod"), &e.pod, iv)?,
                        container: tmpl(&format!("{what}.execs.container"), &e.container, iv)?,
                        command: prog(&format!("{what}.execs.command"), &e.command, iv)?,
                    })
                })
                .collect::<Result<_, RuleError>>()?,
        })
    };
    let fix = spec
        .fix
        .as_ref()
        .map(|f| compile_fix("fix", f))
        .transpose()?;
    let durable_fix = spec
        .durable_fix
        .as_ref()
        .map(|f| compile_fix("durable_fix", f))
        .transpose()?;
    let caused_by = spec
        .caused_by
        .iter()
        .map(|c| Ok((c.rule.clone(), prog("caused_by.when", &c.when, &vars)?)))
        .collect::<Result<Vec<_>, RuleError>>()?;
    let params = crate::engine::values::from_json(&serde_json::Value::Object(
        spec.params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ));
    Ok(Rule {
        source: file.to_string(),
        target,
        name_re,
        filter,
        requires,
        params,
        shared,
        lets,
        when,
        escalate,
        message,
        fix,
        durable_fix,
        caused_by,
        spec,
    })
}

/// Every function an expression calls must exist; reject typos at load, not mid-run.
fn check_program(p: &Program, _vars: &HashSet<String>) -> Result<(), String> {
    let refs = p.references();
    let mut unknown: Vec<&str> = refs
        .functions()
        .into_iter()
        .filter(|f| !crate::engine::known_function(f))
        .collect();
    unknown.sort();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!("unknown function(s): {}", unknown.join(", ")))
    }
}

/// The rule with this id, from `rules`.
pub fn find<'a>(rules: &'a [Rule], id: &str) -> Option<&'a Rule> {
    rules.iter().find(|r| r.spec.id.eq_ignore_ascii_case(id))
}

/// Applies `RULE.KEY=VALUE` overrides (VALUE is read as YAML: `90`, `true`, `[a, b]`).
pub fn apply_params(rules: &mut [Rule], overrides: &[String]) -> Result<(), String> {
    for o in overrides {
        let (path, value) = o
            .split_once('=')
            .ok_or_else(|| format!("{o:?} is not RULE.KEY=VALUE"))?;
        let (id, key) = path
            .split_once('.')
            .ok_or_else(|| format!("{o:?} is not RULE.KEY=VALUE"))?;
        let rule = rules
            .iter_mut()
            .find(|r| r.spec.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| format!("no rule {id:?}"))?;
        if !rule.spec.params.contains_key(key) {
            let known: Vec<&str> = rule.spec.params.keys().map(String::as_str).collect();
            return Err(format!(
                "rule {} has no parameter {key:?} (it has: {})",
                rule.spec.id,
                known.join(", ")
            ));
        }
        let v: serde_json::Value = serde_saphyr::from_str(value)
            .map_err(|e| format!("{o:?}: {}", crate::engine::first_line(&e.to_string())))?;
        rule.spec.params.insert(key.to_string(), v);
        rule.params = crate::engine::values::from_json(&serde_json::Value::Object(
            rule.spec
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    }
    Ok(())
}

/// Keeps the rules chosen by `--select` and not excluded by `--ignore`. Each entry is a rule
/// id prefix (`TT-STO`, `TT-DB-001`) or a category name (`storage`), like ruff.
pub fn select(rules: Vec<Rule>, select: &[String], ignore: &[String]) -> Vec<Rule> {
    let hit = |r: &Rule, pat: &String| {
        r.spec
            .id
            .to_ascii_uppercase()
            .starts_with(&pat.to_ascii_uppercase())
            || r.spec.category.eq_ignore_ascii_case(pat)
    };
    rules
        .into_iter()
        .filter(|r| select.is_empty() || select.iter().any(|p| hit(r, p)))
        .filter(|r| !ignore.iter().any(|p| hit(r, p)))
        .collect()
}
