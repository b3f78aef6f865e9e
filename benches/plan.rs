//! `cargo bench --bench plan`: how long `ttdoctor plan` takes, in-process through the library.
//!
//! ```text
//! cargo bench --bench plan                          # every case
//! TTDOCTOR_BENCH_RUNS=9 cargo bench --bench plan    # runs per case (default 5; 3 for 500 nodes)
//! cargo bench --bench plan -- S short               # chosen cases: S, fits, short
//! ```
//!
//! Cases (10 seeded orders, seed 1, as the CLI's defaults):
//!
//! - **S**: `fixtures/seed-before-deploy.yaml` and the built-in `default` profile, 56 pods onto
//!   3 nodes. Timed: loading the snapshot and expanding the deployment; `plan::plan` (the
//!   simulation in 10 orders and the memory projection); the whole `Checker::plan`, which does
//!   not fit and so searches the smallest change (the check's fixes, tried and re-simulated).
//! - **500 nodes, fits**: a generated cluster of 500 nodes (16 cpu, 64Gi; 10 of them 32Gi; 3
//!   zones; a few images each) and 500 workloads × 10 replicas given as manifests text (480
//!   Deployments, 20 StatefulSets with a claim each; varied requests and images, zone spreading):
//!   5,000 pods. Timed: generating and loading the nodes and expanding the manifests;
//!   `plan::plan`; `Checker::plan` (which stops after the plan: it fits).
//! - **500 nodes, short**: the same, every pod requesting 6Gi: 10 pods fit a 64Gi node and 5 a
//!   32Gi one, so 4,950 fit and 50 are left out in every order. `Checker::plan` then runs the
//!   rules, finds no fix, and adds nodes: 1, 2, … until it fits (5), then bisects their memory
//!   in whole GiB (60Gi).
//!
//! The verdicts and changes are checked (S: the change is TT-NODE-001 + TT-STO-001 and fits, as
//! `tests/plan.rs` expects; 500 nodes short: 5 nodes like the biggest with 60Gi each); a wrong
//! answer is printed and the bench exits with status 1. A second table splits the median run
//! of each case into its stages (model expansion, index, simulation, projection, rules, fixes,
//! search). Figures go to BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use ttdoctor::app::{Checker, RuleChoice};
use ttdoctor::deploy::{self, Source};
use ttdoctor::engine::RunOptions;
use ttdoctor::index::Index;
use ttdoctor::model::Phase;
use ttdoctor::plan::{self, Options, Planned};
use ttdoctor::snapshot::{self, Snapshot};

/// The allocator of the `ttdoctor` binary (src/main.rs), so that the figures are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAMESPACE: &str = "train-ticket";
const GI: i64 = 1 << 30;
const BIG_NODES: usize = 500;
const WORKLOADS: usize = 500;
const REPLICAS: usize = 10;

fn main() -> ExitCode {
    let runs = std::env::var("TTDOCTOR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0);
    // `cargo bench` passes `--bench`; other arguments choose cases (`S`, `fits`, `short`).
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted =
        |case: &str| chosen.is_empty() || chosen.iter().any(|c| c.eq_ignore_ascii_case(case));
    let mut table = Table::default();
    let mut failures = Vec::new();
    println!("{}", machine());
    if wanted("S") {
        failures.extend(seed_case(runs.unwrap_or(5), &mut table).err());
    }
    for (short, name) in [(false, "fits"), (true, "short")] {
        if wanted(name) {
            failures.extend(big_case(short, runs.unwrap_or(3), &mut table).err());
        }
    }
    println!("{}", table.render());
    println!("{}", table.render_stages());
    println!("peak RSS of the bench process: {}", peak_rss());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("wrong answer: {f}");
        }
        ExitCode::from(1)
    }
}

// ---------------------------------------------------------------------------------------
// timing and tables

/// Runs `f` `runs` times; the min and median wall time, and the last result.
fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = f();
        times.push(t0.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[0], times[times.len() / 2], last.expect("runs > 0"))
}

fn fmt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

struct Row {
    case: &'static str,
    timed: &'static str,
    pods: usize,
    nodes: usize,
    orders: usize,
    runs: usize,
    min: Duration,
    median: Duration,
    result: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    stages: Vec<(&'static str, Vec<(String, Duration)>)>,
}

impl Table {
    fn render(&self) -> String {
        let mut s = String::from(
            "| case | pods | nodes | orders | timed | runs | min | median | result |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.case,
                thousands(r.pods),
                r.nodes,
                r.orders,
                r.timed,
                r.runs,
                fmt(r.min),
                fmt(r.median),
                r.result
            );
        }
        s
    }

    fn render_stages(&self) -> String {
        let mut s = String::new();
        for (case, stages) in &self.stages {
            let _ = writeln!(
                s,
                "\n**{case}**, stages (median):\n\n| stage | median |\n| --- | --- |"
            );
            for (name, d) in stages {
                let name = name
                    .strip_prefix("  ")
                    .map_or_else(|| name.clone(), |n| format!("· {n}"));
                let _ = writeln!(s, "| {name} | {} |", fmt(*d));
            }
        }
        s
    }
}

fn thousands(n: usize) -> String {
    if n >= 1000 {
        format!("{},{:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}

fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown CPU".into(), |s| s.trim().to_string());
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = read("/proc/loadavg");
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "Machine: {cpu}, {cores} cores, {:.1} GiB RAM, load average {} at start",
        mem_kib as f64 / 1024.0 / 1024.0,
        load.join(" ")
    )
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map_or_else(
            || "unknown".into(),
            |l| l.trim_start_matches("VmHWM:").trim().to_string(),
        )
}

// ---------------------------------------------------------------------------------------
// what was computed

fn verdict(p: &plan::Plan) -> String {
    format!("{} ({}/{})", p.verdict, p.fits_in, p.orders)
}

fn change(planned: &Planned) -> String {
    let Some(c) = &planned.change else {
        return "no change needed".into();
    };
    let mut parts: Vec<String> = c.fixes.iter().map(|f| f.rule_id.clone()).collect();
    if let Some(n) = &c.add_nodes {
        parts.push(format!(
            "add {} node(s) like {} with {}Gi",
            n.count,
            n.like,
            n.memory / GI
        ));
    }
    let what = if parts.is_empty() {
        "nothing found".into()
    } else {
        parts.join(" + ")
    };
    let after = if c.fits { "fits after" } else { "still short" };
    format!("change: {what}, {after} ({})", verdict(&c.after))
}

fn checker(deployment: Source) -> Checker {
    let opts = RunOptions {
        namespace: NAMESPACE.into(),
        phase: Phase::Pre,
        deployment,
    };
    match Checker::prepare(&RuleChoice::default(), opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the rules could not be prepared: {e}");
            std::process::exit(2);
        }
    }
}

fn nodes_of(snap: &Snapshot) -> Vec<k8s_openapi::api::core::v1::Node> {
    snap.objects.nodes.iter().map(|n| n.get().clone()).collect()
}

fn or_exit<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("error: {what}: {e}");
        std::process::exit(2);
    })
}

// ---------------------------------------------------------------------------------------
// S: the write-up's cluster before the install

fn seed_case(runs: usize, table: &mut Table) -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/seed-before-deploy.yaml");
    let text = or_exit(
        std::fs::read_to_string(&path),
        "fixtures/seed-before-deploy.yaml",
    );
    let case = Case {
        name: "S (seed-before-deploy, profile default)",
        stage_label: "S",
        load_label: "load snapshot + expand model",
        source: Source::default(),
    };
    let load = || or_exit(snapshot::load_str(&text, "seed-before-deploy.yaml"), "load");
    let planned = run_case(&case, runs, load, table);
    expect_seed(&planned)
}

/// One case of the table: its name, how its load row is labelled, and the deployment.
struct Case {
    name: &'static str,
    stage_label: &'static str,
    load_label: &'static str,
    source: Source,
}

/// Times the load (snapshot + model), `plan::plan` and `Checker::plan` of a case, adds their
/// rows and stages to the table, and returns the plan to check.
fn run_case(
    case: &Case,
    runs: usize,
    snapshot: impl Fn() -> Snapshot,
    table: &mut Table,
) -> Planned {
    let load = || {
        let snap = snapshot();
        let model = or_exit(
            deploy::load(&case.source, NAMESPACE, &nodes_of(&snap)),
            "model",
        );
        (snap, model)
    };
    let (lmin, lmed, (snap, model)) = measure(runs, load);
    let opts = Options::default();
    let (pmin, pmed, base) = measure(runs, || {
        plan::plan(&Index::new(snap.clone()), &model, &opts)
    });
    let checker = checker(case.source.clone());
    let (cmin, cmed, planned) = measure(runs, || or_exit(checker.plan(&snap, &opts), "plan"));
    let (pods, nodes) = (base.pods.len(), snap.objects.nodes.len());
    let row = |timed, min, median, result| Row {
        case: case.name,
        timed,
        pods,
        nodes,
        orders: opts.orders,
        runs,
        min,
        median,
        result,
    };
    let loaded = format!("{} pods expanded", thousands(model.pods.len()));
    table.rows.push(row(case.load_label, lmin, lmed, loaded));
    table
        .rows
        .push(row("plan::plan", pmin, pmed, verdict(&base)));
    let result = format!("{}; {}", verdict(&planned.plan), change(&planned));
    table.rows.push(row("Checker::plan", cmin, cmed, result));
    table.stages.push((
        case.stage_label,
        stages(&checker, &snap, &case.source, &opts, (runs, cmed)),
    ));
    planned
}

/// What `tests/plan.rs` (`the_seed_cluster_before_the_install`) expects.
fn expect_seed(p: &Planned) -> Result<(), String> {
    let fixes: Vec<&str> = p
        .change
        .iter()
        .flat_map(|c| &c.fixes)
        .map(|f| f.rule_id.as_str())
        .collect();
    let ok = p.plan.pods.len() == 56
        && p.plan.fits_in == 0
        && fixes == ["TT-NODE-001", "TT-STO-001"]
        && p.change
            .as_ref()
            .is_some_and(|c| c.fits && c.add_nodes.is_none() && c.after.fits());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "S: expected 56 pods, never fitting, and the change TT-NODE-001 + TT-STO-001 that fits; got {} pods, {}; {}",
            p.plan.pods.len(),
            verdict(&p.plan),
            change(p)
        ))
    }
}

// ---------------------------------------------------------------------------------------
// 500 nodes, 5,000 pods

fn big_case(short: bool, runs: usize, table: &mut Table) -> Result<(), String> {
    let name = if short {
        "500 nodes, short (6Gi per pod)"
    } else {
        "500 nodes, fits"
    };
    let case = Case {
        name,
        stage_label: name,
        load_label: "generate + load nodes, expand manifests",
        source: Source::Text(workloads(short)),
    };
    let load = || or_exit(snapshot::load_str(&cluster_json(), "generated"), "load");
    let planned = run_case(&case, runs, load, table);
    expect_big(short, &planned)
}

fn expect_big(short: bool, p: &Planned) -> Result<(), String> {
    let pods = WORKLOADS * REPLICAS;
    let ok = if short {
        p.plan.pods.len() == pods
            && p.plan.fits_in == 0
            && p.plan.pods.iter().filter(|r| r.node.is_none()).count() == 50
            && p.change.as_ref().is_some_and(|c| {
                c.fits
                    && c.fixes.is_empty()
                    && c.add_nodes
                        .as_ref()
                        .is_some_and(|n| n.count == 5 && n.memory == 60 * GI)
            })
    } else {
        p.plan.pods.len() == pods && p.plan.fits() && p.change.is_none()
    };
    if ok {
        Ok(())
    } else {
        let want = if short {
            "50 pods left out in the first order, and the change: add 5 nodes with 60Gi"
        } else {
            "fits in every order, no change"
        };
        Err(format!(
            "500 nodes: expected {pods} pods, {want}; got {} pods, {}; {}",
            p.plan.pods.len(),
            verdict(&p.plan),
            change(p)
        ))
    }
}

/// The stages of `Checker::plan`, each the median of `runs`: where a run's time goes. The search
/// is the rest of the median `Checker::plan`. With the rules, their three slowest stages.
fn stages(
    checker: &Checker,
    snap: &Snapshot,
    source: &Source,
    opts: &Options,
    (runs, whole): (usize, Duration),
) -> Vec<(String, Duration)> {
    let (_, expand, model) = measure(runs, || {
        or_exit(deploy::load(source, NAMESPACE, &nodes_of(snap)), "model")
    });
    let (_, index, ix) = measure(runs, || Index::new(snap.clone()));
    let (_, prepare, inputs) = measure(runs, || plan::inputs(&ix, &model));
    let (_, simulate, _) = measure(runs, || {
        ttdoctor::sim::simulate_orders(&inputs.cluster, &inputs.pods, opts.orders, opts.seed)
    });
    let (_, evaluate, base) = measure(runs, || plan::evaluate(&ix, &inputs, opts));
    let mut out = vec![
        ("deploy::load (manifests → pods)".to_string(), expand),
        ("Index::new (with the snapshot's clone)".into(), index),
        (
            "plan::inputs (cluster and pods to simulate)".into(),
            prepare,
        ),
        ("sim::simulate_orders (10 orders)".into(), simulate),
        ("plan::evaluate (simulation + projection)".into(), evaluate),
    ];
    let mut before = expand + index + prepare + evaluate;
    if base.fits() {
        out.push(("Checker::plan, median".into(), whole));
        out.push((
            "  the rest (no search: it fits; timing noise)".into(),
            whole.saturating_sub(before),
        ));
        return out;
    }
    let (_, rules, report) = measure(runs, || checker.evaluate(snap.clone()));
    let (_, fix, _) = measure(runs, || ttdoctor::fix::plan(&report, snap, &[]));
    out.push(("Checker::evaluate (the rules, for fixes)".into(), rules));
    let mut slowest: Vec<&(String, Duration)> = report.timings.iter().collect();
    slowest.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    for (what, d) in slowest.into_iter().take(3) {
        out.push((format!("  of which {what}"), *d));
    }
    out.push(("fix::plan".into(), fix));
    before += rules + fix;
    out.push(("Checker::plan, median".into(), whole));
    out.push((
        "  of which the smallest-change search (the rest)".into(),
        whole.saturating_sub(before),
    ));
    out
}

// ---------------------------------------------------------------------------------------
// the generated cluster and deployment

fn image(team: usize, version: usize) -> String {
    format!("registry.example.com/team-{team:02}/app:1.{version}")
}

/// 500 Ready nodes in 3 zones (every 50th with 32Gi instead of 64Gi), each with a few of the
/// deployment's images, a default StorageClass and the namespace, as `kubectl get -o json`.
fn cluster_json() -> String {
    let zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
    let mut items: Vec<serde_json::Value> = (0..BIG_NODES)
        .map(|i| {
            let name = format!("node-{i:03}");
            let memory = if i % 50 == 49 { "32Gi" } else { "64Gi" };
            let images: Vec<serde_json::Value> = (0..4)
                .map(|k| {
                    serde_json::json!({
                        "names": [image((i + k * 13) % 50, k)],
                        "sizeBytes": 200_000_000 + 50_000_000 * k,
                    })
                })
                .collect();
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/region": "eu-west-1",
                        "topology.kubernetes.io/zone": zones[i % 3],
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": {"cpu": "16", "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"},
                    "capacity": {"cpu": "16", "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "images": images,
                },
            })
        })
        .collect();
    items.push(serde_json::json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "local-path",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }));
    items.push(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE},
        "status": {"phase": "Active"},
    }));
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// 500 workloads × 10 replicas as `helm template` would print them: every 25th a StatefulSet
/// with a 1Gi claim, the rest Deployments; requests vary (or are 6Gi each when `short`).
fn workloads(short: bool) -> String {
    let mut s = String::new();
    for d in 0..WORKLOADS {
        let name = format!("app-{d:03}");
        let team = d % 50;
        let cpu = 100 + (d % 10) * 90;
        let memory = if short {
            6 * 1024
        } else {
            128 + (d % 16) * 192
        };
        let stateful = d % 25 == 24;
        let kind = if stateful {
            "StatefulSet"
        } else {
            "Deployment"
        };
        let service = if stateful {
            format!("  serviceName: {name}\n")
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "---\napiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n\
             spec:\n  replicas: {REPLICAS}\n{service}  selector:\n    matchLabels:\n      app: {name}\n\
             \x20 template:\n    metadata:\n      labels:\n        app: {name}\n        team: team-{team:02}\n\
             \x20   spec:\n      topologySpreadConstraints:\n      - maxSkew: 1\n        topologyKey: topology.kubernetes.io/zone\n\
             \x20       whenUnsatisfiable: ScheduleAnyway\n        labelSelector:\n          matchLabels:\n            app: {name}\n\
             \x20     containers:\n      - name: app\n        image: {}\n        resources:\n\
             \x20         requests:\n            cpu: {cpu}m\n            memory: {memory}Mi\n\
             \x20         limits:\n            cpu: \"2\"\n            memory: {memory}Mi\n",
            image(team, d % 4),
        );
        if stateful {
            s.push_str(
                "        volumeMounts:\n        - name: data\n          mountPath: /data\n  volumeClaimTemplates:\n\
                 \x20 - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n\
                 \x20     resources:\n        requests:\n          storage: 1Gi\n",
            );
        }
    }
    s
}
