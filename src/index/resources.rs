//! What a pod asks of its node, counted the way the scheduler counts it.

use crate::quantity::Quantity;
use crate::snapshot::{ContainerCore, PodCore, PodSpecCore, Resources};

/// Whether a figure is a request or a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Request,
    Limit,
}

/// One resource of a pod (memory in bytes, cpu in millicores, anything else in units), as
/// the scheduler counts it (component-helpers `PodRequests`): pod-level `spec.resources` when
/// set; else the larger of (regular containers + restartable "sidecar" init containers) and,
/// for each init container, itself plus the sidecars started before it; plus the
/// runtime-class overhead.
pub fn pod_resource(spec: &PodSpecCore, resource: &str, bound: Bound) -> i128 {
    let of = |r: Option<&Resources>| -> Option<i128> {
        let map = match bound {
            Bound::Limit => r.and_then(|r| r.limits.as_ref()),
            // A limit without a request defaults the request to the limit.
            Bound::Request => r
                .and_then(|r| r.requests.as_ref().filter(|m| m.contains_key(resource)))
                .or_else(|| r.and_then(|r| r.limits.as_ref())),
        };
        map.and_then(|m| m.get(resource))
            .and_then(|q| amount(resource, q))
    };
    let total = match of(spec.resources.as_ref()) {
        Some(pod_level) => pod_level,
        None => containers_total(spec, |c| of(c.resources.as_ref()).unwrap_or(0)),
    };
    total + overhead(spec, resource)
}

/// A quantity of `resource` in the scheduler's unit: millicores for cpu, else whole units.
pub fn amount(
    resource: &str,
    q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Option<i128> {
    Quantity::parse(&q.0).ok().map(|q| {
        if resource == "cpu" {
            q.ceil_millis()
        } else {
            q.ceil_units()
        }
    })
}

/// The runtime class's overhead for `resource` (`spec.overhead`), 0 without one.
pub fn overhead(spec: &PodSpecCore, resource: &str) -> i128 {
    spec.overhead
        .as_ref()
        .and_then(|o| o.get(resource))
        .and_then(|q| amount(resource, q))
        .unwrap_or(0)
}

/// `PodRequests`' aggregation of the containers' figures (`get`): the larger of (regular
/// containers + restartable "sidecar" init containers) and, for each init container, itself
/// plus the sidecars started before it.
pub fn containers_total(spec: &PodSpecCore, get: impl Fn(&ContainerCore) -> i128) -> i128 {
    let regular: i128 = spec.containers.iter().map(&get).sum();
    let (mut sidecars, mut init_peak) = (0i128, 0i128);
    for c in spec.init_containers.iter().flatten() {
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars += get(c);
            init_peak = init_peak.max(sidecars);
        } else {
            init_peak = init_peak.max(get(c) + sidecars);
        }
    }
    (regular + sidecars).max(init_peak)
}

/// A pod's memory (requests, limits) in bytes.
pub fn pod_memory(p: &PodCore) -> (i128, i128) {
    p.spec.as_ref().map_or((0, 0), |s| {
        (
            pod_resource(s, "memory", Bound::Request),
            pod_resource(s, "memory", Bound::Limit),
        )
    })
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn memory_is_counted_like_the_scheduler() {
        let pod = |spec: serde_json::Value| -> PodCore {
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
