//! Rule documentation: `ttdoctor rules` and `ttdoctor explain ID`.

use super::wrap;
use crate::rules::Rule;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::fmt::Write;

/// A table of every rule.
pub fn list(rules: &[Rule]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(super::human::WIDTH as u16);
    t.set_header(vec!["id", "severity", "phase", "category", "fix", "title"]);
    for r in rules {
        t.add_row(vec![
            r.spec.id.clone(),
            r.spec.severity.to_string(),
            r.spec.phase.to_string(),
            r.spec.category.clone(),
            r.spec
                .fix
                .as_ref()
                .map_or("-".into(), |f| f.safety.to_string()),
            r.spec.title.clone(),
        ]);
    }
    format!(
        "{t}\n{} rules. `ttdoctor explain ID` prints one in full.\n",
        rules.len()
    )
}

/// One rule in full: what it checks, why, how it is fixed, where it came from.
pub fn explain(r: &Rule) -> String {
    let s = &r.spec;
    let mut out = String::new();
    writeln!(out, "{} — {}", s.id, s.title).unwrap();
    writeln!(
        out,
        "severity: {} · phase: {} · category: {} · applies to: {}",
        s.severity, s.phase, s.category, s.applies_to.kind
    )
    .unwrap();
    writeln!(out, "source: {}\n", r.source).unwrap();
    out.push_str(&wrap(s.explanation.trim(), "", super::human::WIDTH));
    if let Some(f) = &s.fix {
        writeln!(out, "\nfix ({}): {}", f.safety, f.summary.value.trim()).unwrap();
        for c in &f.commands {
            writeln!(out, "  {}", c.value.trim()).unwrap();
        }
        if !f.patches.is_empty() {
            writeln!(
                out,
                "  API changes: {}",
                f.patches
                    .iter()
                    .map(|p| format!("{} ({:?} patch)", p.kind, p.patch_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .unwrap();
        }
    }
    if !s.caused_by.is_empty() {
        writeln!(
            out,
            "\noften caused by: {}",
            s.caused_by
                .iter()
                .map(|c| c.rule.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .unwrap();
    }
    if !s.params.is_empty() {
        writeln!(
            out,
            "\nparameters (override with --param {}.KEY=VALUE):",
            s.id
        )
        .unwrap();
        for (k, v) in &s.params {
            let v = v.to_string();
            let v = if v.len() > 80 {
                format!("{}…", &v[..80])
            } else {
                v
            };
            writeln!(out, "  {k} = {v}").unwrap();
        }
    }
    if !s.references.is_empty() {
        writeln!(out, "\nreferences:").unwrap();
        for r in &s.references {
            writeln!(out, "  {r}").unwrap();
        }
    }
    out
}
