//! ttdoctor: finds, explains and fixes the failures that stop TrainTicket from deploying on
//! Kubernetes.
//!
//! Data flows one way, and so do the imports: each module below uses only modules listed
//! before it (`tests/layers.rs` fails otherwise).
//!
//! | layer | modules | what |
//! | --- | --- | --- |
//! | vocabulary | [`text`], [`par`], [`pack`], [`quantity`], [`model`] | leaf helpers, work spread over the cores, the embedded rule pack, shared words |
//! | collect | [`snapshot`], [`live`], [`host`] | the typed store, read from a file or the API; the local host's facts |
//! | index | [`index`] | joins, pod status, memory per node |
//! | simulation | [`sim`] | kube-scheduler v1.36 placing pods, failures in its words |
//! | deployment | [`deploy`] | what is about to be installed: profiles and manifests, expanded into pods |
//! | plan | [`plan`] | will it fit: the deployment simulated on the cluster, memory projected |
//! | expressions | [`expr`] | CEL, the helper table, templates, load-time checks |
//! | rules | [`rules`] | rule files and their test cases, compiled |
//! | findings | [`finding`], [`engine`], [`config`] | rules → findings, causes, suppressions |
//! | output | [`report`], [`fix`] | reports for people and machines; fix plans, apply, undo |
//! | application | [`app`] | sources, checking, `--wait`, fix rounds, rule tests |
//!
//! The binary (`src/main.rs`, `src/cli.rs`) parses arguments, calls [`app`], renders, and
//! maps the outcome to an exit code.
//!
//! Checking a snapshot from a library:
//!
//! ```
//! use ttdoctor::{engine, index::Index, rules, snapshot};
//! use ttdoctor::model::{Phase, Severity};
//!
//! let snap = snapshot::load_str(
//!     "apiVersion: v1\nkind: List\nitems:\n\
//!      - apiVersion: storage.k8s.io/v1\n  kind: StorageClass\n  metadata: {name: openebs-hostpath}\n  provisioner: openebs.io/local\n",
//!     "example",
//! )?;
//! let rules = rules::load(None).expect("the built-in rule pack loads");
//! let opts = engine::RunOptions {
//!     namespace: "train-ticket".into(),
//!     phase: Phase::Pre,
//!     ..Default::default()
//! };
//! let report = engine::run(&rules, Index::new(snap), &opts);
//! // One StorageClass and it is not the default: TT-STO-001 says so and offers a safe fix.
//! let f = report.findings.iter().find(|f| f.rule_id == "TT-STO-001").unwrap();
//! assert_eq!(f.severity, Severity::Error);
//! assert_eq!(f.fix.as_ref().unwrap().patches[0].target.name, "openebs-hostpath");
//! # Ok::<(), snapshot::LoadError>(())
//! ```

// The order of these declarations is the layer order `tests/layers.rs` enforces.
pub mod text;

pub mod par;

pub mod pack;

pub mod quantity;

pub mod model;

pub mod snapshot;

pub mod live;

pub mod host;

pub mod index;

pub mod sim;

pub mod deploy;

pub mod plan;

pub mod expr;

pub mod rules;

pub mod finding;

pub mod engine;

pub mod config;

pub mod report;

pub mod fix;

pub mod app;
