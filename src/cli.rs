//! Command-line interface.

use crate::rules::model::Phase;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes, identical for every output format.
pub mod exit {
    /// Nothing at or above the failing severity.
    pub const OK: i32 = 0;
    /// Findings at or above the failing severity.
    pub const FINDINGS: i32 = 1;
    /// Bad usage, bad input (snapshot, kubeconfig), or a broken rule.
    pub const USAGE: i32 = 2;
    /// The cluster could not be reached or read.
    pub const UNREACHABLE: i32 = 3;
}

#[derive(Parser, Debug)]
#[command(
    name = "ttdoctor",
    version,
    about = "Finds, explains and fixes what stops TrainTicket from deploying on Kubernetes"
)]
pub struct Cli {
    /// Disable colors (also: NO_COLOR, or output not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a cluster snapshot and report findings with their fixes.
    Check(CheckArgs),
    /// List the rules.
    Rules(RulesArgs),
    /// Print a rule's documentation.
    Explain {
        /// Rule id, e.g. TT-DB-001.
        id: String,
        #[command(flatten)]
        rules: RulesArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// A directory of extra rule files (*.yaml), added to the built-in pack.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// A snapshot file: the output of `kubectl get nodes,storageclasses,... -A -o yaml`.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Namespace TrainTicket is deployed in.
    #[arg(short = 'n', long, default_value = "train-ticket")]
    pub namespace: String,
    /// Which checks to run: before deploying, after, or all.
    #[arg(long, value_enum, default_value_t = PhaseArg::All)]
    pub phase: PhaseArg,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Override a rule parameter, e.g. `--param TT-MEM-001.error_percent=90`.
    #[arg(long = "param", value_name = "RULE.KEY=VALUE")]
    pub params: Vec<String>,
    /// Also show skipped checks.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    Pre,
    Post,
    All,
}

impl From<PhaseArg> for Phase {
    fn from(p: PhaseArg) -> Phase {
        match p {
            PhaseArg::Pre => Phase::Pre,
            PhaseArg::Post => Phase::Post,
            PhaseArg::All => Phase::Both,
        }
    }
}
