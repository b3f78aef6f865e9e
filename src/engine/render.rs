//! A rule's fix rendered for one finding: its patches and execs, and the commands derived
//! from them (or the rule's steps when it makes no API change).

use crate::expr::{Template, exec, template, truthy, values};
use crate::finding::{Exec, Fix, Patch, kubectl};
use crate::model::{ObjectRef, Safety};
use crate::rules::{CompiledExec, CompiledFix, CompiledPatch};
use kube_cel::cel::{Context, Program, Value};

/// The elements of a `for_each` list, or one pass without `item`.
fn each(list: Option<&Program>, ctx: &Context, what: &str) -> Result<Vec<Option<Value>>, String> {
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

/// Runs `f` once per element of `list` (bound as `item`), or once without `item`.
fn for_each(
    list: Option<&Program>,
    ctx: &Context,
    what: &str,
    mut f: impl FnMut(&Context) -> Result<(), String>,
) -> Result<(), String> {
    for item in each(list, ctx, what)? {
        let mut ictx = ctx.new_inner_scope();
        if let Some(item) = item {
            ictx.add_variable_from_value("item", item);
        }
        f(&ictx)?;
    }
    Ok(())
}

fn render(t: &Template, ctx: &Context, what: &str) -> Result<String, String> {
    t.render(ctx).map_err(|e| format!("{what}: {e}"))
}

pub(super) fn fix(f: &CompiledFix, ctx: &Context, what: &str) -> Result<Fix, String> {
    let field = format!("{what}.patches");
    let mut patches = Vec::new();
    for p in &f.patches {
        for_each(p.for_each.as_ref(), ctx, &field, |pctx| {
            if let Some(w) = &p.when {
                let on = exec(w, pctx).map_err(|e| format!("{field}.when: {e}"))?;
                if !truthy(&on, "patches.when")? {
                    return Ok(());
                }
            }
            patches.push(patch(p, pctx, &field)?);
            Ok(())
        })?;
    }
    let field = format!("{what}.execs");
    let mut execs = Vec::new();
    for e in &f.execs {
        for_each(e.for_each.as_ref(), ctx, &field, |ectx| {
            execs.push(exec_of(e, ectx, &field)?);
            Ok(())
        })?;
    }
    let mut commands: Vec<String> = patches.iter().map(kubectl::patch_command).collect();
    commands.extend(execs.iter().map(kubectl::exec_command));
    // A fix whose changes all turned out conditional-off is steps for a person.
    let safety = if patches.is_empty() && execs.is_empty() {
        for s in &f.steps {
            let text = render(s, ctx, &format!("{what}.steps"))?;
            commands.extend(
                text.lines()
                    .map(str::trim_end)
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from),
            );
        }
        Safety::Manual
    } else {
        f.safety
    };
    Ok(Fix {
        safety,
        summary: render(&f.summary, ctx, &format!("{what}.summary"))?,
        commands,
        patches,
        execs,
    })
}

fn patch(p: &CompiledPatch, ctx: &Context, what: &str) -> Result<Patch, String> {
    let body = exec(&p.body, ctx).map_err(|e| format!("{what}.body: {e}"))?;
    Ok(Patch {
        target: ObjectRef {
            kind: p.kind.name().to_string(),
            namespace: p
                .namespace
                .as_ref()
                .map(|n| render(n, ctx, &format!("{what}.namespace")))
                .transpose()?,
            name: render(&p.name, ctx, &format!("{what}.name"))?,
        },
        patch_type: p.patch_type,
        body: values::to_json(&body),
    })
}

fn exec_of(e: &CompiledExec, ctx: &Context, what: &str) -> Result<Exec, String> {
    let command = match exec(&e.command, ctx).map_err(|err| format!("{what}.command: {err}"))? {
        Value::List(l) => l.iter().map(template::display).collect(),
        other => {
            return Err(format!(
                "{what}.command must be a list of strings, got {}",
                template::display(&other)
            ));
        }
    };
    Ok(Exec {
        target: ObjectRef {
            kind: "Pod".into(),
            namespace: Some(render(&e.namespace, ctx, &format!("{what}.namespace"))?),
            name: render(&e.pod, ctx, &format!("{what}.pod"))?,
        },
        container: render(&e.container, ctx, &format!("{what}.container"))?,
        command,
    })
}
