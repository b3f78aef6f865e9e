//! `.ttdoctor.yaml`: suppressions with accountability (a reason, optionally an expiry) and
//! rule parameter overrides, so a pipeline's exceptions live in review, not in flags.

use crate::finding::Suppression;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = ".ttdoctor.yaml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub suppressions: Vec<Suppression>,
    /// `RULE-ID: {key: value}` parameter overrides.
    #[serde(default)]
    pub params: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// Finds the config: `--config FILE`, else `.ttdoctor.yaml` in the current directory.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(FILE_NAME);
            p.exists().then_some(p)
        }
    }
}

/// Reads and validates a config file; errors name the file and the problem.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cfg: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "{}: {}",
                path.display(),
                crate::text::first_line(&e.to_string())
            )
        })?
    };
    for (i, s) in cfg.suppressions.iter().enumerate() {
        let at = format!("{}: suppressions[{i}] ({})", path.display(), s.rule);
        if s.rule.trim().is_empty() {
            return Err(format!("{at}: `rule` is empty"));
        }
        if s.reason.trim().is_empty() {
            return Err(format!(
                "{at}: a suppression needs a `reason` (say why the finding is acceptable)"
            ));
        }
        if let Some(e) = &s.expires {
            crate::text::parse_date(e)
                .ok_or_else(|| format!("{at}: expires {e:?} is not a YYYY-MM-DD date"))?;
        }
    }
    Ok(cfg)
}
