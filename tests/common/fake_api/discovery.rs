//! Legacy discovery (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`). ttdoctor needs
//! none, but kubectl reads it before a `get` (benchmarks compare with `kubectl get pods -A`) and
//! it lists `pods/exec`. The documents have the real shapes (the core `APIResourceList` without
//! `apiVersion`) and list what this fake serves, with the verbs it serves. Aggregated discovery
//! is not served: clients asking for it get the legacy documents as `application/json` and fall
//! back, as they do with older servers.

use super::server::{Reply, Req, not_found_handler, not_implemented};
use super::store::{METRICS, NS, RESOURCES};
use super::{Inner, MetricsMode, faults};
use serde_json::{Value, json};

pub(super) fn serve(inner: &Inner, req: &Req) -> Option<Reply> {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let served = |gv: &str| {
        gv == "authorization.k8s.io/v1"
            || RESOURCES
                .iter()
                .any(|r| r.api_version() == gv && r.api_version() != "v1")
                && (inner.metrics != MetricsMode::NotFound || !gv.starts_with("metrics."))
    };
    let doc = match segs[..] {
        ["api"] => json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
            [{"clientCIDR": "0.0.0.0/0", "serverAddress": req.header("host").unwrap_or("")}]}),
        ["api", "v1"] => resource_list("v1"),
        ["apis"] => {
            let mut gvs: Vec<&str> = RESOURCES.iter().map(|r| r.api_version()).collect();
            gvs.push("authorization.k8s.io/v1");
            gvs.dedup();
            let group = |gv: &str| {
                let version = json!({"groupVersion": gv, "version": gv.split('/').nth(1)});
                json!({"name": gv.split('/').next(), "versions": [version], "preferredVersion": version})
            };
            let groups: Vec<Value> = gvs.into_iter().filter(|gv| served(gv)).map(group).collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        ["apis", "metrics.k8s.io", "v1beta1"] if faults::metrics_gate(inner.metrics).is_some() => {
            return faults::metrics_gate(inner.metrics);
        }
        ["apis", group, version] => match format!("{group}/{version}") {
            gv if served(&gv) => resource_list(&gv),
            _ => return Some(not_found_handler(false)),
        },
        _ => return None,
    };
    Some(match req.method.as_str() {
        "GET" => Reply::json(200, &doc),
        other => not_implemented(&format!("{other} on discovery")),
    })
}

fn resource_list(gv: &str) -> Value {
    let entry = |name: &str, singular: &str, namespaced: bool, kind: &str, verbs: &[&str]| json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": verbs});
    let mut resources = Vec::new();
    if gv == "authorization.k8s.io/v1" {
        let ssar = "selfsubjectaccessreview";
        resources.push(entry(
            "selfsubjectaccessreviews",
            ssar,
            false,
            "SelfSubjectAccessReview",
            &["create"],
        ));
    }
    for def in RESOURCES.iter().filter(|d| d.api_version() == gv) {
        let (singular, verbs) = match def.is(METRICS) {
            true => (String::new(), &["get", "list"][..]),
            false => (def.kind().to_lowercase(), &["get", "list", "patch"][..]),
        };
        resources.push(entry(
            def.plural(),
            &singular,
            def.is(NS),
            def.kind(),
            verbs,
        ));
        if def.kind() == "Pod" {
            resources.push(entry(
                "pods/exec",
                "",
                true,
                "PodExecOptions",
                &["create", "get"],
            ));
            resources.push(entry("pods/log", "", true, "Pod", &["get"]));
        }
    }
    let mut list = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources});
    if gv != "v1" {
        list["apiVersion"] = json!("v1");
    }
    list
}
