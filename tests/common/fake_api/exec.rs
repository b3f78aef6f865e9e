//! `pods/exec` over WebSocket.
//!
//! A real v1.36 cluster serves `pods/exec` in two ways, and the fake follows both:
//!
//! - WebSocket offering `v5.channel.k8s.io` (kube-rs offers v5 then v4; so does kubectl): the
//!   API server's stream translator (`staging/src/k8s.io/apiserver/pkg/util/proxy/
//!   streamtranslator.go`, `websocket.go`, feature TranslateStreamCloseWebsocketRequests, on by
//!   default since 1.30) takes the WebSocket over itself (101, protocol v5) and only then calls
//!   the kubelet over SPDY. So whatever the kubelet refuses (a container that is not running)
//!   arrives *in-band*, as an `InternalError` Status on channel 3, and a non-zero exit is
//!   re-worded by client-go's v4 error decoder (`client-go/tools/remotecommand/v4.go`):
//!   "command terminated with non-zero exit code: command terminated with exit code N".
//! - Anything else is proxied (`UpgradeAwareHandler`) to the kubelet (`pkg/kubelet/server/
//!   server.go` getExec) and on to the container runtime's streaming server (containerd's
//!   copy of `k8s.io/kubelet/pkg/cri/streaming/remotecommand`, protocol v4): a kubelet refusal is
//!   the kubelet's plain-text answer with its own code (500 `container not found ("c")`), and a
//!   non-zero exit is the runtime's wording (`ServeExec` around containerd's `CodeExitError`):
//!   "command terminated with non-zero exit code: error executing command [a b], exit code N".
//!
//! Before either, as real (`ConnectResource`, `ExecREST.Connect`, `pod.ExecLocation`): the
//! authorization filter with the verb of the method (`get` for the WebSocket GET, `create` for
//! POST) on `pods/exec`; since 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, on by default)
//! a second check for `create` (`pkg/registry/core/pod/rest/authorize.go`), whose 403 is
//! `NewForbidden(pods, name, errors.New(reason))` with the authorizer's reason, which RBAC leaves
//! empty: `pods "x" is forbidden: ` (nothing after the colon); then the pod (404), the container
//! (400 `container c is not valid for pod x`, or the "a container name must be specified" ones),
//! `spec.nodeName` (400 `pod x does not have a host assigned`) and the Node (404). The phase of
//! the pod is not checked by the API server; the kubelet only execs in a *running* container, and
//! the fake takes that from `status.*ContainerStatuses[].state.running`.
//!
//! Frames are binary, first byte the channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize).
//! The server first sends an empty message on the lowest output channel (stdout, else stderr,
//! else status), then the output, then on channel 3 the `metav1.Status` as Go's `json.Marshal`
//! writes it (`{"metadata":{},"status":"Success"}`), then a WebSocket close frame.
//!
//! Fake limitations: the command does not read stdin (frames on channels 0 and 4, and the v5
//! close signal on 255, are read and dropped), its whole output is known before it starts, and
//! stdout is sent before stderr; SPDY (`Upgrade: SPDY/3.1`, what old kubectl POSTs) and the
//! pre-v4 WebSocket protocols (`channel.k8s.io`, `base64.channel.k8s.io`,
//! `v4.base64.channel.k8s.io`, or none) answer 400 with a message naming the fake; the kubelet is
//! never unreachable.

use super::server::{Reply, Req, bad_request, details, not_found};
use super::store::{RESOURCES, find_def};
use super::{ExecReply, ExecRequest, Inner, rbac};
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use serde_json::{Value, json};
use std::time::Duration;

const STREAM_V5: &str = "v5.channel.k8s.io";
const STREAM_V4: &str = "v4.channel.k8s.io";

/// A `pods/exec` session to play over the upgraded connection.
pub(super) struct Session {
    /// The subprotocol echoed in `Sec-WebSocket-Protocol`.
    pub protocol: &'static str,
    /// Binary messages, channel byte first; the last one is the Status on channel 3.
    pub frames: Vec<Vec<u8>>,
}

/// `PodExecOptions` as the API server decodes them from the query.
struct Options {
    stdin: bool,
    stdout: bool,
    /// The kubelet drops stderr with a TTY (`remotecommand.NewOptions`): it goes to stdout.
    stderr: bool,
    tty: bool,
}

/// The pod `ns/name` and the container a request is for (`pod.ExecLocation`,
/// `pod.LogLocation`): the pod (404), then `validateContainer` of
/// `pkg/registry/core/pod/strategy.go`.
pub(super) fn pod_and_container(
    inner: &Inner,
    ns: &str,
    name: &str,
    container: &str,
) -> Result<(Value, String), Reply> {
    let pods = find_def("", "v1", "pods").expect("pods");
    let pod = inner.store.value(pods, &format!("{ns}/{name}"));
    let pod = pod.ok_or_else(|| not_found(&RESOURCES[pods], name))?;
    let names = |list: &str| -> Vec<String> {
        let items = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array);
        let names = items
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name")?.as_str());
        names.map(str::to_string).collect()
    };
    let containers = names("containers");
    // podutil.VisitContainers order: init containers, containers, ephemeral containers.
    let all = [
        names("initContainers"),
        containers.clone(),
        names("ephemeralContainers"),
    ]
    .concat();
    let container = match (container, &containers[..]) {
        ("", [only]) => only.clone(),
        ("", []) => {
            return Err(bad_request(&format!(
                "a container name must be specified for pod {name}"
            )));
        }
        ("", _) => {
            let message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                all.join(" ")
            );
            return Err(bad_request(&message));
        }
        (c, _) if all.iter().any(|a| a == c) => c.to_string(),
        (c, _) => {
            return Err(bad_request(&format!(
                "container {c} is not valid for pod {name}"
            )));
        }
    };
    Ok((pod, container))
}

/// The node the pod runs on must exist (`GetConnectionInfo`: 404 otherwise).
pub(super) fn check_node(inner: &Inner, node: &str) -> Result<(), Reply> {
    let nodes = find_def("", "v1", "nodes").expect("nodes");
    match inner.store.current(nodes, node) {
        Some(_) => Ok(()),
        None => Err(not_found(&RESOURCES[nodes], node)),
    }
}

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec`.
pub(super) fn exec(inner: &mut Inner, req: &Req, ns: &str, name: &str) -> Reply {
    match try_exec(inner, req, ns, name) {
        Ok(reply) | Err(reply) => reply,
    }
}

/// `Err`: refused before a session starts.
fn try_exec(inner: &mut Inner, req: &Req, ns: &str, name: &str) -> Result<Reply, Reply> {
    // The authorization filter: the verb of the method, on the subresource.
    let verb = rbac::verb(&req.method, true);
    if inner.is_forbidden(verb, "", "pods/exec", ns) {
        return Err(rbac::forbidden(
            req.user,
            verb,
            "",
            "pods/exec",
            ns,
            Some(name),
        ));
    }
    if req.method != "GET" && req.method != "POST" {
        let message = "the server does not allow this method on the requested resource";
        return Err(Reply::status(
            405,
            "MethodNotAllowed",
            message,
            Some(json!({})),
        ));
    }
    // ExecREST.Connect: `create` is required whatever the method (since 1.35).
    if verb != "create" && inner.is_forbidden("create", "", "pods/exec", ns) {
        let message = format!("pods \"{name}\" is forbidden: ");
        return Err(Reply::status(
            403,
            "Forbidden",
            &message,
            Some(details(name, "", "pods")),
        ));
    }
    let opts = Options {
        stdin: req.flag("stdin"),
        stdout: req.flag("stdout"),
        stderr: req.flag("stderr") && !req.flag("tty"),
        tty: req.flag("tty"),
    };
    let (pod, container) =
        pod_and_container(inner, ns, name, req.param("container").unwrap_or(""))?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(bad_request(&format!(
            "pod {name} does not have a host assigned"
        )));
    }
    check_node(inner, node)?;
    // `httpstream.IsUpgradeRequest`: a `Connection` header naming `upgrade`.
    let connection = req
        .headers
        .get_all("connection")
        .into_iter()
        .filter_map(|v| v.to_str().ok());
    let upgrade = connection
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = upgrade
        && req
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    // `Sec-WebSocket-Protocol` as the API server reads it (`Header.Get`: the first header only).
    let offered: Vec<&str> = req
        .header("sec-websocket-protocol")
        .map_or(vec![], |v| v.split(',').map(str::trim).collect());
    // What the kubelet answers instead of starting the command (`getExec`: `NewOptions`, then
    // `GetExec`, whose error `streaming.WriteError` sends as plain text, 500 for a plain error).
    let refusal = if !opts.stdin && !opts.stdout && !opts.stderr {
        Some((
            400,
            "you must specify at least 1 of stdin, stdout, stderr".to_string(),
        ))
    } else if !running(&pod, &container) {
        Some((500, format!("container not found ({container:?})")))
    } else {
        None
    };
    let command: Vec<String> = req
        .params("command")
        .into_iter()
        .map(str::to_string)
        .collect();
    let exec = ExecRequest {
        namespace: ns.into(),
        pod: name.into(),
        container,
        command: command.clone(),
    };
    if websocket && offered.contains(&STREAM_V5) {
        // The stream translator: upgrade first, then the kubelet over SPDY.
        if !req.websocket {
            return Err(handshake_refusal(req));
        }
        if let Some((_, text)) = refusal {
            let status = internal_error(&format!("unable to upgrade connection: {text}"));
            return Ok(session(STREAM_V5, frames(&opts, None, &status)));
        }
        let out = run(inner, exec);
        let code = out.exit_code;
        let message = format!(
            "command terminated with non-zero exit code: command terminated with exit code {code}"
        );
        return Ok(session(
            STREAM_V5,
            frames(&opts, Some(&out), &exit_status(code, &message)),
        ));
    }
    // The UpgradeAwareHandler, proxying to the kubelet.
    if !upgrade {
        return Err(bad_request("Upgrade request required"));
    }
    if let Some((code, text)) = refusal {
        return Err(Reply::plain(code, &text));
    }
    if !websocket {
        return Err(bad_request(
            "fake API: only WebSocket exec (v5.channel.k8s.io, v4.channel.k8s.io) is implemented, not SPDY",
        ));
    }
    if !req.websocket {
        return Err(handshake_refusal(req));
    }
    if !offered.contains(&STREAM_V4) {
        const OTHERS: [&str; 4] = [
            "",
            "channel.k8s.io",
            "base64.channel.k8s.io",
            "v4.base64.channel.k8s.io",
        ];
        if offered.is_empty() || offered.iter().any(|p| OTHERS.contains(p)) {
            return Err(bad_request(&format!(
                "fake API: exec subprotocols {offered:?} are not implemented, only v5.channel.k8s.io and v4.channel.k8s.io"
            )));
        }
        // x/net/websocket: a failed subprotocol negotiation is a bare 403.
        return Err(Reply::plain(403, ""));
    }
    let out = run(inner, exec);
    let (code, command) = (out.exit_code, command.join(" "));
    let message = format!(
        "command terminated with non-zero exit code: error executing command [{command}], exit code {code}"
    );
    Ok(session(
        STREAM_V4,
        frames(&opts, Some(&out), &exit_status(code, &message)),
    ))
}

/// Whether the pod status shows the container running (what the kubelet's runtime has).
fn running(pod: &Value, container: &str) -> bool {
    let lists = [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ];
    let statuses = lists
        .iter()
        .filter_map(|l| pod.pointer(&format!("/status/{l}"))?.as_array());
    statuses.flatten().any(|cs| {
        cs.get("name").and_then(Value::as_str) == Some(container)
            && cs.pointer("/state/running").is_some()
    })
}

/// Runs the command: the test's handler (with the store), logged in `execs`.
fn run(inner: &mut Inner, exec: ExecRequest) -> ExecReply {
    let out = match inner.exec_handler.clone() {
        Some(handler) => handler(&exec, &mut inner.store),
        None => ExecReply::default(),
    };
    inner.execs.push(exec);
    out
}

/// A string as Go's `json.Marshal` writes it (it escapes `<`, `>`, `&`, U+2028 and U+2029).
fn go_json(s: &str) -> String {
    let escapes = [
        ('<', "\\u003c"),
        ('>', "\\u003e"),
        ('&', "\\u0026"),
        ('\u{2028}', "\\u2028"),
        ('\u{2029}', "\\u2029"),
    ];
    let json = serde_json::to_string(s).expect("string");
    escapes.iter().fold(json, |s, (c, e)| s.replace(*c, e))
}

/// The Status of a command that ran: `{"metadata":{},"status":"Success"}`, or the
/// NonZeroExitCode failure with `message`.
fn exit_status(exit_code: i32, message: &str) -> String {
    if exit_code == 0 {
        return r#"{"metadata":{},"status":"Success"}"#.to_string();
    }
    format!(
        r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{exit_code}"}}]}}}}"#,
        go_json(message)
    )
}

/// `apierrors.NewInternalError(err)` as JSON.
fn internal_error(err: &str) -> String {
    format!(
        r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"InternalError","details":{{"causes":[{{"message":{}}}]}},"code":500}}"#,
        go_json(&format!("Internal error occurred: {err}")),
        go_json(err)
    )
}

fn frames(opts: &Options, output: Option<&ExecReply>, status: &str) -> Vec<Vec<u8>> {
    let first = if opts.stdout {
        1
    } else if opts.stderr {
        2
    } else {
        3
    };
    let mut frames = vec![vec![first]];
    let mut push = |channel: u8, data: &str| {
        // io.Copy's 32 KiB buffer.
        for chunk in data.as_bytes().chunks(32 * 1024) {
            frames.push([&[channel], chunk].concat());
        }
    };
    match output {
        // One terminal for both; its line discipline (ONLCR) turns "\n" into "\r\n".
        Some(out) if opts.tty && opts.stdout => push(
            1,
            &format!("{}{}", out.stdout, out.stderr).replace('\n', "\r\n"),
        ),
        Some(out) if !opts.tty => {
            if opts.stdout {
                push(1, &out.stdout);
            }
            if opts.stderr {
                push(2, &out.stderr);
            }
        }
        _ => {}
    }
    push(3, status);
    frames
}

/// The 101 that switches to the session.
fn session(protocol: &'static str, frames: Vec<Vec<u8>>) -> Reply {
    let mut reply = Reply::bytes(101, "", Vec::new());
    reply.session = Some(Session { protocol, frames });
    reply
}

/// `golang.org/x/net/websocket`'s refusal of an upgrade request that is not a valid handshake.
fn handshake_refusal(req: &Req) -> Reply {
    match (req.method.as_str(), req.header("sec-websocket-key")) {
        ("GET", None) => Reply::plain(400, "mismatch challenge/response"),
        ("GET", Some(_)) => Reply::plain(400, ""),
        _ => Reply::plain(405, "bad method"),
    }
}

/// Plays an exec session, then ends it as the API server does: a close frame, then waiting
/// (bounded) for the client to close; whatever the client still sends is dropped.
pub(super) async fn play(mut socket: WebSocket, frames: Vec<Vec<u8>>) {
    for frame in frames {
        if socket.send(Message::Binary(frame.into())).await.is_err() {
            return;
        }
    }
    let close = CloseFrame {
        code: close_code::NORMAL,
        reason: "".into(),
    };
    if socket.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
}
