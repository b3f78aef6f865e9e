//! `cargo bench --bench live`: reading a big cluster live, side by side with kubectl.
//!
//! ```text
//! cargo build --release                          # the benchmark runs target/release/ttdoctor
//! cargo bench --bench live                       # S and M (and L with TTDOCTOR_BENCH_L=1)
//! cargo bench --bench live -- M L                # chosen sizes
//! TTDOCTOR_BENCH_RUNS=3 cargo bench --bench live # runs per command (default 5; 3 for L)
//! TTDOCTOR_BENCH_PAGE_SIZES=500,5000 cargo bench --bench live   # page sizes tried (default
//!                                                # 500,1000,2000,5000; empty: none)
//! cargo bench --bench live -- serve L            # serve a size until stdin closes, to try
//!                                                # commands by hand (kubeconfig in target/live/serve)
//! ```
//!
//! Each size's cluster is served by the in-process fake API server (`tests/common/fake_api`) on
//! 127.0.0.1, loaded from a snapshot file by ttdoctor's own loader and stored one object at a
//! time: S is `fixtures/seed-broken-cluster.yaml`, M and L are the scale generator's clusters
//! (`benches/scale.rs`) as compact JSON, in `target/scale/` under the same names as `cargo bench
//! --bench scale` gives them (generated here when missing). Then, alternating, each run:
//!
//! - `kubectl get pods -A -o json > /dev/null` (`/usr/bin/kubectl`; skipped when absent), with
//!   its own discovery cache (cold on the first run): its LIST pages and discovery requests;
//! - `ttdoctor check -n train-ticket -o json` (every rule): its requests, which must all be
//!   LISTs or pages of one, with one LIST per kind; the report's (ruleId, object) set must equal
//!   the generator's expected findings;
//! - `ttdoctor snapshot -o FILE.json`;
//! - `ttdoctor check` again at each page size (`TTDOCTOR_PAGE_SIZE`).
//!
//! Wall time is min/median; peak RSS is GNU time's `%M` (`/usr/bin/time -f '%e %M'`, the
//! kernel's ru_maxrss of the child). Finally the snapshot file is checked offline and must give
//! the same findings. Any request other than a paged LIST or a bounded log tail (`tailLines` ≤
//! 200, `limitBytes` ≤ 64 KiB, once per container: the pods a finding's `log_signatures` name),
//! or any difference in findings,
//! makes the bench exit with status 1.

#[path = "../tests/common/fake_api/mod.rs"]
mod fake_api;

// The scale generator (benches/scale.rs uses all of it; this bench only generates JSON).
#[path = "scale/base.rs"]
mod base;
#[allow(dead_code)]
#[path = "scale/cache.rs"]
mod cache;
#[allow(dead_code)]
#[path = "scale/emit.rs"]
mod emit;
#[allow(dead_code)]
#[path = "scale/events.rs"]
mod events;
#[allow(dead_code)]
#[path = "scale/generate.rs"]
mod generate;
#[allow(dead_code)]
#[path = "scale/inject.rs"]
mod inject;
#[allow(dead_code)]
#[path = "scale/objects.rs"]
mod objects;
#[allow(dead_code)]
#[path = "scale/plan.rs"]
mod plan;
#[allow(dead_code)]
#[path = "scale/util.rs"]
mod util;

use fake_api::{FakeApi, RecordedRequest};
use plan::Params;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

const KUBECTL: &str = "/usr/bin/kubectl";
const GNU_TIME: &str = "/usr/bin/time";
const NAMESPACE: &str = "train-ticket";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench` to harness-less benches.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1).map_or("M", String::as_str)),
        _ => bench(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench(args: &[String]) -> Result<bool, String> {
    let bin = root().join("target/release/ttdoctor");
    if !bin.exists() {
        return Err("target/release/ttdoctor is missing: run `cargo build --release` first".into());
    }
    if let Some(newer) = stale_binary(&bin) {
        return Err(format!(
            "target/release/ttdoctor is older than {newer}: run `cargo build --release` first"
        ));
    }
    let mut labels: Vec<String> = args.iter().map(|a| a.to_ascii_uppercase()).collect();
    if labels.is_empty() {
        labels = vec!["S".into(), "M".into()];
        if std::env::var("TTDOCTOR_BENCH_L").is_ok_and(|v| v == "1") {
            labels.push("L".into());
        }
    }
    let runs = std::env::var("TTDOCTOR_BENCH_RUNS").ok();
    let runs = runs.and_then(|v| v.parse::<usize>().ok()).map(|n| n.max(1));
    let page_sizes = std::env::var("TTDOCTOR_BENCH_PAGE_SIZES");
    let page_sizes = page_sizes.unwrap_or_else(|_| "500,1000,2000,5000".into());
    let page_sizes: Vec<u32> = page_sizes
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|e| format!("page size {s}: {e}")))
        .collect::<Result<_, _>>()?;
    let kubectl = Path::new(KUBECTL).exists().then(|| PathBuf::from(KUBECTL));
    if kubectl.is_none() {
        println!("{KUBECTL} is absent: kubectl is not measured\n");
    }
    println!("{}\n", machine());
    let mut ok = true;
    for label in &labels {
        let (file, expected, what) = cluster_file(label)?;
        let size = Size {
            label: label.clone(),
            what,
            runs: runs.unwrap_or(if label == "L" { 3 } else { 5 }),
            file,
            expected,
        };
        ok &= bench_size(&size, &bin, kubectl.as_deref(), &page_sizes)?;
    }
    Ok(ok)
}

/// `serve SIZE`: serves a size's cluster until stdin closes (to try commands by hand).
fn serve(label: &str) -> Result<bool, String> {
    let (file, _, what) = cluster_file(&label.to_ascii_uppercase())?;
    eprintln!("loading {} …", file.display());
    let size = Size {
        label: label.to_ascii_uppercase(),
        what,
        runs: 0,
        file,
        expected: BTreeSet::new(),
    };
    let (api, secs, memory) = load(&size);
    let dir = root().join("target/live/serve");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let kubeconfig = api.write_kubeconfig(&dir);
    println!(
        "{} ({}) served at {} (loaded in {secs:.1} s; {memory}); kubeconfig: {}\nclose stdin (Ctrl-D) to stop",
        size.label,
        size.what,
        api.url(),
        kubeconfig.display()
    );
    std::io::stdin().lines().for_each(drop);
    Ok(true)
}

struct Size {
    label: String,
    what: String,
    runs: usize,
    file: PathBuf,
    expected: BTreeSet<String>,
}

// ---------------------------------------------------------------------------------------
// The clusters

/// The snapshot file of a size, its expected findings (`RULE Kind ns/name`), and a
/// description.
fn cluster_file(label: &str) -> Result<(PathBuf, BTreeSet<String>, String), String> {
    if label == "S" {
        let file = root().join("fixtures/seed-broken-cluster.yaml");
        let expected = root().join("fixtures/expected/seed-broken-cluster.txt");
        let expected = std::fs::read_to_string(&expected).map_err(|e| e.to_string())?;
        // `severity RULE Kind ns/name`, and indented `caused by` lines.
        let expected = expected
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "));
        let what = "the write-up's cluster (fixtures/seed-broken-cluster.yaml)".to_string();
        return Ok((file, expected.collect(), what));
    }
    let params = Params::preset(label).ok_or(format!("unknown size {label} (S, M or L)"))?;
    let what = format!(
        "{} nodes, {} pods, {} Services, {} events",
        thousands(params.nodes),
        thousands(params.pods),
        thousands(params.services),
        thousands(params.events)
    );
    let file = root()
        .join("target/scale")
        .join(format!("{}.min.json", cache_key(&params)));
    let expected_file = file.with_file_name(format!("{}.expected.txt", cache_key(&params)));
    if !file.exists() || !expected_file.exists() {
        generate(&params, &file, &expected_file)?;
    }
    let expected = std::fs::read_to_string(&expected_file).map_err(|e| e.to_string())?;
    Ok((file, expected.lines().map(str::to_string).collect(), what))
}

/// `cargo bench --bench scale`'s `cache_key` for a generated size.
fn cache_key(p: &Params) -> String {
    cache::generated_key(p, &root())
}

/// Writes the cluster as compact JSON and its expected findings, as `gen SIZE FILE
/// --compact` does.
fn generate(p: &Params, file: &Path, expected: &Path) -> Result<(), String> {
    let t0 = Instant::now();
    eprint!("generating {} … ", file.display());
    let dir = file.parent().expect("a directory");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cluster = generate::Cluster::build(p.clone(), &root())?;
    let tmp = file.with_extension("tmp");
    let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let f = std::fs::File::create(&tmp).map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
    let n = cluster
        .write(&mut out, emit::Format::JsonCompact)
        .map_err(io)?;
    out.flush().map_err(io)?;
    let mut text = String::new();
    for line in &cluster.expected {
        writeln!(text, "{line}").expect("a string");
    }
    std::fs::write(expected, text).map_err(|e| format!("{}: {e}", expected.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| e.to_string())?;
    eprintln!(
        "{} objects in {:.1} s",
        thousands(n),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Running commands

/// One run of a command.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    rss_kb: Option<u64>,
}

/// Runs `program args` under GNU time (when present), stdout to `stdout`; the run, its exit
/// code and its stderr.
fn timed(
    program: &Path,
    args: &[&str],
    page_size: Option<u32>,
    stdout: Stdio,
    time_file: &Path,
) -> Result<(Sample, Option<i32>, String), String> {
    let gnu_time = Path::new(GNU_TIME).exists();
    let mut cmd = Command::new(if gnu_time {
        Path::new(GNU_TIME)
    } else {
        program
    });
    if gnu_time {
        let time_file = time_file.to_string_lossy();
        cmd.args(["-f", "%e %M", "-o", &time_file]).arg(program);
    }
    cmd.args(args).env_remove("TTDOCTOR_PAGE_SIZE");
    if let Some(n) = page_size {
        cmd.env("TTDOCTOR_PAGE_SIZE", n.to_string());
    }
    let t0 = Instant::now();
    let child = cmd.stdout(stdout).stderr(Stdio::piped()).spawn();
    let child = child.map_err(|e| format!("{}: {e}", program.display()))?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let wall = t0.elapsed();
    // GNU time writes "Command exited with non-zero status N" before its line.
    let rss_kb = gnu_time
        .then(|| std::fs::read_to_string(time_file).ok())
        .flatten()
        .and_then(|t| t.lines().last()?.split_whitespace().nth(1)?.parse().ok());
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Ok((Sample { wall, rss_kb }, out.status.code(), stderr))
}

/// What the fake was asked for, in the terms of a table cell.
struct Requests {
    /// Requests per resource (`pods`, `deployments.apps`, `nodes.metrics.k8s.io`).
    pages: BTreeMap<String, usize>,
    /// kubectl's discovery requests, and their paths.
    discovery: usize,
    discovery_paths: BTreeSet<String>,
}

impl Requests {
    fn total(&self) -> usize {
        self.pages.values().sum()
    }
}

/// The resource a request lists, if its path is a collection (`/api/v1/pods`,
/// `/apis/apps/v1/namespaces/train-ticket/deployments`).
fn listed_resource(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs[..] {
        ["api", "v1", ref rest @ ..] => ("", rest),
        ["apis", group, _, ref rest @ ..] => (group, rest),
        _ => return None,
    };
    let plural = match rest {
        [plural] | ["namespaces", _, plural] => *plural,
        _ => return None,
    };
    Some(match group {
        "" => plural.to_string(),
        g => format!("{plural}.{g}"),
    })
}

/// ttdoctor's requests: every one a LIST (GET of a collection, `limit` set, answered 200) or
/// a page of one (`continue` too), one LIST per resource, all at the same `limit` (`want`
/// when given). Pages per resource, and the limit.
fn paged_lists(requests: &[RecordedRequest], want: Option<u32>) -> Result<(Requests, u32), String> {
    if requests.is_empty() {
        return Err("no requests at all".into());
    }
    let (mut pages, mut firsts) = (BTreeMap::new(), BTreeMap::<String, usize>::new());
    let mut limit = want;
    let (log_reads, requests) = log_reads(requests)?;
    for r in requests {
        let resource = listed_resource(&r.path).filter(|_| r.method == "GET" && r.status == 200);
        let page_limit = r.param("limit").and_then(|l| l.parse::<u32>().ok());
        let same_limit = page_limit.is_some() && (limit.is_none() || limit == page_limit);
        let (Some(resource), true) = (resource, same_limit) else {
            return Err(format!(
                "not a paged LIST: {} {}?{} (answered {}; limit expected {limit:?})",
                r.method, r.path, r.query, r.status
            ));
        };
        limit = page_limit;
        if r.param("continue").is_none_or(|c| c.is_empty()) {
            *firsts.entry(resource.clone()).or_default() += 1;
        }
        *pages.entry(resource).or_default() += 1;
    }
    if let Some((resource, n)) = firsts.iter().find(|(_, n)| **n != 1) {
        return Err(format!(
            "{n} LISTs of {resource} (one LIST per kind expected)"
        ));
    }
    let pages_without_list = pages.keys().find(|r| !firsts.contains_key(*r));
    if let Some(resource) = pages_without_list {
        return Err(format!("pages of {resource} without a first LIST"));
    }
    if log_reads > 0 {
        pages.insert("pods/log".into(), log_reads);
    }
    let discovery_paths = BTreeSet::new();
    let requests = Requests {
        pages,
        discovery: 0,
        discovery_paths,
    };
    Ok((requests, limit.unwrap_or(0)))
}

/// The log tails a check reads for the pods its findings name (`log_signatures`): each a GET
/// of `pods/NAME/log` bounded by `tailLines` and `limitBytes`, at most once per container and
/// kind of run. Returns how many, and the other requests.
fn log_reads(requests: &[RecordedRequest]) -> Result<(usize, Vec<&RecordedRequest>), String> {
    let mut seen = BTreeSet::new();
    let mut rest = Vec::new();
    for r in requests {
        let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        let is_log = matches!(segs[..], ["api", "v1", "namespaces", _, "pods", _, "log"]);
        if !is_log {
            rest.push(r);
            continue;
        }
        let bounded = r.method == "GET"
            && r.param("tailLines")
                .and_then(|t| t.parse::<u32>().ok())
                .is_some_and(|t| t <= 200)
            && r.param("limitBytes")
                .and_then(|b| b.parse::<u32>().ok())
                .is_some_and(|b| b <= 65_536);
        let key = (r.path.clone(), r.param("container"), r.param("previous"));
        if !bounded || !seen.insert(key) {
            return Err(format!(
                "an unbounded or repeated log read: {} {}?{}",
                r.method, r.path, r.query
            ));
        }
    }
    Ok((seen.len(), rest))
}

/// `RULE Kind ns/name` of every finding in a JSON report.
fn report_findings(report: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(report).map_err(|e| format!("{}: {e}", report.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report.display()))?;
    if let Some(errors) = doc["errors"].as_array().filter(|e| !e.is_empty()) {
        return Err(format!("the report lists errors: {errors:?}"));
    }
    fn s(v: &serde_json::Value) -> &str {
        v.as_str().unwrap_or_default()
    }
    let finding = |f: &serde_json::Value| {
        let o = &f["object"];
        let name = match o["namespace"].as_str() {
            Some(ns) => format!("{ns}/{}", s(&o["name"])),
            None => s(&o["name"]).to_string(),
        };
        format!("{} {} {name}", s(&f["ruleId"]), s(&o["kind"]))
    };
    Ok(doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(finding)
        .collect())
}

/// How a report's findings differ from the expected ones, if they do.
fn findings_differ(got: &BTreeSet<String>, expected: &BTreeSet<String>) -> Option<String> {
    if got == expected {
        return None;
    }
    let mut text = String::new();
    for l in expected.difference(got).take(20) {
        writeln!(text, "  missing:    {l}").expect("a string");
    }
    for l in got.difference(expected).take(20) {
        writeln!(text, "  unexpected: {l}").expect("a string");
    }
    Some(text)
}

// ---------------------------------------------------------------------------------------
// One size

/// The server, the binary, and where a size's files go.
struct Bench<'a> {
    api: &'a FakeApi,
    bin: &'a Path,
    kubeconfig: PathBuf,
    dir: PathBuf,
    size: &'a Size,
    /// Paged-LIST violations and differing findings: the bench fails.
    problems: Vec<String>,
}

impl Bench<'_> {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn kubeconfig(&self) -> String {
        self.kubeconfig.to_string_lossy().to_string()
    }

    /// `kubectl get pods -A -o json > /dev/null`: pages of pods, and discovery requests.
    fn kubectl(&mut self, kubectl: &Path) -> Result<(Sample, Requests), String> {
        self.api.reset_counts();
        let cache = self.path("kubectl-cache").to_string_lossy().to_string();
        let kubeconfig = self.kubeconfig();
        let args = ["--kubeconfig", &kubeconfig, "--cache-dir", &cache];
        let args = [&args[..], &["get", "pods", "-A", "-o", "json"]].concat();
        let time = self.path("kubectl.time");
        let (sample, code, stderr) = timed(kubectl, &args, None, Stdio::null(), &time)?;
        if code != Some(0) {
            return Err(format!("kubectl get pods exited with {code:?}: {stderr}"));
        }
        let requests = self.api.requests();
        let lists = requests.iter().filter(|r| r.path == "/api/v1/pods").count();
        let pages = BTreeMap::from([("pods".to_string(), lists)]);
        let discovery = requests.len() - lists;
        let other = requests.iter().filter(|r| r.path != "/api/v1/pods");
        let discovery_paths = other.map(|r| r.path.clone()).collect();
        let requests = Requests {
            pages,
            discovery,
            discovery_paths,
        };
        Ok((sample, requests))
    }

    /// `ttdoctor check -n train-ticket -o json` (at `page_size` when given, else ttdoctor's
    /// default); its requests must be paged LISTs and its findings the expected ones.
    fn check(&mut self, page_size: Option<u32>) -> Result<(Sample, Requests, u32), String> {
        self.api.reset_counts();
        let report = self.path("check.report.json");
        let out = std::fs::File::create(&report).map_err(|e| e.to_string())?;
        let kubeconfig = self.kubeconfig();
        let args = [
            "check",
            "--kubeconfig",
            &kubeconfig,
            "-n",
            NAMESPACE,
            "-o",
            "json",
        ];
        let time = self.path("check.time");
        let (sample, code, stderr) = timed(self.bin, &args, page_size, out.into(), &time)?;
        // 0: nothing failing; 1: findings.
        if !matches!(code, Some(0 | 1)) {
            return Err(format!("ttdoctor check exited with {code:?}: {stderr}"));
        }
        let (requests, limit) = self.lists(page_size, "check");
        let got = report_findings(&report)?;
        if let Some(diff) = findings_differ(&got, &self.size.expected) {
            let at = page_size.map_or(String::new(), |n| format!(" (page size {n})"));
            self.problems.push(format!(
                "check{at}: findings differ from the expected ones:\n{diff}"
            ));
        }
        Ok((sample, requests, limit))
    }

    /// `ttdoctor snapshot -n train-ticket -o FILE.json`.
    fn snapshot(&mut self) -> Result<(Sample, Requests, u32), String> {
        self.api.reset_counts();
        let file = self.path("snapshot.json").to_string_lossy().to_string();
        let kubeconfig = self.kubeconfig();
        let args = [
            "snapshot",
            "--kubeconfig",
            &kubeconfig,
            "-n",
            NAMESPACE,
            "-o",
            &file,
        ];
        let time = self.path("snapshot.time");
        let (sample, code, stderr) = timed(self.bin, &args, None, Stdio::null(), &time)?;
        if code != Some(0) {
            return Err(format!("ttdoctor snapshot exited with {code:?}: {stderr}"));
        }
        let (requests, limit) = self.lists(None, "snapshot");
        Ok((sample, requests, limit))
    }

    /// The requests of the last command, checked to be paged LISTs.
    fn lists(&mut self, page_size: Option<u32>, what: &str) -> (Requests, u32) {
        let requests = self.api.requests();
        paged_lists(&requests, page_size).unwrap_or_else(|e| {
            self.problems.push(format!("{what}: {e}"));
            let pages = BTreeMap::from([("(not paged LISTs)".to_string(), requests.len())]);
            let discovery_paths = BTreeSet::new();
            let requests = Requests {
                pages,
                discovery: 0,
                discovery_paths,
            };
            (requests, 0)
        })
    }

    /// The snapshot that `ttdoctor snapshot` wrote, checked offline: the same findings.
    fn recheck_snapshot(&mut self) -> Result<u64, String> {
        let file = self.path("snapshot.json");
        let report = self.path("snapshot.report.json");
        let out = std::fs::File::create(&report).map_err(|e| e.to_string())?;
        let snapshot = file.to_string_lossy().to_string();
        let args = [
            "check",
            "--snapshot",
            &snapshot,
            "-n",
            NAMESPACE,
            "-o",
            "json",
        ];
        let time = self.path("recheck.time");
        let (_, code, stderr) = timed(self.bin, &args, None, out.into(), &time)?;
        if !matches!(code, Some(0 | 1)) {
            return Err(format!(
                "ttdoctor check --snapshot exited with {code:?}: {stderr}"
            ));
        }
        if let Some(diff) = findings_differ(&report_findings(&report)?, &self.size.expected) {
            let problem =
                format!("check --snapshot of the written snapshot: findings differ:\n{diff}");
            self.problems.push(problem);
        }
        Ok(std::fs::metadata(&file).map_or(0, |m| m.len()))
    }
}

/// A row of a table: a command's runs and its requests.
#[derive(Default)]
struct Series {
    samples: Vec<Sample>,
    requests: Option<Requests>,
    /// kubectl: discovery requests of the first (cold-cache) run and of the others, and the
    /// paths they asked for.
    discovery: Vec<usize>,
    discovery_paths: BTreeSet<String>,
    limit: u32,
}

impl Series {
    fn push(&mut self, sample: Sample, requests: Requests) {
        self.samples.push(sample);
        self.discovery.push(requests.discovery);
        self.discovery_paths
            .extend(requests.discovery_paths.iter().cloned());
        self.requests = Some(requests);
    }

    fn walls(&self) -> Vec<Duration> {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort();
        walls
    }

    fn median(&self) -> Duration {
        let walls = self.walls();
        walls[walls.len() / 2]
    }

    fn rss_kb(&self) -> Option<u64> {
        self.samples.iter().filter_map(|s| s.rss_kb).max()
    }

    /// `| runs | min | median | requests | peak RSS |`
    fn cells(&self, requests: &str) -> String {
        let walls = self.walls();
        let rss = self
            .rss_kb()
            .map_or("?".into(), |kb| format!("{:.0} MB", kb as f64 / 1024.0));
        let (min, median) = (fmt_secs(walls[0]), fmt_secs(self.median()));
        format!(
            "| {} | {min} | {median} | {requests} | {rss} |",
            walls.len()
        )
    }

    fn total(&self) -> usize {
        self.requests.as_ref().map_or(0, Requests::total)
    }
}

/// The fake loaded with a size's cluster: the server, seconds, the bench's RSS and peak.
fn load(size: &Size) -> (FakeApi, f64, String) {
    let t0 = Instant::now();
    let api = FakeApi::from_snapshot_file(&size.file);
    let secs = t0.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key));
        let kb = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
        kb.map_or("?".into(), |kb| format!("{:.0} MB", kb as f64 / 1024.0))
    };
    let memory = format!("RSS {} (peak {})", kb("VmRSS:"), kb("VmHWM:"));
    (api, secs, memory)
}

fn bench_size(
    size: &Size,
    bin: &Path,
    kubectl: Option<&Path>,
    page_sizes: &[u32],
) -> Result<bool, String> {
    let (api, load_secs, memory) = load(size);
    let dir = root()
        .join("target/live")
        .join(size.label.to_ascii_lowercase());
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let kubeconfig = api.write_kubeconfig(&dir);
    let mut b = Bench {
        api: &api,
        bin,
        kubeconfig,
        dir,
        size,
        problems: Vec::new(),
    };
    let (mut get, mut check, mut snapshot) =
        (Series::default(), Series::default(), Series::default());
    let mut by_page: Vec<Series> = page_sizes.iter().map(|_| Series::default()).collect();
    for run in 0..size.runs {
        eprint!("{} run {}/{}: ", size.label, run + 1, size.runs);
        if let Some(kubectl) = kubectl {
            let (sample, requests) = b.kubectl(kubectl)?;
            get.push(sample, requests);
            eprint!("kubectl {} ", fmt_secs(sample.wall));
        }
        let (sample, requests, limit) = b.check(None)?;
        check.limit = limit;
        check.push(sample, requests);
        eprint!("check {} ", fmt_secs(sample.wall));
        let (sample, requests, limit) = b.snapshot()?;
        snapshot.limit = limit;
        snapshot.push(sample, requests);
        eprint!("snapshot {} ", fmt_secs(sample.wall));
        for (series, &n) in by_page.iter_mut().zip(page_sizes) {
            let (sample, requests, limit) = b.check(Some(n))?;
            series.limit = limit;
            series.push(sample, requests);
            eprint!("check@{n} {} ", fmt_secs(sample.wall));
        }
        eprintln!();
    }
    let snapshot_bytes = b.recheck_snapshot()?;
    let file_mb = std::fs::metadata(&size.file).map_or(0.0, |m| m.len() as f64 / 1e6);
    let name = size
        .file
        .strip_prefix(root())
        .unwrap_or(&size.file)
        .display()
        .to_string();
    println!("### {} — {}\n", size.label, size.what);
    println!(
        "Fake API server loaded from `{name}` ({file_mb:.1} MB) in {load_secs:.1} s; bench process {memory}; `ttdoctor snapshot` wrote {:.1} MB.\n",
        snapshot_bytes as f64 / 1e6
    );
    print_tables(kubectl.map(|_| &get), &check, &snapshot);
    print_page_sizes(page_sizes, &by_page);
    for p in &b.problems {
        println!("**FAILED** {} {p}", size.label);
    }
    Ok(b.problems.is_empty())
}

fn print_tables(get: Option<&Series>, check: &Series, snapshot: &Series) {
    println!("| command | runs | wall min | wall median | requests | peak RSS |");
    println!("| --- | --- | --- | --- | --- | --- |");
    if let Some(get) = get {
        let discovery = match get.discovery[..] {
            [first] => format!("{first} discovery"),
            [first, ref rest @ ..] => {
                let warm = rest.iter().max().copied().unwrap_or_default();
                format!("{first} discovery cold, {warm} warm")
            }
            [] => String::new(),
        };
        let requests = format!("{} LIST pages + {discovery}", get.total());
        println!("| `kubectl get pods -A -o json` {}", get.cells(&requests));
    }
    let lists = |s: &Series| {
        let pages = s.requests.as_ref().map(|r| &r.pages);
        let kinds = pages.map_or(0, |p| p.keys().filter(|k| *k != "pods/log").count());
        let logs = pages.and_then(|p| p.get("pods/log")).copied().unwrap_or(0);
        format!(
            "{} ({kinds} LISTs, limit {}; {logs} log tails)",
            s.total(),
            s.limit
        )
    };
    println!("| `ttdoctor check -o json` {}", check.cells(&lists(check)));
    println!(
        "| `ttdoctor snapshot -o FILE.json` {}",
        snapshot.cells(&lists(snapshot))
    );
    println!();
    if let Some(get) = get {
        let ratio = check.median().as_secs_f64() / get.median().as_secs_f64();
        println!("ttdoctor check / kubectl get pods (median wall time): **{ratio:.2}×**.  ");
    }
    if let (Some(s), Some(c)) = (snapshot.rss_kb(), check.rss_kb()) {
        let ratio = s as f64 / c as f64;
        println!("Peak RSS of snapshot / check: **{ratio:.2}×** (target: at most 1).  ");
    }
    if let Some(get) = get {
        let paths: Vec<&str> = get.discovery_paths.iter().map(String::as_str).collect();
        println!("kubectl's other requests: {}.  ", paths.join(", "));
    }
    if let Some(r) = &check.requests {
        let pages: Vec<String> = r.pages.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "Pages per kind (check, limit {}): {}.\n",
            check.limit,
            pages.join(", ")
        );
    }
}

fn print_page_sizes(page_sizes: &[u32], by_page: &[Series]) {
    if page_sizes.is_empty() {
        return;
    }
    println!(
        "| `ttdoctor check` page size | runs | wall min | wall median | requests | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (n, s) in page_sizes.iter().zip(by_page) {
        let pods = s
            .requests
            .as_ref()
            .and_then(|r| r.pages.get("pods").copied());
        let requests = format!("{} (pods {})", s.total(), pods.unwrap_or_default());
        println!("| {n} {}", s.cells(&requests));
    }
    println!();
}

// ---------------------------------------------------------------------------------------
// Helpers

/// `150000` → `150,000`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// A file under src/, rules/ or build.rs newer than the binary, if any.
fn stale_binary(bin: &Path) -> Option<String> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut stack = vec![
        root().join("src"),
        root().join("rules"),
        root().join("build.rs"),
    ];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            let entries = std::fs::read_dir(&p).into_iter().flatten().flatten();
            stack.extend(entries.map(|e| e.path()));
        } else if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified())
            && t > built
        {
            return Some(p.display().to_string());
        }
    }
    None
}

/// CPU model, cores, memory, load, date and ttdoctor's commit.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find(|l| l.starts_with("model name"));
    let model = model
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let gib = |key: &str| {
        let line = meminfo.lines().find(|l| l.starts_with(key));
        let kb = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
        kb.unwrap_or_default() / 1_048_576.0
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    let now = now.map_or(0, |d| d.as_secs() as i64);
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output();
    let rev = rev.map_or(String::new(), |o| {
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    });
    let kubectl = Command::new(KUBECTL).args(["version", "--client"]).output();
    let kubectl = kubectl.map_or(String::new(), |o| {
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        text.lines()
            .next()
            .unwrap_or_default()
            .replace("Client Version: ", "kubectl ")
    });
    format!(
        "Machine: {model}, nproc {nproc}, {:.1} GiB RAM ({:.1} GiB available), load average {} at start; {} UTC; ttdoctor at {rev}; {kubectl}",
        gib("MemTotal:"),
        gib("MemAvailable:"),
        load.join(" "),
        &util::ts(now)[..16].replace('T', " ")
    )
}
