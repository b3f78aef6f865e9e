//! The command line: arguments, and mirrors of the library's enums that clap can parse (the
//! library's own types carry no clap derive).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use ttdoctor::finding::FailOn;
use ttdoctor::model::Phase;

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
    /// Check a cluster (live, or a snapshot file) and report findings with their fixes.
    Check(CheckArgs),
    /// Save what `check` reads from the cluster to a file (`check --snapshot` reads it back).
    Snapshot(SnapshotArgs),
    /// Check the machine ttdoctor runs on (a node, before installing): swap, memory and cores,
    /// free disk where containerd keeps images, the deployment's images in containerd.
    Host(HostArgs),
    /// List the rules.
    Rules(RulesArgs),
    /// Plan the fixes for what `check` finds; `--auto` applies the safe ones, verified and
    /// journaled; `--undo` reverts the last run.
    Fix(FixArgs),
    /// Will the deployment fit? Simulates the scheduler placing it, projects each node's
    /// memory use after the install, and finds the smallest change that makes it fit.
    Plan(PlanArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a rule's documentation, with its fix shown on one of its test cases.
    Explain {
        /// Rule id, e.g. TT-DB-001.
        id: String,
        #[command(flatten)]
        rules: RulesArgs,
    },
    /// List the functions rule expressions can call.
    Helpers {
        /// Print the table as Markdown (as in the README).
        #[arg(long)]
        markdown: bool,
    },
    /// Run rule test cases: DIR/*.yaml rules with DIR/tests/<RULE-ID>.yaml cases, or the
    /// built-in pack's own cases when no DIR is given.
    TestRules {
        /// A directory of rules with a tests/ directory of cases.
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// A directory of extra rule files (*.yaml), added to the built-in pack.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
}

/// How to reach a live cluster (like kubectl).
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Path to a kubeconfig (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Deadline for each API call, e.g. 10s, 500ms, 1m.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: std::time::Duration,
    /// Namespace TrainTicket is deployed in.
    #[arg(short = 'n', long, default_value = ttdoctor::pack::DEFAULT_NAMESPACE)]
    pub namespace: String,
}

/// The deployment the checks compare the cluster with.
#[derive(clap::Args, Debug, Clone)]
pub struct DeploymentArgs {
    /// A built-in TrainTicket profile: default (`make deploy`), with-tracing, independent-db,
    /// all, fork (the xlab-uiuc chart and what its Job applies).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        conflicts_with = "manifests"
    )]
    pub profile: String,
    /// What you are about to install instead: `helm template …` output (a file, a directory of
    /// YAML files, or `-` for standard input).
    #[arg(long, value_name = "FILE|DIR|-")]
    pub manifests: Option<PathBuf>,
}

impl DeploymentArgs {
    /// `profile default`, `manifests chart.yaml`: for headers.
    pub fn describe(&self) -> String {
        match &self.manifests {
            Some(p) => format!("manifests {}", p.display()),
            None => format!("profile {}", self.profile),
        }
    }

    pub fn source(&self) -> ttdoctor::deploy::Source {
        match &self.manifests {
            Some(p) => ttdoctor::deploy::Source::Manifests(p.clone()),
            None => ttdoctor::deploy::Source::Profile(self.profile.clone()),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// Where to write the snapshot (`-` for stdout): `.json` writes JSON (the format for big
    /// clusters), anything else YAML; `.gz` compresses.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Also save the tails of the container logs that prove findings' causes (e.g. xenon's
    /// "Access denied for user 'root'@'::1'"), so a check of the file quotes them.
    #[arg(long)]
    pub with_logs: bool,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Show per-kind timings and counts.
    #[arg(short, long)]
    pub verbose: bool,
    /// Also store this machine's facts (run on a node): memory, swap, disks, containerd's
    /// images.
    #[arg(long)]
    pub local: bool,
}

/// How a report is written and when it fails the run (`check`, `host`).
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailOnArg::Error)]
    pub fail_on: FailOnArg,
}

#[derive(clap::Args, Debug)]
pub struct HostArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Override a rule parameter, e.g. `--param TT-HOST-003.min_free=50Gi`.
    #[arg(long = "param", value_name = "RULE.KEY=VALUE")]
    pub params: Vec<String>,
    /// Config file with suppressions and parameters (default: ./.ttdoctor.yaml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// How long crictl or ctr may take to list the images before it is stopped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub tool_timeout: std::time::Duration,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Check a snapshot file (the output of `kubectl get nodes,storageclasses,... -A -o yaml`)
    /// instead of the live cluster.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Which checks to run: before deploying, after, or all.
    #[arg(long, value_enum, default_value_t = PhaseArg::All)]
    pub phase: PhaseArg,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Override a rule parameter, e.g. `--param TT-MEM-001.error_percent=90`.
    #[arg(long = "param", value_name = "RULE.KEY=VALUE")]
    pub params: Vec<String>,
    /// Also show skipped checks, and per-kind timings when reading a live cluster.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Only these rules: ids, id prefixes (`TT-STO`) or categories (`storage`); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub select: Vec<String>,
    /// Skip these rules: ids, id prefixes or categories.
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Config file with suppressions and parameters (default: ./.ttdoctor.yaml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Re-check until nothing fails or DURATION passes (post-deploy gates), e.g. 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,
    /// Pause between checks with --wait.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub poll_interval: std::time::Duration,
    /// Also check this machine (run on a node): swap, memory, disk, containerd's images.
    #[arg(long)]
    pub local: bool,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Plan on a snapshot file instead of the live cluster.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Placement orders to simulate (the scheduler's order varies from one install to the
    /// next).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub orders: u16,
    /// Seed of the shuffled orders (the same seed gives the same answer).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Expected memory use (% of allocatable) that warns, as TT-MEM-001.
    #[arg(long, default_value_t = 85)]
    pub warn_percent: i64,
    /// Expected memory use (% of allocatable) that fails the plan (exit 1), as TT-MEM-001.
    #[arg(long, default_value_t = 95)]
    pub error_percent: i64,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Config file with suppressions and parameters (default: ./.ttdoctor.yaml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Show per-kind timings when reading a live cluster.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
    Yaml,
}

#[derive(clap::Args, Debug)]
pub struct FixArgs {
    /// Plan from a snapshot file instead of the live cluster (plan only: nothing is applied).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["auto", "apply", "undo"])]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Only fixes of these rules (ids or prefixes).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Plan output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = FixFormat::Human)]
    pub format: FixFormat,
    /// Apply every safe fix without asking.
    #[arg(long, conflicts_with = "apply")]
    pub auto: bool,
    /// Ask before each fix (needs a terminal).
    #[arg(long)]
    pub apply: bool,
    /// Also apply unsafe fixes (ones that restart or change workloads).
    #[arg(long = "unsafe")]
    pub allow_unsafe: bool,
    /// Revert the changes of the last `fix` run, refusing objects changed since.
    #[arg(long, conflicts_with_all = ["auto", "apply", "only"])]
    pub undo: bool,
    /// Journal file (default: $XDG_STATE_HOME/ttdoctor/journal.jsonl).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PhaseArg::All)]
    pub phase: PhaseArg,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Config file with suppressions and parameters (default: ./.ttdoctor.yaml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FixFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Yaml,
    Sarif,
    Junit,
}

/// `10s`, `500ms`, `2m`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 10s, 500ms, 1m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    Error,
    Warn,
    Info,
    Never,
}

impl From<FailOnArg> for FailOn {
    fn from(f: FailOnArg) -> FailOn {
        match f {
            FailOnArg::Error => FailOn::Error,
            FailOnArg::Warn => FailOn::Warn,
            FailOnArg::Info => FailOn::Info,
            FailOnArg::Never => FailOn::Never,
        }
    }
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
