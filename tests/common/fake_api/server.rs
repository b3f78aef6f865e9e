//! HTTP plumbing: the request log, routing, and `Status` bodies as the real server writes them.

use super::store::{RESOURCES, ResDef, find_def, key_for, with_type};
use super::{Inner, RecordedRequest, Shared, discovery, exec, faults, list, log, patch, rbac};
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One parsed request.
pub(super) struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub user: String,
    /// A valid WebSocket handshake the server can take over (`pods/exec` only).
    pub websocket: bool,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean query parameter as `Convert_Slice_string_To_bool` reads it: absent is false,
    /// "0" and "false" (any case) are false, anything else (even an empty value) is true.
    pub fn flag(&self, name: &str) -> bool {
        self.param(name)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response. Code 0 means "never answer" (a kubelet that hangs).
pub(super) struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// Switch protocols (101) and play this exec session instead of sending `body`.
    pub session: Option<exec::Session>,
}

impl Reply {
    pub fn bytes(code: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            code,
            content_type,
            body,
            headers: Vec::new(),
            session: None,
        }
    }

    /// JSON as the server's encoder writes it (with a final newline).
    pub fn json(code: u16, value: &Value) -> Reply {
        let mut body = serde_json::to_vec(value).expect("serialize");
        body.push(b'\n');
        Reply::bytes(code, "application/json", body)
    }

    /// Plain text as Go's `http.Error` writes it (a final newline, `nosniff`).
    pub fn text(code: u16, text: &str) -> Reply {
        Reply::bytes(
            code,
            "text/plain; charset=utf-8",
            format!("{text}\n").into_bytes(),
        )
        .with_header("X-Content-Type-Options", "nosniff")
    }

    /// Plain text as an `http.ResponseWriter` gets it (no final newline).
    pub fn plain(code: u16, text: &str) -> Reply {
        Reply::bytes(code, "text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    /// A `Status` failure; `details` `None` leaves the field out.
    pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
        Reply::json(code, &status_value(code, reason, message, details))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

pub(super) fn status_value(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("Status"));
    m.insert("apiVersion".into(), json!("v1"));
    m.insert("metadata".into(), json!({}));
    m.insert("status".into(), json!("Failure"));
    if !message.is_empty() {
        m.insert("message".into(), json!(message));
    }
    if !reason.is_empty() {
        m.insert("reason".into(), json!(reason));
    }
    if let Some(d) = details {
        m.insert("details".into(), d);
    }
    m.insert("code".into(), json!(code));
    Value::Object(m)
}

/// `details` naming an object of `def`.
pub(super) fn details(name: &str, def: &ResDef) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !def.group.is_empty() {
        d.insert("group".into(), json!(def.group));
    }
    d.insert("kind".into(), json!(def.plural));
    Value::Object(d)
}

pub(super) fn not_found(def: &ResDef, name: &str) -> Reply {
    let message = format!("{} \"{name}\" not found", def.group_resource());
    Reply::status(404, "NotFound", &message, Some(details(name, def)))
}

/// The NotFoundHandler at the end of the delegation chain (unknown group/version/path,
/// `apiserver/pkg/util/notfoundhandler`): no details.
pub(super) fn not_found_handler() -> Reply {
    Reply::status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        None,
    )
}

/// go-restful's 404 for an unknown route inside a served group/version
/// (`NewGenericServerResponse`, so with empty details).
fn route_not_found() -> Reply {
    let message = "the server could not find the requested resource";
    Reply::status(404, "NotFound", message, Some(json!({})))
}

pub(super) fn bad_request(message: &str) -> Reply {
    Reply::status(400, "BadRequest", message, None)
}

/// What a real server does but this fake does not (and ttdoctor does not need).
pub(super) fn not_implemented(what: &str) -> Reply {
    let message =
        format!("fake API: {what} is not implemented by this fake (ttdoctor does not use it)");
    Reply::status(405, "MethodNotAllowed", &message, Some(json!({})))
}

/// A field error of a `422 Invalid`: the field, the cause's reason, and its text.
pub(super) type FieldError = (String, &'static str, String);

/// `NewInvalid(groupKind, name, errs)`.
pub(super) fn invalid(
    group_kind: &str,
    group: &str,
    kind: &str,
    name: &str,
    errs: &[FieldError],
) -> Reply {
    let bodies: Vec<String> = errs.iter().map(|(f, _, b)| format!("{f}: {b}")).collect();
    let message = match bodies.as_slice() {
        [] => format!("{group_kind} \"{name}\" is invalid"),
        [one] => format!("{group_kind} \"{name}\" is invalid: {one}"),
        _ => format!(
            "{group_kind} \"{name}\" is invalid: [{}]",
            bodies.join(", ")
        ),
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|(f, r, b)| json!({"reason": r, "message": b, "field": f}))
        .collect();
    let mut d = Map::new();
    for (k, v) in [("name", name), ("group", group), ("kind", kind)] {
        if !v.is_empty() {
            d.insert(k.into(), json!(v));
        }
    }
    d.insert("causes".into(), Value::Array(causes));
    Reply::status(422, "Invalid", &message, Some(Value::Object(d)))
}

/// How field errors print a value (`%q` for strings, numbers as is).
pub(super) fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    // Only `pods/exec` takes connections over; elsewhere an upgrade request is a plain request.
    let ws_upgrade = if parts.uri.path().trim_end_matches('/').ends_with("/exec") {
        WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .ok()
    } else {
        None
    };
    let body = axum::body::to_bytes(body, 256 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (index, hang, user) = {
        let mut inner = shared.lock();
        inner.requests.push(RecordedRequest {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: raw_query.clone(),
            content_type: header("content-type"),
            accept: header("accept"),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: 0,
        });
        let user = match header("authorization") {
            Some(a) if a.to_ascii_lowercase().starts_with("bearer ") => inner.user.clone(),
            _ => "system:anonymous".to_string(),
        };
        (inner.requests.len() - 1, inner.hang, user)
    };
    if hang {
        std::future::pending::<()>().await;
    }
    let req = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_query(&raw_query),
        headers: parts.headers,
        body,
        user,
        websocket: ws_upgrade.is_some(),
    };
    let mut reply = {
        let mut inner = shared.lock();
        let reply = serve(&mut inner, &req);
        if reply.code != 0 {
            if let Some(r) = inner.requests.get_mut(index) {
                r.status = reply.code;
            }
            inner.run_hooks(&req.method, &req.path);
        }
        reply
    };
    if reply.code == 0 {
        std::future::pending::<()>().await;
    }
    let audit_id = format!("00000000-0000-4000-8000-{index:012x}");
    if let (Some(session), Some(mut ws)) = (reply.session.take(), ws_upgrade) {
        ws.set_selected_protocol(HeaderValue::from_static(session.protocol));
        let mut response = ws.on_upgrade(move |socket| exec::play(socket, session.frames));
        let headers = response.headers_mut();
        headers.insert(
            "Cache-Control",
            HeaderValue::from_static("no-cache, private"),
        );
        headers.insert(
            "Audit-Id",
            HeaderValue::from_str(&audit_id).expect("audit id"),
        );
        return response;
    }
    let mut builder = Response::builder()
        .status(reply.code)
        .header("Cache-Control", "no-cache, private")
        .header("Audit-Id", audit_id);
    if !reply.content_type.is_empty() {
        builder = builder.header("Content-Type", reply.content_type);
    }
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Body::from(reply.body)).expect("response")
}

/// What a resource path addresses.
struct Target<'a> {
    group: &'a str,
    version: &'a str,
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_target(path: &str) -> Option<Target<'_>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return None,
    };
    // `/api/v1/namespaces/x` is the Namespace x itself.
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..]
            if !tail.is_empty() && !matches!(tail, ["status" | "finalize"]) =>
        {
            (Some(*ns), tail)
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(Target {
        group,
        version,
        namespace,
        plural,
        name,
        sub,
    })
}

fn serve(inner: &mut Inner, req: &Req) -> Reply {
    if let Some(code) = inner.status_for_all {
        return faults::status_for_code(code);
    }
    if let Some(reply) = discovery::serve(inner, req) {
        return reply;
    }
    let Some(t) = parse_target(&req.path) else {
        return not_found_handler();
    };
    let ns = t.namespace.unwrap_or("");
    if let ("", "v1", "pods", Some(name), Some("exec")) =
        (t.group, t.version, t.plural, t.name, t.sub)
    {
        return exec::exec(inner, req, ns, name);
    }
    // The authorization filter runs before anything knows whether the resource exists.
    let verb = rbac::verb(&req.method, t.name.is_some());
    // A Namespace is authorized in itself.
    let authz_ns = match (t.group, t.plural, t.namespace) {
        ("", "namespaces", None) => t.name.unwrap_or(""),
        _ => ns,
    };
    let resource = match t.sub {
        Some(sub) => format!("{}/{sub}", t.plural),
        None => t.plural.to_string(),
    };
    if inner.is_forbidden(verb, t.group, &resource, authz_ns) {
        return rbac::forbidden(&req.user, verb, t.group, t.plural, t.sub, authz_ns, t.name);
    }
    if t.group == "metrics.k8s.io"
        && let Some(reply) = faults::metrics_gate(inner.metrics)
    {
        return reply;
    }
    if (t.group, t.version, t.plural, &t.namespace, t.name)
        == (
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            &None,
            None,
        )
    {
        return match req.method.as_str() {
            "POST" => rbac::self_subject_access_review(inner, req),
            _ => not_implemented(&format!("{} on selfsubjectaccessreviews", req.method)),
        };
    }
    let Some(ri) = find_def(t.group, t.version, t.plural) else {
        let served = RESOURCES
            .iter()
            .any(|r| r.group == t.group && r.version == t.version);
        return if served {
            route_not_found()
        } else {
            not_found_handler()
        };
    };
    let def = &RESOURCES[ri];
    // A namespaced resource by name without a namespace, or a cluster-scoped one under
    // /namespaces/: no such route.
    if def.namespaced() != t.namespace.is_some() && !(def.namespaced() && t.name.is_none()) {
        return route_not_found();
    }
    let reply = match (req.method.as_str(), t.name, t.sub) {
        ("GET", None, _) => list::list(inner, req, ri, t.namespace),
        ("GET", Some(name), None) => match inner.store.current(ri, &key_for(ri, ns, name)) {
            Some(obj) => Reply::json(
                200,
                &with_type(ri, serde_json::from_slice(obj).expect("stored JSON")),
            ),
            None => not_found(def, name),
        },
        ("GET", Some(name), Some("log")) if def.kind == "Pod" => log::logs(inner, req, ns, name),
        (_, Some(_), Some(_)) => route_not_found(),
        ("PATCH", Some(name), None) if !def.metrics() => patch::patch(inner, req, ri, ns, name),
        (method, _, _) => not_implemented(&format!("{method} on {}", def.group_resource())),
    };
    if def.kind == "Endpoints" {
        // Real servers since v1.33 warn on every use of v1 Endpoints.
        reply.with_header(
            "Warning",
            "299 - \"v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\"",
        )
    } else {
        reply
    }
}

/// Decodes `a=b&c=d` (percent-encoding and `+`).
pub(super) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
