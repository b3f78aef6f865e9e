use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use ttdoctor::cli::{CheckArgs, Cli, ClusterArgs, Command, SnapshotArgs, exit};
use ttdoctor::engine::{self, RunOptions};
use ttdoctor::index::Index;
use ttdoctor::live::{self, CollectOptions, ConnectOptions, KindStat};
use ttdoctor::report::human::{self, HumanOptions};
use ttdoctor::rules::model::Severity;
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

async fn check(args: CheckArgs) -> i32 {
    let mut rules = match rules::load(args.rules.rules.as_deref()) {
        Ok(r) => r,
        Err(errors) => {
            for e in errors {
                eprintln!("error: rule {e}");
            }
            return exit::USAGE;
        }
    };
    if let Err(e) = rules::apply_params(&mut rules, &args.params) {
        eprintln!("error: --param: {e}");
        return exit::USAGE;
    }
    let (snap, source) = match &args.snapshot {
        Some(path) => match snapshot::load_file(path) {
            Ok(s) => (s, format!("snapshot {}", path.display())),
            Err(e) => {
                eprintln!("error: cannot load snapshot {e}");
                return exit::USAGE;
            }
        },
        None => match read_cluster(&args.cluster, args.verbose).await {
            Ok(s) => s,
            Err(code) => return code,
        },
    };
    let header = format!(
        "ttdoctor check · {source} · namespace {} · {} nodes, {} pods",
        args.cluster.namespace,
        snap.nodes.len(),
        snap.pods.len()
    );
    let opts = RunOptions {
        namespace: args.cluster.namespace.clone(),
        phase: args.phase.into(),
    };
    let report = engine::run(&rules, Index::new(snap), &opts);
    print!(
        "{}",
        human::render(
            &report,
            &header,
            &HumanOptions {
                verbose: args.verbose
            }
        )
    );
    if !report.errors.is_empty() {
        exit::USAGE
    } else if report.max_severity() == Some(Severity::Error) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}
