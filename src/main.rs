use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use ttdoctor::cli::{CheckArgs, Cli, Command, exit};
use ttdoctor::engine::{self, RunOptions};
use ttdoctor::index::Index;
use ttdoctor::report::human::{self, HumanOptions};
use ttdoctor::rules::model::Severity;
use ttdoctor::rules::{self, Rule};
use ttdoctor::snapshot;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    colored::control::set_override(color);
    let code = match cli.command {
        Command::Check(args) => check(args),
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

fn check(args: CheckArgs) -> i32 {
    let Some(path) = args.snapshot.as_deref() else {
        eprintln!(
            "error: --snapshot FILE is required (reading a live cluster is not available in this build)"
        );
        return exit::USAGE;
    };
    with_rules(args.rules.rules.as_deref(), |mut rules| {
        let snap = match snapshot::load_file(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot load snapshot {e}");
                return exit::USAGE;
            }
        };
        if let Err(e) = rules::apply_params(&mut rules, &args.params) {
            eprintln!("error: --param: {e}");
            return exit::USAGE;
        }
        let header = format!(
            "ttdoctor check · snapshot {} · namespace {} · {} nodes, {} pods",
            path.display(),
            args.namespace,
            snap.nodes.len(),
            snap.pods.len()
        );
        let opts = RunOptions {
            namespace: args.namespace.clone(),
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
    })
}
