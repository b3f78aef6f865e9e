//! Fix rounds: plan → apply → verify, again from the verified state (a fix can make another
//! possible: an untainted node can now take pods waiting for a label), a few rounds at most,
//! never retrying a change already attempted. A second `fix --auto` then finds nothing.

use super::{Checker, Error, LiveSource, Source};
use crate::finding::Report;
use crate::fix::apply::{self, ApplyOptions};
use crate::fix::journal::Journal;
use crate::fix::{self, FixPlan, ItemStatus, PlanItem};
use crate::model::Safety;
use crate::snapshot::Snapshot;
use std::collections::HashSet;
use std::future::Future;

/// How many plan → apply → verify rounds `--auto` runs at most.
pub const MAX_ROUNDS: usize = 3;

/// What fix rounds need from a cluster.
pub trait Cluster {
    fn read(&mut self) -> impl Future<Output = Result<Snapshot, Error>>;
    /// Marks the items the user may not apply (`not permitted`).
    fn check_permissions(&mut self, plan: &mut FixPlan) -> impl Future<Output = ()>;
    /// Applies the planned items; how many changes were made.
    fn apply(
        &mut self,
        plan: &mut FixPlan,
        opts: ApplyOptions<'_>,
    ) -> impl Future<Output = Result<usize, Error>>;
}

/// The live cluster, journaling every change under one run id.
pub struct LiveCluster {
    pub source: LiveSource,
    pub journal: Journal,
    pub run: String,
}

impl Cluster for LiveCluster {
    async fn read(&mut self) -> Result<Snapshot, Error> {
        self.source.read().await
    }

    async fn check_permissions(&mut self, plan: &mut FixPlan) {
        apply::check_permissions(&self.source.conn, plan).await;
    }

    async fn apply(&mut self, plan: &mut FixPlan, opts: ApplyOptions<'_>) -> Result<usize, Error> {
        apply::apply(&self.source.conn, plan, opts, &self.journal, &self.run)
            .await
            .map_err(Error::Usage)
    }
}

pub struct FixSession<'a, C: Cluster> {
    pub checker: &'a Checker,
    pub cluster: C,
    /// `--only`: fixes of these rules.
    pub only: Vec<String>,
    pub allow_unsafe: bool,
}

/// What the rounds did: every item with its final status, the number of changes, and the
/// report of the last verification.
pub struct FixOutcome {
    pub plan: FixPlan,
    pub applied: usize,
    pub report: Report,
}

impl<C: Cluster> FixSession<'_, C> {
    /// The plan for the cluster as it is, permissions checked; nothing is written.
    pub async fn plan(&mut self) -> Result<(FixPlan, Report), Error> {
        let snap = self.cluster.read().await?;
        let report = self.checker.evaluate(snap.clone());
        let mut plan = fix::plan(&report, &snap, &self.only);
        self.cluster.check_permissions(&mut plan).await;
        Ok((plan, report))
    }

    /// Plan, apply, verify, for at most [`MAX_ROUNDS`] rounds.
    pub async fn run(
        &mut self,
        mut confirm: Option<&mut dyn FnMut(&PlanItem) -> bool>,
    ) -> Result<FixOutcome, Error> {
        let (mut plan, mut report) = self.plan().await?;
        let mut attempted: HashSet<String> = HashSet::new();
        let mut done: Vec<PlanItem> = Vec::new();
        let mut applied = 0;
        for round in 1..=MAX_ROUNDS {
            attempted.extend(plan.items.iter().map(PlanItem::key));
            let opts = ApplyOptions {
                allow_unsafe: self.allow_unsafe,
                confirm: confirm
                    .as_mut()
                    .map(|c| &mut **c as &mut dyn FnMut(&PlanItem) -> bool),
            };
            let n = self.cluster.apply(&mut plan, opts).await?;
            applied += n;
            // Verify: read the cluster again and re-run the rules.
            let snap = self.cluster.read().await?;
            report = self.checker.evaluate(snap.clone());
            apply::verify(&mut plan, &report);
            done.append(&mut plan.items);
            if n == 0 || round == MAX_ROUNDS {
                break;
            }
            let mut next = fix::plan(&report, &snap, &self.only);
            next.items
                .retain(|i| i.status == ItemStatus::Planned && !attempted.contains(&i.key()));
            if next.items.is_empty() {
                break;
            }
            self.cluster.check_permissions(&mut next).await;
            plan = next;
        }
        plan.items = without_settled_manual_steps(done);
        Ok(FixOutcome {
            plan,
            applied,
            report,
        })
    }
}

/// Drops manual steps a person would have had to take, made unnecessary by a verified fix.
fn without_settled_manual_steps(mut items: Vec<PlanItem>) -> Vec<PlanItem> {
    let fixed: HashSet<String> = items
        .iter()
        .filter(|i| i.status == ItemStatus::Verified)
        .flat_map(|i| i.fingerprints.clone())
        .collect();
    items.retain(|i| {
        i.safety != Safety::Manual || !i.fingerprints.iter().all(|f| fixed.contains(f))
    });
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::RuleChoice;
    use crate::engine::RunOptions;
    use crate::model::Phase;
    use crate::snapshot::Kind;
    use serde_json::Value;

    /// A cluster in memory: patches are applied as the API server would (preconditions
    /// included), reads return the current state.
    struct MemoryCluster {
        objects: Vec<Value>,
        writes: usize,
    }

    impl Cluster for MemoryCluster {
        async fn read(&mut self) -> Result<Snapshot, Error> {
            let mut snap = Snapshot::default();
            for o in &self.objects {
                let kind = Kind::from_type(o["kind"].as_str().unwrap(), None).unwrap();
                snap.insert_value(kind, o.clone()).unwrap();
            }
            Ok(snap)
        }

        async fn check_permissions(&mut self, _plan: &mut FixPlan) {}

        async fn apply(
            &mut self,
            plan: &mut FixPlan,
            opts: ApplyOptions<'_>,
        ) -> Result<usize, Error> {
            let mut n = 0;
            for item in plan
                .items
                .iter_mut()
                .filter(|i| i.status == ItemStatus::Planned)
            {
                if item.safety != Safety::Safe && !opts.allow_unsafe {
                    item.status = ItemStatus::Skipped("unsafe".into());
                    continue;
                }
                for p in &item.patches {
                    let obj = self.objects.iter_mut().find(|o| {
                        o["kind"] == p.target.kind.as_str()
                            && o["metadata"]["name"] == p.target.name.as_str()
                            && o["metadata"]["namespace"].as_str() == p.target.namespace.as_deref()
                    });
                    let obj = obj.expect("patched object exists");
                    *obj = fix::plan::apply_locally(obj, p).map_err(Error::Usage)?;
                    n += 1;
                    self.writes += 1;
                }
                item.status = ItemStatus::Applied;
            }
            Ok(n)
        }
    }

    fn seed() -> MemoryCluster {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/seed-broken-cluster.yaml"
        );
        let snap = crate::snapshot::load_file(std::path::Path::new(path)).unwrap();
        MemoryCluster {
            objects: snap.json_objects(),
            writes: 0,
        }
    }

    fn checker() -> Checker {
        Checker::prepare(
            &RuleChoice {
                config: Some(std::path::Path::new("/dev/null")),
                ..RuleChoice::default()
            },
            RunOptions {
                namespace: "train-ticket".into(),
                phase: Phase::Both,
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn rounds_go_on_while_a_fix_enables_another_and_never_repeat() {
        let checker = checker();
        let mut session = FixSession {
            checker: &checker,
            cluster: seed(),
            only: Vec::new(),
            allow_unsafe: false,
        };
        let out = crate::app::block_on(session.run(None)).unwrap();
        let verified: Vec<&str> = out
            .plan
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::Verified)
            .map(|i| i.rule_id.as_str())
            .collect();
        // Round 1: untaint the master, default StorageClass, the two leader labels; round 2:
        // the mem-class label on the master, which it could not take while tainted.
        assert_eq!(out.applied, 5, "{verified:?}");
        assert!(verified.contains(&"TT-NODE-001") && verified.contains(&"TT-SCHED-001"));
        let changes: Vec<&PlanItem> = out
            .plan
            .items
            .iter()
            .filter(|i| i.safety != Safety::Manual)
            .collect();
        let keys: HashSet<String> = changes.iter().map(|i| i.key()).collect();
        assert_eq!(keys.len(), changes.len(), "no change attempted twice");
        // A second session finds nothing left to change.
        let cluster = session.cluster;
        let mut again = FixSession {
            checker: &checker,
            cluster,
            only: Vec::new(),
            allow_unsafe: false,
        };
        let before = again.cluster.writes;
        let out = crate::app::block_on(again.run(None)).unwrap();
        assert_eq!((out.applied, again.cluster.writes), (0, before));
    }
}
