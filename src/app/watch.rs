//! `check` and `check --wait`: read, evaluate, and (with a deadline) read again after a pause
//! until nothing fails or the deadline would pass during the next pause.

use super::{Checker, Error, Preparing, Source};
use crate::finding::{FailOn, Report, Verdict};
use std::future::Future;
use std::time::{Duration, Instant};

/// Time, injectable so the loop is tested without sleeping.
pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration) -> impl Future<Output = ()>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// `--wait`: how long to keep re-checking; `None` checks once.
    pub wait: Option<Duration>,
    /// `--poll-interval`.
    pub poll_interval: Duration,
    pub fail_on: FailOn,
}

/// A failing poll after which the loop waits: how long is left and what still fails.
pub struct Waiting<'a> {
    pub left: Duration,
    pub report: &'a Report,
    pub fail_on: FailOn,
}

impl Waiting<'_> {
    /// `RULE object` of each finding that still fails the run.
    pub fn failing(&self) -> Vec<String> {
        self.report
            .active()
            .filter(|f| self.fail_on.fails(f.severity))
            .map(|f| format!("{} {}", f.rule_id, f.object))
            .collect()
    }
}

/// The last poll: its report and the size of what it read.
pub struct Checked {
    pub report: Report,
    /// How long the last read took (load and parse, or the live LISTs).
    pub read_time: Duration,
    pub nodes: usize,
    pub pods: usize,
    pub polls: usize,
}

/// Checks once, or until the report passes or the deadline passes. `on_wait` hears each
/// failing poll that is followed by another. The first read overlaps the preparation of the
/// checker (a compile error in the rules wins over a read error); the checker is returned
/// with the last poll.
pub async fn watch(
    checker: Preparing,
    source: &mut impl Source,
    opts: WatchOptions,
    clock: &impl Clock,
    mut on_wait: impl FnMut(&Waiting),
) -> Result<(Checker, Checked), Error> {
    let deadline = opts.wait.map(|w| clock.now() + w);
    let started = clock.now();
    let first = source.read().await;
    let first_read_time = clock.now() - started;
    let checker = checker.ready().await?;
    let mut first = Some((first?, first_read_time));
    let mut polls = 0;
    loop {
        polls += 1;
        let (snap, read_time) = match first.take() {
            Some(read) => read,
            None => {
                let started = clock.now();
                let snap = source.read().await?;
                (snap, clock.now() - started)
            }
        };
        let (nodes, pods) = (snap.objects.nodes.len(), snap.objects.pods.len());
        let evaluation = checker.start(snap);
        let logs = source.read_logs(&evaluation.wanted_logs()).await;
        let report = checker.finish(evaluation, &logs);
        if let Some(deadline) = deadline {
            let now = clock.now();
            if report.verdict(opts.fail_on) == Verdict::Failed
                && now + opts.poll_interval < deadline
            {
                on_wait(&Waiting {
                    left: deadline - now,
                    report: &report,
                    fail_on: opts.fail_on,
                });
                clock.sleep(opts.poll_interval).await;
                continue;
            }
        }
        let checked = Checked {
            report,
            read_time,
            nodes,
            pods,
            polls,
        };
        return Ok((checker, checked));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::RuleChoice;
    use crate::engine::RunOptions;
    use crate::model::Phase;
    use crate::snapshot::Snapshot;
    use std::cell::Cell;

    /// Virtual time: sleeping advances it.
    struct FakeClock {
        start: Instant,
        elapsed: Cell<Duration>,
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + self.elapsed.get()
        }
        async fn sleep(&self, d: Duration) {
            self.elapsed.set(self.elapsed.get() + d);
        }
    }

    /// Serves a failing cluster (two default StorageClasses) until `healthy_from` reads.
    struct Scripted {
        reads: usize,
        healthy_from: usize,
    }

    fn storage_classes(defaults: usize) -> Snapshot {
        let mut items = String::new();
        for i in 0..2 {
            let default = if i < defaults { "true" } else { "false" };
            items.push_str(&format!(
                "- {{apiVersion: storage.k8s.io/v1, kind: StorageClass, provisioner: x, metadata: {{name: sc{i}, annotations: {{storageclass.kubernetes.io/is-default-class: \"{default}\"}}}}}}\n"
            ));
        }
        crate::snapshot::load_str(&format!("kind: List\nitems:\n{items}"), "t").unwrap()
    }

    impl Source for Scripted {
        async fn read(&mut self) -> Result<Snapshot, Error> {
            self.reads += 1;
            Ok(storage_classes(if self.reads >= self.healthy_from {
                1
            } else {
                2
            }))
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn run(healthy_from: usize, wait: u64) -> (Checked, Vec<Vec<String>>, Duration) {
        let checker = Checker::prepare(
            &RuleChoice {
                select: &["TT-STO-002".to_string()],
                config: Some(std::path::Path::new("/dev/null")),
                ..RuleChoice::default()
            },
            RunOptions {
                namespace: "tt".into(),
                phase: Phase::Both,
                ..Default::default()
            },
        )
        .unwrap();
        let clock = FakeClock {
            start: Instant::now(),
            elapsed: Cell::new(Duration::ZERO),
        };
        let mut source = Scripted {
            reads: 0,
            healthy_from,
        };
        let mut waits = Vec::new();
        let opts = WatchOptions {
            wait: (wait > 0).then(|| Duration::from_secs(wait)),
            poll_interval: Duration::from_secs(5),
            fail_on: FailOn::Warn,
        };
        let (_, checked) =
            crate::app::block_on(watch(checker.into(), &mut source, opts, &clock, |w| {
                waits.push(w.failing());
            }))
            .unwrap();
        (checked, waits, clock.elapsed.get())
    }

    #[test]
    fn waits_until_the_cluster_turns_healthy() {
        let (checked, waits, elapsed) = run(3, 60);
        assert_eq!(checked.polls, 3);
        assert_eq!(checked.report.verdict(FailOn::Warn), Verdict::Passed);
        assert_eq!(waits.len(), 2, "two failing polls announced");
        assert_eq!(waits[0], vec!["TT-STO-002 Cluster cluster".to_string()]);
        assert_eq!(elapsed, Duration::from_secs(10));
    }

    #[test]
    fn gives_up_at_the_deadline_with_the_last_verdict() {
        let (checked, waits, elapsed) = run(usize::MAX, 12);
        // Polls at 0 s, 5 s; at 10 s the next pause would pass the 12 s deadline.
        assert_eq!(checked.polls, 3);
        assert_eq!(waits.len(), 2);
        assert_eq!(elapsed, Duration::from_secs(10));
        assert_eq!(checked.report.verdict(FailOn::Warn), Verdict::Failed);
    }

    /// A source that cannot be read.
    struct Down;

    impl Source for Down {
        async fn read(&mut self) -> Result<Snapshot, Error> {
            Err(Error::Unreachable("down".into()))
        }
        fn describe(&self) -> String {
            "down".into()
        }
    }

    fn in_background(select: &str, source: &mut impl Source) -> Result<Checked, Error> {
        let select = [select.to_string()];
        let choice = RuleChoice {
            select: &select,
            config: Some(std::path::Path::new("/dev/null")),
            ..RuleChoice::default()
        };
        let preparing = Checker::prepare_in_background(&choice, RunOptions::default());
        let clock = FakeClock {
            start: Instant::now(),
            elapsed: Cell::new(Duration::ZERO),
        };
        let opts = WatchOptions {
            wait: None,
            poll_interval: Duration::from_secs(5),
            fail_on: FailOn::Warn,
        };
        crate::app::block_on(watch(preparing, source, opts, &clock, |_| {})).map(|(_, c)| c)
    }

    #[test]
    fn rules_prepared_in_the_background_check_the_first_read() {
        let mut source = Scripted {
            reads: 0,
            healthy_from: usize::MAX,
        };
        let checked = in_background("TT-STO-002", &mut source).unwrap();
        assert_eq!(checked.polls, 1);
        assert_eq!(checked.report.verdict(FailOn::Warn), Verdict::Failed);
    }

    #[test]
    fn a_rule_error_wins_over_a_read_error() {
        let Err(Error::Usage(why)) = in_background("NO-SUCH-RULE", &mut Down) else {
            panic!("the selection error is reported");
        };
        assert!(why.contains("--select"), "{why}");
        let Err(Error::Unreachable(_)) = in_background("TT-STO-002", &mut Down) else {
            panic!("the read error is reported");
        };
    }

    #[test]
    fn without_wait_it_checks_once() {
        let (checked, waits, _) = run(usize::MAX, 0);
        assert_eq!((checked.polls, waits.len()), (1, 0));
    }
}
