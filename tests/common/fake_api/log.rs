//! `pods/log`: `GET /api/v1/namespaces/{ns}/pods/{name}/log` with `container`, `previous`,
//! `tailLines` and `limitBytes`; the text is scripted with [`super::FakeApi::set_log`].
//!
//! As a v1.36 cluster answers (`pkg/registry/core/pod/rest/log.go` `LogREST.Get`):
//! - after the authorization filter (`get` on `pods/log`), the options are decoded (a number
//!   that is not one: 400) and validated (`ValidatePodLogOptions` in
//!   `pkg/apis/core/validation/validation.go`: negative `tailLines`, `limitBytes` below 1: 422
//!   `PodLogOptions "x" is invalid`);
//! - `pod.LogLocation` (`pkg/registry/core/pod/strategy.go`): the pod (404), `validateContainer`
//!   (400 `container c is not valid for pod x`; no `container` in a pod with several: 400 `a
//!   container name must be specified for pod x, choose one of: [init a b]`, init containers
//!   first), then a pod without `spec.nodeName` has no location: `StreamObject` answers 204 No
//!   Content (`endpoints/handlers/responsewriters/writers.go`); a missing Node is 404;
//! - the kubelet (`pkg/kubelet/server/server.go` getContainerLogs) picks the container instance
//!   from the pod status (`validateContainerLogStatus` in `pkg/kubelet/kubelet_pods.go`) and
//!   refuses with a plain-text 400 that the API server's `GenericHttpResponseChecker`
//!   (`apiserver/pkg/registry/generic/rest/response_checker.go`) turns into a 400 BadRequest
//!   Status with that text: `previous terminated container "c" in pod "x" not found`,
//!   `container "c" in pod "x" is waiting to start: ContainerCreating`, ... A waiting container
//!   with a terminated last state (CrashLoopBackOff) serves the log of that last instance,
//!   which is the `previous` one;
//! - the body is the log as `text/plain` (`LogREST` sets the content type), cut to the last
//!   `tailLines` lines, then to `limitBytes` bytes (`cri-client/pkg/logs/logs.go` ReadLogs).
//!
//! Fake limitations: `follow`, `timestamps`, `sinceSeconds` and `sinceTime` are refused with a
//! 400 naming the fake; a container without a scripted log has an empty one.

use super::Inner;
use super::exec::{STATUS_LISTS, check_node, pod_and_container};
use super::server::{Answer, FieldError, Reply, Req, bad_request, invalid};
use super::store::text;
use serde_json::Value;

/// `GET /api/v1/namespaces/{ns}/pods/{name}/log`.
pub(super) fn logs(inner: &Inner, req: &Req, ns: &str, name: &str) -> Answer {
    let number = |p: &str| {
        let Some(v) = req.param(p) else {
            return Ok(None);
        };
        let bad = |e| bad_request(&format!("strconv.ParseInt: parsing {v:?}: {e}"));
        v.parse::<i64>().map(Some).map_err(bad)
    };
    let (tail, limit) = (number("tailLines")?, number("limitBytes")?);
    let mut errs: Vec<FieldError> = Vec::new();
    if let Some(t) = tail.filter(|t| *t < 0) {
        let text = format!("Invalid value: {t}: must be greater than or equal to 0");
        errs.push(("tailLines", "FieldValueInvalid", text));
    }
    if let Some(l) = limit.filter(|l| *l < 1) {
        let text = format!("Invalid value: {l}: must be greater than 0");
        errs.push(("limitBytes", "FieldValueInvalid", text));
    }
    if !errs.is_empty() {
        return Err(invalid(("", "PodLogOptions"), name, &errs));
    }
    let refused = ["follow", "timestamps", "sinceSeconds", "sinceTime"];
    if let Some(p) = refused.iter().find(|p| req.param(p).is_some()) {
        let message = format!("fake API: {p} is not implemented by this fake");
        return Err(bad_request(&message));
    }
    let container = req.param("container").unwrap_or("");
    let (pod, container) = pod_and_container(inner, ns, name, container)?;
    let node = text(&pod, "/spec/nodeName");
    if node.is_empty() {
        return Ok(Reply::bytes(204, "", Vec::new()));
    }
    check_node(inner, node)?;
    if inner.log_hang {
        return Ok(Reply::bytes(0, "", Vec::new()));
    }
    let previous = instance(&pod, name, &container, req.flag("previous"));
    let previous = previous.map_err(|e| bad_request(&e))?;
    let key = (ns.to_string(), name.to_string(), container, previous);
    let log = inner.logs.get(&key).map_or("", String::as_str);
    let lines: Vec<&str> = log.split_inclusive('\n').collect();
    let keep = tail.map_or(lines.len(), |t| lines.len().min(t as usize));
    let mut body = lines[lines.len() - keep..].concat().into_bytes();
    body.truncate(limit.map_or(usize::MAX, |l| l as usize));
    Ok(Reply::bytes(200, "text/plain", body))
}

/// `validateContainerLogStatus`: whether the log to serve is the previous instance's, or why
/// there is none.
fn instance(pod: &Value, name: &str, container: &str, previous: bool) -> Result<bool, String> {
    let who = format!("container {container:?} in pod {name:?}");
    let lists = STATUS_LISTS
        .split(' ')
        .filter_map(|l| pod["status"][l].as_array());
    let mut statuses = lists.flat_map(|l| l.iter().find(|c| c["name"] == container));
    let Some(cs) = statuses.next() else {
        return Err(format!("{who} is not available"));
    };
    let has_id = |state: &Value| !text(state, "/containerID").is_empty();
    let (state, last) = (&cs["state"], &cs["lastState"]["terminated"]);
    let why = match text(state, "/waiting/reason") {
        "ErrImagePull" => "image can't be pulled",
        "ImagePullBackOff" => "trying and failing to pull image",
        reason => reason,
    };
    match () {
        _ if previous && has_id(last) => Ok(true),
        _ if previous => Err(format!("previous terminated {who} not found")),
        _ if state["running"].is_object() => Ok(false),
        // A terminated state without a container ID: the next instance did not start.
        _ if has_id(&state["terminated"]) => Ok(false),
        _ if state["terminated"].is_object() || last.is_object() => match has_id(last) {
            true => Ok(true),
            false => Err(format!("{who} is terminated")),
        },
        _ if state["waiting"].is_object() => Err(format!("{who} is waiting to start: {why}")),
        _ => Err(format!("{who} is waiting to start - no logs yet")),
    }
}
