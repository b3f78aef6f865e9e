//! Rule expressions: CEL (with the Kubernetes CEL library) over the indexed snapshot, the
//! helpers rules call, `${…}` templates, and the load-time checks of all of them.

pub mod check;
pub mod helpers;
pub mod template;
pub mod values;
mod world;

#[cfg(test)]
mod shared_values;

pub use template::Template;
pub use world::{ObjId, World};

use kube_cel::KubeCelExt;
use kube_cel::cel::{Context, ExecutionError, Program, Value};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Compiles one expression; the error is one line.
pub fn compile(src: &str) -> Result<Program, String> {
    Program::compile(src).map_err(|e| crate::text::first_line(&e.to_string()).to_string())
}

/// Runs a program. A rule must never take the run down, and the CEL interpreter can panic
/// on odd input: a panic is an error like any other.
pub fn exec(p: &Program, ctx: &Context) -> Result<Value, String> {
    exec_raw(p, ctx).map_err(|e| e.to_string())
}

pub(crate) fn exec_raw(p: &Program, ctx: &Context) -> Result<Value, ExecutionError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| p.execute(ctx))) {
        Ok(r) => r,
        Err(_) => Err(ExecutionError::function_error(
            "<expression>",
            "evaluation panicked",
        )),
    }
}

/// A program's value as a bool, or why it is not one.
pub fn truthy(v: &Value, what: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "{what} must be a bool, got {}",
            template::display(other)
        )),
    }
}

/// The context every rule expression starts from: CEL, the Kubernetes library, every helper
/// bound to `world`, and `namespace`.
pub fn root_context(world: &Arc<World>, namespace: &str) -> Context<'static> {
    let mut ctx = Context::default().with_all();
    for h in helpers::HELPERS {
        ctx.add_function(h.name, helpers::registered(h, Arc::clone(world)));
    }
    ctx.add_variable_from_value("namespace", values::string(namespace));
    ctx.add_function("matches", matches);
    ctx
}

/// CEL's `string.matches(regex)`, with each pattern compiled once per run: cel compiles it
/// on every call, and rules call it per object.
fn matches(
    ftx: &kube_cel::cel::FunctionContext,
    kube_cel::cel::extractors::This(this): kube_cel::cel::extractors::This<Arc<String>>,
    regex: Arc<String>,
) -> Result<bool, ExecutionError> {
    type Compiled = std::collections::HashMap<String, Result<regex::Regex, String>>;
    static COMPILED: std::sync::LazyLock<std::sync::Mutex<Compiled>> =
        std::sync::LazyLock::new(Default::default);
    let compiled = {
        let mut cache = COMPILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache
            .entry(regex.to_string())
            .or_insert_with(|| regex::Regex::new(&regex).map_err(|e| e.to_string()))
            .clone()
    };
    match compiled {
        Ok(re) => Ok(re.is_match(&this)),
        Err(err) => Err(ftx.error(format!("'{regex}' not a valid regex:\n{err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_is_cels_matches_with_patterns_compiled_once() {
        let mut ctx = Context::default();
        ctx.add_function("matches", matches);
        let run = |src: &str| exec(&compile(src).expect("compiles"), &ctx);
        for _ in 0..2 {
            assert_eq!(
                run("'shop-orders-db-0'.matches('^shop-.*-db')"),
                Ok(Value::Bool(true))
            );
            assert_eq!(run("'cache-0'.matches('^shop-')"), Ok(Value::Bool(false)));
            assert_eq!(
                run("'abc'.matches('b')"),
                Ok(Value::Bool(true)),
                "unanchored"
            );
            let bad = run("'a'.matches('(')").expect_err("an invalid pattern fails");
            assert!(bad.contains("'(' not a valid regex"), "{bad}");
        }
    }
}
