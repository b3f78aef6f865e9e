//! What a pod asks of its node, counted the way the scheduler counts it.

use crate::quantity::Quantity;
use k8s_openapi::api::core::v1::Pod;

/// A pod's effective memory (requests, limits) in bytes, as the scheduler counts them
/// (component-helpers `PodRequests`): pod-level `spec.resources` when set; else the larger of
/// (regular containers + restartable "sidecar" init containers) and, for each init container,
/// itself plus the sidecars started before it; plus the runtime-class overhead.
pub fn pod_memory(p: &Pod) -> (i128, i128) {
    use k8s_openapi::api::core::v1::ResourceRequirements;
    let Some(spec) = p.spec.as_ref() else {
        return (0, 0);
    };
    let mem = |r: Option<&ResourceRequirements>, limits: bool| -> Option<i128> {
        let map = if limits {
            r.and_then(|r| r.limits.as_ref())
        } else {
            // A limit without a request defaults the request to the limit.
            r.and_then(|r| r.requests.as_ref().filter(|m| m.contains_key("memory")))
                .or_else(|| r.and_then(|r| r.limits.as_ref()))
        };
        map.and_then(|m| m.get("memory"))
            .and_then(|q| Quantity::parse(&q.0).ok())
            .map(Quantity::ceil_units)
    };
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get("memory"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, Quantity::ceil_units);
    let one = |limits: bool| {
        if let Some(pod_level) = mem(spec.resources.as_ref(), limits) {
            return pod_level + overhead;
        }
        let get = |c: &k8s_openapi::api::core::v1::Container| {
            mem(c.resources.as_ref(), limits).unwrap_or(0)
        };
        let regular: i128 = spec.containers.iter().map(get).sum();
        let (mut sidecars, mut init_peak) = (0i128, 0i128);
        for c in spec.init_containers.iter().flatten() {
            if c.restart_policy.as_deref() == Some("Always") {
                sidecars += get(c);
                init_peak = init_peak.max(sidecars);
            } else {
                init_peak = init_peak.max(get(c) + sidecars);
            }
        }
        (regular + sidecars).max(init_peak) + overhead
    };
    (one(false), one(true))
}

#[cfg(test)]
mod memory_tests {
    use super::pod_memory;

    #[test]
    fn memory_is_counted_like_the_scheduler() {
        let pod = |spec: serde_json::Value| {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": spec}))
                .unwrap()
        };
        let c = |name: &str, req: &str| serde_json::json!({"name": name, "resources": {"requests": {"memory": req}, "limits": {"memory": req}}});
        // The MySQL pods: init-mysql without resources, mysql 256Mi + xenon 128Mi.
        let mysql = pod(
            serde_json::json!({"initContainers": [{"name": "init-mysql"}], "containers": [c("mysql", "256Mi"), c("xenon", "128Mi")]}),
        );
        assert_eq!(pod_memory(&mysql).0, 384 << 20);
        // A big one-shot init container dominates; a limit alone sets the request.
        let init = pod(
            serde_json::json!({"initContainers": [c("migrate", "1Gi")], "containers": [{"name": "app", "resources": {"limits": {"memory": "300Mi"}}}]}),
        );
        assert_eq!(pod_memory(&init), (1 << 30, 1 << 30));
        // A sidecar runs beside everything after it.
        let mut sidecar = c("proxy", "100Mi");
        sidecar["restartPolicy"] = "Always".into();
        let with_sidecar = pod(
            serde_json::json!({"initContainers": [sidecar, c("init", "200Mi")], "containers": [c("app", "300Mi")]}),
        );
        assert_eq!(pod_memory(&with_sidecar).0, 400 << 20);
        // Pod-level resources win; overhead is added.
        let pod_level = pod(
            serde_json::json!({"resources": {"requests": {"memory": "2Gi"}}, "overhead": {"memory": "64Mi"}, "containers": [c("app", "300Mi")]}),
        );
        assert_eq!(pod_memory(&pod_level).0, (2 << 30) + (64 << 20));
    }
}
