use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use ttdoctor::cli::{
    CheckArgs, Cli, ClusterArgs, Command, FixArgs, FixFormat, Format, SnapshotArgs, exit,
};
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
        Command::Fix(args) => fix(args).await,
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
    let conn = connect(c).await?;
    let snap = collect(&conn, c, verbose).await?;
    Ok((
        snap,
        format!("cluster {} (context {})", conn.server, conn.context),
    ))
}

async fn connect(c: &ClusterArgs) -> Result<live::Connection, i32> {
    let opts = ConnectOptions {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
        timeout: c.request_timeout,
    };
    live::connect(&opts).await.map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

async fn collect(conn: &live::Connection, c: &ClusterArgs, verbose: bool) -> Result<Snapshot, i32> {
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
        conn,
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
    Ok(snap)
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
    } else if let Err(e) = ttdoctor::fix::journal::private_file(&args.output, false)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
    {
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

/// What selects and tunes the rules.
struct RuleChoice<'a> {
    config: Option<&'a std::path::Path>,
    rules_dir: Option<&'a std::path::Path>,
    params: &'a [String],
    select: &'a [String],
    ignore: &'a [String],
}

/// The rules, config and options of one `check` or `fix`: everything that turns a snapshot
/// into a report, so polls, fix rounds and verification evaluate alike.
struct Checker {
    rules: Vec<Rule>,
    cfg: Config,
    opts: RunOptions,
}

impl Checker {
    /// Runs the rules and applies the config's suppressions.
    fn evaluate(&self, snap: Snapshot) -> ttdoctor::finding::Report {
        let mut report = engine::run(&self.rules, Index::new(snap), &self.opts);
        report.apply_suppressions(&self.cfg.suppressions, config::today());
        report
    }
}

/// Loads the rule pack, the config and the selection; `Err` is the exit code.
fn prepare(args: &RuleChoice, opts: RunOptions) -> Result<Checker, i32> {
    let cfg = match config::locate(args.config) {
        Some(path) => config::load(&path).map_err(|e| {
            eprintln!("error: config {e}");
            exit::USAGE
        })?,
        None => Config::default(),
    };
    let mut rules = rules::load(args.rules_dir).map_err(|errors| {
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
    for (what, list) in [
        ("config params", from_config.as_slice()),
        ("--param", args.params),
    ] {
        rules::apply_params(&mut rules, list).map_err(|e| {
            eprintln!("error: {what}: {e}");
            exit::USAGE
        })?;
    }
    let rules = rules::select(rules, args.select, args.ignore);
    if rules.is_empty() {
        eprintln!("error: --select/--ignore left no rules to run (`ttdoctor rules` lists them)");
        return Err(exit::USAGE);
    }
    Ok(Checker { rules, cfg, opts })
}

async fn check(args: CheckArgs) -> i32 {
    let choice = RuleChoice {
        config: args.config.as_deref(),
        rules_dir: args.rules.rules.as_deref(),
        params: &args.params,
        select: &args.select,
        ignore: &args.ignore,
    };
    let opts = RunOptions {
        namespace: args.cluster.namespace.clone(),
        phase: args.phase.into(),
    };
    let checker = match prepare(&choice, opts) {
        Ok(x) => x,
        Err(code) => return code,
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
        let report = checker.evaluate(snap);
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
            Format::Sarif => sarif::to_sarif(&report, &checker.rules, &artifact),
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

async fn fix(args: FixArgs) -> i32 {
    let journal = ttdoctor::fix::journal::Journal::at(args.journal.as_deref());
    if args.undo {
        return undo(&args, &journal).await;
    }
    let choice = RuleChoice {
        config: args.config.as_deref(),
        rules_dir: args.rules.rules.as_deref(),
        params: &[],
        select: &[],
        ignore: &[],
    };
    let opts = RunOptions {
        namespace: args.cluster.namespace.clone(),
        phase: args.phase.into(),
    };
    let checker = match prepare(&choice, opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // Plan from the snapshot file, or from a fresh read of the live cluster.
    let (snap, source, conn) = match &args.snapshot {
        Some(path) => match snapshot::load_file(path) {
            Ok(s) => (s, format!("snapshot {}", path.display()), None),
            Err(e) => {
                eprintln!("error: cannot load snapshot {e}");
                return exit::USAGE;
            }
        },
        None => {
            let conn = match connect(&args.cluster).await {
                Ok(c) => c,
                Err(code) => return code,
            };
            let snap = match collect(&conn, &args.cluster, false).await {
                Ok(s) => s,
                Err(code) => return code,
            };
            let source = format!("cluster {} (context {})", conn.server, conn.context);
            (snap, source, Some(conn))
        }
    };
    let report = checker.evaluate(snap.clone());
    let mut plan = ttdoctor::fix::plan(&report, &snap, &args.only);
    if let Some(conn) = &conn {
        ttdoctor::fix::apply::check_permissions(conn, &mut plan).await;
    }
    let mut code = report.exit_code(ttdoctor::finding::FailOn::Error);
    if args.auto || args.apply {
        let conn = conn
            .as_ref()
            .expect("apply needs the live cluster (clap rejects --snapshot)");
        if args.apply && !std::io::stdin().is_terminal() {
            eprintln!(
                "error: --apply asks before each fix and needs a terminal; use --auto to apply the safe fixes"
            );
            return exit::USAGE;
        }
        let mut ask = |item: &ttdoctor::fix::PlanItem| {
            eprint!(
                "apply [{}] {} {}? [y/N] ",
                item.safety, item.rule_id, item.summary
            );
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).is_ok()
                && matches!(line.trim(), "y" | "Y" | "yes")
        };
        let run = ttdoctor::fix::journal::new_run_id();
        let mut applied = 0;
        // A fix can make another possible (an untainted node can now take pods waiting for a
        // label): re-plan from the verified state and go on, a few rounds at most, never
        // retrying a change already attempted. A second `fix --auto` then finds nothing.
        let mut attempted: Vec<String> = Vec::new();
        let mut done: Vec<ttdoctor::fix::PlanItem> = Vec::new();
        for round in 0..3 {
            for item in &plan.items {
                attempted.push(
                    serde_json::to_string(&(&item.rule_id, &item.patches, &item.execs))
                        .unwrap_or_default(),
                );
            }
            let apply_opts = ttdoctor::fix::apply::ApplyOptions {
                allow_unsafe: args.allow_unsafe,
                confirm: if args.apply { Some(&mut ask) } else { None },
            };
            let n = match ttdoctor::fix::apply::apply(conn, &mut plan, apply_opts, &journal, &run)
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::USAGE;
                }
            };
            applied += n;
            // Verify: read the cluster again and re-run the rules.
            let snap = match collect(conn, &args.cluster, false).await {
                Ok(s) => s,
                Err(code) => return code,
            };
            let after = checker.evaluate(snap.clone());
            ttdoctor::fix::apply::verify(&mut plan, &after);
            code = after.exit_code(ttdoctor::finding::FailOn::Error);
            done.append(&mut plan.items);
            if n == 0 || round == 2 {
                // Manual steps and anything left: from the latest state.
                break;
            }
            let mut next = ttdoctor::fix::plan(&after, &snap, &args.only);
            next.items.retain(|i| {
                i.status == ttdoctor::fix::ItemStatus::Planned
                    && !attempted.contains(
                        &serde_json::to_string(&(&i.rule_id, &i.patches, &i.execs))
                            .unwrap_or_default(),
                    )
            });
            if next.items.is_empty() {
                break;
            }
            ttdoctor::fix::apply::check_permissions(conn, &mut next).await;
            plan = next;
        }
        // Steps a person would have had to take, made unnecessary by a later round's fix.
        let fixed: Vec<String> = done
            .iter()
            .filter(|i| i.status == ttdoctor::fix::ItemStatus::Verified)
            .flat_map(|i| i.fingerprints.clone())
            .collect();
        done.retain(|i| {
            i.status != ttdoctor::fix::ItemStatus::Manual
                || !i.fingerprints.iter().all(|f| fixed.contains(f))
        });
        plan.items = done;
        if applied > 0 {
            eprintln!(
                "applied {applied} change(s); journal {} (undo with `ttdoctor fix --undo`)",
                journal.path.display()
            );
        } else {
            eprintln!("no change applied");
        }
    }
    let text = match args.format {
        FixFormat::Human => ttdoctor::fix::render::render(
            &plan,
            &format!(
                "ttdoctor fix · {source} · namespace {}",
                args.cluster.namespace
            ),
        ),
        FixFormat::Json => serde_json::to_string_pretty(&plan).expect("plan serializes") + "\n",
    };
    print!("{text}");
    code
}

async fn undo(args: &FixArgs, journal: &ttdoctor::fix::journal::Journal) -> i32 {
    let (run, entries) = match journal.last_undoable_run() {
        Ok(Some(x)) => x,
        Ok(None) => {
            eprintln!("nothing to undo: no fix run in {}", journal.path.display());
            return exit::OK;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let conn = match connect(&args.cluster).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let results = ttdoctor::fix::apply::undo(
        &conn,
        &entries,
        journal,
        &ttdoctor::fix::journal::new_run_id(),
        &run,
    )
    .await;
    let mut refused = 0;
    for r in &results {
        match &r.outcome {
            Ok(()) => println!("√ reverted {}", r.target),
            Err(e) => {
                refused += 1;
                println!("× {}: {e}", r.target);
            }
        }
    }
    println!(
        "undo of run {run}: {} reverted, {refused} refused",
        results.len() - refused
    );
    if refused > 0 {
        exit::FINDINGS
    } else {
        exit::OK
    }
}
