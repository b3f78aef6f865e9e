//! Every FailedScheduling message of the fixtures, rebuilt from the fixture's own state: the
//! capture of a real v1.36.2 scheduler word for word, and the generated fixtures whose
//! messages the notes found consistent with the scheduler's code (G1–G4). G5 lacks the
//! `0/N nodes are available: ` prefix the real scheduler prints; the simulation prints it.

use super::*;
use crate::index::Index;
use std::path::Path;

/// For each pod of the fixture that the scheduler could not place: its name, the message of
/// its PodScheduled condition, and the simulation's message for it on the fixture's cluster.
fn pending(file: &str) -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(file);
    let ix = Index::new(crate::snapshot::load_file(&path).expect("the fixture loads"));
    let cluster = Cluster::from_index(&ix);
    let mut out = Vec::new();
    for stored in &ix.snap.objects.pods {
        let pod = stored.get();
        let condition = pod
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .find(|c| c.type_ == "PodScheduled" && c.status == "False");
        let Some(expected) = condition.and_then(|c| c.message.clone()) else {
            continue;
        };
        let sim = cluster.pod(pod);
        assert!(sim.unmodelled.is_empty(), "{:?}", sim.unmodelled);
        let run = simulate(&cluster, &[sim]);
        let got = run.outcomes[0]
            .message()
            .unwrap_or_else(|| panic!("{} was placed: {:?}", stored.name(), run.outcomes[0]))
            .to_string();
        out.push((stored.name().to_string(), expected, got));
    }
    out
}

fn same(file: &str, count: usize) {
    let cases = pending(file);
    assert_eq!(cases.len(), count, "{file}");
    for (pod, expected, got) in cases {
        assert_eq!(got, expected, "{file}: {pod}");
    }
}

#[test]
fn the_real_v1_36_capture() {
    same("reference/real-apiserver-v1.36-sample.yaml", 3);
    // The FailedScheduling events say the same.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/reference/real-apiserver-v1.36-sample.json");
    let ix = Index::new(crate::snapshot::load_file(&path).expect("loads"));
    let cluster = Cluster::from_index(&ix);
    let mut seen = 0;
    for e in &ix.snap.objects.events {
        let e = e.get();
        if e.reason.as_deref() != Some("FailedScheduling") {
            continue;
        }
        let name = e.involved_object.name.as_deref().unwrap_or_default();
        let i = ix
            .snap
            .find(crate::snapshot::Kind::Pod, Some("demo"), name)
            .expect("the pod");
        let sim = cluster.pod(ix.snap.objects.pods[i].get());
        assert_eq!(
            simulate(&cluster, &[sim]).outcomes[0].message(),
            e.message.as_deref()
        );
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn generated_fixtures_consistent_with_the_code() {
    same("control-plane-taint.yaml", 3);
    same("nodeselector-unmatched.yaml", 3);
    let seed = pending("seed-broken-cluster.yaml");
    assert_eq!(seed.len(), 5);
    for (pod, expected, got) in seed {
        if pod == "tsdb-mysql-2" {
            continue;
        }
        assert_eq!(got, expected, "{pod}");
    }
}

#[test]
fn generated_unbound_claim_message_gets_its_prefix() {
    // G5: the generator wrote the PreFilter message without the FitError prefix.
    for (file, pod_name) in [
        ("no-default-storageclass.yaml", "nacosdb-mysql-0"),
        ("seed-broken-cluster.yaml", "tsdb-mysql-2"),
    ] {
        let case = pending(file)
            .into_iter()
            .find(|(p, _, _)| p == pod_name)
            .expect("the pod");
        assert_eq!(
            case.1,
            "pod has unbound immediate PersistentVolumeClaims. not found"
        );
        assert_eq!(
            case.2,
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found"
        );
    }
}
