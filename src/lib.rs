//! ttdoctor: finds, explains and fixes the failures that stop TrainTicket from deploying on
//! Kubernetes.
//!
//! Data flows one way: collect (file or API) → [`snapshot::Snapshot`] → [`index::Index`] →
//! [`rules`] evaluated by [`engine`] → [`finding::Finding`]s → [`report`].

pub mod cli;
pub mod config;
pub mod engine;
pub mod finding;
pub mod fix;
pub mod index;
pub mod live;
pub mod podstatus;
pub mod quantity;
pub mod report;
pub mod rules;
pub mod snapshot;
