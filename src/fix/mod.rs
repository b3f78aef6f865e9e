//! Fixes: a plan computed from findings (`ttdoctor fix`), applied conservatively (`--auto`),
//! verified by re-checking, journaled, and undoable.
//!
//! Every write is a patch a rule declared as data. Patches carry their own preconditions
//! (JSON-patch `test` ops, or `metadata.resourceVersion` in a merge patch), go through a
//! server-side dry run first, and touch only the fields the fix owns. Nothing is deleted.

pub mod apply;
pub mod journal;
pub mod plan;
pub mod render;

pub use plan::{FixPlan, ItemStatus, PlanItem, plan};
