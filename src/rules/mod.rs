//! Loading rules: the embedded rule pack plus any user directory, parsed, validated and
//! compiled once. A bad rule file is rejected with its file, line and reason.

pub mod cases;
mod compile;
pub mod spec;

pub use compile::compile;

use crate::expr::Template;
use crate::snapshot::Kind;
use kube_cel::cel::{Program, Value};
use regex::Regex;
use spec::{PatchType, RuleSpec, Safety, Severity};
use std::collections::BTreeMap;
use std::path::Path;

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
    /// `skip`: when an object cannot be judged, and the reason.
    pub skip: Option<(Program, Template)>,
    /// Kinds the rule reads; each entry lists alternatives (any one readable is enough).
    pub requires: Vec<Vec<Kind>>,
    pub params: Value,
    pub shared: Vec<(String, Program)>,
    /// `where` reads a shared binding: they are computed before any object is filtered.
    pub shared_first: bool,
    pub lets: Vec<(String, Program)>,
    pub when: Program,
    pub escalate: Vec<(Program, Severity)>,
    pub message: Template,
    pub fix: Option<CompiledFix>,
    pub durable_fix: Option<CompiledFix>,
    pub caused_by: Vec<(String, Program)>,
    pub log_signatures: Vec<CompiledSignature>,
}

/// Which containers' logs a signature reads.
pub enum Containers {
    Named(String),
    /// CEL list of names, evaluated for each finding.
    Listed(Program),
}

/// A log signature ready to use: which pods, and the compiled pattern.
pub struct CompiledSignature {
    pub name: String,
    /// CEL list of pods; `None`: the finding's object.
    pub pods: Option<Program>,
    pub containers: Containers,
    pub previous: bool,
    pub pattern: Regex,
    pub proves: String,
}

pub struct CompiledFix {
    pub safety: Safety,
    pub summary: Template,
    pub steps: Vec<Template>,
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
    pub kind: Kind,
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

/// `(path, text)` of the built-in rule files.
pub fn embedded() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::pack::rules()
}

/// `(path, text)` of the embedded files under `rules/<dir>/`.
pub fn embedded_in(dir: &str) -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::pack::files_in(dir)
}

/// The embedded rule pack, plus the `*.yaml`/`*.yml` files of `user_dir`. A user rule with
/// the id of a built-in one replaces it, so a tuned copy (or the pack's own `rules/` in a
/// checkout, edited without rebuilding) can be checked and tested as is.
pub fn load(user_dir: Option<&Path>) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut user = Vec::new();
    if let Some(dir) = user_dir {
        match read_yaml_files(dir) {
            Ok(files) => user = compile_all(&files, &mut errors),
            Err(e) => errors.push(RuleError {
                file: dir.display().to_string(),
                line: None,
                reason: e,
            }),
        }
    }
    let built_in: Vec<(String, String)> = embedded()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    let mut rules = compile_all(&built_in, &mut errors);
    rules.retain(|b| !user.iter().any(|u: &Rule| u.spec.id == b.spec.id));
    rules.extend(user);
    rules.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    check_references(&rules, &mut errors);
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

fn compile_all(sources: &[(String, String)], errors: &mut Vec<RuleError>) -> Vec<Rule> {
    let mut rules = Vec::new();
    // Files compile independently, on every core; errors stay in file order.
    for compiled in crate::par::map(sources, |(file, text)| compile(file, text)) {
        match compiled {
            Ok(r) => rules.push(r),
            Err(e) => errors.push(e),
        }
    }
    rules
}

/// `(path, text)` of the `*.yaml`/`*.yml` files directly in `dir`, sorted.
pub fn read_yaml_files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
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

/// The rule with this id, from `rules`.
pub fn find<'a>(rules: &'a [Rule], id: &str) -> Option<&'a Rule> {
    rules.iter().find(|r| r.spec.id.eq_ignore_ascii_case(id))
}

fn params_value(params: &BTreeMap<String, serde_json::Value>) -> Value {
    crate::expr::values::from_json(&serde_json::Value::Object(
        params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    ))
}

/// Sets one parameter of one rule (`RULE.KEY=VALUE`, VALUE read as YAML: `90`, `true`,
/// `[a, b]`), or says why it cannot.
pub fn set_param(
    rules: &mut [Rule],
    id: &str,
    key: &str,
    value: serde_json::Value,
) -> Result<(), String> {
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
    rule.spec.params.insert(key.to_string(), value);
    rule.params = params_value(&rule.spec.params);
    Ok(())
}

/// Applies `RULE.KEY=VALUE` overrides.
pub fn apply_params(rules: &mut [Rule], overrides: &[String]) -> Result<(), String> {
    for o in overrides {
        let (path, value) = o
            .split_once('=')
            .ok_or_else(|| format!("{o:?} is not RULE.KEY=VALUE"))?;
        let (id, key) = path
            .split_once('.')
            .ok_or_else(|| format!("{o:?} is not RULE.KEY=VALUE"))?;
        let v: serde_json::Value = serde_saphyr::from_str(value)
            .map_err(|e| format!("{o:?}: {}", crate::text::first_line(&e.to_string())))?;
        set_param(rules, id, key, v)?;
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
