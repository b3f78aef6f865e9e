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
    ctx
}
