//! The STATUS column of `kubectl get pods`, computed the way kubectl prints it, plus the
//! readiness and restart figures shown beside it.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What `kubectl get pods` shows as STATUS (e.g. `Init:CrashLoopBackOff`, `ImagePullBackOff`).
pub fn status(pod: &Pod) -> String {
    let st = pod.status.as_ref();
    let mut reason = st
        .and_then(|s| s.reason.clone())
        .filter(|r| !r.is_empty())
        .or_else(|| st.and_then(|s| s.phase.clone()))
        .unwrap_or_else(|| "Unknown".into());
    let phase = st.and_then(|s| s.phase.as_deref()).unwrap_or_default();
    let init_total = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in st
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let state = c.state.as_ref();
        if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            if t.exit_code == 0 {
                continue;
            }
            reason = match &t.reason {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => match t.signal {
                    Some(sig) if sig != 0 => format!("Init:Signal:{sig}"),
                    _ => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
            initializing = true;
            break;
        }
        if let Some(w) = state.and_then(|s| s.waiting.as_ref())
            && let Some(r) = w
                .reason
                .as_deref()
                .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
            initializing = true;
            break;
        }
        if c.ready {
            continue;
        }
        reason = format!("Init:{i}/{init_total}");
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in st
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default()
            .iter()
            .rev()
        {
            let state = c.state.as_ref();
            if let Some(r) = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                reason = match &t.reason {
                    Some(r) if !r.is_empty() => r.clone(),
                    _ => match t.signal {
                        Some(sig) if sig != 0 => format!("Signal:{sig}"),
                        _ => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if c.ready && state.and_then(|s| s.running.as_ref()).is_some() {
                has_running = true;
            }
        }
        // At least one container still runs: Running when the pod is Ready, else NotReady.
        if reason == "Completed" && has_running {
            reason = if is_ready(pod) { "Running" } else { "NotReady" }.into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        if st.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            return "Unknown".into();
        }
        if !matches!(phase, "Succeeded" | "Failed") {
            return "Terminating".into();
        }
    }
    reason
}

fn statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
}

/// `(ready, total)` containers, as the READY column shows them.
pub fn ready_counts(pod: &Pod) -> (usize, usize) {
    let total = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    (statuses(pod).iter().filter(|c| c.ready).count(), total)
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Restarts of all containers, init containers included (kubectl's RESTARTS).
pub fn restarts(pod: &Pod) -> i64 {
    let st = pod.status.as_ref();
    st.and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .chain(
            st.and_then(|s| s.init_container_statuses.as_deref())
                .unwrap_or_default(),
        )
        .map(|c| i64::from(c.restart_count))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value, init: usize) -> Pod {
        let init_containers: Vec<_> = (0..init)
            .map(|i| json!({"name": format!("init{i}")}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app"}], "initContainers": init_containers},
            "status": status,
        }))
        .unwrap()
    }

    fn waiting(name: &str, reason: &str, restarts: i32) -> serde_json::Value {
        json!({"name": name, "image": "x", "imageID": "", "ready": false, "restartCount": restarts,
               "state": {"waiting": {"reason": reason}}})
    }

    #[test]
    fn statuses_read_like_kubectl_get_pods() {
        let running = json!({"name": "app", "image": "x", "imageID": "x", "ready": true, "restartCount": 0,
                             "state": {"running": {}}});
        let cases = [
            (
                pod(
                    json!({"phase": "Running", "containerStatuses": [running]}),
                    0,
                ),
                "Running",
            ),
            (
                pod(
                    json!({"phase": "Pending", "containerStatuses": [waiting("app", "ImagePullBackOff", 0)]}),
                    0,
                ),
                "ImagePullBackOff",
            ),
            (
                pod(
                    json!({"phase": "Running", "containerStatuses": [waiting("app", "CrashLoopBackOff", 7)]}),
                    0,
                ),
                "CrashLoopBackOff",
            ),
            (
                pod(
                    json!({"phase": "Pending",
                    "initContainerStatuses": [waiting("init0", "CrashLoopBackOff", 19)],
                    "containerStatuses": [waiting("app", "PodInitializing", 0)]}),
                    1,
                ),
                "Init:CrashLoopBackOff",
            ),
            (
                pod(
                    json!({"phase": "Pending",
                    "initContainerStatuses": [{"name": "init0", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}],
                    "containerStatuses": [waiting("app", "PodInitializing", 0)]}),
                    1,
                ),
                "Init:0/1",
            ),
            (
                pod(
                    json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "image": "x", "imageID": "x", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                    0,
                ),
                "Completed",
            ),
            (pod(json!({"phase": "Pending"}), 0), "Pending"),
            (
                pod(json!({"phase": "Failed", "reason": "Evicted"}), 0),
                "Evicted",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(status(&p), want);
        }
        // Deleted but still running: Terminating; deleted after it finished: its phase stays.
        let mut deleting = pod(json!({"phase": "Running"}), 0);
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-27T10:00:00Z".parse().unwrap(),
            ));
        assert_eq!(status(&deleting), "Terminating");
        deleting.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert_eq!(status(&deleting), "Succeeded");
        // One container exited, another still runs, the pod is not Ready: NotReady.
        let two = serde_json::from_value::<Pod>(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "a", "image": "x", "imageID": "x", "ready": true, "restartCount": 0, "state": {"running": {}}},
                    {"name": "b", "image": "x", "imageID": "x", "ready": false, "restartCount": 0,
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        }))
        .unwrap();
        assert_eq!(status(&two), "NotReady");
    }

    #[test]
    fn restarts_and_readiness() {
        let p = pod(
            json!({"phase": "Pending",
                "initContainerStatuses": [waiting("init0", "CrashLoopBackOff", 19)],
                "containerStatuses": [waiting("app", "PodInitializing", 0)],
                "conditions": [{"type": "Ready", "status": "False"}]}),
            1,
        );
        assert_eq!(restarts(&p), 19);
        assert!(!is_ready(&p));
        assert_eq!(ready_counts(&p), (0, 1));
    }
}
