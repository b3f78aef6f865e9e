//! The smallest change that makes a plan fit, as data (the search is the application's).

use super::Plan;
use crate::model::{ObjectRef, Safety};
use serde::Serialize;

/// The plan, and the change that makes it fit when it does not.
#[derive(Clone, Debug, Serialize)]
pub struct Planned {
    pub plan: Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

/// One of the check's fixes, as part of a change.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixStep {
    pub rule_id: String,
    pub summary: String,
    pub safety: Safety,
    pub objects: Vec<ObjectRef>,
    pub commands: Vec<String>,
}

/// Nodes to add, like an existing one but with `memory` bytes allocatable each.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewNodes {
    pub count: usize,
    pub like: String,
    pub memory: i64,
    /// The memory `like` has allocatable.
    pub like_memory: i64,
}

/// The smallest change found, and the plan once it is made.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub fixes: Vec<FixStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_nodes: Option<NewNodes>,
    /// Whether the deployment fits in every order once the change is made.
    pub fits: bool,
    pub after: Plan,
}
