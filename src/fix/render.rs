//! The plan and its results for people.

use super::apply::describe;
use super::plan::{FixPlan, ItemStatus};
use crate::finding::kubectl;
use crate::model::Safety;
use crate::text::{WIDTH, fold_command, wrap};
use colored::Colorize;
use std::fmt::Write;

pub fn render(plan: &FixPlan, header: &str) -> String {
    let mut out = wrap(header, "", WIDTH).bold().to_string();
    let auto: Vec<_> = plan
        .items
        .iter()
        .filter(|i| i.safety != Safety::Manual)
        .collect();
    let manual: Vec<_> = plan
        .items
        .iter()
        .filter(|i| i.safety == Safety::Manual)
        .collect();
    if plan.items.is_empty() {
        out.push_str(
            "\nNothing to fix: no finding has a fix (or every fix is already in place).\n",
        );
        return out;
    }
    let safe = auto.iter().filter(|i| i.safety == Safety::Safe).count();
    writeln!(
        out,
        "\n{} change(s) ttdoctor can make ({safe} safe, {} unsafe), {} manual step(s)\n",
        auto.len(),
        auto.len() - safe,
        manual.len()
    )
    .unwrap();
    for (n, item) in plan.items.iter().enumerate() {
        let safety = match item.safety {
            Safety::Safe => "safe".green(),
            Safety::Unsafe => "unsafe".red(),
            Safety::Manual => "manual".yellow(),
        };
        let title = wrap(
            &format!(
                "[{}] {} {} {}",
                n + 1,
                item.safety,
                item.rule_id,
                item.summary
            ),
            "",
            WIDTH,
        );
        // Color the safety word without disturbing the wrapping.
        let title = title.replacen(&item.safety.to_string(), &safety.to_string(), 1);
        out.push_str(&title);
        let objects: Vec<String> = item.objects.iter().map(ToString::to_string).collect();
        out.push_str(&wrap(
            &format!("fixes: {}", objects.join(", ")),
            "    ",
            WIDTH,
        ));
        for (i, p) in item.patches.iter().enumerate() {
            writeln!(out, "    change {}:", p.target).unwrap();
            for d in item.diffs.get(i).into_iter().flatten() {
                out.push_str(&wrap(d, "      ", WIDTH));
            }
            if let Some(k) = item.kubectl.get(i) {
                out.push_str(&fold_command(k, "      ", WIDTH).cyan().to_string());
            }
        }
        for e in &item.execs {
            writeln!(out, "    exec in {} (container {}):", e.target, e.container).unwrap();
            let cmd = kubectl::exec_command(e);
            out.push_str(&fold_command(&cmd, "      ", WIDTH).cyan().to_string());
        }
        if item.safety == Safety::Manual {
            for c in &item.commands {
                out.push_str(&fold_command(c, "      ", WIDTH).cyan().to_string());
            }
        }
        let status = describe(&item.status);
        let status = match &item.status {
            ItemStatus::Verified => status.green().to_string(),
            ItemStatus::Planned | ItemStatus::Manual => status.dimmed().to_string(),
            ItemStatus::Skipped(_) => status.yellow().to_string(),
            _ => status.red().to_string(),
        };
        out.push_str(&wrap(&format!("status: {status}"), "    ", WIDTH));
        out.push('\n');
    }
    out
}
