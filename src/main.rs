use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use ttdoctor::cli::{CheckArgs, Cli, ClusterArgs, Command, Format, SnapshotArgs, exit};
use ttdoctor::config::{self, Config};
use ttdoctor::engine::{self, RunOptions};
use ttdoctor::index::Index;
use ttdoctor::live::{self, CollectOptions, ConnectOptions, KindStat};
use ttdoctor::report::human::{self, HumanOptions};
use ttdoctor::report::machine::{self, RunInfo};
use ttdoctor::report::{junit, sarif};
use ttdoctor::rules::{self, Rule};
use ttdoctor::snapshot::{self, Snapshot};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    colored::control::set_override(color);
    let code = match cli.command {
        Command::Check(args) => check(args).await,
        Command::Snapshot(args) => save_snapshot(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "ttdoctor",
                &mut std::io::stdout(),
            );
            exit::OK
        }
        Command::Rules(args) => with_rules(args.rules.as_deref(), |rules| {
            print!("{}", ttdoctor::report::docs::list(&rules));
            exit::OK
        }),
        Command::Explain { id, rules } => {
            with_rules(rules.rules.as_deref(), |all| match rules::find(&all, &id) {
                Some(r) => {
                    print!("{}", ttdoctor::report::docs::explain(r));
                    exit::OK
                }
                None => {
                    eprintln!("error: no rule {id:?}; `ttdoctor rules` lists them");
                    exit::USAGE
                }
            })
        }
    };
    ExitCode::from(code as u8)
}

fn with_rules(dir: Option<&std::path::Path>, f: impl FnOnce(Vec<Rule>) -> i32) -> i32 {
    match rules::load(dir) {
        Ok(r) => f(r),
        Err(errors) => {
            for e in errors {
                eprintln!("error: rule {e}");
            }
            exit::USAGE
        }
    }
}

/// Reads the live cluster; `Err` carries the exit code after the message was printed.
async fn read_cluster(c: &ClusterArgs, verbose: bool) -> Result<(Snapshot, String), i32> {
    let opts = ConnectOptions {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
        timeout: c.request_timeout,
    };
    let conn = live::connect(&opts).await.map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    let spinner = std::io::stderr().is_terminal().then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(format!(
            "reading {} (context {}) …",
            conn.server, conn.context
        ));
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let start = std::time::Instant::now();
    let collected = live::collect(
        &conn,
        &CollectOptions {
            namespace: Some(c.namespace.clone()),
            page_size: 500,
        },
    )
    .await;
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let (snap, stats) = collected.map_err(|e| {
        eprintln!("error: {e}");
        exit::UNREACHABLE
    })?;
    if verbose {
        print_stats(&stats, start.elapsed());
    }
    Ok((
        snap,
        format!("cluster {} (context {})", conn.server, conn.context),
    ))
}

fn print_stats(stats: &[KindStat], total: std::time::Duration) {
    for s in stats {
        match &s.unavailable {
            Some(reason) => eprintln!("  {:<22} -      {reason}", s.kind.plural()),
            None => eprintln!(
                "  {:<22} {:>5} in {} page(s), {} ms",
                format!("{} ({})", s.kind.plural(), s.kind.api_version()),
                s.count,
                s.pages,
                s.elapsed.as_millis()
            ),
        }
    }
    eprintln!("  read in {} ms", total.as_millis());
}

async fn save_snapshot(args: SnapshotArgs) -> i32 {
    let (snap, source) = match read_cluster(&args.cluster, args.verbose).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let text = match snapshot::to_yaml(&snap) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot render the snapshot: {e}");
            return exit::USAGE;
        }
    };
    if args.output.as_os_str() == "-" {
        print!("{text}");
    } else if let Err(e) = std::fs::write(&args.output, text) {
        eprintln!("error: cannot write {}: {e}", args.output.display());
        return exit::USAGE;
    } else {
        eprintln!(
            "wrote {} ({} nodes, {} pods) from {source}",
            args.output.display(),
            snap.nodes.len(),
            snap.pods.len()
        );
    }
    exit::OK
}

/// Loads the rule pack, the config and the selection; `Err` is the exit code.
fn prepare(args: &CheckArgs) -> Result<(Vec<Rule>, Config), i32> {
    let cfg = match config::locate(args.config.as_deref()) {
        Some(path) => config::load(&path).map_err(|e| {
            eprintln!("error: config {e}");
            exit::USAGE
        })?,
        None => Config::default(),
    };
    let mut rules = rules::load(args.rules.rules.as_deref()).map_err(|errors| {
        for e in errors {
            eprintln!("error: rule {e}");
        }
        exit::USAGE
    })?;
    let from_config: Vec<String> = cfg
        .params
        .iter()
        .flat_map(|(id, kv)| kv.iter().map(move |(k, v)| format!("{id}.{k}={v}")))
        .collect();
    for (what, list) in [("config params", &from_config), ("--param", &args.params)] {
        rules::apply_params(&mut rules, list).map_err(|e| {
            eprintln!("error: {what}: {e}");
            exit::USAGE
        })?;
    }
    let rules = rules::select(rules, &args.select, &args.ignore);
    if rules.is_empty() {
        eprintln!("error: --select/--ignore left no rules to run (`ttdoctor rules` lists them)");
        return Err(exit::USAGE);
    }
    Ok((rules, cfg))
}

async fn check(args: CheckArgs) -> i32 {
    let (rules, cfg) = match prepare(&args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let opts = RunOptions {
        namespace: args.cluster.namespace.clone(),
        phase: args.phase.into(),
    };
    let deadline = args.wait.map(|w| std::time::Instant::now() + w);
    let mut polls = 0;
    loop {
        polls += 1;
        let (snap, source) = match &args.snapshot {
            Some(path) => match snapshot::load_file(path) {
                Ok(s) => (s, format!("snapshot {}", path.display())),
                Err(e) => {
                    eprintln!("error: cannot load snapshot {e}");
                    return exit::USAGE;
                }
            },
            None => match read_cluster(&args.cluster, args.verbose && polls == 1).await {
                Ok(s) => s,
                Err(code) => return code,
            },
        };
        let (nodes, pods) = (snap.nodes.len(), snap.pods.len());
        let mut report = engine::run(&rules, Index::new(snap), &opts);
        report.apply_suppressions(&cfg.suppressions, config::today());
        let code = report.exit_code(args.fail_on);
        if let Some(deadline) = deadline {
            let now = std::time::Instant::now();
            if code == exit::FINDINGS && now + args.poll_interval < deadline {
                let failing: Vec<String> = report
                    .active()
                    .filter(|f| args.fail_on.fails(f.severity))
                    .map(|f| format!("{} {}", f.rule_id, f.object))
                    .collect();
                eprintln!(
                    "waiting ({}s left): {} failing finding(s): {}",
                    (deadline - now).as_secs(),
                    failing.len(),
                    failing
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                        + if failing.len() > 5 { "; …" } else { "" }
                );
                tokio::time::sleep(args.poll_interval).await;
                continue;
            }
        }
        let run = RunInfo {
            source: source.clone(),
            namespace: args.cluster.namespace.clone(),
            phase: format!("{:?}", args.phase).to_lowercase(),
            fail_on: args.fail_on,
        };
        let artifact = match &args.snapshot {
            Some(p) => p.display().to_string(),
            None => format!("kubernetes:{}", source),
        };
        let text = match args.format {
            Format::Human => {
                let header = format!(
                    "ttdoctor check · {source} · namespace {} · {nodes} nodes, {pods} pods",
                    args.cluster.namespace
                );
                human::render(
                    &report,
                    &header,
                    &HumanOptions {
                        verbose: args.verbose,
                    },
                )
            }
            Format::Json => machine::to_json(&report, &run),
            Format::Yaml => machine::to_yaml(&report, &run),
            Format::Sarif => sarif::to_sarif(&report, &rules, &artifact),
            Format::Junit => junit::to_junit(&report, args.fail_on),
        };
        match &args.output_file {
            Some(path) => {
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return exit::USAGE;
                }
            }
            None => print!("{text}"),
        }
        return code;
    }
}
