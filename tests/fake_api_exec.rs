//! `pods/exec` on the fake API server (tests/common/fake_api.rs), through kube-rs's
//! `Api::<Pod>::exec` (which offers `v5.channel.k8s.io` then `v4.channel.k8s.io`) and through a
//! raw WebSocket for the exact bytes and the v4 path.

mod common;

use common::fake_api::{ExecReply, ExecRequest, FakeApi};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const NS: &str = "train-ticket";
const POD: &str = "nacosdb-mysql-0";
const USER: &str = "system:serviceaccount:default:ttdoctor";

fn fake() -> FakeApi {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    FakeApi::from_snapshot_file(root.join("fixtures/mysql-no-leader.yaml"))
}

async fn pods(api: &FakeApi) -> Api<Pod> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&api.kubeconfig_yaml(NS))
        .expect("the fake's kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("the fake's kubeconfig is usable");
    config.default_retry = false;
    Api::namespaced(kube::Client::try_from(config).expect("client"), NS)
}

async fn read_all(reader: Option<impl AsyncRead + Unpin>) -> String {
    let mut out = String::new();
    if let Some(mut r) = reader {
        r.read_to_string(&mut out).await.expect("read output");
    }
    out
}

struct Ran {
    stdout: String,
    stderr: String,
    status: Option<Status>,
}

/// Execs `command` in `container` of `pod` (stdout and stderr attached) and waits for the end.
async fn exec(
    api: &FakeApi,
    pod: &str,
    container: Option<&str>,
    command: &[&str],
) -> Result<Ran, kube::Error> {
    let mut ap = AttachParams::default().stdout(true).stderr(true);
    if let Some(c) = container {
        ap = ap.container(c);
    }
    let mut attached = pods(api).await.exec(pod, command.to_vec(), &ap).await?;
    let status = attached.take_status().expect("a status future");
    let (stdout, stderr) = tokio::join!(read_all(attached.stdout()), read_all(attached.stderr()));
    let status = tokio::time::timeout(Duration::from_secs(10), status)
        .await
        .expect("the status arrives");
    attached.join().await.expect("the session ends cleanly");
    Ok(Ran {
        stdout,
        stderr,
        status,
    })
}

fn api_error(result: Result<Ran, kube::Error>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        Err(other) => panic!("expected kube::Error::Api, got {other:?}"),
        Ok(ran) => panic!(
            "expected an error, the exec ran: {:?} / {:?} / {:?}",
            ran.stdout, ran.stderr, ran.status
        ),
    }
}

fn causes(status: &Status) -> Vec<(Option<String>, Option<String>)> {
    status
        .details
        .as_ref()
        .and_then(|d| d.causes.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.reason, c.message))
        .collect()
}

#[tokio::test]
async fn exec_returns_the_scripted_output_and_a_success_status() {
    let api = fake();
    api.on_exec(|req, _store| {
        assert_eq!(req.command, ["mysql", "-e", "SELECT 1"]);
        ExecReply {
            stdout: "1\n1\n".into(),
            stderr: "mysql: [Warning] Using a password\n".into(),
            exit_code: 0,
        }
    });
    let ran = exec(&api, POD, Some("mysql"), &["mysql", "-e", "SELECT 1"])
        .await
        .expect("exec");
    assert_eq!(ran.stdout, "1\n1\n");
    assert_eq!(ran.stderr, "mysql: [Warning] Using a password\n");
    let status = ran.status.expect("a status");
    assert_eq!(status.status.as_deref(), Some("Success"));
    assert_eq!(status.reason, None);
    assert_eq!(status.message, None);
    assert_eq!(status.code, None);
}

#[tokio::test]
async fn without_a_handler_a_command_exits_0_with_no_output() {
    let api = fake();
    let ran = exec(&api, POD, Some("xenon"), &["true"])
        .await
        .expect("exec");
    assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("", ""));
    assert_eq!(
        ran.status.expect("a status").status.as_deref(),
        Some("Success")
    );
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failure_status_with_the_exit_code() {
    let api = fake();
    api.on_exec(|_, _| ExecReply::fail(1, "ERROR 2002 (HY000): Can't connect\n"));
    let ran = exec(
        &api,
        POD,
        Some("mysql"),
        &["sh", "-c", "mysql -e 'SELECT 1'"],
    )
    .await
    .expect("exec");
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr, "ERROR 2002 (HY000): Can't connect\n");
    let status = ran.status.expect("a status");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    // kube-rs negotiates v5, which the API server's stream translator serves: client-go's
    // decoder words the kubelet's exit error again.
    assert_eq!(
        status.message.as_deref(),
        Some("command terminated with non-zero exit code: command terminated with exit code 1")
    );
    assert_eq!(
        causes(&status),
        [(Some("ExitCode".to_string()), Some("1".to_string()))]
    );
    assert_eq!(status.code, None);
}

#[tokio::test]
async fn execs_are_logged_and_recorded_as_requests() {
    let api = fake();
    exec(
        &api,
        POD,
        Some("mysql"),
        &["mysql", "-e", "SHOW MASTER STATUS"],
    )
    .await
    .expect("exec");
    exec(&api, POD, Some("xenon"), &["xenoncli", "cluster", "status"])
        .await
        .expect("exec");
    assert_eq!(
        api.execs(),
        [
            ExecRequest {
                namespace: NS.into(),
                pod: POD.into(),
                container: "mysql".into(),
                command: vec!["mysql".into(), "-e".into(), "SHOW MASTER STATUS".into()],
            },
            ExecRequest {
                namespace: NS.into(),
                pod: POD.into(),
                container: "xenon".into(),
                command: vec!["xenoncli".into(), "cluster".into(), "status".into()],
            },
        ]
    );
    let path = format!("/api/v1/namespaces/{NS}/pods/{POD}/exec");
    let requests: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].status, 101);
    assert_eq!(requests[0].param("container").as_deref(), Some("mysql"));
    assert_eq!(requests[0].param("stdout").as_deref(), Some("true"));
    assert_eq!(requests[0].param("command").as_deref(), Some("mysql"));
    assert!(
        requests[0].query.contains("command=SHOW+MASTER+STATUS"),
        "{}",
        requests[0].query
    );
    assert_eq!(api.count("GET", &path), 2);
    assert_eq!(api.write_count(), 0, "a GET exec is not a write");
    api.reset_counts();
    assert!(api.execs().is_empty());
}

#[tokio::test]
async fn the_handler_may_change_the_store() {
    let api = fake();
    api.on_exec(|req, store| {
        store.mutate("", "v1", "pods", Some(&req.namespace), &req.pod, |pod| {
            pod["metadata"]["labels"]["role"] = "leader".into();
        });
        ExecReply::ok("")
    });
    exec(
        &api,
        POD,
        Some("xenon"),
        &["xenoncli", "raft", "trytoleader"],
    )
    .await
    .expect("exec");
    let pod = pods(&api).await.get(POD).await.expect("get pod");
    assert_eq!(
        pod.metadata.labels.unwrap_or_default().get("role"),
        Some(&"leader".to_string())
    );
}

#[tokio::test]
async fn a_missing_pod_is_404() {
    let api = fake();
    let status = api_error(exec(&api, "nacosdb-mysql-9", Some("mysql"), &["true"]).await);
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(status.message, "pods \"nacosdb-mysql-9\" not found");
    let details = status.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("nacosdb-mysql-9", "pods")
    );
    assert!(api.execs().is_empty());
}

#[tokio::test]
async fn an_unknown_container_is_400() {
    let api = fake();
    let status = api_error(exec(&api, POD, Some("mariadb"), &["true"]).await);
    assert_eq!(status.code, 400);
    assert_eq!(status.reason, "BadRequest");
    assert_eq!(
        status.message,
        "container mariadb is not valid for pod nacosdb-mysql-0"
    );
    assert!(api.execs().is_empty());
}

#[tokio::test]
async fn no_container_in_a_pod_with_several_is_400() {
    let api = fake();
    let status = api_error(exec(&api, POD, None, &["true"]).await);
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "a container name must be specified for pod nacosdb-mysql-0, choose one of: [init-mysql mysql xenon slowlog]"
    );
}

#[tokio::test]
async fn an_unscheduled_pod_is_400() {
    let api = fake();
    api.mutate("", "v1", "pods", Some(NS), POD, |pod| {
        pod["spec"].as_object_mut().unwrap().remove("nodeName");
    });
    let status = api_error(exec(&api, POD, Some("mysql"), &["true"]).await);
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "pod nacosdb-mysql-0 does not have a host assigned"
    );
}

#[tokio::test]
async fn forbidden_create_on_pods_exec_is_403() {
    let api = fake();
    api.forbid("create", "pods/exec", Some(NS));
    let status = api_error(exec(&api, POD, Some("mysql"), &["true"]).await);
    assert_eq!(status.code, 403);
    assert_eq!(status.reason, "Forbidden");
    // The WebSocket GET passes the filter as `get`; the `create` check of ExecREST.Connect
    // fails with RBAC's (empty) reason.
    assert_eq!(status.message, "pods \"nacosdb-mysql-0\" is forbidden: ");
    let details = status.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        (POD, "pods")
    );
    assert!(api.execs().is_empty());
}

#[tokio::test]
async fn forbidden_get_on_pods_exec_is_the_filters_403() {
    let api = fake();
    api.forbid("get", "pods/exec", Some(NS));
    let status = api_error(exec(&api, POD, Some("mysql"), &["true"]).await);
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        format!(
            "pods \"{POD}\" is forbidden: User \"{USER}\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"{NS}\""
        )
    );
    // Reading pods is another permission.
    api.clear_forbids();
    api.forbid_everywhere("get", "pods");
    exec(&api, POD, Some("mysql"), &["true"])
        .await
        .expect("pods/exec is not pods");
}

#[tokio::test]
async fn a_container_that_is_not_running_fails_in_band() {
    let api = fake();
    // init-mysql has terminated: the API server accepts it, the kubelet finds nothing running.
    let ran = exec(&api, POD, Some("init-mysql"), &["true"])
        .await
        .expect("the v5 upgrade succeeds");
    assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("", ""));
    let status = ran.status.expect("a status");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("InternalError"));
    assert_eq!(status.code, Some(500));
    assert_eq!(
        status.message.as_deref(),
        Some(
            "Internal error occurred: unable to upgrade connection: container not found (\"init-mysql\")"
        )
    );
    assert_eq!(
        causes(&status),
        [(
            None,
            Some("unable to upgrade connection: container not found (\"init-mysql\")".to_string())
        )]
    );
    assert!(api.execs().is_empty());
}

// ---- raw WebSocket ----

/// The accept value of the RFC 6455 example key that `UPGRADE` sends.
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct Handshake {
    status: u16,
    head: String,
    /// The body of a refusal, or the messages (opcode, payload) up to the close frame.
    body: Vec<u8>,
    messages: Vec<(u8, Vec<u8>)>,
}

impl Handshake {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A WebSocket upgrade of `GET target` offering `protocols` (header omitted when empty); on
/// 101 reads the server's messages up to its close frame.
async fn websocket(api: &FakeApi, target: &str, protocols: &str, extra: &[&str]) -> Handshake {
    let mut stream = tokio::net::TcpStream::connect(api.addr())
        .await
        .expect("connect");
    let mut req = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer fake-token\r\n",
        api.addr()
    );
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !protocols.is_empty() {
        req.push_str(&format!("Sec-WebSocket-Protocol: {protocols}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 head");
    let mut rest = buf[head_end + 4..].to_vec();
    let status: u16 = head.split(' ').nth(1).expect("code").parse().expect("code");
    let mut hs = Handshake {
        status,
        head,
        body: Vec::new(),
        messages: Vec::new(),
    };
    if status != 101 {
        let len: usize = hs
            .header("content-length")
            .map_or(0, |l| l.parse().expect("length"));
        while rest.len() < len {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        hs.body = rest;
        return hs;
    }
    // Server frames are not masked; each message here is one frame.
    let mut pos = 0;
    loop {
        let need = |rest: &Vec<u8>, n: usize| rest.len() < pos + n;
        let mut fill = async |rest: &mut Vec<u8>, n: usize| {
            while rest.len() < pos + n {
                let mut chunk = [0u8; 4096];
                let got = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
                    .await
                    .expect("a frame in time")
                    .expect("read");
                assert!(got > 0, "closed before the close frame");
                rest.extend_from_slice(&chunk[..got]);
            }
        };
        if need(&rest, 2) {
            fill(&mut rest, 2).await;
        }
        let (b0, b1) = (rest[pos], rest[pos + 1]);
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let mut header = 2;
        let mut len = (b1 & 0x7f) as usize;
        if len == 126 {
            fill(&mut rest, 4).await;
            len = u16::from_be_bytes([rest[pos + 2], rest[pos + 3]]) as usize;
            header = 4;
        } else if len == 127 {
            fill(&mut rest, 10).await;
            len = u64::from_be_bytes(rest[pos + 2..pos + 10].try_into().unwrap()) as usize;
            header = 10;
        }
        fill(&mut rest, header + len).await;
        assert_eq!(b0 & 0x80, 0x80, "one frame per message");
        let opcode = b0 & 0x0f;
        hs.messages
            .push((opcode, rest[pos + header..pos + header + len].to_vec()));
        pos += header + len;
        if opcode == 8 {
            return hs;
        }
    }
}

const UPGRADE: &[&str] = &[
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
];

fn exec_target(pod: &str, container: &str, command: &[&str]) -> String {
    let mut t = format!(
        "/api/v1/namespaces/{NS}/pods/{pod}/exec?stdout=true&stderr=true&container={container}"
    );
    for c in command {
        t.push_str("&command=");
        t.push_str(&c.replace('&', "%26").replace(' ', "+"));
    }
    t
}

#[tokio::test]
async fn raw_v5_frames() {
    let api = fake();
    api.on_exec(|_, _| ExecReply::ok("hello\n"));
    let hs = websocket(
        &api,
        &exec_target(POD, "mysql", &["echo", "hello"]),
        "v5.channel.k8s.io, v4.channel.k8s.io",
        UPGRADE,
    )
    .await;
    assert_eq!(hs.status, 101, "{}", hs.head);
    assert_eq!(
        hs.header("sec-websocket-protocol"),
        Some("v5.channel.k8s.io")
    );
    assert_eq!(hs.header("sec-websocket-accept"), Some(WS_ACCEPT));
    assert!(hs.header("audit-id").is_some());
    let binary: Vec<&[u8]> = hs
        .messages
        .iter()
        .filter(|(op, _)| *op == 2)
        .map(|(_, p)| p.as_slice())
        .collect();
    assert_eq!(
        binary,
        [
            b"\x01".as_slice(),
            b"\x01hello\n",
            b"\x03{\"metadata\":{},\"status\":\"Success\"}",
        ]
    );
    let (op, close) = hs.messages.last().expect("a close frame");
    assert_eq!(
        (*op, &close[..2]),
        (8, [0x03, 0xe8].as_slice()),
        "1000 normal"
    );
}

#[tokio::test]
async fn raw_v4_is_served_by_the_runtime_with_its_exit_message() {
    let api = fake();
    api.on_exec(|_, _| ExecReply {
        stdout: "out".into(),
        stderr: "a <b> & c".into(),
        exit_code: 3,
    });
    let hs = websocket(
        &api,
        &exec_target(POD, "slowlog", &["sh", "-c", "true && exit 3"]),
        "v4.channel.k8s.io",
        UPGRADE,
    )
    .await;
    assert_eq!(hs.status, 101, "{}", hs.head);
    assert_eq!(
        hs.header("sec-websocket-protocol"),
        Some("v4.channel.k8s.io")
    );
    let binary: Vec<Vec<u8>> = hs
        .messages
        .iter()
        .filter(|(op, _)| *op == 2)
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(binary[0], b"\x01");
    assert_eq!(binary[1], b"\x01out");
    assert_eq!(binary[2], b"\x02a <b> & c");
    let status = String::from_utf8(binary[3][1..].to_vec()).expect("utf-8");
    assert_eq!(binary[3][0], 3);
    assert_eq!(
        status,
        r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c true \u0026\u0026 exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
    );
    assert_eq!(binary.len(), 4);
    assert_eq!(hs.messages.last().map(|m| m.0), Some(8));
    assert_eq!(api.execs().len(), 1);
}

#[tokio::test]
async fn raw_refusals_before_the_upgrade() {
    let api = fake();
    // Not an upgrade request: the UpgradeAwareHandler's answer.
    let hs = websocket(&api, &exec_target(POD, "mysql", &["true"]), "", &[]).await;
    assert_eq!(hs.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&hs.body).expect("a Status");
    assert_eq!(body["message"], "Upgrade request required");
    assert_eq!(body["reason"], "BadRequest");
    // v4 goes to the kubelet, which answers in plain text.
    let hs = websocket(
        &api,
        &exec_target(POD, "init-mysql", &["true"]),
        "v4.channel.k8s.io",
        UPGRADE,
    )
    .await;
    assert_eq!(hs.status, 500);
    assert_eq!(hs.body, b"container not found (\"init-mysql\")");
    // Nothing requested: the kubelet's 400.
    let hs = websocket(
        &api,
        &format!("/api/v1/namespaces/{NS}/pods/{POD}/exec?container=mysql&command=true"),
        "v4.channel.k8s.io",
        UPGRADE,
    )
    .await;
    assert_eq!(hs.status, 400);
    assert_eq!(
        hs.body,
        b"you must specify at least 1 of stdin, stdout, stderr"
    );
    assert!(api.execs().is_empty());
}

#[tokio::test]
async fn pods_exec_is_in_discovery() {
    let api = fake();
    let list = pods(&api)
        .await
        .into_client()
        .list_core_api_resources("v1")
        .await
        .expect("discovery");
    let exec = list
        .resources
        .iter()
        .find(|r| r.name == "pods/exec")
        .expect("pods/exec listed");
    assert_eq!(exec.kind, "PodExecOptions");
    assert_eq!(exec.verbs, ["create", "get"]);
}

#[tokio::test]
async fn self_subject_access_reviews_answer_for_pods_exec() {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let api = fake();
    api.forbid("create", "pods/exec", Some(NS));
    let client = pods(&api).await.into_client();
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let allowed = async |verb: &str, subresource: Option<&str>| {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(NS.into()),
                    verb: Some(verb.into()),
                    resource: Some("pods".into()),
                    subresource: subresource.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        reviews
            .create(&Default::default(), &review)
            .await
            .expect("review")
            .status
            .expect("status")
            .allowed
    };
    assert!(!allowed("create", Some("exec")).await);
    assert!(allowed("get", Some("exec")).await);
    assert!(allowed("create", None).await, "pods is another resource");
}

#[tokio::test]
async fn raw_tty_merges_stderr_into_stdout_through_a_terminal() {
    let api = fake();
    api.on_exec(|_, _| ExecReply {
        stdout: "a\n".into(),
        stderr: "b\n".into(),
        exit_code: 0,
    });
    let hs = websocket(
        &api,
        &format!(
            "/api/v1/namespaces/{NS}/pods/{POD}/exec?stdin=true&stdout=true&tty=true&container=mysql&command=sh"
        ),
        "v5.channel.k8s.io",
        UPGRADE,
    )
    .await;
    assert_eq!(hs.status, 101, "{}", hs.head);
    let binary: Vec<&[u8]> = hs
        .messages
        .iter()
        .filter(|(op, _)| *op == 2)
        .map(|(_, p)| p.as_slice())
        .collect();
    assert_eq!(
        binary,
        [
            b"\x01".as_slice(),
            b"\x01a\r\nb\r\n",
            b"\x03{\"metadata\":{},\"status\":\"Success\"}",
        ]
    );
}
