//! Running a node tool (`crictl`, `ctr`) found on a given PATH, under a deadline: a tool that
//! hangs (containerd stuck, a socket that never answers) is killed, never waited for.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Output kept from one stream; the rest is read and dropped so the tool never blocks.
const MAX_OUTPUT: u64 = 64 << 20;

/// A tool that ran to its end.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A tool that could not be run, or did not finish in time.
#[derive(Debug)]
pub enum RunError {
    Spawn(std::io::Error),
    TimedOut(Duration),
}

/// The executable `name` in the first directory of `path` (a PATH value) that has one.
pub fn find(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        // An empty entry means the working directory: never run a tool found there.
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

#[cfg(unix)]
fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(p: &Path) -> bool {
    p.is_file()
}

/// Runs `program` with `args` (no input) and collects its output, killing it at `timeout`.
pub fn run(program: &Path, args: &[&str], timeout: Duration) -> Result<Ran, RunError> {
    let deadline = Instant::now() + timeout;
    let mut tries = 0;
    let mut child = loop {
        let spawned = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            // ETXTBSY: a script written a moment ago is still open in a process another
            // thread forked; it closes on that process's exec.
            Err(e) if e.raw_os_error() == Some(26) && tries < 10 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.map_err(RunError::Spawn)?,
        }
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                // Best effort: it may have exited just now.
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut(timeout));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Spawn(e));
            }
        }
    };
    // A process the tool left behind may hold its pipes open: wait for them only until the
    // deadline (the reader threads end when the pipes close).
    let collect = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| RunError::TimedOut(timeout))
    };
    let stdout = collect(stdout)?;
    let stderr = collect(stderr)?;
    Ok(Ran {
        status,
        stdout,
        stderr,
    })
}

/// Reads a stream to its end on a thread of its own; the bytes arrive on the channel.
fn drain(stream: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stream {
            let _ = s.by_ref().take(MAX_OUTPUT).read_to_end(&mut buf);
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        }
        let _ = tx.send(buf);
    });
    rx
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Writes an executable shell script `name` into `dir`.
    pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn finds_tools_only_in_absolute_directories_and_only_executables() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ctr"), "not executable").unwrap();
        let crictl = script(other.path(), "crictl", "exit 0");
        script(other.path(), "ctr", "exit 0");
        let path = std::env::join_paths([dir.path(), other.path()]).unwrap();
        assert_eq!(find("crictl", &path), Some(crictl));
        assert_eq!(
            find("ctr", &path),
            Some(other.path().join("ctr")),
            "the non-executable ctr is passed over"
        );
        assert_eq!(find("nerdctl", &path), None);
        assert_eq!(find("crictl", OsStr::new("")), None);
        assert_eq!(find("crictl", OsStr::new("relative/dir")), None);
    }

    #[test]
    fn collects_output_and_status() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "t", "echo out; echo err >&2; exit 3");
        let ran = run(&p, &[], Duration::from_secs(10)).unwrap();
        assert_eq!(ran.status.code(), Some(3));
        assert_eq!(ran.stdout, b"out\n");
        assert_eq!(ran.stderr, b"err\n");
    }

    #[test]
    fn a_tool_that_hangs_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        // `exec`: the script becomes sleep; without it, sleep is a grandchild that keeps
        // the pipes open after the shell is killed.
        for body in [
            "exec /bin/sleep 30",
            "/bin/sleep 30",
            "/bin/sleep 30 & exit 0",
        ] {
            let p = script(dir.path(), "slow", body);
            let started = Instant::now();
            let r = run(&p, &[], Duration::from_millis(300));
            assert!(matches!(r, Err(RunError::TimedOut(_))), "{body}: {r:?}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{body}: took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let r = run(
            Path::new("/nonexistent/crictl"),
            &[],
            Duration::from_secs(1),
        );
        assert!(matches!(r, Err(RunError::Spawn(_))), "{r:?}");
    }
}
