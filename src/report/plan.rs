//! `ttdoctor plan` for people (a table with a bar per node, what will not fit, the smallest
//! change) and for machines (`PlanReport`, schema `schemas/ttdoctor-plan-v1.schema.json`).

use crate::plan::{Change, Level, NodeRow, Options, Plan, Planned};
use crate::quantity::format_bytes;
use crate::text::{WIDTH, wrap};
use colored::Colorize;
use comfy_table::{Cell, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::fmt::Write;

/// The exit code of a plan: 1 when something will not fit or a node's expected memory use
/// reaches the error threshold, else 0.
pub fn exit_code(p: &Planned, opts: &Options) -> i32 {
    i32::from(!p.plan.fits() || p.plan.worst(opts) == Level::Error)
}

fn bytes(b: i64) -> String {
    format_bytes(i128::from(b))
}

const BAR: usize = 20;

/// `██████░░░░ 62%`, coloured by level; past 100 % the bar is full.
fn bar(percent: i64, level: Level) -> String {
    let filled = usize::try_from(percent.clamp(0, 100)).unwrap_or(0) * BAR / 100;
    let text = format!(
        "{}{} {percent:>3}%",
        "█".repeat(filled),
        "░".repeat(BAR - filled)
    );
    match level {
        Level::Ok => text.green().to_string(),
        Level::Warn => text.yellow().to_string(),
        Level::Error => text.red().bold().to_string(),
    }
}

fn node_table(plan: &Plan, opts: &Options) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "node",
        "allocatable",
        "requested before → after",
        "expected memory use after",
        "limits",
        "new pods",
    ]);
    for n in &plan.nodes {
        let name = if n.eligible {
            n.name.clone()
        } else {
            format!("{} (not usable)", n.name)
        };
        t.add_row(vec![
            Cell::new(name),
            Cell::new(format!(
                "{} · {} cpu",
                bytes(n.allocatable.memory),
                fmt_cpu(n.allocatable.cpu)
            )),
            Cell::new(format!(
                "{} → {} ({}%)",
                bytes(n.requested_before.memory),
                bytes(n.requested_after.memory),
                n.requested_percent()
            )),
            Cell::new(format!(
                "{} {}{}",
                bar(n.usage_percent(), plan.level(n, opts)),
                bytes(n.usage_after),
                if n.usage_basis == crate::plan::UsageBasis::Requests {
                    "*"
                } else {
                    ""
                }
            )),
            Cell::new(format!("{}%", n.limits_percent())),
            Cell::new(n.placed.len()),
        ]);
    }
    t.to_string()
}

fn fmt_cpu(milli: i64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{:.1}", milli as f64 / 1000.0)
    }
}

fn headline(plan: &Plan) -> String {
    let never = plan.pods.iter().filter(|p| p.fits == 0).count();
    let some = plan
        .pods
        .iter()
        .filter(|p| p.fits > 0 && p.fits < plan.orders)
        .count();
    if plan.fits() {
        return format!(
            "Fits: all {} pods find a node in every one of {} orders simulated.",
            plan.pods.len(),
            plan.orders
        );
    }
    let mut s = format!(
        "Does not fit: {} of {} pods never find a node",
        never,
        plan.pods.len()
    );
    if some > 0 {
        let _ = write!(s, ", {some} more only in some orders");
    }
    let _ = write!(s, " ({} orders simulated).", plan.orders);
    s
}

fn memory_line(plan: &Plan) -> String {
    let m = &plan.memory;
    let mut s = format!(
        "The deployment requests {} of memory; the nodes it may use have {} free.",
        bytes(m.requested),
        bytes(m.free)
    );
    if m.short > 0 {
        let _ = write!(s, " The cluster is {} short.", bytes(m.short));
    }
    s
}

fn usage_lines(plan: &Plan, opts: &Options, out: &mut String) {
    for n in &plan.nodes {
        let level = plan.level(n, opts);
        if level == Level::Ok {
            continue;
        }
        let what = if level == Level::Error {
            "error".red().bold()
        } else {
            "warning".yellow().bold()
        };
        let mut line = format!(
            "{what}: {} is expected to use {}% of its allocatable memory after the install ({} of {}; {} threshold {}%)",
            n.name,
            n.usage_percent(),
            bytes(n.usage_after),
            bytes(n.allocatable.memory),
            if level == Level::Error {
                "error"
            } else {
                "warning"
            },
            if level == Level::Error {
                opts.error_percent
            } else {
                opts.warn_percent
            },
        );
        if n.limits_percent() > 100 {
            let _ = write!(
                line,
                "; its limits reach {}% of it, so pods can be OOM-killed or evicted under load",
                n.limits_percent()
            );
        }
        line.push('.');
        out.push_str(&wrap(&line, "  ", WIDTH));
    }
}

/// What real use will need beyond what the scheduler counts.
fn usage_short_line(plan: &Plan, opts: &Options, out: &mut String) {
    let short = plan.usage_short(opts.warn_percent);
    if short > 0 {
        let line = format!(
            "To keep every node under {}% of its memory once the pods run, the cluster needs about {} more allocatable memory than this.",
            opts.warn_percent,
            bytes(short)
        );
        out.push_str(&wrap(&line, "  ", WIDTH));
    }
}

fn unplaced(plan: &Plan, out: &mut String) {
    if plan.unplaced.is_empty() {
        return;
    }
    let total: usize = plan.unplaced.iter().map(|u| u.pods.len()).sum();
    let _ = writeln!(out, "\n{}", format!("Will not fit ({total} pods)").bold());
    for u in &plan.unplaced {
        out.push_str(&wrap(&format!("× {}", u.message), "  ", WIDTH));
        let names = u
            .pods
            .iter()
            .map(|name| match plan.pods.iter().find(|p| &p.name == name) {
                Some(p) if p.fits > 0 => format!("{name} (fits in {}/{})", p.fits, plan.orders),
                _ => name.clone(),
            })
            .collect::<Vec<_>>();
        const SHOWN: usize = 12;
        let more = names.len().saturating_sub(SHOWN);
        let mut names = names[..names.len().min(SHOWN)].join(", ");
        if more > 0 {
            let _ = write!(names, ", and {more} more");
        }
        out.push_str(&wrap(
            &format!("  {} pod(s): {names}", u.pods.len()),
            "    ",
            WIDTH,
        ));
    }
}

fn change(c: &Change, opts: &Options, out: &mut String) {
    let title = if c.fits {
        "Smallest change that makes it fit in every order"
    } else {
        "No change found that makes it fit; the closest"
    };
    let _ = writeln!(out, "\n{}", title.bold());
    let mut k = 0;
    for f in &c.fixes {
        k += 1;
        out.push_str(&wrap(
            &format!("{k}. {} [{}, {}]", f.summary, f.safety, f.rule_id),
            "   ",
            WIDTH,
        ));
        for cmd in &f.commands {
            let folded = crate::text::fold_command(cmd, "     ", WIDTH);
            let _ = writeln!(out, "{}", folded.trim_end().cyan());
        }
    }
    if let Some(n) = &c.add_nodes {
        k += 1;
        out.push_str(&wrap(
            &format!(
                "{k}. Add {} node(s) like {} with {} of allocatable memory each ({} has {}).",
                n.count,
                n.like,
                bytes(n.memory),
                n.like,
                bytes(n.like_memory)
            ),
            "   ",
            WIDTH,
        ));
    }
    let _ = writeln!(out, "   After it: {}.", c.after.verdict);
    out.push_str(&node_table(&c.after, opts));
    out.push('\n');
    usage_lines(&c.after, opts, out);
    usage_short_line(&c.after, opts, out);
    let safe: Vec<&str> = c
        .fixes
        .iter()
        .filter(|f| f.safety == crate::model::Safety::Safe)
        .map(|f| f.rule_id.as_str())
        .collect();
    if !safe.is_empty() {
        let _ = writeln!(
            out,
            "   Apply the safe fixes before installing: {}",
            format!("ttdoctor fix --auto --only {}", safe.join(",")).cyan()
        );
    }
}

/// The plan for people.
pub fn human(p: &Planned, header: &str, opts: &Options) -> String {
    let plan = &p.plan;
    let mut out = String::new();
    let _ = writeln!(out, "{}", wrap(header, "", WIDTH).bold());
    let head = headline(plan);
    let head = if plan.fits() {
        head.green().bold()
    } else {
        head.red().bold()
    };
    let _ = writeln!(out, "{head}");
    out.push_str(&wrap(&memory_line(plan), "", WIDTH));
    out.push('\n');
    out.push_str(&node_table(plan, opts));
    out.push('\n');
    if plan
        .nodes
        .iter()
        .any(|n| n.usage_basis == crate::plan::UsageBasis::Requests)
    {
        let _ = writeln!(
            out,
            "* no node metrics (metrics-server): current use is taken as the pods' requests"
        );
    }
    usage_lines(plan, opts, &mut out);
    if p.change.is_none() {
        usage_short_line(plan, opts, &mut out);
    }
    unplaced(plan, &mut out);
    if let Some(c) = &p.change {
        change(c, opts, &mut out);
    }
    for n in &plan.notes {
        out.push_str(&wrap(&format!("note: {n}"), "  ", WIDTH));
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    summary: Summary,
    nodes: Vec<NodeOut<'a>>,
    pods: &'a [crate::plan::PodRow],
    unplaced: &'a [crate::plan::Unplaced],
    memory: &'a crate::plan::Balance,
    /// Running pods of the release a re-install replaces.
    replaced: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<&'a Change>,
    notes: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    tool: &'static str,
    version: &'static str,
    source: &'a str,
    namespace: &'a str,
    deployment: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    fits: bool,
    fits_in: usize,
    orders: usize,
    verdict: String,
    pods: usize,
    unplaced: usize,
    warn_percent: i64,
    error_percent: i64,
    worst: Level,
    /// Memory to add for every node to stay under `warnPercent` once the pods run (bytes).
    usage_short: i64,
    exit_code: i32,
}

/// A node with its percentages and level (the plan's rows carry bytes only).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeOut<'a> {
    #[serde(flatten)]
    row: &'a NodeRow,
    level: Level,
    usage_percent: i64,
    requested_percent: i64,
    limits_percent: i64,
}

/// Where the plan came from.
pub struct PlanRun<'a> {
    pub source: &'a str,
    pub namespace: &'a str,
}

fn document<'a>(p: &'a Planned, run: &'a PlanRun<'a>, opts: &Options) -> Document<'a> {
    let plan = &p.plan;
    let node = |n: &'a NodeRow| NodeOut {
        row: n,
        level: plan.level(n, opts),
        usage_percent: n.usage_percent(),
        requested_percent: n.requested_percent(),
        limits_percent: n.limits_percent(),
    };
    Document {
        api_version: super::machine::API_VERSION,
        kind: "PlanReport",
        metadata: Metadata {
            tool: "ttdoctor",
            version: env!("CARGO_PKG_VERSION"),
            source: run.source,
            namespace: run.namespace,
            deployment: &plan.deployment,
        },
        summary: Summary {
            fits: plan.fits(),
            fits_in: plan.fits_in,
            orders: plan.orders,
            verdict: plan.verdict.clone(),
            pods: plan.pods.len(),
            unplaced: plan.pods.iter().filter(|r| r.fits < plan.orders).count(),
            warn_percent: opts.warn_percent,
            error_percent: opts.error_percent,
            worst: plan.worst(opts),
            usage_short: plan.usage_short(opts.warn_percent),
            exit_code: exit_code(p, opts),
        },
        nodes: plan.nodes.iter().map(node).collect(),
        pods: &plan.pods,
        unplaced: &plan.unplaced,
        memory: &plan.memory,
        replaced: plan.replaced,
        change: p.change.as_ref(),
        notes: &plan.notes,
    }
}

pub fn to_json(p: &Planned, run: &PlanRun, opts: &Options) -> String {
    serde_json::to_string_pretty(&document(p, run, opts)).expect("a plan serializes") + "\n"
}

pub fn to_yaml(p: &Planned, run: &PlanRun, opts: &Options) -> String {
    let v = serde_json::to_value(document(p, run, opts)).expect("a plan serializes");
    serde_saphyr::to_string(&v).expect("a plan serializes")
}
