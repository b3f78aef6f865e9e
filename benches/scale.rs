//! `cargo bench --bench scale`: realistic snapshots of any size with a known set of injected
//! failures, and a benchmark of `ttdoctor check` on them.
//!
//! ```text
//! cargo bench --bench scale -- gen M target/scale/m.json [--yaml|--compact] [--gz]
//! cargo bench --bench scale -- gen custom target/scale/x.json --nodes 6 --pods 150 [--services N] [--events N] [--healthy]
//! cargo bench --bench scale                 # S and M (and L with TTDOCTOR_BENCH_L=1)
//! cargo bench --bench scale -- M L          # chosen sizes
//! ```
//!
//! Sizes: S is the write-up's cluster (`fixtures/seed-broken-cluster.*` with its node
//! metrics; expected findings `fixtures/expected/seed-broken-cluster.txt`); M is 500 nodes,
//! 15,000 pods, 1,000 Services, 15,000 events; L is Kubernetes' published envelope: 5,000
//! nodes, 150,000 pods, 10,000 Services, 150,000 events. `gen` writes the expected findings
//! next to the snapshot (`m.expected.txt`: `RULE Kind ns/name`, sorted).
//!
//! The benchmark runs the release binary `target/release/ttdoctor check --snapshot FILE -o json
//! --phase all` as a child process (3 runs for S and M, 1 for L; `TTDOCTOR_BENCH_RUNS=n`
//! overrides), and reports its wall time (min/median) and peak RSS. Peak RSS comes from GNU
//! time's `%M` (`/usr/bin/time -f '%e %M' -o FILE`, the kernel's ru_maxrss of the child);
//! without /usr/bin/time it falls back to polling the child's `VmHWM` in /proc every 5 ms
//! (which can miss a peak reached in the last 5 ms). It also times the library's stages
//! in-process (parse, index, rules), and compares the report's findings (rule, object) with the
//! expected set: any difference is printed and makes the bench exit with status 1.

#[path = "scale/base.rs"]
mod base;
#[path = "scale/cache.rs"]
mod cache;
#[path = "scale/emit.rs"]
mod emit;
#[path = "scale/events.rs"]
mod events;
#[path = "scale/generate.rs"]
mod generate;
#[path = "scale/inject.rs"]
mod inject;
#[path = "scale/objects.rs"]
mod objects;
#[path = "scale/plan.rs"]
mod plan;
#[path = "scale/util.rs"]
mod util;

use emit::Format;
use plan::Params;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench` to harness-less benches.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = if args.first().map(String::as_str) == Some("gen") {
        gen_command(&args[1..])
    } else {
        bench(&args)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------------------------------
// gen

struct GenArgs {
    size: String,
    out: PathBuf,
    format: Format,
    gz: bool,
    params: Option<Params>,
}

fn parse_gen_args(args: &[String]) -> Result<GenArgs, String> {
    let usage = "usage: gen S|M|L|custom OUT [--yaml|--compact] [--gz] [--nodes N] [--pods N] [--services N] [--events N] [--healthy] [--seed N]";
    let mut positional = Vec::new();
    let (mut yaml, mut gz, mut healthy, mut compact) = (false, false, false, false);
    let mut numbers: Vec<(String, u64)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--yaml" => yaml = true,
            "--compact" => compact = true,
            "--gz" => gz = true,
            "--healthy" => healthy = true,
            "--nodes" | "--pods" | "--services" | "--events" | "--seed" => {
                let v = it.next().ok_or(format!("{a} needs a value\n{usage}"))?;
                let n = v
                    .replace(['_', ','], "")
                    .parse::<u64>()
                    .map_err(|e| format!("{a} {v}: {e}"))?;
                numbers.push((a.clone(), n));
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{usage}")),
            s => positional.push(s.to_string()),
        }
    }
    let [size, out] = positional.as_slice() else {
        return Err(usage.into());
    };
    let out = PathBuf::from(out);
    let name = out.to_string_lossy().to_string();
    let format = if yaml || name.trim_end_matches(".gz").ends_with(".yaml") {
        Format::Yaml
    } else if compact {
        Format::JsonCompact
    } else {
        Format::Json
    };
    let gz = gz || name.ends_with(".gz");
    let params = if size.eq_ignore_ascii_case("S") {
        if !numbers.is_empty() || healthy {
            return Err("S is the seed fixture: it takes no size options".into());
        }
        None
    } else {
        let nodes = numbers
            .iter()
            .find(|(k, _)| k == "--nodes")
            .map(|x| x.1 as usize);
        let mut p = match Params::preset(size) {
            Some(p) => p,
            None if size == "custom" => Params::custom(nodes.ok_or("custom needs --nodes")?),
            None => return Err(format!("unknown size {size}\n{usage}")),
        };
        for (k, v) in &numbers {
            match k.as_str() {
                "--nodes" => p.nodes = *v as usize,
                "--pods" => p.pods = *v as usize,
                "--services" => p.services = *v as usize,
                "--events" => p.events = *v as usize,
                _ => p.seed = *v,
            }
        }
        p.inject = !healthy;
        Some(p)
    };
    Ok(GenArgs {
        size: size.clone(),
        out,
        format,
        gz,
        params,
    })
}

/// `m.json.gz` → `m.expected.txt`.
fn expected_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = name
        .trim_end_matches(".gz")
        .trim_end_matches(".json")
        .trim_end_matches(".yaml")
        .trim_end_matches(".yml");
    out.with_file_name(format!("{stem}.expected.txt"))
}

fn open_out(path: &Path, gz: bool) -> Result<Box<dyn Write>, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let w = BufWriter::with_capacity(1 << 20, f);
    Ok(if gz {
        Box::new(flate2::write::GzEncoder::new(
            w,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(w)
    })
}

/// Writes the snapshot and its expected findings; returns (objects written, seconds); S is
/// copied, not counted.
fn generate_to(a: &GenArgs) -> Result<(Option<usize>, f64), String> {
    let t0 = Instant::now();
    let mut out = open_out(&a.out, a.gz)?;
    let io = |e: std::io::Error| format!("{}: {e}", a.out.display());
    let (objects, expected) = match &a.params {
        None => {
            let (text, expected) = seed_fixture(a.format)?;
            out.write_all(text.as_bytes()).map_err(io)?;
            (None, expected)
        }
        Some(p) => {
            let cluster = generate::Cluster::build(p.clone(), &root())?;
            let n = cluster.write(&mut out, a.format).map_err(io)?;
            (Some(n), cluster.expected.clone())
        }
    };
    out.flush().map_err(io)?;
    drop(out);
    let mut text = String::new();
    for line in &expected {
        writeln!(text, "{line}").expect("string");
    }
    let ep = expected_path(&a.out);
    std::fs::write(&ep, text).map_err(|e| format!("{}: {e}", ep.display()))?;
    Ok((objects, t0.elapsed().as_secs_f64()))
}

fn gen_command(args: &[String]) -> Result<ExitCode, String> {
    let a = parse_gen_args(args)?;
    let (objects, secs) = generate_to(&a)?;
    let size = std::fs::metadata(&a.out)
        .map(|m| m.len())
        .unwrap_or_default();
    eprintln!(
        "{}: {} ({} objects, {:.1} MB) in {secs:.1} s; expected findings in {}",
        a.size,
        a.out.display(),
        objects.map_or("fixture".into(), thousands),
        size as f64 / 1e6,
        expected_path(&a.out).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// S: the seed fixture. JSON: its List plus the NodeMetricsList of the YAML twin (the JSON
/// twin holds the List only). YAML: the fixture as it is.
fn seed_fixture(format: Format) -> Result<(String, BTreeSet<String>), String> {
    let dir = root().join("fixtures");
    let read =
        |p: &str| std::fs::read_to_string(dir.join(p)).map_err(|e| format!("fixtures/{p}: {e}"));
    let yaml = read("seed-broken-cluster.yaml")?;
    let text = match format {
        Format::Yaml => yaml,
        Format::Json | Format::JsonCompact => {
            let metrics = yaml.rsplit("\n---\n").next().unwrap_or_default().trim();
            format!(
                "{}\n{metrics}\n",
                read("seed-broken-cluster.json")?.trim_end()
            )
        }
    };
    let expected = read("expected/seed-broken-cluster.txt")?
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    Ok((text, expected))
}

// ---------------------------------------------------------------------------------------
// bench

struct Measured {
    format: &'static str,
    bytes: u64,
    objects: usize,
    walls: Vec<Duration>,
    rss_kb: Option<u64>,
    parse: Duration,
    index: Duration,
    rules: Duration,
    findings: usize,
    diff: Option<(Vec<String>, Vec<String>)>,
}

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

fn stale_binary(bin: &Path) -> Option<String> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    // Only what always relinks the binary when it changes (cargo leaves the binary alone
    // when, say, Cargo.toml gains a bench, so its mtime would stay "stale" forever).
    let mut stack = vec![
        root().join("src"),
        root().join("rules"),
        root().join("build.rs"),
    ];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified())
            && newest.as_ref().is_none_or(|(n, _)| t > *n)
        {
            newest = Some((t, p));
        }
    }
    newest
        .filter(|(t, _)| *t > built)
        .map(|(_, p)| p.display().to_string())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |key: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_default()
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Machine: {model}, nproc {nproc}, {:.1} GiB RAM ({:.1} GiB available), load average {} at start; {} UTC; ttdoctor at {rev}",
        kb("MemTotal:") / 1_048_576.0,
        kb("MemAvailable:") / 1_048_576.0,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        &util::ts(now)[..16].replace('T', " ")
    )
}

/// Runs `ttdoctor check` on the file once: wall time, peak RSS (KB), and the report's path.
fn run_child(bin: &Path, file: &Path, report: &Path) -> Result<(Duration, Option<u64>), String> {
    let args = [
        "check",
        "--snapshot",
        &file.to_string_lossy(),
        "-o",
        "json",
        "--phase",
        "all",
    ]
    .map(String::from);
    let out = std::fs::File::create(report).map_err(|e| e.to_string())?;
    let gnu_time = Path::new("/usr/bin/time");
    let time_out = report.with_extension("time");
    let mut cmd = if gnu_time.exists() {
        let mut c = Command::new(gnu_time);
        c.args(["-f", "%e %M", "-o", &time_out.to_string_lossy()])
            .arg(bin)
            .args(&args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(&args);
        c
    };
    let t0 = Instant::now();
    let mut child = cmd
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut hwm = None;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if !gnu_time.exists() {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                hwm = Some(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = t0.elapsed();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).ok();
    }
    // Exit 0: nothing failing; 1: findings; anything else is a failure of the run.
    if !matches!(status.code(), Some(0 | 1)) {
        return Err(format!(
            "ttdoctor check {} exited with {status}: {}",
            file.display(),
            stderr.trim()
        ));
    }
    if gnu_time.exists() {
        let text = std::fs::read_to_string(&time_out).unwrap_or_default();
        hwm = text
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok());
    }
    Ok((wall, hwm))
}

/// `RULE Kind ns/name` of every finding in a JSON report.
fn report_findings(report: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(report).map_err(|e| format!("{}: {e}", report.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report.display()))?;
    if let Some(errors) = doc["errors"].as_array().filter(|e| !e.is_empty()) {
        return Err(format!("the report lists errors: {errors:?}"));
    }
    Ok(doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let o = &f["object"];
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            match o["namespace"].as_str() {
                Some(ns) => format!(
                    "{} {} {ns}/{}",
                    s(&f["ruleId"]),
                    s(&o["kind"]),
                    s(&o["name"])
                ),
                None => format!("{} {} {}", s(&f["ruleId"]), s(&o["kind"]), s(&o["name"])),
            }
        })
        .collect())
}

/// The library's stages in-process: parse, index, rules.
fn stages(file: &Path) -> Result<(usize, Duration, Duration, Duration, usize), String> {
    let rules = ttdoctor::rules::load(None).map_err(|e| format!("{} rule error(s)", e.len()))?;
    let opts = ttdoctor::engine::RunOptions {
        namespace: "train-ticket".into(),
        phase: ttdoctor::model::Phase::Both,
        ..Default::default()
    };
    let t0 = Instant::now();
    let snap = ttdoctor::snapshot::load_file(file).map_err(|e| e.to_string())?;
    let t1 = Instant::now();
    let objects = snap.len();
    let ix = ttdoctor::index::Index::new(snap);
    let t2 = Instant::now();
    let report = ttdoctor::engine::run(&rules, ix, &opts);
    let t3 = Instant::now();
    Ok((objects, t1 - t0, t2 - t1, t3 - t2, report.findings.len()))
}

struct Size {
    label: String,
    params: Option<Params>,
    formats: Vec<Format>,
    runs: usize,
}

fn cache_key(size: &Size) -> String {
    match &size.params {
        None => {
            let mut h = String::new();
            for f in [
                "seed-broken-cluster.json",
                "seed-broken-cluster.yaml",
                "expected/seed-broken-cluster.txt",
            ] {
                h.push_str(
                    &std::fs::read_to_string(root().join("fixtures").join(f)).unwrap_or_default(),
                );
            }
            format!("s-{:08x}", util::fnv(h.as_bytes()) as u32)
        }
        Some(p) => cache::generated_key(p, &root()),
    }
}

/// Deletes files cached for this size by an earlier generator (an L file is 2.3 GB).
fn remove_stale(size: &Size, key: &str) {
    let prefix = match &size.params {
        None => "s-".to_string(),
        Some(p) => format!("{}-g", p.key()),
    };
    let dir = root().join("target/scale");
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(&prefix) && !name.starts_with(key) {
            std::fs::remove_file(e.path()).ok();
        }
    }
}

fn ensure_file(size: &Size, format: Format) -> Result<(PathBuf, BTreeSet<String>), String> {
    let ext = match format {
        Format::Yaml => "yaml",
        Format::JsonCompact => "min.json",
        Format::Json => "json",
    };
    let path = root()
        .join("target/scale")
        .join(format!("{}.{ext}", cache_key(size)));
    if !path.exists() || !expected_path(&path).exists() {
        remove_stale(size, &cache_key(size));
        eprint!("generating {} ({ext})… ", size.label);
        let a = GenArgs {
            size: size.label.clone(),
            out: path.with_extension("tmp"),
            format,
            gz: false,
            params: size.params.clone(),
        };
        let (objects, secs) = generate_to(&a)?;
        std::fs::rename(&a.out, &path).map_err(|e| e.to_string())?;
        std::fs::rename(expected_path(&a.out), expected_path(&path)).map_err(|e| e.to_string())?;
        eprintln!(
            "{} objects in {secs:.1} s",
            objects.map_or("fixture".into(), thousands)
        );
    }
    let expected = std::fs::read_to_string(expected_path(&path))
        .map_err(|e| e.to_string())?
        .lines()
        .map(str::to_string)
        .collect();
    Ok((path, expected))
}

fn measure(size: &Size, format: Format, bin: &Path) -> Result<Measured, String> {
    let (file, expected) = ensure_file(size, format)?;
    let report = file.with_extension(format!(
        "{}.report.json",
        match format {
            Format::Yaml => "yaml",
            Format::JsonCompact => "min.json",
            Format::Json => "json",
        }
    ));
    let mut walls = Vec::new();
    let mut rss = None;
    for _ in 0..size.runs {
        let (wall, kb) = run_child(bin, &file, &report)?;
        walls.push(wall);
        rss = rss.max(kb);
    }
    walls.sort();
    let got = report_findings(&report)?;
    let diff = (got != expected).then(|| {
        (
            expected.difference(&got).cloned().collect(),
            got.difference(&expected).cloned().collect(),
        )
    });
    let (objects, parse, index, rules, _) = stages(&file)?;
    Ok(Measured {
        format: match format {
            Format::Yaml => "YAML",
            Format::JsonCompact => "JSON (compact)",
            Format::Json => "JSON (kubectl)",
        },
        bytes: std::fs::metadata(&file)
            .map(|m| m.len())
            .unwrap_or_default(),
        objects,
        walls,
        rss_kb: rss,
        parse,
        index,
        rules,
        findings: got.len(),
        diff,
    })
}

fn sizes(args: &[String]) -> Result<Vec<Size>, String> {
    let mut labels: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    if labels.is_empty() {
        labels = vec!["S".into(), "M".into()];
        if std::env::var("TTDOCTOR_BENCH_L").is_ok_and(|v| v == "1") {
            labels.push("L".into());
        }
    }
    let runs_env = std::env::var("TTDOCTOR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    labels
        .iter()
        .map(|l| {
            let big = l.eq_ignore_ascii_case("L");
            let params = if l.eq_ignore_ascii_case("S") {
                None
            } else {
                Some(Params::preset(l).ok_or(format!(
                    "unknown size {l} (S, M or L; other sizes: `gen custom`)"
                ))?)
            };
            Ok(Size {
                label: l.to_ascii_uppercase(),
                params,
                formats: if big {
                    vec![Format::JsonCompact, Format::Json]
                } else {
                    vec![Format::JsonCompact, Format::Json, Format::Yaml]
                },
                runs: runs_env.unwrap_or(if big { 1 } else { 3 }).max(1),
            })
        })
        .collect()
}

fn describe(size: &Size) -> String {
    match &size.params {
        None => {
            "the write-up's cluster (fixtures/seed-broken-cluster, with its node metrics)".into()
        }
        Some(p) => format!(
            "{} nodes, {} pods, {} Services, {} events",
            thousands(p.nodes),
            thousands(p.pods),
            thousands(p.services),
            thousands(p.events)
        ),
    }
}

fn bench(args: &[String]) -> Result<ExitCode, String> {
    let bin = root().join("target/release/ttdoctor");
    if !bin.exists() {
        eprintln!(
            "target/release/ttdoctor is missing: build it first with\n\n    cargo build --release\n"
        );
        return Ok(ExitCode::from(2));
    }
    if let Some(newer) = stale_binary(&bin) {
        eprintln!(
            "target/release/ttdoctor is older than {newer}: rebuild it first with\n\n    cargo build --release\n"
        );
        return Ok(ExitCode::from(2));
    }
    let sizes = sizes(args)?;
    println!("{}\n", machine());
    let mut ok = true;
    for size in &sizes {
        println!("### {} — {}\n", size.label, describe(size));
        println!(
            "| format | file | objects | wall min | wall median | peak RSS | parse | index | rules | findings | = injected |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let mut diffs = Vec::new();
        for &format in &size.formats {
            let m = match measure(size, format, &bin) {
                Ok(m) => m,
                Err(e) => {
                    println!("| {format:?} | failed: {e} | | | | | | | | | |");
                    ok = false;
                    continue;
                }
            };
            let verdict = match &m.diff {
                None => "yes".to_string(),
                Some((missing, extra)) => format!("**no** (−{} +{})", missing.len(), extra.len()),
            };
            println!(
                "| {} | {:.1} MB | {} | {} | {} | {} | {} | {} | {} | {} | {verdict} |",
                m.format,
                m.bytes as f64 / 1e6,
                thousands(m.objects),
                fmt_secs(m.walls[0]),
                fmt_secs(m.walls[m.walls.len() / 2]),
                m.rss_kb
                    .map_or("?".into(), |kb| format!("{:.0} MB", kb as f64 / 1024.0)),
                fmt_secs(m.parse),
                fmt_secs(m.index),
                fmt_secs(m.rules),
                thousands(m.findings),
            );
            if let Some(d) = m.diff {
                diffs.push((m.format, d));
            }
        }
        println!();
        for (format, (missing, extra)) in diffs {
            ok = false;
            println!(
                "{} {format}: findings differ from the injected ones",
                size.label
            );
            for l in missing.iter().take(30) {
                println!("  missing:    {l}");
            }
            for l in extra.iter().take(30) {
                println!("  unexpected: {l}");
            }
            if missing.len() > 30 || extra.len() > 30 {
                println!("  …");
            }
            println!();
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
