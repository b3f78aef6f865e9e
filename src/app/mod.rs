//! The application, as a library: where snapshots come from (the local host's facts too),
//! checking them, re-checking until healthy (`--wait`), fix rounds, and rule tests. The binary
//! only parses arguments, calls these, renders, and maps [`Error`] and
//! [`crate::finding::Verdict`] to exit codes.

mod checker;
mod fixing;
mod host;
mod planning;
pub mod ruletest;
mod source;
mod watch;

pub use checker::{Checker, Preparing, RuleChoice, rule_errors};
pub use fixing::{Cluster, FixOutcome, FixSession, LiveCluster};
pub use host::{HOST_CATEGORY, WithHost, add_host, host_snapshot, read_host};
pub use source::{FileSource, LiveSource, Progress, Source};
pub use watch::{Clock, SystemClock, Waiting, WatchOptions, watch};

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or bad input: a snapshot, kubeconfig, rule or config file that cannot be
    /// used, a rule that cannot be found.
    #[error("{0}")]
    Usage(String),
    /// The cluster could not be reached or read.
    #[error("{0}")]
    Unreachable(String),
}

/// Runs a future to completion on a one-thread runtime (the tests' clocks are virtual).
#[cfg(test)]
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(f)
}
