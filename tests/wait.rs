//! `check --wait`: a post-deploy gate re-checks until nothing fails or the deadline passes.

mod common;

use assert_cmd::Command;
use common::fake_api::FakeApi;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn gate(fake: &FakeApi, wait: &str) -> (i32, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let kc = fake.write_kubeconfig(dir.path());
    let start = Instant::now();
    let out = Command::cargo_bin("ttdoctor")
        .unwrap()
        .env_remove("KUBECONFIG")
        .args([
            "check",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--fail-on",
            "warn",
            "--wait",
            wait,
            "--poll-interval",
            "300ms",
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        start.elapsed(),
    )
}

#[test]
fn wait_succeeds_once_the_cluster_turns_healthy() {
    let fake = FakeApi::from_snapshot_file(fixture("multiple-default-storageclass.yaml"));
    // After the second poll has read the StorageClasses, an admin un-defaults local-path.
    fake.on_request(
        "GET",
        "/apis/storage.k8s.io/v1/storageclasses",
        2,
        |store| {
            store.mutate(
                "storage.k8s.io",
                "v1",
                "storageclasses",
                None,
                "local-path",
                |sc| {
                    sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] =
                        "false".into();
                },
            );
        },
    );
    let (code, stderr, _) = gate(&fake, "20s");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("waiting (").count(),
        2,
        "two failing polls shown: {stderr}"
    );
    assert!(
        stderr.contains("TT-STO-002 Cluster cluster"),
        "says what it waits on: {stderr}"
    );
    assert_eq!(
        fake.count("GET", "/apis/storage.k8s.io/v1/storageclasses"),
        3
    );
}

#[test]
fn wait_gives_up_at_the_deadline_with_the_last_verdict() {
    let fake = FakeApi::from_snapshot_file(fixture("multiple-default-storageclass.yaml"));
    let (code, stderr, elapsed) = gate(&fake, "3s");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(10),
        "took {elapsed:?}"
    );
    assert!(stderr.contains("waiting ("), "{stderr}");
    assert!(
        fake.count("GET", "/apis/storage.k8s.io/v1/storageclasses") >= 2,
        "it polled"
    );
}
