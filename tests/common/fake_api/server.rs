//! HTTP plumbing: the request log, routing, and `Status` bodies as the real server writes them.

use super::store::{
    METRICS, NS, RESOURCES, REVIEW, ResDef, find_def, key_for, qualified, with_type,
};
use super::{Inner, RecordedRequest, Shared, USER};
use super::{discovery, exec, faults, list, log, patch, rbac};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue as V, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// One parsed request.
pub(super) struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub user: &'static str,
    /// A valid WebSocket handshake the server can take over (`pods/exec` only).
    pub websocket: bool,
}

impl Req {
    pub fn params(&self, name: &str) -> Vec<&str> {
        let values = self.query.iter().filter(|(k, _)| k == name);
        values.map(|(_, v)| v.as_str()).collect()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params(name).first().copied()
    }

    /// A boolean parameter as `Convert_Slice_string_To_bool` reads it: absent is false, "0"
    /// and "false" (any case) are false, anything else (even an empty value) is true.
    pub fn flag(&self, name: &str) -> bool {
        let no = |v: &str| v == "0" || v.eq_ignore_ascii_case("false");
        self.param(name).is_some_and(|v| !no(v))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a handler answers; `Err` is a refusal, for `?`.
pub(super) type Answer = Result<Reply, Reply>;

/// A response. Code 0 means "never answer" (a kubelet that hangs).
pub(super) struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, &'static str)>,
    /// Switch protocols (101) and play this exec session instead of sending `body`.
    pub session: Option<exec::Session>,
}

impl Reply {
    pub fn bytes(code: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        let (headers, session) = (Vec::new(), None);
        Reply {
            code,
            content_type,
            body,
            headers,
            session,
        }
    }

    /// JSON as the server's encoder writes it (with a final newline).
    pub fn json(code: u16, value: &Value) -> Reply {
        let mut body = serde_json::to_vec(value).expect("serialize");
        body.push(b'\n');
        Reply::bytes(code, "application/json", body)
    }

    /// Plain text as an `http.ResponseWriter` gets it (no final newline).
    pub fn plain(code: u16, text: &str) -> Reply {
        Reply::bytes(code, "text/plain; charset=utf-8", text.into())
    }

    /// A `Status` failure; `details` `None` leaves the field out.
    pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
        Reply::json(code, &status(code, reason, message, details))
    }
}

/// A failure `Status` as the server writes it (empty message and reason left out).
pub(super) fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"});
    for (k, v) in [("message", message), ("reason", reason)] {
        if !v.is_empty() {
            s[k] = json!(v);
        }
    }
    if let Some(d) = details {
        s["details"] = d;
    }
    s["code"] = json!(code);
    s
}

/// `details` naming an object (`kind` is the resource, as the server fills it).
pub(super) fn details(name: &str, group: &str, resource: &str) -> Value {
    let fields = [("name", name), ("group", group), ("kind", resource)];
    let fields = fields.into_iter().filter(|(_, v)| !v.is_empty());
    Value::Object(fields.map(|(k, v)| (k.to_string(), json!(v))).collect())
}

pub(super) fn not_found(def: &ResDef, name: &str) -> Reply {
    let message = format!("{} \"{name}\" not found", def.group_resource());
    let details = details(name, def.group(), def.plural());
    Reply::status(404, "NotFound", &message, Some(details))
}

/// The NotFoundHandler at the end of the delegation chain (unknown group/version/path,
/// `apiserver/pkg/util/notfoundhandler`): no details. go-restful's 404 for an unknown route in
/// a served group/version (`NewGenericServerResponse`, `route`) has empty details.
pub(super) fn not_found_handler(route: bool) -> Reply {
    let message = "the server could not find the requested resource";
    Reply::status(404, "NotFound", message, route.then(|| json!({})))
}

pub(super) fn bad_request(message: &str) -> Reply {
    Reply::status(400, "BadRequest", message, None)
}

/// What a real server does but this fake does not (and ttdoctor does not need).
pub(super) fn not_implemented(what: &str) -> Reply {
    let message = format!("fake API: {what} is not implemented by this fake");
    Reply::status(405, "MethodNotAllowed", &message, Some(json!({})))
}

/// A field error: the field, the cause's reason, its text.
pub(super) type FieldError = (&'static str, &'static str, String);

/// `NewInvalid(kind, name, errs)`.
pub(super) fn invalid(group_kind: (&str, &str), name: &str, errs: &[FieldError]) -> Reply {
    let (group, kind) = group_kind;
    let text = |(f, _, t): &FieldError| format!("{f}: {t}");
    let texts = match errs {
        [one] => text(one),
        all => format!("[{}]", all.iter().map(text).collect::<Vec<_>>().join(", ")),
    };
    let message = format!("{} \"{name}\" is invalid: {texts}", qualified(kind, group));
    let cause = |(f, r, t): &FieldError| json!({"reason": r, "message": t, "field": f});
    let mut details = details(name, group, kind);
    details["causes"] = errs.iter().map(cause).collect();
    Reply::status(422, "Invalid", &message, Some(details))
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    // Only `pods/exec` takes connections over; elsewhere an upgrade request is a plain request.
    let mut ws = None;
    if parts.uri.path().trim_end_matches('/').ends_with("/exec") {
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
        ws = upgrade.ok();
    }
    let body = axum::body::to_bytes(body, 256 << 20).await;
    let body = body.unwrap_or_default();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bearer = parts.headers.get(header::AUTHORIZATION).map(V::as_bytes);
    let bearer = bearer.is_some_and(|a| a.to_ascii_lowercase().starts_with(b"bearer "));
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_string());
    let req = Req {
        method: method.clone(),
        path: path.clone(),
        query: parse_query(&query),
        headers: parts.headers,
        body: body.to_vec(),
        user: if bearer { USER } else { "system:anonymous" },
        websocket: ws.is_some(),
    };
    let (index, mut reply) = {
        let mut inner = shared.lock();
        let status = 0;
        inner.requests.push(RecordedRequest {
            method,
            path,
            query,
            status,
        });
        let index = inner.requests.len() - 1;
        let reply = match inner.hang {
            true => Reply::bytes(0, "", Vec::new()),
            false => serve(&mut inner, &req),
        };
        if reply.code != 0 {
            if let Some(r) = inner.requests.get_mut(index) {
                r.status = reply.code;
            }
            inner.run_hooks(&req.method, &req.path);
        }
        (index, reply)
    };
    if reply.code == 0 {
        std::future::pending::<()>().await;
    }
    let mut response = match (reply.session.take(), ws) {
        (Some(session), Some(mut ws)) => {
            ws.set_selected_protocol(V::from_static(session.protocol));
            ws.on_upgrade(move |socket| exec::play(socket, session.frames))
        }
        _ => Response::new(reply.body.into()),
    };
    *response.status_mut() = StatusCode::from_u16(reply.code).expect("a status code");
    let h = response.headers_mut();
    if !reply.content_type.is_empty() {
        h.insert(header::CONTENT_TYPE, V::from_static(reply.content_type));
    }
    h.insert(header::CACHE_CONTROL, V::from_static("no-cache, private"));
    let audit_id = format!("00000000-0000-4000-8000-{index:012x}");
    h.insert("audit-id", V::from_str(&audit_id).expect("audit id"));
    for (name, value) in reply.headers {
        h.append(name, V::from_static(value));
    }
    response
}

fn serve(inner: &mut Inner, req: &Req) -> Reply {
    if let Some(code) = inner.status_for_all {
        return faults::status_for_code(code);
    }
    if let Some(reply) = discovery::serve(inner, req) {
        return reply;
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs[..] {
        ["api", version, ref rest @ ..] => ("", version, rest),
        ["apis", group, version, ref rest @ ..] => (group, version, rest),
        _ => return not_found_handler(false),
    };
    // `/api/v1/namespaces/x` is the Namespace x itself.
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(*ns), tail),
        _ => (None, rest),
    };
    let (plural, name, sub) = match *rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name), None),
        [plural, name, sub] => (plural, Some(name), Some(sub)),
        _ => return not_found_handler(false),
    };
    let ns = namespace.unwrap_or("");
    if let ("", "pods", Some(name), Some("exec")) = (group, plural, name, sub) {
        return exec::exec(inner, req, ns, name).unwrap_or_else(|r| r);
    }
    // The authorization filter runs before anything knows whether the resource exists; a
    // Namespace is authorized in itself.
    let verb = rbac::verb(&req.method, name.is_some());
    let authz_ns = match (group, plural, namespace) {
        ("", "namespaces", None) => name.unwrap_or(""),
        _ => ns,
    };
    let resource = sub.map_or(plural.to_string(), |s| format!("{plural}/{s}"));
    if inner.is_forbidden(verb, group, &resource, authz_ns) {
        return rbac::forbidden(req, verb, (group, &resource), authz_ns, name.unwrap_or(""));
    }
    if group == "metrics.k8s.io"
        && let Some(refusal) = faults::metrics_gate(inner.metrics)
    {
        return refusal;
    }
    let Some(ri) = find_def(group, version, plural) else {
        let served = |r: &ResDef| (r.group(), r.version()) == (group, version);
        return not_found_handler(RESOURCES.iter().any(served));
    };
    let def = &RESOURCES[ri];
    // A namespaced resource by name without a namespace, or a cluster-scoped one under
    // /namespaces/: no such route.
    if def.is(NS) != namespace.is_some() && !(def.is(NS) && name.is_none()) {
        return not_found_handler(true);
    }
    match (req.method.as_str(), name, sub) {
        ("POST", None, None) if def.is(REVIEW) => rbac::self_subject_access_review(inner, req),
        (method, _, _) if def.is(REVIEW) => not_implemented(&format!("{method} on {plural}")),
        ("GET", None, _) => list::list(inner, req, ri, namespace),
        ("GET", Some(name), None) => match inner.store.value(ri, &key_for(ri, ns, name)) {
            Some(obj) => Reply::json(200, &with_type(ri, obj)),
            None => not_found(def, name),
        },
        ("GET", Some(name), Some("log")) if def.kind() == "Pod" => {
            log::logs(inner, req, ns, name).unwrap_or_else(|r| r)
        }
        (_, Some(_), Some(_)) => not_found_handler(true),
        ("PATCH", Some(name), None) if !def.is(METRICS) => {
            patch::patch(inner, req, ri, ns, name).unwrap_or_else(|r| r)
        }
        (method, _, _) => not_implemented(&format!("{method} on {}", def.group_resource())),
    }
}

/// Decodes `a=b&c=d` (percent-encoding and `+`).
pub(super) fn parse_query(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let mut parts = s.split('%');
        let mut out = parts.next().unwrap_or("").as_bytes().to_vec();
        for part in parts {
            match part.get(..2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) => out.extend([byte].iter().chain(&part.as_bytes()[2..])),
                None => out.extend(b"%".iter().chain(part.as_bytes())),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let pairs = q.split('&').filter(|p| !p.is_empty());
    let pairs = pairs.map(|p| p.split_once('=').unwrap_or((p, "")));
    pairs.map(|(k, v)| (decode(k), decode(v))).collect()
}
