//! Deployment profiles: a manifests file whose first document is a `ttdoctor/v1 Profile`
//! header (name, description, sources, expected totals, and what pods really use), built
//! into the binary from `rules/profiles/`.

use crate::quantity::Quantity;
use regex::Regex;
use serde::Deserialize;

/// A profile's header.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub source: Vec<String>,
    /// The totals the profile's objects add up to, per namespace (`release` is `-n`), as the
    /// upstream charts document them.
    pub expected: serde_json::Value,
    pub usage: Vec<UsageRule>,
}

/// What a container of a workload really uses once running, and where the figure comes from.
#[derive(Debug)]
pub struct UsageRule {
    pub name: Regex,
    pub container: Option<Regex>,
    /// Bytes.
    pub memory: i128,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    api_version: String,
    kind: String,
    metadata: HeaderMeta,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: Vec<String>,
    #[serde(default)]
    expected: serde_json::Value,
    #[serde(default)]
    usage: Vec<UsageSpec>,
}

#[derive(Deserialize)]
struct HeaderMeta {
    name: String,
}

#[derive(Deserialize)]
struct UsageSpec {
    #[serde(rename = "match")]
    matches: UsageMatch,
    memory: String,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct UsageMatch {
    name: String,
    #[serde(default)]
    container: Option<String>,
}

impl Profile {
    /// The first usage rule matching a workload (controller name) and container.
    pub fn usage_of(&self, workload: &str, container: &str) -> Option<&UsageRule> {
        self.usage.iter().find(|u| {
            u.name.is_match(workload) && u.container.as_ref().is_none_or(|c| c.is_match(container))
        })
    }
}

/// `(path, text)` of a built-in profile.
pub fn builtin(name: &str) -> Result<(&'static str, &'static str), String> {
    let want = format!("rules/profiles/{name}.yaml");
    crate::pack::files_in("profiles")
        .find(|(p, _)| *p == want)
        .ok_or_else(|| {
            format!(
                "no built-in profile {name:?} (profiles: {})",
                builtin_names().join(", ")
            )
        })
}

/// The names of the built-in profiles.
pub fn builtin_names() -> Vec<&'static str> {
    crate::pack::files_in("profiles")
        .filter_map(|(p, _)| p.strip_prefix("rules/profiles/")?.strip_suffix(".yaml"))
        .collect()
}

/// Separates a `Profile` header (the first document, when it is one) from the manifests.
pub fn split(text: &str, origin: &str) -> Result<(Option<Profile>, String), String> {
    let (first, rest) = first_document(text);
    let is_header = first.lines().any(|l| l.trim() == "kind: Profile")
        && first.lines().any(|l| l.trim() == "apiVersion: ttdoctor/v1");
    if !is_header {
        return Ok((None, text.to_string()));
    }
    let h: Header = serde_saphyr::from_str(first).map_err(|e| {
        format!(
            "{origin}: profile header: {}",
            crate::text::first_line(&e.to_string())
        )
    })?;
    if h.api_version != "ttdoctor/v1" || h.kind != "Profile" {
        return Ok((None, text.to_string()));
    }
    let mut usage = Vec::new();
    for u in h.usage {
        let anchored = |re: &str| {
            Regex::new(&format!("^(?:{re})$"))
                .map_err(|e| format!("{origin}: usage match {re:?}: {e}"))
        };
        let memory = Quantity::parse(&u.memory)
            .map_err(|e| format!("{origin}: usage {}: {e}", u.matches.name))?
            .ceil_units();
        usage.push(UsageRule {
            name: anchored(&u.matches.name)?,
            container: u.matches.container.as_deref().map(anchored).transpose()?,
            memory,
            source: u.source,
        });
    }
    let profile = Profile {
        name: h.metadata.name,
        description: h.description,
        source: h.source,
        expected: h.expected,
        usage,
    };
    Ok((Some(profile), rest.to_string()))
}

/// The first YAML document of `text` (comments and a leading `---` skipped) and the rest.
fn first_document(text: &str) -> (&str, &str) {
    let mut start = 0;
    let mut offset = 0;
    let mut seen_content = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            if seen_content {
                return (&text[start..offset], &text[offset..]);
            }
            start = offset + line.len();
        } else if !t.is_empty() && !t.starts_with('#') {
            seen_content = true;
        }
        offset += line.len();
    }
    (&text[start..], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_has_a_header() {
        let names = builtin_names();
        for want in ["default", "with-tracing", "independent-db", "all", "fork"] {
            assert!(names.contains(&want), "{names:?}");
        }
        for n in names {
            let (path, text) = builtin(n).unwrap();
            let (profile, body) = split(text, path).unwrap();
            let p = profile.unwrap_or_else(|| panic!("{n}: no header"));
            assert_eq!(p.name, n);
            assert!(!p.usage.is_empty() && body.contains("kind: Deployment"));
        }
        assert!(builtin("nope").unwrap_err().contains("default"));
    }

    #[test]
    fn usage_rules_match_in_order() {
        let (_, text) = builtin("default").unwrap();
        let (p, _) = split(text, "default").unwrap();
        let p = p.unwrap();
        assert_eq!(p.usage_of("tsdb-mysql", "mysql").unwrap().memory, 400 << 20);
        assert_eq!(p.usage_of("tsdb-mysql", "xenon").unwrap().memory, 30 << 20);
        assert!(p.usage_of("ts-auth-service", "ts-auth-service").is_some());
    }
}
