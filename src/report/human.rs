//! `linkerd check`-style output: categories, ✓ ‼ × per check, the objects named, the fix on
//! the next lines, causes before their symptoms, and a summary table.

use super::category_rank;
use crate::finding::{Finding, Report, RuleOutcome};
use crate::model::Severity;
use crate::text::wrap;
use colored::Colorize;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use std::collections::BTreeMap;
use std::fmt::Write;

pub use crate::text::WIDTH;

/// Options that change what is shown.
#[derive(Clone, Debug, Default)]
pub struct HumanOptions {
    /// Also list skipped checks with the reason.
    pub verbose: bool,
}

fn mark(s: Option<Severity>) -> colored::ColoredString {
    match s {
        None => "√".green(),
        Some(Severity::Error) => "×".red().bold(),
        Some(Severity::Warn) => "‼".yellow().bold(),
        Some(Severity::Info) => "i".cyan(),
    }
}

fn object_line(f: &Finding) -> String {
    format!("{} {}", f.rule_id, f.object)
}

/// Renders the whole report.
pub fn render(report: &Report, header: &str, opts: &HumanOptions) -> String {
    let mut out = String::new();
    out.push_str(&wrap(header, "", WIDTH).bold().to_string());
    out.push('\n');

    let mut categories: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in report.rules.iter().enumerate() {
        categories
            .entry(category_rank(&r.category))
            .or_default()
            .push(i);
    }
    for ((_, cat), rule_idx) in &categories {
        let shown = rule_idx.iter().any(|&ri| {
            opts.verbose || !matches!(report.rules[ri].outcome, RuleOutcome::Skipped(_))
        });
        if !shown {
            continue;
        }
        writeln!(out, "{}\n{}", cat.bold(), "-".repeat(cat.chars().count())).unwrap();
        for &ri in rule_idx {
            render_rule(&mut out, report, ri, opts);
        }
        out.push('\n');
    }
    if !report.notes.is_empty() {
        for n in &report.notes {
            out.push_str(&wrap(&format!("note: {n}"), "", WIDTH));
        }
        out.push('\n');
    }
    if !report.errors.is_empty() {
        writeln!(
            out,
            "{}",
            "rule errors (a rule is broken; results are incomplete):"
                .red()
                .bold()
        )
        .unwrap();
        for e in &report.errors {
            out.push_str(&wrap(e, "  ", WIDTH));
        }
        out.push('\n');
    }
    out.push_str(&summary(report));
    out
}

/// One rule's line, and its findings under it.
fn render_rule(out: &mut String, report: &Report, ri: usize, opts: &HumanOptions) {
    let rule = &report.rules[ri];
    let findings: Vec<usize> = report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rule_id == rule.id && f.suppressed.is_none())
        .map(|(i, _)| i)
        .collect();
    match &rule.outcome {
        RuleOutcome::Error(reason) => {
            writeln!(
                out,
                "{} {} {} {}",
                "×".red().bold(),
                rule.id,
                rule.title.bold(),
                format!("(rule error: {reason}; see below)").red()
            )
            .unwrap();
            return;
        }
        RuleOutcome::Skipped(reason) => {
            if opts.verbose {
                writeln!(
                    out,
                    "{} {} {} {}",
                    "-".dimmed(),
                    rule.id.dimmed(),
                    rule.title.dimmed(),
                    format!("(skipped: {reason})").dimmed()
                )
                .unwrap();
            }
            return;
        }
        RuleOutcome::Failed if findings.is_empty() => {
            writeln!(
                out,
                "{} {} {} {}",
                mark(None),
                rule.id.dimmed(),
                rule.title,
                "(findings suppressed)".dimmed()
            )
            .unwrap();
            return;
        }
        RuleOutcome::Passed => {
            writeln!(out, "{} {} {}", mark(None), rule.id.dimmed(), rule.title).unwrap();
            return;
        }
        RuleOutcome::Failed => {}
    }
    let worst = findings.iter().map(|&i| report.findings[i].severity).max();
    writeln!(
        out,
        "{} {} {}",
        mark(worst),
        rule.id.dimmed(),
        rule.title.bold()
    )
    .unwrap();
    for &i in &findings {
        render_finding(out, report, i);
    }
}

/// A fix's summary, then its commands.
fn render_fix(out: &mut String, what: &str, fix: &crate::finding::Fix) {
    let title = format!("{what} ({}): {}", fix.safety, fix.summary);
    out.push_str(&wrap(&title, "      ", WIDTH).green().to_string());
    for c in &fix.commands {
        out.push_str(
            &crate::text::fold_command(c, "        ", WIDTH)
                .cyan()
                .to_string(),
        );
    }
}

fn render_finding(out: &mut String, report: &Report, i: usize) {
    let f = &report.findings[i];
    let lead = format!("    {} ", mark(Some(f.severity)));
    let body = wrap(&f.message, "      ", WIDTH);
    // Put the severity mark on the first line of the message.
    let body = body.trim_start().to_string();
    write!(out, "{lead}{body}").unwrap();
    if !f.caused_by.is_empty() {
        let causes: Vec<String> = f
            .caused_by
            .iter()
            .map(|&c| object_line(&report.findings[c]))
            .collect();
        out.push_str(
            &wrap(
                &format!("↳ caused by {} — fix that first", causes.join("; ")),
                "      ",
                WIDTH,
            )
            .dimmed()
            .to_string(),
        );
    } else if let Some(fix) = &f.fix {
        render_fix(out, "fix", fix);
        if let Some(d) = &f.durable_fix {
            render_fix(out, "durable fix", d);
        }
    }
    if !f.causes.is_empty() {
        writeln!(
            out,
            "      {}",
            format!("this causes {} finding(s):", f.causes.len()).dimmed()
        )
        .unwrap();
        for &s in f
            .causes
            .iter()
            .filter(|&&s| report.findings[s].suppressed.is_none())
        {
            let sf = &report.findings[s];
            out.push_str(&wrap(
                &format!("{} {}: {}", mark(Some(sf.severity)), sf.rule_id, sf.object),
                "        ",
                WIDTH,
            ));
        }
    }
}

fn summary(report: &Report) -> String {
    let mut rows: BTreeMap<(usize, String), [usize; 5]> = BTreeMap::new();
    for r in &report.rules {
        let row = rows.entry(category_rank(&r.category)).or_default();
        match r.outcome {
            RuleOutcome::Passed => row[0] += 1,
            RuleOutcome::Skipped(_) => row[4] += 1,
            RuleOutcome::Failed | RuleOutcome::Error(_) => {}
        }
    }
    for f in report.active() {
        let row = rows.entry(category_rank(&f.category)).or_default();
        match f.severity {
            Severity::Error => row[1] += 1,
            Severity::Warn => row[2] += 1,
            Severity::Info => row[3] += 1,
        }
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "category",
        "checks passed",
        "errors",
        "warnings",
        "info",
        "skipped",
    ]);
    let mut total = [0usize; 5];
    for ((_, cat), row) in &rows {
        for (t, v) in total.iter_mut().zip(row) {
            *t += v;
        }
        let mut cells = vec![cat.clone()];
        cells.extend(row.iter().map(usize::to_string));
        t.add_row(cells);
    }
    let mut cells = vec!["total".to_string()];
    cells.extend(total.iter().map(usize::to_string));
    t.add_row(cells);
    // A root cause: nothing explains it, and it matters (warn or worse) or explains others.
    let roots = report
        .active()
        .filter(|f| {
            f.caused_by.is_empty() && (f.severity >= Severity::Warn || !f.causes.is_empty())
        })
        .count();
    let suppressed = match report.suppressed() {
        0 => String::new(),
        n => format!("; {n} suppressed by config"),
    };
    let verdict = match report.max_severity() {
        Some(Severity::Error) => format!(
            "{} {} error(s), {} warning(s); {} root cause(s) to fix first",
            "×".red().bold(),
            total[1],
            total[2],
            roots
        ),
        Some(Severity::Warn) => {
            format!("{} no errors, {} warning(s)", "‼".yellow().bold(), total[2])
        }
        _ => format!("{} no errors or warnings", "√".green()),
    };
    format!("{t}\n{verdict}{suppressed}\n")
}
