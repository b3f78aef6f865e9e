//! Load-time checks of an expression: every function and variable exists, and no shape that
//! is known to be quadratic on a big cluster (a whole collection copied once per object, or
//! iterated in a comprehension, whose steps copy their accumulator).

use super::helpers::{self, Cost};
use kube_cel::cel::Program;
use kube_cel::cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

/// CEL's function namespaces: `math.least(…)` is a call of `least` on the identifier `math`.
const NAMESPACES: &[&str] = &["math", "strings", "sets", "lists", "base64", "optional"];

/// Kinds a cluster has a handful of, whatever its size: `objects()` of them may be iterated.
const FEW: &[&str] = &["StorageClass", "storageclass", "storageclasses", "sc"];

/// What an expression may see.
pub struct Scope<'a> {
    /// Variables in scope (`object`, `params`, `namespace`, the rule's bindings, …).
    pub known: &'a BTreeSet<String>,
    /// For expressions evaluated once per object: the variables that depend on it. `None`
    /// for expressions evaluated once per run.
    pub per_object: Option<&'a BTreeSet<String>>,
    /// Bindings whose value is a collection that grows with the cluster.
    pub cluster_sized: &'a BTreeSet<String>,
}

/// Every problem of the expression, one sentence each.
pub fn check(p: &Program, scope: &Scope) -> Vec<String> {
    let mut w = Walker {
        scope,
        bound: Vec::new(),
        problems: Vec::new(),
    };
    w.walk(p.expression());
    w.problems.sort();
    w.problems.dedup();
    w.problems
}

/// The variables an expression reads.
pub fn reads(p: &Program) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    free_variables(p.expression(), &mut Vec::new(), &mut out);
    out
}

/// Whether an expression's value is a collection that grows with the cluster.
pub fn is_cluster_sized(p: &Program, cluster_sized: &BTreeSet<String>) -> bool {
    cluster_collection(p.expression(), cluster_sized)
}

fn cluster_collection(e: &IdedExpr, cluster_sized: &BTreeSet<String>) -> bool {
    match &e.expr {
        Expr::Call(c) if c.target.is_none() => {
            helpers::find(&c.func_name).is_some_and(|h| cost_of(h, c.args.first()) == Cost::Cluster)
        }
        Expr::Ident(n) => cluster_sized.contains(n),
        // `nodes.filter(…)` / `.map(…)` are as big as what they range over.
        Expr::Comprehension(c) => {
            c.accu_var == "@result" && cluster_collection(&c.iter_range, cluster_sized)
        }
        _ => false,
    }
}

/// A helper's cost; `objects()` of a kind clusters have few of is a plain collection.
fn cost_of(h: &helpers::Helper, first_arg: Option<&IdedExpr>) -> Cost {
    if h.name == "objects"
        && let Some(Expr::Literal(LiteralValue::String(k))) = first_arg.map(|a| &a.expr)
        && FEW.contains(&k.inner())
    {
        return Cost::Collection;
    }
    h.cost
}

struct Walker<'s> {
    scope: &'s Scope<'s>,
    /// Comprehension variables in scope, innermost last.
    bound: Vec<String>,
    problems: Vec<String>,
}

impl Walker<'_> {
    fn walk(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Ident(name) => self.ident(name),
            Expr::Call(c) => {
                self.function(&c.func_name, c.target.as_deref());
                match c.target.as_deref() {
                    Some(IdedExpr {
                        expr: Expr::Ident(ns),
                        ..
                    }) if NAMESPACES.contains(&ns.as_str()) && !self.visible(ns) => {}
                    Some(t) => self.walk(t),
                    None => {}
                }
                if c.target.is_none()
                    && let Some(h) = helpers::find(&c.func_name)
                {
                    self.invariant_collection(h, &c.args);
                }
                for a in &c.args {
                    self.walk(a);
                }
            }
            Expr::Comprehension(c) => {
                if cluster_collection(&c.iter_range, self.scope.cluster_sized) {
                    self.problems.push(
                        "a comprehension ranges over a collection that grows with the cluster \
                         (every step copies its accumulator: quadratic); use an aggregate helper \
                         such as count, count_nodes, cluster_mem or node_ips, or a join"
                            .into(),
                    );
                }
                self.walk(&c.iter_range);
                self.bound.push(c.accu_var.clone());
                self.walk(&c.accu_init);
                self.bound.push(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.bound
                    .truncate(self.bound.len() - 2 - usize::from(c.iter_var2.is_some()));
            }
            Expr::Select(s) => self.walk(&s.operand),
            Expr::List(l) => l.elements.iter().for_each(|x| self.walk(x)),
            Expr::Map(m) => {
                for entry in &m.entries {
                    match &entry.expr {
                        EntryExpr::StructField(f) => self.walk(&f.value),
                        EntryExpr::MapEntry(me) => {
                            self.walk(&me.key);
                            self.walk(&me.value);
                        }
                    }
                }
            }
            Expr::Struct(_) => self
                .problems
                .push("message literals are not supported".into()),
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn visible(&self, name: &str) -> bool {
        self.bound.iter().any(|b| b == name) || self.scope.known.contains(name)
    }

    fn ident(&mut self, name: &str) {
        if name.starts_with('@') || self.visible(name) {
            return;
        }
        let known: Vec<&str> = self.scope.known.iter().map(String::as_str).collect();
        self.problems.push(format!(
            "unknown variable(s): {name} (known here: {})",
            known.join(", ")
        ));
    }

    fn function(&mut self, name: &str, target: Option<&IdedExpr>) {
        // Operators (`_==_`, `@in`, `!_`) always exist.
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || helpers::find(name).is_some() {
            if target.is_some() && helpers::find(name).is_some() {
                self.problems.push(format!(
                    "`{name}` is a function: call it as {name}(…), not as a method"
                ));
            }
            return;
        }
        let qualified = match target.map(|t| &t.expr) {
            Some(Expr::Ident(ns)) if NAMESPACES.contains(&ns.as_str()) && !self.visible(ns) => {
                format!("{ns}.{name}")
            }
            _ => name.to_string(),
        };
        if !builtin(&qualified) {
            let mut helpers: Vec<&str> = helpers::HELPERS.iter().map(|h| h.name).collect();
            helpers.sort_unstable();
            self.problems.push(format!(
                "unknown function(s): {name} (helpers: {}; `ttdoctor helpers` documents them)",
                helpers.join(", ")
            ));
        }
    }

    /// A collection helper evaluated per object with arguments that do not depend on the
    /// object: the same collection is built and copied once per object.
    fn invariant_collection(&mut self, h: &helpers::Helper, args: &[IdedExpr]) {
        let Some(per_object) = self.scope.per_object else {
            return;
        };
        if !matches!(cost_of(h, args.first()), Cost::Collection | Cost::Cluster) {
            return;
        }
        let mut free = BTreeSet::new();
        for a in args {
            free_variables(a, &mut Vec::new(), &mut free);
        }
        let depends = free
            .iter()
            .any(|v| per_object.contains(v) || self.bound.contains(v));
        if !depends {
            self.problems.push(format!(
                "`{}` does not depend on the object but would be built again for every object \
                 (quadratic on big clusters): bind it once under `shared:` and use the binding",
                h.signature()
            ));
        }
    }
}

/// Variables an expression reads, minus those its own comprehensions bind.
fn free_variables(e: &IdedExpr, bound: &mut Vec<String>, out: &mut BTreeSet<String>) {
    match &e.expr {
        Expr::Ident(n) if !n.starts_with('@') && !bound.contains(n) => {
            out.insert(n.clone());
        }
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                free_variables(t, bound, out);
            }
            c.args.iter().for_each(|a| free_variables(a, bound, out));
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            let n = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            free_variables(&c.loop_step, bound, out);
            free_variables(&c.loop_cond, bound, out);
            free_variables(&c.result, bound, out);
            bound.truncate(n);
        }
        Expr::Select(s) => free_variables(&s.operand, bound, out),
        Expr::List(l) => l
            .elements
            .iter()
            .for_each(|x| free_variables(x, bound, out)),
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    free_variables(&me.key, bound, out);
                    free_variables(&me.value, bound, out);
                }
            }
        }
        _ => {}
    }
}

/// Whether CEL or the Kubernetes CEL library defines `name`. Asked of the interpreter itself
/// (a call of an undefined function is an `UndeclaredReference` of its name), so there is no
/// list of built-ins to keep.
fn builtin(name: &str) -> bool {
    static SEEN: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(&known) = seen.lock().expect("not poisoned").get(name) {
        return known;
    }
    let known = match Program::compile(&format!("{name}()")) {
        Err(_) => false,
        Ok(p) => {
            use kube_cel::KubeCelExt;
            thread_local! {
                static CTX: kube_cel::cel::Context<'static> =
                    kube_cel::cel::Context::default().with_all();
            }
            !CTX.with(|ctx| {
                matches!(
                    super::exec_raw(&p, ctx),
                    Err(kube_cel::cel::ExecutionError::UndeclaredReference(r))
                        if name.ends_with(r.as_str())
                )
            })
        }
    };
    seen.lock()
        .expect("not poisoned")
        .insert(name.to_string(), known);
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(src: &str, per_object: bool) -> Vec<String> {
        let known: BTreeSet<String> = ["object", "namespace", "params", "pods"]
            .map(String::from)
            .into();
        let po: BTreeSet<String> = ["object".to_string()].into();
        let cluster: BTreeSet<String> = ["pods".to_string()].into();
        let scope = Scope {
            known: &known,
            per_object: per_object.then_some(&po),
            cluster_sized: &cluster,
        };
        check(&Program::compile(src).unwrap(), &scope)
    }

    #[test]
    fn names_are_checked_with_their_scopes() {
        assert!(problems("object.spec.x.filter(p, p.y == namespace)", true).is_empty());
        assert!(problems("math.least(1, 2) + size([1].map(x, x))", true).is_empty());
        let p = problems("lbel == ''", true);
        assert!(
            p[0].contains("unknown variable(s): lbel") && p[0].contains("object"),
            "{p:?}"
        );
        let p = problems("nosuch(object)", true);
        assert!(p[0].contains("unknown function(s): nosuch"), "{p:?}");
        assert!(problems("'a'.startsWith('b') && 'x'.matches('y')", true).is_empty());
        assert!(problems("[1].filter(p, p > 0) + [p]", true)[0].contains("unknown variable(s): p"));
    }

    #[test]
    fn quadratic_shapes_are_rejected() {
        let p = problems("size(pods_in(namespace)) > 0", true);
        assert!(p[0].contains("bind it once under `shared:`"), "{p:?}");
        assert!(problems("size(pods_in(namespace)) > 0", false).is_empty());
        assert!(problems("pods_in(object.metadata.namespace)", true).is_empty());
        assert!(
            problems("objects('Node').exists(n, n == object)", false)[0].contains("comprehension")
        );
        assert!(problems("pods.filter(p, true)", false)[0].contains("comprehension"));
        assert!(problems("objects('StorageClass').filter(s, true)", false).is_empty());
        assert!(problems("count('Node') > 3", true).is_empty());
    }
}
