//! Where snapshots come from: a file, or a fresh read of the live cluster each time.

use super::Error;
use crate::live::{self, CollectOptions, Connection, KindStat};
use crate::model::LogRef;
use crate::snapshot::{self, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Something that yields the cluster's current state.
pub trait Source {
    /// Reads the state (again).
    fn read(&mut self) -> impl Future<Output = Result<Snapshot, Error>>;
    /// `snapshot FILE` or `cluster URL (context C)`, for headers and messages.
    fn describe(&self) -> String;
    /// The tails of container logs the findings want. A snapshot carries its own (taken
    /// `--with-logs`): a file answers none.
    fn read_logs(
        &mut self,
        wanted: &BTreeSet<LogRef>,
    ) -> impl Future<Output = BTreeMap<LogRef, Result<String, String>>> {
        let _ = wanted;
        std::future::ready(BTreeMap::new())
    }
}

/// A snapshot file, read anew each time (it may be rewritten between polls).
pub struct FileSource {
    pub path: PathBuf,
}

impl Source for FileSource {
    async fn read(&mut self) -> Result<Snapshot, Error> {
        snapshot::load_file(&self.path)
            .map_err(|e| Error::Usage(format!("cannot load snapshot {e}")))
    }

    fn describe(&self) -> String {
        format!("snapshot {}", self.path.display())
    }
}

/// What a person watching a live read sees (a spinner, per-kind counts); the binary decides.
pub trait Progress {
    fn reading(&mut self, what: &str);
    fn done(&mut self, stats: &[KindStat], elapsed: Duration);
}

/// The live cluster, read through the API.
pub struct LiveSource {
    pub conn: Connection,
    pub opts: CollectOptions,
    pub progress: Option<Box<dyn Progress + Send>>,
}

/// Items per LIST page (`limit`), as kubectl's default `--chunk-size`.
const PAGE_SIZE: u32 = 500;

impl LiveSource {
    pub fn new(conn: Connection, namespace: &str) -> LiveSource {
        LiveSource {
            conn,
            opts: CollectOptions {
                namespace: Some(namespace.to_string()),
                page_size: page_size(),
            },
            progress: None,
        }
    }
}

/// [`PAGE_SIZE`], or `TTDOCTOR_PAGE_SIZE` when set to a positive number: a tuning knob for
/// benchmarks (`cargo bench --bench live` measures page sizes with it), not a user option.
fn page_size() -> u32 {
    let env = std::env::var("TTDOCTOR_PAGE_SIZE").ok();
    let n = env.and_then(|v| v.trim().parse::<u32>().ok());
    n.filter(|n| *n > 0).unwrap_or(PAGE_SIZE)
}

impl Source for LiveSource {
    async fn read(&mut self) -> Result<Snapshot, Error> {
        let what = format!("{} (context {})", self.conn.server, self.conn.context);
        if let Some(p) = self.progress.as_mut() {
            p.reading(&what);
        }
        let start = Instant::now();
        let res = live::collect(&self.conn, &self.opts).await;
        let (snap, stats) = res.map_err(|e| Error::Unreachable(e.to_string()))?;
        // Progress is shown for the first read only; later polls stay quiet.
        if let Some(mut p) = self.progress.take() {
            p.done(&stats, start.elapsed());
        }
        Ok(snap)
    }

    fn describe(&self) -> String {
        format!(
            "cluster {} (context {})",
            self.conn.server, self.conn.context
        )
    }

    async fn read_logs(
        &mut self,
        wanted: &BTreeSet<LogRef>,
    ) -> BTreeMap<LogRef, Result<String, String>> {
        live::logs::fetch(&self.conn, wanted).await
    }
}
