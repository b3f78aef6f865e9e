//! The `ttdoctor` binary: parses arguments, calls the application library, renders, and maps
//! the outcome to the documented exit codes (in [`exit_code`], the only place they are made).

mod cli;

use clap::Parser;
use cli::{
    CheckArgs, Cli, ClusterArgs, Command, FixArgs, FixFormat, Format, HostArgs, PlanArgs,
    PlanFormat, SnapshotArgs,
};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use ttdoctor::app::{
    self, Checker, Error, FileSource, FixSession, LiveCluster, LiveSource, Progress, RuleChoice,
    Source, SystemClock, WatchOptions, WithHost,
};
use ttdoctor::engine::RunOptions;
use ttdoctor::finding::{FailOn, Report, Verdict};
use ttdoctor::fix::journal::{self, Journal};
use ttdoctor::host::HostOptions;
use ttdoctor::live::{self, ConnectOptions, KindStat};
use ttdoctor::report::machine::RunInfo;
use ttdoctor::report::{self, docs, human, junit, machine, sarif};
use ttdoctor::rules;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    colored::control::set_override(color);
    let outcome = match cli.command {
        Command::Check(args) => check(args).await,
        Command::Snapshot(args) => save_snapshot(args).await,
        Command::Plan(args) => plan(args).await,
        Command::Host(args) => host(args).await,
        Command::Fix(args) if args.undo => undo(&args).await,
        Command::Fix(args) => fix(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let out = &mut std::io::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "ttdoctor", out);
            Ok(Verdict::Passed)
        }
        Command::Rules(args) => list_rules(args.rules.as_deref()),
        Command::Explain { id, rules } => explain(&id, rules.rules.as_deref()),
        Command::Helpers { markdown } => {
            print!("{}", docs::helpers(markdown));
            Ok(Verdict::Passed)
        }
        Command::TestRules { dir } => test_rules(dir.as_deref()),
    };
    ExitCode::from(exit_code(outcome))
}

/// The documented exit codes, the same for every output format: 0 nothing failing, 1
/// findings at or above `--fail-on`, 2 bad usage or input or a broken rule, 3 the cluster
/// could not be reached or read.
fn exit_code(outcome: Result<Verdict, Error>) -> u8 {
    match outcome {
        Ok(Verdict::Passed) => 0,
        Ok(Verdict::Failed) => 1,
        Ok(Verdict::RuleErrors) => 2,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                Error::Usage(_) => 2,
                Error::Unreachable(_) => 3,
            }
        }
    }
}

fn list_rules(dir: Option<&std::path::Path>) -> Result<Verdict, Error> {
    let rules = rules::load(dir).map_err(|e| app::rule_errors(&e))?;
    print!("{}", docs::list(&rules));
    Ok(Verdict::Passed)
}

fn explain(id: &str, dir: Option<&std::path::Path>) -> Result<Verdict, Error> {
    let all = rules::load(dir).map_err(|e| app::rule_errors(&e))?;
    let rule = rules::find(&all, id)
        .ok_or_else(|| Error::Usage(format!("no rule {id:?}; `ttdoctor rules` lists them")))?;
    let example = app::ruletest::example(&all, &rule.spec.id);
    print!("{}", docs::explain(rule, example.as_ref()));
    Ok(Verdict::Passed)
}

fn test_rules(dir: Option<&std::path::Path>) -> Result<Verdict, Error> {
    let (rules, files) = app::ruletest::load(dir)?;
    let results = app::ruletest::run(&rules, &files)?;
    print!("{}", app::ruletest::summary(&results));
    Ok(if results.iter().all(|r| r.failures.is_empty()) {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

/// A spinner while reading, and per-kind counts with `-v`.
struct Terminal {
    verbose: bool,
    spinner: Option<indicatif::ProgressBar>,
}

impl Progress for Terminal {
    fn reading(&mut self, what: &str) {
        if std::io::stderr().is_terminal() {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.set_message(format!("reading {what} …"));
            pb.enable_steady_tick(Duration::from_millis(120));
            self.spinner = Some(pb);
        }
    }

    fn done(&mut self, stats: &[KindStat], elapsed: Duration) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
        if self.verbose {
            eprint!("{}", docs::read_stats(stats, elapsed));
        }
    }
}

async fn live_source(c: &ClusterArgs, verbose: bool) -> Result<LiveSource, Error> {
    let opts = ConnectOptions {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
        timeout: c.request_timeout,
    };
    let conn = live::connect(&opts)
        .await
        .map_err(|e| Error::Usage(e.to_string()))?;
    let mut source = LiveSource::new(conn, &c.namespace);
    source.progress = Some(Box::new(Terminal {
        verbose,
        spinner: None,
    }));
    Ok(source)
}

async fn save_snapshot(args: SnapshotArgs) -> Result<Verdict, Error> {
    let mut source = live_source(&args.cluster, args.verbose).await?;
    let mut snap = source.read().await?;
    if args.with_logs {
        let choice = RuleChoice {
            config: None,
            rules_dir: args.rules.rules.as_deref(),
            params: &[],
            select: &[],
            ignore: &[],
        };
        let opts = RunOptions {
            namespace: args.cluster.namespace.clone(),
            ..RunOptions::default()
        };
        snap = Checker::prepare(&choice, opts)?
            .capture_logs(snap, &mut source)
            .await;
    }
    if args.local {
        app::add_host(&mut snap, app::read_host(&HostOptions::default()).await);
    }
    let format = ttdoctor::snapshot::Format::for_path(&args.output);
    let written = if args.output.as_os_str() == "-" {
        ttdoctor::snapshot::write(&snap, format, std::io::stdout())
    } else {
        journal::private_file(&args.output, false)
            .and_then(|f| ttdoctor::snapshot::write(&snap, format, f))
    };
    written.map_err(|e| Error::Usage(format!("cannot write {}: {e}", args.output.display())))?;
    if args.output.as_os_str() != "-" {
        eprintln!(
            "wrote {} ({} nodes, {} pods{}) from {}",
            args.output.display(),
            snap.objects.nodes.len(),
            snap.objects.pods.len(),
            if args.with_logs {
                format!(", {} log tail(s)", snap.logs.len())
            } else {
                String::new()
            },
            source.describe()
        );
        for note in &snap.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(Verdict::Passed)
}

fn print_timings(read: Duration, report: &Report) {
    if std::env::var_os("TTDOCTOR_PROFILE").is_some() {
        eprintln!("read: {read:?}");
        for (what, t) in &report.timings {
            eprintln!("{what}: {t:?}");
        }
    }
}

async fn check(args: CheckArgs) -> Result<Verdict, Error> {
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
        deployment: args.deployment.source(),
    };
    // The rules compile while the snapshot is read (or the cluster connected to and read).
    let preparing = Checker::prepare_in_background(&choice, opts);
    let fail_on: FailOn = args.report.fail_on.into();
    let watch = WatchOptions {
        wait: args.wait,
        poll_interval: args.poll_interval,
        fail_on,
    };
    let on_wait = |w: &app::Waiting| {
        let failing = w.failing();
        let shown: Vec<&str> = failing.iter().take(5).map(String::as_str).collect();
        eprintln!(
            "waiting ({}s left): {} failing finding(s): {}{}",
            w.left.as_secs(),
            failing.len(),
            shown.join("; "),
            if failing.len() > 5 { "; …" } else { "" }
        );
    };
    // `--local`: this machine's facts join every read.
    let local = args.local.then(HostOptions::default);
    let ((checker, checked), source) = match &args.snapshot {
        Some(path) => {
            let mut s = WithHost {
                inner: FileSource { path: path.clone() },
                host: local,
            };
            (
                app::watch(preparing, &mut s, watch, &SystemClock, on_wait).await?,
                s.describe(),
            )
        }
        None => {
            let inner = match live_source(&args.cluster, args.verbose).await {
                Ok(inner) => inner,
                // A broken rule or config is reported first, as when nothing overlapped.
                Err(e) => return Err(preparing.ready().await.err().unwrap_or(e)),
            };
            let mut s = WithHost { inner, host: local };
            (
                app::watch(preparing, &mut s, watch, &SystemClock, on_wait).await?,
                s.describe(),
            )
        }
    };
    print_timings(checked.read_time, &checked.report);
    let verdict = checked.report.verdict(fail_on);
    let run = RunInfo {
        source: source.clone(),
        namespace: args.cluster.namespace.clone(),
        phase: format!("{:?}", args.phase).to_lowercase(),
        fail_on,
        exit_code: i32::from(exit_code(Ok(verdict))),
    };
    let artifact = match &args.snapshot {
        Some(p) => p.display().to_string(),
        None => format!("kubernetes:{source}"),
    };
    let text = match args.report.format {
        Format::Human => {
            let header = format!(
                "ttdoctor check · {source} · namespace {} · {} nodes, {} pods",
                args.cluster.namespace, checked.nodes, checked.pods
            );
            let opts = human::HumanOptions {
                verbose: args.verbose,
            };
            human::render(&checked.report, &header, &opts)
        }
        Format::Json => machine::to_json(&checked.report, &run),
        Format::Yaml => machine::to_yaml(&checked.report, &run),
        Format::Sarif => sarif::to_sarif(&checked.report, &checker.rules, &artifact),
        Format::Junit => junit::to_junit(&checked.report, fail_on),
    };
    emit(&text, args.report.output_file.as_deref())?;
    Ok(verdict)
}

/// A checker with every rule (`plan` and `fix` take no `--select`), the config and `--rules`.
fn whole_pack(
    config: Option<&std::path::Path>,
    rules: &cli::RulesArgs,
    opts: RunOptions,
) -> Result<Checker, Error> {
    let choice = RuleChoice {
        config,
        rules_dir: rules.rules.as_deref(),
        ..RuleChoice::default()
    };
    Checker::prepare(&choice, opts)
}

async fn plan(args: PlanArgs) -> Result<Verdict, Error> {
    let checker = whole_pack(
        args.config.as_deref(),
        &args.rules,
        RunOptions {
            namespace: args.cluster.namespace.clone(),
            phase: ttdoctor::model::Phase::Pre,
            deployment: args.deployment.source(),
        },
    )?;
    let (snap, source) = match &args.snapshot {
        Some(path) => {
            let mut s = FileSource { path: path.clone() };
            (s.read().await?, s.describe())
        }
        None => {
            let mut s = live_source(&args.cluster, args.verbose).await?;
            (s.read().await?, s.describe())
        }
    };
    let opts = ttdoctor::plan::Options {
        orders: usize::from(args.orders),
        seed: args.seed,
        warn_percent: args.warn_percent,
        error_percent: args.error_percent,
    };
    let planned = checker.plan(&snap, &opts)?;
    let run = report::plan::PlanRun {
        source: &source,
        namespace: &args.cluster.namespace,
    };
    let text = match args.format {
        PlanFormat::Human => {
            let header = format!(
                "ttdoctor plan · {source} · {} · namespace {} · {} nodes",
                planned.plan.deployment,
                args.cluster.namespace,
                snap.objects.nodes.len()
            );
            report::plan::human(&planned, &header, &opts)
        }
        PlanFormat::Json => report::plan::to_json(&planned, &run, &opts),
        PlanFormat::Yaml => report::plan::to_yaml(&planned, &run, &opts),
    };
    print!("{text}");
    Ok(if report::plan::exit_code(&planned, &opts) == 0 {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

/// `ttdoctor host`: the facts of this machine, then the host rules' findings.
async fn host(args: HostArgs) -> Result<Verdict, Error> {
    let select = [app::HOST_CATEGORY.to_string()];
    let choice = RuleChoice {
        config: args.config.as_deref(),
        rules_dir: args.rules.rules.as_deref(),
        params: &args.params,
        select: &select,
        ignore: &[],
    };
    let opts = RunOptions {
        phase: ttdoctor::model::Phase::Pre,
        deployment: args.deployment.source(),
        ..RunOptions::default()
    };
    let checker = Checker::prepare(&choice, opts)?;
    let host_opts = HostOptions {
        timeout: args.tool_timeout,
        ..HostOptions::default()
    };
    let host = app::read_host(&host_opts).await;
    let name = host.metadata.name.clone().unwrap_or_default();
    let report = checker.evaluate(app::host_snapshot(host.clone()));
    let fail_on: FailOn = args.report.fail_on.into();
    let verdict = report.verdict(fail_on);
    let run = RunInfo {
        source: format!("host {name}"),
        namespace: checker.opts.namespace.clone(),
        phase: "pre".into(),
        fail_on,
        exit_code: i32::from(exit_code(Ok(verdict))),
    };
    let text = match args.report.format {
        Format::Human => {
            let header = format!(
                "ttdoctor host · {name} · deployment {}",
                args.deployment.describe()
            );
            // Skipped checks are shown: off a node, what could not be checked matters.
            let opts = human::HumanOptions { verbose: true };
            format!(
                "{}\n{}",
                ttdoctor::report::host::facts(&host),
                human::render(&report, &header, &opts)
            )
        }
        Format::Json => machine::to_json(&report, &run),
        Format::Yaml => machine::to_yaml(&report, &run),
        Format::Sarif => sarif::to_sarif(&report, &checker.rules, &format!("host:{name}")),
        Format::Junit => junit::to_junit(&report, fail_on),
    };
    emit(&text, args.report.output_file.as_deref())?;
    Ok(verdict)
}

/// Prints a report, or writes it to `--output-file`.
fn emit(text: &str, output_file: Option<&std::path::Path>) -> Result<(), Error> {
    match output_file {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn ask(item: &ttdoctor::fix::PlanItem) -> bool {
    eprint!(
        "apply [{}] {} {}? [y/N] ",
        item.safety, item.rule_id, item.summary
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

async fn fix(args: FixArgs) -> Result<Verdict, Error> {
    let checker = whole_pack(
        args.config.as_deref(),
        &args.rules,
        RunOptions {
            namespace: args.cluster.namespace.clone(),
            phase: args.phase.into(),
            deployment: args.deployment.source(),
        },
    )?;
    if args.apply && !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "--apply asks before each fix and needs a terminal; use --auto to apply the safe fixes"
                .into(),
        ));
    }
    let (plan, report, source) = match &args.snapshot {
        // Plan only, from a file.
        Some(path) => {
            let mut s = FileSource { path: path.clone() };
            let snap = s.read().await?;
            let report = checker.evaluate(snap.clone());
            (
                ttdoctor::fix::plan(&report, &snap, &args.only),
                report,
                s.describe(),
            )
        }
        None => {
            let source = live_source(&args.cluster, false).await?;
            let describe = source.describe();
            let cluster = LiveCluster {
                source,
                journal: Journal::at(args.journal.as_deref()),
                run: journal::new_run_id(),
            };
            let mut session = FixSession {
                checker: &checker,
                cluster,
                only: args.only.clone(),
                allow_unsafe: args.allow_unsafe,
            };
            if args.auto || args.apply {
                let mut confirm = ask;
                let confirm: Option<&mut dyn FnMut(&ttdoctor::fix::PlanItem) -> bool> =
                    args.apply.then_some(&mut confirm);
                let out = session.run(confirm).await?;
                let path = session.cluster.journal.path.display();
                if out.applied > 0 {
                    eprintln!(
                        "applied {} change(s); journal {path} (undo with `ttdoctor fix --undo`)",
                        out.applied
                    );
                } else {
                    eprintln!("no change applied");
                }
                (out.plan, out.report, describe)
            } else {
                let (plan, report) = session.plan().await?;
                (plan, report, describe)
            }
        }
    };
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
    Ok(report.verdict(FailOn::Error))
}

async fn undo(args: &FixArgs) -> Result<Verdict, Error> {
    let journal = Journal::at(args.journal.as_deref());
    let Some((run, entries)) = journal.last_undoable_run().map_err(Error::Usage)? else {
        eprintln!("nothing to undo: no fix run in {}", journal.path.display());
        return Ok(Verdict::Passed);
    };
    let source = live_source(&args.cluster, false).await?;
    let results = ttdoctor::fix::apply::undo(
        &source.conn,
        &entries,
        &journal,
        &journal::new_run_id(),
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
    Ok(if refused > 0 {
        Verdict::Failed
    } else {
        Verdict::Passed
    })
}

// mimalloc returns freed memory to the system where glibc's allocator keeps it fragmented:
// on a 150,000-pod snapshot the peak RSS is markedly lower (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
