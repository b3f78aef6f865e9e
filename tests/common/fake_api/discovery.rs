//! Legacy discovery of the core group (`/api`, `/api/v1`). ttdoctor needs none; kubectl reads
//! them before `kubectl get pods` (benchmarks compare with `kubectl get pods -A -o json`; a 404
//! on `/apis` only leaves kubectl without the other groups), and `/api/v1` lists `pods/exec` and
//! `pods/log`. The documents have the real shapes (`APIVersions`; `APIResourceList` without
//! `apiVersion`) and list what this fake serves, with the verbs it serves. Clients asking for
//! aggregated discovery get them as `application/json` and fall back, as with older servers.

use super::server::{Reply, Req, not_implemented};
use super::store::{NS, RESOURCES};
use serde_json::json;

pub(super) fn serve(req: &Req) -> Option<Reply> {
    let entry = |name: &str, singular: String, namespaced, kind: &str, verbs: &[&str]| {
        json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
               "verbs": verbs})
    };
    let doc = match req.path.trim_end_matches('/') {
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
            [{"clientCIDR": "0.0.0.0/0", "serverAddress": req.header("host").unwrap_or("")}]}),
        "/api/v1" => {
            let mut resources = Vec::new();
            for def in RESOURCES.iter().filter(|d| d.api_version() == "v1") {
                let (plural, kind, singular) =
                    (def.plural(), def.kind(), def.kind().to_lowercase());
                let verbs = ["get", "list", "patch"];
                resources.push(entry(plural, singular, def.is(NS), kind, &verbs));
            }
            let verbs = ["create", "get"];
            resources.push(entry(
                "pods/exec",
                String::new(),
                true,
                "PodExecOptions",
                &verbs,
            ));
            resources.push(entry("pods/log", String::new(), true, "Pod", &["get"]));
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources})
        }
        _ => return None,
    };
    Some(match req.method.as_str() {
        "GET" => Reply::json(200, &doc),
        other => not_implemented(&format!("{other} on discovery")),
    })
}
