//! `cargo bench --bench check [-- FIXTURE…]`: time each stage of `check` on fixtures.
//! Prints the median of several runs per stage; figures go to BENCHMARKS.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use ttdoctor::engine::{self, RunOptions};
use ttdoctor::index::Index;
use ttdoctor::model::Phase;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let fixtures = if args.is_empty() {
        vec![
            "healthy.yaml".to_string(),
            "seed-broken-cluster.yaml".into(),
            "seed-broken-cluster.json".into(),
            "big-cluster.yaml".into(),
        ]
    } else {
        args
    };
    let rules = ttdoctor::rules::load(None).expect("rules");
    let opts = RunOptions {
        namespace: "train-ticket".into(),
        phase: Phase::Both,
        ..Default::default()
    };
    println!(
        "| fixture | size | objects | load (parse) ms | index ms | rules ms | total ms | findings |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in fixtures {
        let path = root.join("fixtures").join(&f);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipping {f}: not found");
            continue;
        };
        let runs = if text.len() > 10_000_000 { 3 } else { 7 };
        let (mut load, mut index, mut eval, mut total) = (vec![], vec![], vec![], vec![]);
        let mut findings = 0;
        let mut objects = 0;
        for _ in 0..runs {
            let t0 = Instant::now();
            let snap = ttdoctor::snapshot::load_str(&text, &f).expect("loads");
            let t1 = Instant::now();
            objects = ttdoctor::snapshot::Kind::ALL
                .iter()
                .map(|k| snap.count(*k))
                .sum::<usize>();
            let ix = Index::new(snap);
            let t2 = Instant::now();
            let report = engine::run(&rules, ix, &opts);
            let t3 = Instant::now();
            findings = report.findings.len();
            load.push(t1 - t0);
            index.push(t2 - t1);
            eval.push(t3 - t2);
            total.push(t3 - t0);
        }
        println!(
            "| {f} | {:.1} MB | {objects} | {} | {} | {} | {} | {findings} |",
            text.len() as f64 / 1e6,
            ms(median(load)),
            ms(median(index)),
            ms(median(eval)),
            ms(median(total)),
        );
    }
}
