//! Reading a live cluster through the Kubernetes API, the way kubectl does: one paginated
//! LIST per kind, all kinds concurrently, every call under a deadline, and a kind the user may
//! not list marked unavailable instead of failing the run.

mod collect;
mod connect;
pub mod logs;

pub use collect::{CollectOptions, KindStat, collect};
pub use connect::{ConnectError, ConnectOptions, Connection, chain, connect};

/// A failure that stops the live run: cannot reach or authenticate to the API server.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Unreachable {
    pub message: String,
}
