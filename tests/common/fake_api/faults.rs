//! Faults a test can switch on: a server that hangs (`server::handle`; `pods/log` alone in
//! `log`), one status for every request, and metrics.k8s.io missing or unavailable.

use super::MetricsMode;
use super::server::{Reply, not_found_handler};
use serde_json::json;

/// How the real server words each code: code, reason (`-`: none), message.
const STATUSES: [&str; 6] = [
    "401 Unauthorized Unauthorized",
    "429 TooManyRequests Too many requests, please try again later.",
    "500 InternalError Internal error occurred: fake failure",
    "502 - an error on the server (\"\") has prevented the request from succeeding",
    "503 ServiceUnavailable the server is currently unable to handle the request",
    "504 Timeout Timeout: request did not complete within requested timeout - context deadline exceeded",
];

/// The answer to every request in "status for all" mode.
pub(super) fn status_for_code(code: u16) -> Reply {
    let known = STATUSES.iter().find(|s| s.starts_with(&code.to_string()));
    let known = known.map_or("0 - fake failure", |s| s);
    let mut words = known.splitn(3, ' ').skip(1);
    let reason = words.next().filter(|r| *r != "-").unwrap_or("");
    let message = words.next().unwrap_or("");
    let details = (code == 429).then(|| json!({"retryAfterSeconds": 1}));
    let mut reply = Reply::status(code, reason, message, details);
    if code == 429 {
        reply.headers.push(("Retry-After", "1"));
    }
    reply
}

/// metrics.k8s.io as the aggregator serves it (`kube-aggregator/pkg/apiserver/handler_proxy.go`,
/// after authorization; `None`: served): without an APIService the group does not exist (the
/// NotFoundHandler's 404, no details); with one whose backend is down, everything below
/// `/apis/metrics.k8s.io/v1beta1` is a **503 with the plain-text body `service unavailable`**
/// (not a JSON Status: the "the server is currently unable to handle the request (get
/// nodes.metrics.k8s.io)" text people know is made by client-go from the bare 503).
pub(super) fn metrics_gate(mode: MetricsMode) -> Option<Reply> {
    match mode {
        MetricsMode::Served => None,
        MetricsMode::NotFound => Some(not_found_handler(false)),
        MetricsMode::Unavailable => {
            // As Go's `http.Error` writes it.
            let mut reply = Reply::plain(503, "service unavailable\n");
            reply.headers.push(("X-Content-Type-Options", "nosniff"));
            Some(reply)
        }
    }
}
