//! The rules, config and options of one `check` or `fix`: everything that turns a snapshot
//! into a report, so that polls, fix rounds and verification evaluate alike.

use super::Error;
use crate::config::{self, Config};
use crate::engine::{self, RunOptions};
use crate::finding::Report;
use crate::index::Index;
use crate::model::LogRef;
use crate::rules::{self, Rule};
use crate::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::path::Path;

/// What selects and tunes the rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleChoice<'a> {
    /// `--config`; else `./.ttdoctor.yaml` when present.
    pub config: Option<&'a Path>,
    /// `--rules DIR`: more rule files.
    pub rules_dir: Option<&'a Path>,
    /// `--param RULE.KEY=VALUE`.
    pub params: &'a [String],
    pub select: &'a [String],
    pub ignore: &'a [String],
}

pub struct Checker {
    pub rules: Vec<Rule>,
    pub config: Config,
    pub opts: RunOptions,
}

/// A checker whose rules compile on a thread of their own ([`Checker::prepare_in_background`]),
/// so that reading the snapshot does not wait for them; or one already prepared.
pub struct Preparing(Pending);

enum Pending {
    Ready(Box<Result<Checker, Error>>),
    Compiling(tokio::sync::oneshot::Receiver<Result<Checker, Error>>),
}

impl From<Checker> for Preparing {
    fn from(checker: Checker) -> Preparing {
        Preparing(Pending::Ready(Box::new(Ok(checker))))
    }
}

impl Preparing {
    /// The checker, once its rules are compiled; or why they could not be.
    pub async fn ready(self) -> Result<Checker, Error> {
        match self.0 {
            Pending::Ready(done) => *done,
            Pending::Compiling(rx) => match rx.await {
                Ok(done) => done,
                // The thread panicked: say so as an error rather than hang or abort.
                Err(_) => Err(Error::Usage("preparing the rules failed".into())),
            },
        }
    }
}

/// Every rule file error, one per line.
pub fn rule_errors(errors: &[rules::RuleError]) -> Error {
    Error::Usage(
        errors
            .iter()
            .map(|e| format!("rule {e}"))
            .collect::<Vec<_>>()
            .join("\nerror: "),
    )
}

impl Checker {
    /// Loads the rule pack, the config and the selection.
    pub fn prepare(choice: &RuleChoice, opts: RunOptions) -> Result<Checker, Error> {
        let config = match config::locate(choice.config) {
            Some(path) => config::load(&path).map_err(|e| Error::Usage(format!("config {e}")))?,
            None => Config::default(),
        };
        let mut rules = rules::load(choice.rules_dir).map_err(|e| rule_errors(&e))?;
        for (id, kv) in &config.params {
            for (k, v) in kv {
                rules::set_param(&mut rules, id, k, v.clone())
                    .map_err(|e| Error::Usage(format!("config params: {e}")))?;
            }
        }
        rules::apply_params(&mut rules, choice.params)
            .map_err(|e| Error::Usage(format!("--param: {e}")))?;
        let rules = rules::select(rules, choice.select, choice.ignore);
        if rules.is_empty() {
            return Err(Error::Usage(
                "--select/--ignore left no rules to run (`ttdoctor rules` lists them)".into(),
            ));
        }
        Ok(Checker {
            rules,
            config,
            opts,
        })
    }

    /// [`Checker::prepare`] on a thread of its own: the caller reads the snapshot meanwhile
    /// and awaits [`Preparing::ready`] when it needs the rules.
    pub fn prepare_in_background(choice: &RuleChoice, opts: RunOptions) -> Preparing {
        let config = choice.config.map(Path::to_path_buf);
        let rules_dir = choice.rules_dir.map(Path::to_path_buf);
        let lists = [choice.params, choice.select, choice.ignore].map(<[String]>::to_vec);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let [params, select, ignore] = &lists;
            let choice = RuleChoice {
                config: config.as_deref(),
                rules_dir: rules_dir.as_deref(),
                params,
                select,
                ignore,
            };
            // The receiver gone: nobody wants the checker any more.
            let _ = tx.send(Checker::prepare(&choice, opts));
        });
        Preparing(Pending::Compiling(rx))
    }

    /// Runs the rules (with the log tails the snapshot carries) and applies the config's
    /// suppressions.
    pub fn evaluate(&self, snap: Snapshot) -> Report {
        self.finish(self.start(snap), &BTreeMap::new())
    }

    /// Evaluates the rules; what the findings want to read in logs is
    /// [`engine::Evaluation::wanted_logs`].
    pub fn start(&self, snap: Snapshot) -> engine::Evaluation<'_> {
        let started = std::time::Instant::now();
        let index = Index::new(snap);
        let indexed = started.elapsed();
        let mut evaluation = engine::start(&self.rules, index, &self.opts);
        evaluation.timing("index", indexed);
        evaluation
    }

    /// `snap` with the log tails its findings want, read from `source` (`snapshot
    /// --with-logs`): a snapshot file then carries the proof for an offline check. A log that
    /// cannot be read becomes one of the snapshot's notes.
    pub async fn capture_logs<S: super::Source>(
        &self,
        mut snap: Snapshot,
        source: &mut S,
    ) -> Snapshot {
        let wanted = self.start(snap.clone()).wanted_logs();
        for (log, read) in source.read_logs(&wanted).await {
            match read {
                Ok(text) => {
                    snap.logs.insert(log, text);
                }
                Err(why) => snap.notes.push(format!("{log} could not be read ({why})")),
            }
        }
        snap
    }

    /// Evidence from `logs`, cause links, suppressions: the report.
    pub fn finish(
        &self,
        evaluation: engine::Evaluation<'_>,
        logs: &BTreeMap<LogRef, Result<String, String>>,
    ) -> Report {
        let mut report = evaluation.finish(logs);
        report.apply_suppressions(&self.config.suppressions, crate::text::today());
        report
    }
}
