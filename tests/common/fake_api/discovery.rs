//! Legacy discovery (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`). ttdoctor needs
//! none, but kubectl reads it before a `get` (benchmarks compare with `kubectl get pods -A -o
//! json`), and `/api/v1` lists `pods/exec` and `pods/log`. The documents have the real shapes
//! (`APIVersions`, `APIGroupList`, `APIResourceList`, the core one without `apiVersion`) and
//! list what this fake serves, with the verbs it serves. Clients asking for aggregated discovery
//! get them as `application/json` and fall back, as with older servers.

use super::server::{Reply, Req, not_found_handler, not_implemented};
use super::store::{METRICS, NS, RESOURCES, REVIEW, ResDef};
use super::{Inner, MetricsMode, faults};
use serde_json::{Value, json};

pub(super) fn serve(inner: &Inner, req: &Req) -> Option<Reply> {
    // The aggregator lists metrics.k8s.io whenever its APIService exists.
    let hidden = |gv: &&str| gv.starts_with("metrics.") && inner.metrics == MetricsMode::NotFound;
    let mut groups: Vec<&str> = RESOURCES.iter().map(ResDef::api_version).collect();
    groups.retain(|gv| gv.contains('/') && !hidden(gv));
    groups.dedup();
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let doc = match segs[..] {
        ["api"] => json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
            [{"clientCIDR": "0.0.0.0/0", "serverAddress": req.header("host").unwrap_or("")}]}),
        ["apis"] => {
            let group = |gv: &&str| {
                let version = json!({"groupVersion": gv, "version": gv.split('/').nth(1)});
                json!({"name": gv.split('/').next(), "versions": [version], "preferredVersion": version})
            };
            let groups: Vec<Value> = groups.iter().map(group).collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        ["api", "v1"] => resources("v1"),
        ["apis", "metrics.k8s.io", "v1beta1"] if faults::metrics_gate(inner.metrics).is_some() => {
            return faults::metrics_gate(inner.metrics);
        }
        ["apis", group, version] => match format!("{group}/{version}") {
            gv if groups.contains(&gv.as_str()) => resources(&gv),
            _ => return Some(not_found_handler(false)),
        },
        _ => return None,
    };
    Some(match req.method.as_str() {
        "GET" => Reply::json(200, &doc),
        other => not_implemented(&format!("{other} on discovery")),
    })
}

/// The `APIResourceList` of a group version.
fn resources(gv: &str) -> Value {
    let entry = |name: &str, singular: String, namespaced, kind: &str, verbs: &[&str]| {
        json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
               "verbs": verbs})
    };
    let mut resources = Vec::new();
    for def in RESOURCES.iter().filter(|d| d.api_version() == gv) {
        let verbs = match () {
            _ if def.is(METRICS) => &["get", "list"][..],
            _ if def.is(REVIEW) => &["create"],
            _ => &["get", "list", "patch"],
        };
        let singular = if def.is(METRICS) {
            String::new()
        } else {
            def.kind().to_lowercase()
        };
        resources.push(entry(def.plural(), singular, def.is(NS), def.kind(), verbs));
        if def.kind() == "Pod" {
            let (exec, verbs) = ("PodExecOptions", ["create", "get"]);
            resources.push(entry("pods/exec", String::new(), true, exec, &verbs));
            resources.push(entry("pods/log", String::new(), true, "Pod", &["get"]));
        }
    }
    let mut list = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources});
    if gv != "v1" {
        list["apiVersion"] = json!("v1");
    }
    list
}
