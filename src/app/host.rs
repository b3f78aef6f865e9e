//! The machine ttdoctor runs on, as part of a check: `ttdoctor host` checks it alone, `check
//! --local` and `snapshot --local` add it to what is read from the cluster or a file.

use super::{Error, Source};
use crate::host::{self, HostOptions};
use crate::model::LogRef;
use crate::snapshot::{Host, Snapshot};
use std::collections::{BTreeMap, BTreeSet};

/// The category of the rules about the host (`ttdoctor host` runs only these).
pub const HOST_CATEGORY: &str = "host";

/// Reads this machine's facts on a blocking thread (a tool may take up to its timeout).
pub async fn read_host(opts: &HostOptions) -> Host {
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || host::read(&opts))
        .await
        .expect("reading the host does not panic")
}

/// Puts `host` into `snap`, in place of a Host of the same name the snapshot already carried,
/// with notes on what could not be read.
pub fn add_host(snap: &mut Snapshot, host: Host) {
    let name = host.metadata.name.clone().unwrap_or_default();
    snap.objects.hosts.retain(|h| h.name() != name);
    snap.notes.extend(host::notes(&host));
    snap.push(host);
}

/// A snapshot of the host alone (`ttdoctor host`).
pub fn host_snapshot(host: Host) -> Snapshot {
    let mut snap = Snapshot::default();
    add_host(&mut snap, host);
    snap
}

/// A source whose every read also carries this machine's facts (`check --local`); with no
/// options it is the inner source unchanged.
pub struct WithHost<S> {
    pub inner: S,
    pub host: Option<HostOptions>,
}

impl<S: Source> Source for WithHost<S> {
    async fn read(&mut self) -> Result<Snapshot, Error> {
        let mut snap = self.inner.read().await?;
        if let Some(opts) = &self.host {
            add_host(&mut snap, read_host(opts).await);
        }
        Ok(snap)
    }

    fn describe(&self) -> String {
        match self.host {
            Some(_) => format!("{} and this host", self.inner.describe()),
            None => self.inner.describe(),
        }
    }

    async fn read_logs(
        &mut self,
        wanted: &BTreeSet<LogRef>,
    ) -> BTreeMap<LogRef, Result<String, String>> {
        self.inner.read_logs(wanted).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Kind;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn named(name: &str, cpus: u64) -> Host {
        Host {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            cpus,
            ..Host::default()
        }
    }

    #[test]
    fn the_local_host_replaces_the_one_a_snapshot_carried() {
        let mut snap = Snapshot::default();
        snap.push(named("node-1", 2));
        snap.push(named("node-2", 4));
        add_host(&mut snap, named("node-1", 8));
        let hosts: Vec<(&str, u64)> = snap
            .objects
            .hosts
            .iter()
            .map(|h| (h.name(), h.get().cpus))
            .collect();
        assert_eq!(hosts, [("node-2", 4), ("node-1", 8)]);
        assert!(snap.available(Kind::Host));
        assert!(
            snap.notes
                .iter()
                .any(|n| n.contains("neither crictl nor ctr")),
            "{:?}",
            snap.notes
        );
    }

    struct Fixed;
    impl Source for Fixed {
        async fn read(&mut self) -> Result<Snapshot, Error> {
            Ok(Snapshot::default())
        }
        fn describe(&self) -> String {
            "snapshot f".into()
        }
    }

    #[test]
    fn with_host_adds_the_host_to_each_read_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let opts = HostOptions {
            path: Some(dir.path().as_os_str().to_owned()),
            ..HostOptions::default()
        };
        let mut plain = WithHost {
            inner: Fixed,
            host: None,
        };
        let snap = super::super::block_on(plain.read()).unwrap();
        assert!(!snap.available(Kind::Host));
        assert_eq!(plain.describe(), "snapshot f");
        let mut local = WithHost {
            inner: Fixed,
            host: Some(opts),
        };
        let snap = super::super::block_on(local.read()).unwrap();
        assert_eq!(snap.objects.hosts.len(), 1);
        assert_eq!(local.describe(), "snapshot f and this host");
    }
}
