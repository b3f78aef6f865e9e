//! Legacy discovery (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`): ttdoctor needs
//! none, but kubectl reads it before a `get` (benchmarks compare with `kubectl get pods -A`),
//! and it lists `pods/exec`. The documents have the real shapes (`APIVersions`, `APIGroupList`,
//! `APIResourceList`; the core one without `apiVersion`) and list what this fake serves, with
//! the verbs it serves. Aggregated discovery is not served: clients asking for it get the
//! legacy documents as `application/json` and fall back, as they do with old servers.

use super::server::{Reply, Req, not_found_handler};
use super::store::RESOURCES;
use super::{Inner, MetricsMode, faults};
use serde_json::{Value, json};

pub(super) fn serve(inner: &Inner, req: &Req) -> Option<Reply> {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let reply = match segs.as_slice() {
        ["api"] => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": req.header("host").unwrap_or("")}],
        }),
        ["api", "v1"] => resource_list("", "v1"),
        ["apis"] => {
            let mut groups: Vec<(&str, &str)> =
                RESOURCES.iter().map(|r| (r.group, r.version)).collect();
            groups.push(("authorization.k8s.io", "v1"));
            groups.retain(|(g, _)| {
                !g.is_empty() && !(*g == "metrics.k8s.io" && inner.metrics == MetricsMode::NotFound)
            });
            groups.dedup();
            let groups: Vec<Value> = groups
                .iter()
                .map(|(g, v)| {
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv], "preferredVersion": gv})
                })
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        ["apis", "metrics.k8s.io", "v1beta1"] => match faults::metrics_gate(inner.metrics) {
            Some(refusal) => return Some(refusal),
            None => resource_list("metrics.k8s.io", "v1beta1"),
        },
        ["apis", "authorization.k8s.io", "v1"] => json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "authorization.k8s.io/v1",
            "resources": [{"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
                "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"]}],
        }),
        ["apis", group, version]
            if RESOURCES
                .iter()
                .any(|r| r.group == *group && r.version == *version) =>
        {
            resource_list(group, version)
        }
        ["apis", _, _] => return Some(not_found_handler()),
        _ => return None,
    };
    Some(match req.method.as_str() {
        "GET" => Reply::json(200, &reply),
        _ => super::server::not_implemented(&format!("{} on discovery", req.method)),
    })
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for def in RESOURCES
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let verbs = if def.metrics() {
            json!(["get", "list"])
        } else {
            json!(["get", "list", "patch"])
        };
        let singular = if def.metrics() {
            String::new()
        } else {
            def.kind.to_lowercase()
        };
        let entry = |name: String, singular: String, kind: &str, verbs: Value| json!({"name": name, "singularName": singular, "namespaced": def.namespaced(), "kind": kind, "verbs": verbs});
        resources.push(entry(def.plural.into(), singular, def.kind, verbs));
        if def.kind == "Pod" {
            resources.push(entry(
                "pods/exec".into(),
                String::new(),
                "PodExecOptions",
                json!(["create", "get"]),
            ));
            resources.push(entry(
                "pods/log".into(),
                String::new(),
                "Pod",
                json!(["get"]),
            ));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut list = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources});
    if !group.is_empty() {
        list["apiVersion"] = json!("v1");
    }
    list
}
