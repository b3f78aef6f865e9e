//! ttdoctor: finds, explains and fixes the failures that stop TrainTicket from deploying on
//! Kubernetes.
//!
//! Data flows one way: collect (file or API) → [`snapshot::Snapshot`] → [`index::Index`] →
//! [`rules`] evaluated by [`engine`] → [`finding::Finding`]s → [`report`] or a
//! [`fix`] plan.
//!
//! Checking a snapshot from a library:
//!
//! ```
//! use ttdoctor::{engine, index::Index, rules, snapshot};
//! use ttdoctor::rules::model::{Phase, Severity};
//!
//! let snap = snapshot::load_str(
//!     "apiVersion: v1\nkind: List\nitems:\n\
//!      - apiVersion: storage.k8s.io/v1\n  kind: StorageClass\n  metadata: {name: openebs-hostpath}\n  provisioner: openebs.io/local\n",
//!     "example",
//! )?;
//! let rules = rules::load(None).expect("the built-in rule pack loads");
//! let opts = engine::RunOptions { namespace: "train-ticket".into(), phase: Phase::Pre };
//! let report = engine::run(&rules, Index::new(snap), &opts);
//! // One StorageClass and it is not the default: TT-STO-001 says so and offers a safe fix.
//! let f = report.findings.iter().find(|f| f.rule_id == "TT-STO-001").unwrap();
//! assert_eq!(f.severity, Severity::Error);
//! assert_eq!(f.fix.as_ref().unwrap().patches[0].target.name, "openebs-hostpath");
//! # Ok::<(), snapshot::LoadError>(())
//! ```

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
