//! The images containerd really holds in its `k8s.io` namespace (where the kubelet's images
//! live), listed with `crictl images -o json`, else `ctr -n k8s.io images ls -q`. Unlike
//! `node.status.images` (the kubelet's 50 largest), the listing is complete.

use super::command::{self, RunError};
use serde::Deserialize;
use std::ffi::OsStr;
use std::time::Duration;

/// What listing the images gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// The tool that listed them (or failed to); `None` when neither is on the PATH.
    pub tool: Option<String>,
    /// Tags and digests, sorted; `None` when not listed.
    pub images: Option<Vec<String>>,
    /// Why they could not be listed, and what to do.
    pub error: Option<String>,
}

/// The tools, in the order they are tried: crictl sees what the kubelet sees (through CRI);
/// ctr reads containerd directly.
const TOOLS: &[(&str, &[&str])] = &[
    ("crictl", &["images", "-o", "json"]),
    ("ctr", &["-n", "k8s.io", "images", "ls", "-q"]),
];

/// Lists the images with the first tool on `path` that answers.
pub fn list(path: &OsStr, timeout: Duration) -> Listing {
    let mut failures: Vec<(&str, String)> = Vec::new();
    for &(tool, args) in TOOLS {
        let Some(exe) = command::find(tool, path) else {
            continue;
        };
        let why = match command::run(&exe, args, timeout) {
            Ok(ran) if ran.status.success() => match parse(tool, &ran.stdout) {
                Ok(images) => {
                    return Listing {
                        tool: Some(tool.to_string()),
                        images: Some(images),
                        error: None,
                    };
                }
                Err(e) => format!("{tool} printed what ttdoctor cannot read: {e}"),
            },
            Ok(ran) => failed(tool, &ran.status, &ran.stderr),
            Err(RunError::TimedOut(t)) => format!(
                "{tool} did not answer within {}s and was stopped: is containerd running? (sudo systemctl status containerd)",
                t.as_secs_f64()
            ),
            Err(RunError::Spawn(e)) => format!("cannot run {}: {e}", exe.display()),
        };
        failures.push((tool, why));
    }
    match failures.first() {
        None => Listing::default(),
        Some(&(tool, _)) => Listing {
            tool: Some(tool.to_string()),
            images: None,
            error: Some(
                failures
                    .iter()
                    .map(|(_, why)| why.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        },
    }
}

/// The image references in a tool's output.
pub fn parse(tool: &str, out: &[u8]) -> Result<Vec<String>, String> {
    let mut images = match tool {
        "crictl" => parse_crictl(out)?,
        _ => parse_ctr(&String::from_utf8_lossy(out)),
    };
    images.sort();
    images.dedup();
    Ok(images)
}

/// `crictl images -o json`: `{"images": [{"repoTags": [...], "repoDigests": [...]}]}`.
fn parse_crictl(out: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct List {
        #[serde(default)]
        images: Option<Vec<Image>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Image {
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        #[serde(default)]
        repo_digests: Option<Vec<String>>,
    }
    let list: List = serde_json::from_slice(out).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(list
        .images
        .unwrap_or_default()
        .into_iter()
        .flat_map(|i| {
            i.repo_tags
                .unwrap_or_default()
                .into_iter()
                .chain(i.repo_digests.unwrap_or_default())
        })
        .collect())
}

/// `ctr -n k8s.io images ls -q`: one reference per line; the bare `sha256:…` ids the CRI
/// plugin records beside them name no image anyone pulls.
fn parse_ctr(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("sha256:"))
        .map(str::to_string)
        .collect()
}

/// A failed run in one line: the line of its stderr that says why, and what to do.
fn failed(tool: &str, status: &std::process::ExitStatus, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // crictl warns about its default endpoints before it says what went wrong.
    let said = lines
        .iter()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            ["denied", "fata", "error", "fail"]
                .iter()
                .any(|w| l.contains(w))
        })
        .or(lines.first())
        .map_or_else(
            || format!("exited with {status}"),
            |l| l.chars().take(300).collect(),
        );
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("permission denied") {
        "run ttdoctor with sudo: containerd's socket (/run/containerd/containerd.sock) is root's"
    } else if lower.contains("no such file") || lower.contains("connection refused") {
        "is containerd running? (sudo systemctl status containerd)"
    } else {
        "is containerd running, and is this the node? (sudo systemctl status containerd)"
    };
    format!("{tool} failed: {said}; {hint}")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::host::command::tests::script;

    const CRICTL_JSON: &str = r#"{
  "images": [
    {"id": "sha256:aaa", "repoTags": ["docker.io/library/busybox:1.32"],
     "repoDigests": ["docker.io/library/busybox@sha256:bbb"], "size": "764556", "uid": null, "username": "", "spec": null, "pinned": false},
    {"id": "sha256:ccc", "repoTags": [], "repoDigests": ["docker.io/nacos/nacos-server@sha256:ddd"], "size": "1"},
    {"id": "sha256:eee", "repoTags": null, "repoDigests": null},
    {"id": "sha256:fff", "repoTags": ["registry.k8s.io/pause:3.10", "docker.io/library/busybox:1.32"]}
  ]
}"#;

    #[test]
    fn crictl_json_gives_tags_and_digests() {
        let images = parse("crictl", CRICTL_JSON.as_bytes()).unwrap();
        assert_eq!(
            images,
            [
                "docker.io/library/busybox:1.32",
                "docker.io/library/busybox@sha256:bbb",
                "docker.io/nacos/nacos-server@sha256:ddd",
                "registry.k8s.io/pause:3.10",
            ]
        );
        assert_eq!(
            parse("crictl", b"{}").unwrap(),
            Vec::<String>::new(),
            "no images"
        );
        assert!(parse("crictl", b"IMAGE TAG\nbusybox 1.32\n").is_err());
    }

    #[test]
    fn ctr_quiet_output_gives_references_without_bare_ids() {
        let out = "docker.io/library/busybox:1.32\n\
                   docker.io/library/busybox@sha256:bbb\n\
                   sha256:aaa\n\n  registry.k8s.io/pause:3.10  \n";
        assert_eq!(
            parse("ctr", out.as_bytes()).unwrap(),
            [
                "docker.io/library/busybox:1.32",
                "docker.io/library/busybox@sha256:bbb",
                "registry.k8s.io/pause:3.10",
            ]
        );
    }

    fn path_of(dir: &std::path::Path) -> std::ffi::OsString {
        dir.as_os_str().to_owned()
    }

    #[test]
    fn no_tool_on_the_path_lists_nothing_and_blames_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            list(&path_of(dir.path()), Duration::from_secs(5)),
            Listing::default()
        );
    }

    #[test]
    fn crictl_is_asked_first_with_its_json_flags() {
        let dir = tempfile::tempdir().unwrap();
        let body =
            format!("[ \"$*\" = \"images -o json\" ] || exit 9\ncat <<'EOF'\n{CRICTL_JSON}\nEOF")
                .replace("cat <<", "/bin/cat <<");
        script(dir.path(), "crictl", &body);
        script(dir.path(), "ctr", "exit 7");
        let l = list(&path_of(dir.path()), Duration::from_secs(10));
        assert_eq!(l.tool.as_deref(), Some("crictl"), "{l:?}");
        assert_eq!(l.images.as_ref().map(Vec::len), Some(4), "{l:?}");
        assert_eq!(l.error, None);
    }

    #[test]
    fn ctr_is_used_when_crictl_is_absent_in_the_k8s_io_namespace() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "ctr",
            "[ \"$*\" = \"-n k8s.io images ls -q\" ] || exit 9\necho docker.io/library/busybox:1.32\necho sha256:aaa",
        );
        let l = list(&path_of(dir.path()), Duration::from_secs(10));
        assert_eq!(l.tool.as_deref(), Some("ctr"));
        assert_eq!(
            l.images,
            Some(vec!["docker.io/library/busybox:1.32".to_string()])
        );
    }

    #[test]
    fn permission_denied_says_to_use_sudo() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "crictl",
            "echo 'WARN[0000] image connect using default endpoints: [unix:///run/containerd/containerd.sock]' >&2\n\
             echo 'FATA[0000] validate service connection: connect: permission denied' >&2\nexit 1",
        );
        let l = list(&path_of(dir.path()), Duration::from_secs(10));
        assert_eq!(l.tool.as_deref(), Some("crictl"));
        assert_eq!(l.images, None);
        let e = l.error.unwrap();
        assert!(
            e.starts_with("crictl failed: FATA[0000] validate service connection: connect: permission denied; run ttdoctor with sudo"),
            "{e}"
        );
    }

    #[test]
    fn a_failing_crictl_falls_back_to_ctr_and_both_failures_are_told() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "crictl", "exit 1");
        script(
            dir.path(),
            "ctr",
            "echo 'ctr: failed to dial \"/run/containerd/containerd.sock\": connection refused' >&2; exit 1",
        );
        let l = list(&path_of(dir.path()), Duration::from_secs(10));
        assert_eq!(l.tool.as_deref(), Some("crictl"), "the first tried");
        let e = l.error.unwrap();
        assert!(
            e.contains("crictl failed: exited with exit status: 1"),
            "{e}"
        );
        assert!(
            e.contains("ctr failed: ctr: failed to dial") && e.contains("is containerd running?"),
            "{e}"
        );
        // A working ctr rescues a failing crictl.
        script(dir.path(), "ctr", "echo docker.io/library/busybox:1.32");
        let l = list(&path_of(dir.path()), Duration::from_secs(10));
        assert_eq!((l.tool.as_deref(), l.error), (Some("ctr"), None));
    }

    #[test]
    fn a_hanging_tool_is_stopped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "crictl", "exec /bin/sleep 30");
        let started = std::time::Instant::now();
        let l = list(&path_of(dir.path()), Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = l.error.unwrap();
        assert!(
            e.starts_with("crictl did not answer within 0.3s and was stopped"),
            "{e}"
        );
        assert_eq!(l.images, None);
    }

    #[test]
    fn unreadable_output_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "crictl", "echo 'IMAGE TAG IMAGE ID SIZE'");
        let l = list(&path_of(dir.path()), Duration::from_secs(10));
        assert_eq!(l.images, None);
        assert!(
            l.error
                .unwrap()
                .starts_with("crictl printed what ttdoctor cannot read"),
            "never an empty list that would claim every image missing"
        );
    }
}
