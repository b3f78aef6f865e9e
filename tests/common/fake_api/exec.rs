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
//! stdout is sent before stderr; SPDY (`Upgrade: SPDY/3.1`, what old kubectl POSTs), the other
//! WebSocket subprotocols and malformed handshakes answer 400 with a message naming the fake;
//! the kubelet is never unreachable.

use super::server::{Answer, Reply, Req, bad_request, details, not_found};
use super::store::{RESOURCES, find_def, text};
use super::{ExecReply, ExecRequest, Inner, rbac};
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use serde_json::{Value, json};
use std::time::Duration;

/// Where a pod's status lists its containers, in the kubelet's order of lookup.
pub(super) const STATUS_LISTS: &str =
    "containerStatuses initContainerStatuses ephemeralContainerStatuses";

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
pub(super) fn pod_and_container(inner: &Inner, ns: &str, name: &str, c: &str) -> Found {
    let pods = find_def("", "v1", "pods").expect("pods");
    let pod = inner.store.value(pods, &format!("{ns}/{name}"));
    let pod = pod.ok_or_else(|| not_found(&RESOURCES[pods], name))?;
    let names = |list: &str| -> Vec<String> {
        let items = pod["spec"][list].as_array().into_iter().flatten();
        items.map(|c| text(c, "/name").to_string()).collect()
    };
    let containers = names("containers");
    // podutil.VisitContainers order: init containers, containers, ephemeral containers.
    let (init, ephemeral) = (names("initContainers"), names("ephemeralContainers"));
    let all = [init, containers.clone(), ephemeral].concat();
    let message = match (c, &containers[..]) {
        ("", [only]) => return Ok((pod, only.clone())),
        ("", []) => format!("a container name must be specified for pod {name}"),
        ("", _) => {
            let all = all.join(" ");
            format!("a container name must be specified for pod {name}, choose one of: [{all}]")
        }
        (c, _) if all.iter().any(|a| a == c) => return Ok((pod, c.to_string())),
        (c, _) => format!("container {c} is not valid for pod {name}"),
    };
    Err(bad_request(&message))
}

/// A pod and a container of it, or the refusal.
type Found = Result<(Value, String), Reply>;

/// The node the pod runs on must exist (`GetConnectionInfo`: 404 otherwise).
pub(super) fn check_node(inner: &Inner, node: &str) -> Result<(), Reply> {
    let nodes = find_def("", "v1", "nodes").expect("nodes");
    match inner.store.current(nodes, node) {
        Some(_) => Ok(()),
        None => Err(not_found(&RESOURCES[nodes], node)),
    }
}

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec`; `Err`: refused before a session.
pub(super) fn exec(inner: &mut Inner, req: &Req, ns: &str, name: &str) -> Answer {
    // The authorization filter: the verb of the method, on the subresource.
    let verb = rbac::verb(&req.method, true);
    if inner.is_forbidden(verb, "", "pods/exec", ns) {
        let forbidden = rbac::forbidden(req, verb, ("", "pods/exec"), ns, name);
        return Err(forbidden);
    }
    if req.method != "GET" && req.method != "POST" {
        let message = "the server does not allow this method on the requested resource";
        let refusal = Reply::status(405, "MethodNotAllowed", message, Some(json!({})));
        return Err(refusal);
    }
    // ExecREST.Connect: `create` is required whatever the method (since 1.35).
    if verb != "create" && inner.is_forbidden("create", "", "pods/exec", ns) {
        let message = format!("pods \"{name}\" is forbidden: ");
        let details = Some(details(name, "", "pods"));
        return Err(Reply::status(403, "Forbidden", &message, details));
    }
    let tty = req.flag("tty");
    let (stdin, stdout, stderr) = (req.flag("stdin"), req.flag("stdout"), req.flag("stderr"));
    let opts = Options {
        stdin,
        stdout,
        stderr: stderr && !tty,
        tty,
    };
    let container = req.param("container").unwrap_or("");
    let (pod, container) = pod_and_container(inner, ns, name, container)?;
    let node = text(&pod, "/spec/nodeName");
    if node.is_empty() {
        let message = format!("pod {name} does not have a host assigned");
        return Err(bad_request(&message));
    }
    check_node(inner, node)?;
    // `httpstream.IsUpgradeRequest`: a `Connection` header naming `upgrade`.
    let is = |value: &str, token: &str| value.trim().eq_ignore_ascii_case(token);
    let connection = req.headers.get_all("connection").into_iter();
    let mut tokens = connection.flat_map(|v| v.to_str().unwrap_or("").split(','));
    let upgrade = tokens.any(|t| is(t, "upgrade"));
    let websocket = upgrade && is(req.header("upgrade").unwrap_or(""), "websocket");
    // `Sec-WebSocket-Protocol` as the API server reads it (`Header.Get`: the first header only).
    let offered = req.header("sec-websocket-protocol").map(|v| v.split(','));
    let offered: Vec<&str> = offered.into_iter().flatten().map(str::trim).collect();
    // What the kubelet answers instead of starting the command (`getExec`: `NewOptions`, then
    // `GetExec`, whose error `streaming.WriteError` sends as plain text, 500 for a plain error).
    let refusal = if !opts.stdin && !opts.stdout && !opts.stderr {
        let message = "you must specify at least 1 of stdin, stdout, stderr";
        Some((400, message.to_string()))
    } else if !running(&pod, &container) {
        Some((500, format!("container not found ({container:?})")))
    } else {
        None
    };
    let command = req.params("command").into_iter().map(String::from);
    let command: Vec<String> = command.collect();
    let (namespace, pod) = (ns.to_string(), name.to_string());
    let exec = ExecRequest {
        namespace,
        pod,
        container,
        command,
    };
    let joined = exec.command.join(" ");
    let fake =
        "fake API: only WebSocket exec (v5.channel.k8s.io, v4.channel.k8s.io) is implemented";
    if websocket && offered.contains(&STREAM_V5) {
        // The stream translator: upgrade first, then the kubelet over SPDY.
        if !req.websocket {
            return Err(bad_request(fake));
        }
        if let Some((_, text)) = refusal {
            let status = internal_error(&format!("unable to upgrade connection: {text}"));
            return Ok(session(STREAM_V5, frames(&opts, None, &status)));
        }
        let out = run(inner, exec);
        let code = out.exit_code;
        let why = format!("command terminated with exit code {code}");
        let status = exit_status(code, &format!("{NON_ZERO}: {why}"));
        return Ok(session(STREAM_V5, frames(&opts, Some(&out), &status)));
    }
    // The UpgradeAwareHandler, proxying to the kubelet.
    if !upgrade {
        return Err(bad_request("Upgrade request required"));
    }
    if let Some((code, text)) = refusal {
        return Err(Reply::plain(code, &text));
    }
    if !websocket || !req.websocket || !offered.contains(&STREAM_V4) {
        return Err(bad_request(fake));
    }
    let out = run(inner, exec);
    let code = out.exit_code;
    let why = format!("error executing command [{joined}], exit code {code}");
    let status = exit_status(code, &format!("{NON_ZERO}: {why}"));
    Ok(session(STREAM_V4, frames(&opts, Some(&out), &status)))
}

const NON_ZERO: &str = "command terminated with non-zero exit code";

/// Whether the pod status shows the container running (what the kubelet's runtime has).
fn running(pod: &Value, container: &str) -> bool {
    let lists = STATUS_LISTS
        .split(' ')
        .filter_map(|l| pod["status"][l].as_array());
    let mut statuses = lists.flatten().filter(|cs| cs["name"] == container);
    statuses.any(|cs| cs["state"]["running"].is_object())
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
    let json = serde_json::to_string(s).expect("string");
    let escaped = |c: char| match c {
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", c as u32),
        c => c.to_string(),
    };
    json.chars().map(escaped).collect()
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
    // The first message is empty, on the lowest output channel.
    let first = [opts.stdout, opts.stderr].iter().position(|open| *open);
    let mut frames = vec![vec![first.unwrap_or(2) as u8 + 1]];
    let mut push = |channel: u8, data: &str| {
        // io.Copy's 32 KiB buffer.
        for chunk in data.as_bytes().chunks(32 * 1024) {
            frames.push([&[channel], chunk].concat());
        }
    };
    match output {
        // One terminal for both; its line discipline (ONLCR) turns "\n" into "\r\n".
        Some(out) if opts.tty && opts.stdout => {
            let terminal = format!("{}{}", out.stdout, out.stderr);
            push(1, &terminal.replace('\n', "\r\n"));
        }
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

/// Plays an exec session, then ends it as the API server does: a close frame, then waiting
/// (bounded) for the client to close; whatever the client still sends is dropped.
pub(super) async fn play(mut socket: WebSocket, frames: Vec<Vec<u8>>) {
    for frame in frames {
        if socket.send(Message::Binary(frame.into())).await.is_err() {
            return;
        }
    }
    let (code, reason) = (close_code::NORMAL, "".into());
    let close = Message::Close(Some(CloseFrame { code, reason }));
    if socket.send(close).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
}
