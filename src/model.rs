//! The vocabulary every layer shares: how bad a finding is, when a rule runs, how safe a fix
//! is, the kinds of patch, and how an object is named. A leaf.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a finding is. Ordered: `Info < Warn < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        })
    }
}

/// When a rule is meaningful: before TrainTicket is deployed, after, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Pre,
    Post,
    Both,
}

impl Phase {
    /// Whether a rule of this phase runs when the user asked for `selected`.
    pub fn runs_in(self, selected: Phase) -> bool {
        self == Phase::Both || selected == Phase::Both || self == selected
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
            Phase::Both => "both",
        })
    }
}

/// Whether `ttdoctor fix --auto` may apply a fix on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Safety {
    /// Metadata-only and reversible (labels, annotations, taints).
    Safe,
    /// Restarts or changes workloads or data; needs `--unsafe`.
    Unsafe,
    /// Steps a person runs; never applied by ttdoctor.
    Manual,
}

impl fmt::Display for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Safety::Safe => "safe",
            Safety::Unsafe => "unsafe",
            Safety::Manual => "manual",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    Json,
    Merge,
}

/// The object a finding is about. `kind: Cluster` for cluster-wide findings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A container log: which pod, which container, and whether of its previous instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogRef {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    #[serde(default)]
    pub previous: bool,
}

impl fmt::Display for LogRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the log of {} in {}/{}",
            self.container, self.namespace, self.pod
        )?;
        if self.previous {
            f.write_str(" (its previous run)")?;
        }
        Ok(())
    }
}
