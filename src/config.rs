//! `.ttdoctor.yaml`: suppressions with accountability (a reason, optionally an expiry) and
//! rule parameter overrides, so a pipeline's exceptions live in review, not in flags.

use crate::finding::{Finding, ObjectRef};
use serde::{Deserialize, Serialize};
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

/// One accepted exception.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// A rule id or prefix (`TT-MEM-003`, `TT-MEM`).
    pub rule: String,
    /// Which objects; omitted fields match anything, `name` may use `*` globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMatch>,
    /// Why this is acceptable. Mandatory.
    #[serde(default)]
    pub reason: String,
    /// `YYYY-MM-DD`: the last day the suppression applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
                crate::engine::first_line(&e.to_string())
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
            parse_date(e).ok_or_else(|| format!("{at}: expires {e:?} is not a YYYY-MM-DD date"))?;
        }
    }
    Ok(cfg)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Today, in days since 1970-01-01 (UTC).
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    secs.div_euclid(86_400)
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            if !text.starts_with(head) {
                return false;
            }
            let tail = &text[head.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

impl Suppression {
    pub fn matches(&self, f: &Finding) -> bool {
        f.rule_id.starts_with(&self.rule)
            && self.object.as_ref().is_none_or(|o| o.matches(&f.object))
    }

    pub fn expired(&self, today: i64) -> bool {
        self.expires
            .as_deref()
            .and_then(parse_date)
            .is_some_and(|d| d < today)
    }
}

impl ObjectMatch {
    fn matches(&self, o: &ObjectRef) -> bool {
        self.kind
            .as_ref()
            .is_none_or(|k| k.eq_ignore_ascii_case(&o.kind))
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| Some(n) == o.namespace.as_ref())
            && self.name.as_ref().is_none_or(|n| glob(n, &o.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_globs() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-28"), Some(20_785));
        assert_eq!(parse_date("2026-13-01"), None);
        assert!(glob("ts-*-service", "ts-order-service"));
        assert!(!glob("ts-*-service", "ts-order"));
        assert!(glob("*", ""));
    }
}
