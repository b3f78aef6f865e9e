//! The deployment a user is about to install, as data: a built-in profile (`rules/profiles/`)
//! or the output of `helm template` (`--manifests`), expanded into the pods its controllers
//! would create and the claims its StatefulSets would make.
//!
//! Manifests are what `helm template` prints, not what the API server returns: objects with
//! only a `generateName`, older apiVersions, hook Jobs and kinds ttdoctor does not model are
//! expanded or skipped with a note, never a fatal error.

mod expand;
mod profile;

pub use expand::{Expanded, ModelPod, expand};
pub use profile::{Profile, UsageRule, builtin_names};

use crate::snapshot::{self, LoadOptions, Snapshot};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use std::path::Path;

/// Where the deployment comes from (by default, the `default` profile: `make deploy`).
#[derive(Clone, Debug)]
pub enum Source {
    /// A built-in profile by name (`default`, `with-tracing`, …).
    Profile(String),
    /// A file of manifests, a directory of them, or `-` for standard input.
    Manifests(std::path::PathBuf),
    /// Manifests given as text (rule test cases write their deployment inline).
    Text(String),
}

impl Default for Source {
    fn default() -> Self {
        Source::Profile("default".into())
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Profile(p) => write!(f, "profile {p}"),
            Source::Manifests(m) => write!(f, "manifests {}", m.display()),
            Source::Text(_) => f.write_str("manifests given inline"),
        }
    }
}

/// The deployment: its manifests, the pods and claims they make, and what was skipped.
pub struct Model {
    /// `profile default` or `manifests chart.yaml`.
    pub name: String,
    /// Where objects without a namespace are installed (`-n`).
    pub namespace: String,
    pub profile: Option<Profile>,
    /// The objects as written.
    pub manifests: Snapshot,
    /// The pods the controllers would create, namespaces filled in.
    pub pods: Vec<ModelPod>,
    /// The claims StatefulSets' volumeClaimTemplates would make.
    pub claims: Vec<PersistentVolumeClaim>,
    pub notes: Vec<String>,
}

/// A typed pod's core (what the scheduler's accounting reads), as stored pods have it.
pub fn core(pod: &k8s_openapi::api::core::v1::Pod) -> snapshot::PodCore {
    serde_json::to_value(pod)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl Model {
    /// The images the deployment's pods use (containers and init containers), deduplicated,
    /// in first-use order.
    pub fn images(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.pods {
            let spec = p.pod.spec.as_ref();
            let all = spec
                .map(|s| s.init_containers.iter().flatten().chain(&s.containers))
                .into_iter()
                .flatten();
            for c in all {
                if let Some(i) = &c.image
                    && !out.contains(i)
                {
                    out.push(i.clone());
                }
            }
        }
        out
    }
}

/// Loads the deployment for namespace `namespace` (objects without one are installed there).
/// `nodes` are the cluster's nodes, for DaemonSets (one pod per eligible node).
pub fn load(
    source: &Source,
    namespace: &str,
    nodes: &[k8s_openapi::api::core::v1::Node],
) -> Result<Model, String> {
    let (name, text, origin) = match source {
        Source::Profile(p) => {
            let (path, text) = profile::builtin(p)?;
            (format!("profile {p}"), text.to_string(), path.to_string())
        }
        Source::Manifests(path) => {
            let text = read_manifests(path)?;
            (
                format!("manifests {}", path.display()),
                text,
                path.display().to_string(),
            )
        }
        Source::Text(text) => (
            "manifests given inline".into(),
            text.clone(),
            "inline manifests".into(),
        ),
    };
    let (profile, body) = profile::split(&text, &origin)?;
    let opts = LoadOptions { manifests: true };
    let mut manifests = snapshot::load_str_with(&body, &origin, opts).map_err(|e| e.to_string())?;
    let mut notes = std::mem::take(&mut manifests.notes);
    if !manifests.ignored_kinds.is_empty() {
        let kinds: Vec<String> = manifests
            .ignored_kinds
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        notes.push(format!(
            "not modelled (they make no pods): {}",
            kinds.join(", ")
        ));
    }
    let expanded = expand(&manifests, namespace, nodes);
    notes.extend(expanded.notes);
    Ok(Model {
        name,
        namespace: namespace.to_string(),
        profile,
        manifests,
        pods: expanded.pods,
        claims: expanded.claims,
        notes,
    })
}

/// The text of a manifests file, every `*.yaml`/`*.yml`/`*.json` file of a directory
/// (sorted, as documents of one stream), or standard input for `-`.
fn read_manifests(path: &Path) -> Result<String, String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read manifests from standard input: {e}"))?;
        return Ok(s);
    }
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
            })
            .collect();
        files.sort();
        let mut out = String::new();
        for f in files {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            out.push_str("\n---\n");
            out.push_str(&text);
        }
        return Ok(out);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
