//! Rule documentation: `ttdoctor rules` and `ttdoctor explain ID`.

use crate::finding::Finding;
use crate::live::KindStat;
use crate::rules::Rule;
use crate::text::{WIDTH, fold_command, wrap};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::fmt::Write;

/// A table of every rule.
pub fn list(rules: &[Rule]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(WIDTH as u16);
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

/// One rule in full: what it checks, why, how it is fixed (shown on one of the rule's test
/// cases, as a user would see it), where it came from.
pub fn explain(r: &Rule, example: Option<&Finding>) -> String {
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
    out.push_str(&wrap(s.explanation.trim(), "", WIDTH));
    if let Some(f) = &s.fix {
        writeln!(out, "\nfix: {}", f.safety).unwrap();
        match example.and_then(|e| e.fix.as_ref().map(|fx| (e, fx))) {
            Some((e, fx)) => {
                writeln!(out, "  for example, on {}:", e.object).unwrap();
                out.push_str(&wrap(&e.message, "    ", WIDTH));
                writeln!(out, "  fix ({}): {}", fx.safety, fx.summary.trim()).unwrap();
                for c in &fx.commands {
                    out.push_str(&fold_command(c, "    ", WIDTH));
                }
            }
            None => writeln!(out, "  (no test case of this rule shows it)").unwrap(),
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

/// The helper table: for `ttdoctor helpers`, and (as Markdown) the README.
pub fn helpers(markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("| helper | returns | what |\n| --- | --- | --- |\n");
        for h in crate::expr::helpers::HELPERS {
            writeln!(out, "| `{}` | {} | {} |", h.signature(), h.returns, h.doc).unwrap();
        }
        return out;
    }
    for h in crate::expr::helpers::HELPERS {
        writeln!(out, "{} → {}", h.signature(), h.returns).unwrap();
        out.push_str(&wrap(h.doc, "    ", WIDTH));
    }
    out
}

/// What reading a live cluster took, per kind (`-v`).
pub fn read_stats(stats: &[KindStat], total: std::time::Duration) -> String {
    let mut out = String::new();
    for s in stats {
        match &s.unavailable {
            Some(reason) => writeln!(out, "  {:<22} -      {reason}", s.kind.plural()),
            None => writeln!(
                out,
                "  {:<22} {:>5} in {} page(s), {} ms",
                format!("{} ({})", s.kind.plural(), s.kind.api_version()),
                s.count,
                s.pages,
                s.elapsed.as_millis()
            ),
        }
        .unwrap();
    }
    writeln!(out, "  read in {} ms", total.as_millis()).unwrap();
    out
}
