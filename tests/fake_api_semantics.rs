//! The fake API server (tests/common/fake_api/) behaves like a real kube-apiserver v1.36 for
//! what ttdoctor sends, and refuses the rest naming itself. Exercised through `kube::Client` (as
//! ttdoctor talks to clusters) and through raw HTTP for the exact bytes; `pods/exec` has its own
//! file (fake_api_exec.rs).

mod common;

use common::fake_api::{FakeApi, MetricsMode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch, PatchParams,
    PostParams,
};
use kube::core::Status;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USER: &str = "system:serviceaccount:default:ttdoctor";

/// The real `kubectl get ... -A -o yaml` output of a v1.36.2 API server.
fn sample(ext: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join("fixtures/reference")
        .join(format!("real-apiserver-v1.36-sample.{ext}"))
}

fn fake() -> FakeApi {
    FakeApi::from_snapshot_file(sample("yaml"))
}

async fn client_with(api: &FakeApi, tune: impl FnOnce(&mut kube::Config)) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&api.kubeconfig_yaml("default"))
        .expect("the fake's kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("the fake's kubeconfig is usable");
    tune(&mut config);
    kube::Client::try_from(config).expect("client")
}

/// A client that does not retry 429/503/504 by itself, so each call is one request.
async fn client(api: &FakeApi) -> kube::Client {
    client_with(api, |c| c.default_retry = false).await
}

fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Box<Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

struct Raw {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection.
async fn raw(
    api: &FakeApi,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let stream = tokio::net::TcpStream::connect(api.addr())
        .await
        .expect("connect");
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer fake-token\r\nContent-Length: {}\r\n",
        api.addr(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    // (tokio's io-util feature is not enabled: readiness + try_read/try_write.)
    let mut out = req.as_bytes();
    while !out.is_empty() {
        stream.writable().await.expect("writable");
        match stream.try_write(out) {
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("write: {e}"),
        }
    }
    let mut buf = Vec::new();
    loop {
        stream.readable().await.expect("readable");
        let mut chunk = [0u8; 16384];
        match stream.try_read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let text = String::from_utf8(buf).expect("utf-8");
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("code")
        .parse()
        .expect("code");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        let mut out = String::new();
        let mut rest = rest;
        loop {
            let (size, tail) = rest.split_once("\r\n").expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex size");
            if size == 0 {
                break;
            }
            out.push_str(&tail[..size]);
            rest = &tail[size + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    Raw {
        status,
        headers,
        body,
    }
}

fn names<K: kube::Resource>(items: &[K]) -> Vec<String> {
    items
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o.meta().namespace.clone().unwrap_or_default(),
                o.meta().name.clone().unwrap_or_default()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let api = fake();
    let client = client(&api).await;
    let pods: Api<Pod> = Api::all(client);

    let first = pods
        .list(&ListParams::default().limit(1))
        .await
        .expect("page 1");
    let snapshot_rv = first.metadata.resource_version.clone().expect("list rv");
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.metadata.remaining_item_count, Some(2));
    // A concurrent writer changes a pod that is on a later page (the fake serves later pages
    // from the current objects; etcd would serve the first page's revision).
    api.mutate(
        "",
        "v1",
        "pods",
        Some("demo"),
        "web-694b67fcbb-5w298",
        |p| {
            p["metadata"]["labels"]["changed"] = json!("yes");
        },
    )
    .expect("pod exists");

    let mut all = first.items.clone();
    let mut remaining = vec![first.metadata.remaining_item_count];
    let mut token = first.metadata.continue_.clone();
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = pods
            .list(&ListParams::default().limit(1).continue_token(&t))
            .await
            .expect("page");
        assert_eq!(page.items.len(), 1, "at most `limit` items");
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(snapshot_rv.as_str())
        );
        remaining.push(page.metadata.remaining_item_count);
        all.extend(page.items);
        token = page.metadata.continue_;
    }
    assert_eq!(
        names(&all),
        [
            "demo/db-0",
            "demo/web-694b67fcbb-47g8b",
            "demo/web-694b67fcbb-5w298"
        ]
    );
    assert_eq!(remaining, [Some(2), Some(1), None]);
    assert_eq!(api.count("GET", "/api/v1/pods"), 3);

    let fresh = pods.list(&ListParams::default()).await.expect("fresh list");
    assert!(
        fresh.items[2]
            .metadata
            .labels
            .as_ref()
            .unwrap()
            .contains_key("changed")
    );
    assert_eq!(
        fresh.metadata.resource_version,
        Some(api.resource_version().to_string())
    );
    assert!(fresh.metadata.continue_.is_none());
}

#[tokio::test]
async fn list_items_come_without_apiversion_and_kind() {
    let api = fake();
    let list = raw(&api, "GET", "/api/v1/namespaces/demo/pods", &[], "").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.headers["content-type"], "application/json");
    let list = list.json();
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert!(list["metadata"]["resourceVersion"].is_string());
    for item in list["items"].as_array().unwrap() {
        assert!(item.get("kind").is_none() && item.get("apiVersion").is_none());
        assert!(item["metadata"]["resourceVersion"].is_string());
    }
    let one = raw(
        &api,
        "GET",
        "/apis/apps/v1/namespaces/demo/deployments/web",
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(
        (one["apiVersion"].as_str(), one["kind"].as_str()),
        (Some("apps/v1"), Some("Deployment"))
    );
    // The snapshot's real resourceVersions are kept.
    assert_eq!(
        api.get_object("", "v1", "nodes", None, "demo-cp").unwrap()["metadata"]["resourceVersion"],
        "81148"
    );
}

#[tokio::test]
async fn an_expired_continue_token_is_410_expired_with_a_fresh_token() {
    let api = fake();
    let client = client(&api).await;
    let pods: Api<Pod> = Api::all(client);
    let first = pods
        .list(&ListParams::default().limit(1))
        .await
        .expect("page 1");
    let token = first.metadata.continue_.expect("more pages");

    api.expire_continue_tokens();
    let status = api_error(
        pods.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
    );
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
    assert!(
        status.message.starts_with(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter"
        ),
        "{}",
        status.message
    );
    // The real server offers an inconsistent continuation (rv -1) in the Status.
    let next = status
        .metadata
        .and_then(|m| m.continue_)
        .expect("a new token");
    let rest = pods
        .list(&ListParams::default().continue_token(&next))
        .await
        .expect("rest");
    assert_eq!(
        names(&rest.items),
        ["demo/web-694b67fcbb-47g8b", "demo/web-694b67fcbb-5w298"]
    );
    assert_eq!(
        rest.metadata.resource_version,
        Some(api.resource_version().to_string())
    );

    let bad = api_error(pods.list(&ListParams::default().continue_token("!!")).await);
    assert_eq!((bad.code, bad.reason.as_str()), (400, "BadRequest"));
    assert!(
        bad.message
            .starts_with("invalid continue token: continue key is not valid"),
        "{}",
        bad.message
    );
}

#[tokio::test]
async fn get_of_a_missing_object_is_404_not_found() {
    let api = fake();
    let client = client(&api).await;
    let status = api_error(
        Api::<Pod>::namespaced(client.clone(), "demo")
            .get("nope")
            .await,
    );
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(status.message, "pods \"nope\" not found");
    let details = status.details.expect("details");
    assert_eq!(
        (
            details.name.as_str(),
            details.kind.as_str(),
            details.group.as_str()
        ),
        ("nope", "pods", "")
    );

    let status = api_error(
        Api::<Deployment>::namespaced(client, "demo")
            .get("nope")
            .await,
    );
    assert_eq!(status.message, "deployments.apps \"nope\" not found");
    assert_eq!(status.details.unwrap().group, "apps");

    let unknown = raw(&api, "GET", "/apis/example.com/v1/widgets", &[], "").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "the server could not find the requested resource", "reason": "NotFound", "code": 404})
    );
}

#[tokio::test]
async fn merge_patch_with_a_stale_resource_version_is_409_conflict() {
    let api = fake();
    let client = client(&api).await;
    let classes: Api<StorageClass> = Api::all(client);
    let sc = classes.get("demo-local").await.expect("class");
    let rv = sc.metadata.resource_version.clone().unwrap();
    let annotate = |rv: &str| {
        Patch::Merge(json!({"metadata": {"resourceVersion": rv,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}))
    };

    // Someone else writes first.
    api.mutate(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        None,
        "demo-local",
        |o| {
            o["metadata"]["labels"] = json!({"touched": "by-someone-else"});
        },
    );
    let before = api
        .get_object("storage.k8s.io", "v1", "storageclasses", None, "demo-local")
        .unwrap();
    let status = api_error(
        classes
            .patch("demo-local", &PatchParams::default(), &annotate(&rv))
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on storageclasses.storage.k8s.io \"demo-local\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let details = status.details.unwrap();
    assert_eq!(
        (details.group.as_str(), details.kind.as_str()),
        ("storage.k8s.io", "storageclasses")
    );
    assert_eq!(
        api.get_object("storage.k8s.io", "v1", "storageclasses", None, "demo-local")
            .unwrap(),
        before,
        "nothing stored"
    );

    // With the current resourceVersion it goes through and gets a new one.
    let current = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let patched = classes
        .patch("demo-local", &PatchParams::default(), &annotate(&current))
        .await
        .expect("patch");
    let new_rv = patched.metadata.resource_version.clone().unwrap();
    assert!(new_rv.parse::<u64>().unwrap() > current.parse::<u64>().unwrap());
    assert_eq!(new_rv, api.resource_version().to_string());
    assert_eq!(
        patched.metadata.annotations.unwrap()["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    // The same patch again changes nothing: no write, no new resourceVersion.
    let again = classes
        .patch("demo-local", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}})))
        .await
        .expect("no-op patch");
    assert_eq!(
        again.metadata.resource_version.as_deref(),
        Some(new_rv.as_str())
    );
    assert_eq!(api.resource_version().to_string(), new_rv);
}

#[tokio::test]
async fn json_patch_with_a_failing_test_op_is_the_real_422() {
    let api = fake();
    let path = "/apis/apps/v1/namespaces/demo/deployments/web";
    let before = api
        .get_object("apps", "v1", "deployments", Some("demo"), "web")
        .unwrap();
    let ct = [("Content-Type", "application/json-patch+json")];

    let failing = json!([
        {"op": "test", "path": "/spec/replicas", "value": 99},
        {"op": "replace", "path": "/spec/replicas", "value": 0}
    ]);
    let r = raw(&api, "PATCH", path, &ct, &failing.to_string()).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "the server rejected our request due to an error in our request",
               "reason": "Invalid", "details": {}, "code": 422})
    );
    assert_eq!(
        api.get_object("apps", "v1", "deployments", Some("demo"), "web")
            .unwrap(),
        before
    );

    // Removing what is not there fails the same way.
    let r = raw(
        &api,
        "PATCH",
        path,
        &ct,
        r#"[{"op":"remove","path":"/spec/nothing"}]"#,
    )
    .await;
    assert_eq!(r.status, 422);
    // Not a patch document at all: 400.
    let r = raw(&api, "PATCH", path, &ct, r#"{"op":"remove"}"#).await;
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (400, Some("BadRequest"))
    );

    // A passing test guards the write, including on the resourceVersion.
    let rv = before["metadata"]["resourceVersion"].as_str().unwrap();
    let ok = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/labels", "value": {"tier": "front"}}
    ]);
    let r = raw(&api, "PATCH", path, &ct, &ok.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["metadata"]["labels"]["tier"], "front");
    assert_eq!(r.json()["kind"], "Deployment");
    let r = raw(&api, "PATCH", path, &ct, &ok.to_string()).await;
    assert_eq!(r.status, 422, "the resourceVersion moved on");
}

#[tokio::test]
async fn dry_run_all_validates_but_stores_nothing() {
    let api = fake();
    let client = client(&api).await;
    let nodes: Api<Node> = Api::all(client);
    let before = api
        .get_object("", "v1", "nodes", None, "demo-worker")
        .unwrap();
    let rv_before = api.resource_version();

    let patch = Patch::Merge(json!({"metadata": {"labels": {"ttdoctor": "dry"}}}));
    let result = nodes
        .patch("demo-worker", &PatchParams::default().dry_run(), &patch)
        .await
        .expect("dry run");
    assert_eq!(result.metadata.labels.unwrap()["ttdoctor"], "dry");
    assert_eq!(
        result.metadata.resource_version,
        before["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from)
    );
    assert_eq!(
        api.get_object("", "v1", "nodes", None, "demo-worker")
            .unwrap(),
        before
    );
    assert_eq!(api.resource_version(), rv_before);
    assert_eq!((api.write_count(), api.real_write_count()), (1, 0));

    // A dry run still meets conflicts.
    let stale = Patch::Merge(json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}}));
    let status = api_error(
        nodes
            .patch("demo-worker", &PatchParams::default().dry_run(), &stale)
            .await,
    );
    assert_eq!(status.code, 409);

    let r = raw(
        &api,
        "PATCH",
        "/api/v1/nodes/demo-worker?dryRun=Everything",
        &[("Content-Type", "application/merge-patch+json")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Everything\"}: supported values: \"All\""
    );
    // Counters count requests: the refused one was not a dry run.
    assert_eq!((api.write_count(), api.real_write_count()), (3, 1));
}

#[tokio::test]
async fn forbidden_requests_get_the_authorizers_403_and_ssar_agrees() {
    let api = fake();
    let client = client(&api).await;
    api.forbid("list", "pods", Some("train-ticket"));

    let status = api_error(
        Api::<Pod>::namespaced(client.clone(), "train-ticket")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        format!(
            "pods is forbidden: User \"{USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"train-ticket\""
        )
    );
    assert_eq!(status.details.unwrap().kind, "pods");
    // RBAC only adds: denied in a namespace means denied cluster-wide too.
    let status = api_error(
        Api::<Pod>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        status.message,
        format!(
            "pods is forbidden: User \"{USER}\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        )
    );
    Api::<Pod>::namespaced(client.clone(), "demo")
        .list(&ListParams::default())
        .await
        .expect("other namespaces");

    api.forbid_everywhere("get", "deployments.apps");
    let status = api_error(
        Api::<Deployment>::namespaced(client.clone(), "demo")
            .get("web")
            .await,
    );
    assert_eq!(
        status.message,
        format!(
            "deployments.apps \"web\" is forbidden: User \"{USER}\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"demo\""
        )
    );
    let details = status.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("web", "apps", "deployments")
    );

    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let ask = |verb: &str, resource: &str, group: &str, ns: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                group: Some(group.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let allowed = |r: SelfSubjectAccessReview| r.status.expect("status").allowed;
    let pp = PostParams::default();
    assert!(!allowed(
        reviews
            .create(&pp, &ask("list", "pods", "", "train-ticket"))
            .await
            .unwrap()
    ));
    assert!(!allowed(
        reviews
            .create(&pp, &ask("list", "pods", "", ""))
            .await
            .unwrap()
    ));
    assert!(allowed(
        reviews
            .create(&pp, &ask("list", "pods", "", "demo"))
            .await
            .unwrap()
    ));
    assert!(!allowed(
        reviews
            .create(&pp, &ask("get", "deployments", "apps", "demo"))
            .await
            .unwrap()
    ));
    assert!(allowed(
        reviews
            .create(&pp, &ask("patch", "deployments", "apps", "demo"))
            .await
            .unwrap()
    ));
    assert_eq!(api.write_count(), 0, "access reviews are not writes");
    assert_eq!(
        api.count(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        ),
        5
    );
}

#[tokio::test]
async fn metrics_api_not_found_unavailable_and_served() {
    let api = fake();
    let client = client(&api).await;
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "NodeMetrics");
    let node_metrics: Api<DynamicObject> =
        Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "nodes"));

    // No metrics-server: the group does not exist.
    let r = raw(&api, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "the server could not find the requested resource"
    );
    assert!(r.json().get("details").is_none());
    let status = api_error(node_metrics.list(&ListParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    // Registered but down: a bare text 503 from the aggregator below the group.
    api.set_metrics(MetricsMode::Unavailable);
    for path in [
        "/apis/metrics.k8s.io/v1beta1",
        "/apis/metrics.k8s.io/v1beta1/nodes",
    ] {
        let r = raw(&api, "GET", path, &[], "").await;
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r.body, "service unavailable\n");
    }
    let status = api_error(node_metrics.list(&ListParams::default()).await);
    assert_eq!(status.code, 503);
    assert_eq!(status.message, "service unavailable");
    // Served.
    api.set_metrics(MetricsMode::Served);
    api.put_object(json!({
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
        "metadata": {"name": "demo-cp"}, "timestamp": "2026-11-25T19:51:00Z", "window": "10s",
        "usage": {"cpu": "250m", "memory": "1Gi"}
    }));
    let list = raw(&api, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", &[], "")
        .await
        .json();
    assert_eq!(list["kind"], "NodeMetricsList");
    assert_eq!(list["metadata"], json!({}));
    assert_eq!(list["items"][0]["usage"]["cpu"], "250m");
    assert!(list["items"][0].get("kind").is_none());
    let listed = node_metrics
        .list(&ListParams::default())
        .await
        .expect("metrics list");
    assert_eq!(listed.items.len(), 1);
    // PodMetrics, in all namespaces or in one.
    api.put_object(json!({
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
        "metadata": {"name": "db-0", "namespace": "demo"}, "timestamp": "2026-11-25T19:51:00Z",
        "window": "10s", "containers": [{"name": "db", "usage": {"cpu": "5m", "memory": "64Mi"}}]
    }));
    for path in [
        "/apis/metrics.k8s.io/v1beta1/pods",
        "/apis/metrics.k8s.io/v1beta1/namespaces/demo/pods",
    ] {
        let list = raw(&api, "GET", path, &[], "").await.json();
        assert_eq!(list["kind"], "PodMetricsList", "{path}");
        assert_eq!(list["items"][0]["containers"][0]["usage"]["memory"], "64Mi");
    }
    let other = "/apis/metrics.k8s.io/v1beta1/namespaces/other/pods";
    let list = raw(&api, "GET", other, &[], "").await.json();
    assert_eq!(list["items"], json!([]));
    // Forbidden wins over availability: authorization runs before the aggregator.
    api.set_metrics(MetricsMode::Unavailable);
    api.forbid("list", "nodes.metrics.k8s.io", None);
    let r = raw(&api, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", &[], "").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        format!(
            "nodes.metrics.k8s.io is forbidden: User \"{USER}\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope"
        )
    );
    // ...and forbidding metrics nodes leaves core nodes alone.
    assert_eq!(raw(&api, "GET", "/api/v1/nodes", &[], "").await.status, 200);
}

#[tokio::test]
async fn hang_mode_makes_clients_time_out() {
    let api = fake();
    let client = client_with(&api, |c| c.read_timeout = Some(Duration::from_millis(300))).await;
    api.set_hang(true);
    let started = Instant::now();
    let result = Api::<Pod>::all(client).list(&ListParams::default()).await;
    assert!(result.is_err());
    assert!(
        !matches!(result, Err(kube::Error::Api(_))),
        "a transport error, not an answer"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, 0, "never answered");
}

#[tokio::test]
async fn status_for_all_and_client_retries() {
    let api = fake();
    api.set_status_for_all(503);
    let status = api_error(
        Api::<Pod>::all(client(&api).await)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (503, "ServiceUnavailable")
    );
    assert_eq!(api.count("GET", "/api/v1/pods"), 1);

    // kube's default client retries 503 by itself (exponential backoff, 15 tries): the fake
    // sees every attempt.
    api.reset_counts();
    let default_client = client_with(&api, |_| {}).await;
    let pods: Api<Pod> = Api::all(default_client);
    let _ = tokio::time::timeout(
        Duration::from_millis(1500),
        pods.list(&ListParams::default()),
    )
    .await;
    assert!(api.count("GET", "/api/v1/pods") > 1, "retried");

    api.clear_status_for_all();
    api.reset_counts();
    pods.list(&ListParams::default())
        .await
        .expect("healthy again");
    assert_eq!(api.count("GET", "/api/v1/pods"), 1);
}

#[tokio::test]
async fn hooks_counters_and_kubeconfig() {
    let api = fake();
    let client = client(&api).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    api.on_request(
        "GET",
        "/apis/apps/v1/namespaces/demo/deployments/web",
        2,
        |store| {
            store.mutate("apps", "v1", "deployments", Some("demo"), "web", |d| {
                d["status"]["readyReplicas"] = json!(2);
            });
        },
    );
    let ready = |d: Deployment| d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
    assert_eq!(ready(deployments.get("web").await.unwrap()), 0);
    assert_eq!(
        ready(deployments.get("web").await.unwrap()),
        0,
        "the hook runs after the 2nd answer"
    );
    assert_eq!(ready(deployments.get("web").await.unwrap()), 2);

    assert_eq!(api.secret_requests(), 0);
    let _ = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, "demo")
        .list(&ListParams::default())
        .await;
    assert_eq!(api.secret_requests(), 1);
    let logged = api.requests();
    assert_eq!(
        logged.last().unwrap().path,
        "/api/v1/namespaces/demo/secrets"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = api.write_kubeconfig(dir.path());
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig file");
    assert_eq!(kubeconfig.current_context.as_deref(), Some("fake"));
    assert_eq!(
        kubeconfig.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .server
            .as_deref(),
        Some(api.url().as_str())
    );
}

#[test]
fn snapshot_files_load_in_every_form() {
    // Plain #[test]: the fake runs its own runtime.
    let yaml = FakeApi::from_snapshot_file(sample("yaml"));
    let json = FakeApi::from_snapshot_file(sample("json"));
    for resource in [
        "pods",
        "nodes",
        "events",
        "endpointslices.discovery.k8s.io",
        "deployments.apps",
        "storageclasses.storage.k8s.io",
        "statefulsets.apps",
    ] {
        assert_eq!(yaml.objects(resource), json.objects(resource), "{resource}");
    }
    assert_eq!(yaml.objects("pods").len(), 3);
    assert_eq!(yaml.objects("events").len(), 10);

    // A List followed by a NodeMetricsList whose items have no kind (kubectl get --raw).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n1\n---\n\
         {\"kind\":\"NodeMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"n1\"},\"timestamp\":\"2026-11-25T19:51:00Z\",\"window\":\"10s\",\"usage\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}]}\n",
    )
    .unwrap();
    let api = FakeApi::from_snapshot_file(&path);
    assert_eq!(api.objects("nodes").len(), 1);
    let metrics = api.objects("nodes.metrics.k8s.io");
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0]["kind"], "NodeMetrics");
    let node = api.get_object("", "v1", "nodes", None, "n1").unwrap();
    assert!(node["metadata"]["uid"].is_string() && node["metadata"]["resourceVersion"].is_string());
}

#[tokio::test]
async fn an_empty_patch_writes_nothing_for_every_object_of_the_sample() {
    let api = fake();
    let rv = api.resource_version();
    let resources = [
        ("/api/v1", "nodes"),
        ("/apis/storage.k8s.io/v1", "storageclasses"),
        ("/api/v1", "persistentvolumeclaims"),
        ("/api/v1", "namespaces"),
        ("/api/v1", "pods"),
        ("/api/v1", "services"),
        ("/api/v1", "endpoints"),
        ("/apis/discovery.k8s.io/v1", "endpointslices"),
        ("/apis/apps/v1", "statefulsets"),
        ("/apis/apps/v1", "deployments"),
        ("/apis/apps/v1", "replicasets"),
        ("/api/v1", "events"),
    ];
    let mut patched = 0;
    for (prefix, plural) in resources {
        let qualified = match prefix.strip_prefix("/apis/") {
            Some(gv) => format!("{plural}.{}", gv.split('/').next().unwrap()),
            None => plural.to_string(),
        };
        for obj in api.objects(&qualified) {
            let name = obj["metadata"]["name"].as_str().unwrap();
            let path = match obj["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/{name}"),
                None => format!("{prefix}/{plural}/{name}"),
            };
            for body in ["{}", "[]"] {
                let ct = match body {
                    "{}" => "application/merge-patch+json",
                    _ => "application/json-patch+json",
                };
                let r = raw(&api, "PATCH", &path, &[("Content-Type", ct)], body).await;
                assert_eq!(r.status, 200, "{path}: {}", r.body);
                let served = r.json();
                assert_eq!(served["metadata"], obj["metadata"], "{path}");
                assert_eq!(served["kind"], obj["kind"], "{path}");
                patched += 1;
            }
        }
    }
    assert_eq!(patched, 2 * 35);
    assert_eq!(api.resource_version(), rv, "no object was rewritten");
}

#[tokio::test]
async fn discovery_lists_what_is_served() {
    let api = fake();
    let client = client(&api).await;
    let versions = client.list_core_api_versions().await.expect("/api");
    assert_eq!(versions.versions, ["v1"]);
    let core = client.list_core_api_resources("v1").await.expect("/api/v1");
    let pods = core.resources.iter().find(|r| r.name == "pods").unwrap();
    assert!(pods.namespaced && pods.verbs.contains(&"list".to_string()));
    assert!(
        core.resources
            .iter()
            .any(|r| r.name == "nodes" && !r.namespaced)
    );
    let log = core
        .resources
        .iter()
        .find(|r| r.name == "pods/log")
        .unwrap();
    assert_eq!(
        (log.kind.as_str(), &log.verbs[..]),
        ("Pod", &["get".to_string()][..])
    );
    // The real shape: the core list has no apiVersion.
    let raw_core = raw(&api, "GET", "/api/v1", &[], "").await.json();
    assert_eq!(raw_core["kind"], "APIResourceList");
    assert!(raw_core.get("apiVersion").is_none());
    let apis = raw(&api, "GET", "/apis", &[], "").await.json();
    let apps = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "apps");
    assert_eq!(apps.unwrap()["preferredVersion"]["groupVersion"], "apps/v1");
    // Legacy discovery of every group, as kube and kubectl run it.
    let discovery = kube::discovery::Discovery::new(client)
        .run()
        .await
        .expect("discovery");
    let apps = discovery.get("apps").unwrap().recommended_resources();
    assert!(
        apps.iter()
            .any(|(ar, caps)| ar.plural == "deployments" && caps.supports_operation("patch"))
    );
    assert!(
        !discovery.has_group("metrics.k8s.io"),
        "no metrics-server in the sample"
    );
}

#[tokio::test]
async fn what_ttdoctor_does_not_send_is_refused_naming_the_fake() {
    let api = fake();
    let rv = api.resource_version();
    let client = client(&api).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "demo");
    let status = api_error(pods.list(&ListParams::default().labels("app=web")).await);
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        status.message,
        "fake API: labelSelector is not implemented by this fake"
    );
    let watch = raw(&api, "GET", "/api/v1/pods?watch=true", &[], "").await;
    assert_eq!(watch.status, 400);
    let classes: Api<StorageClass> = Api::all(client);
    let sc: StorageClass = serde_json::from_value(json!({
        "metadata": {"name": "fast"}, "provisioner": "example.com/fast"
    }))
    .unwrap();
    let status = api_error(classes.create(&PostParams::default(), &sc).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            405,
            "fake API: POST on storageclasses.storage.k8s.io is not implemented by this fake"
        )
    );
    let path = "/api/v1/nodes/demo-cp";
    let strategic = [("Content-Type", "application/strategic-merge-patch+json")];
    let r = raw(&api, "PATCH", path, &strategic, "{}").await;
    assert_eq!(r.status, 415);
    assert_eq!(
        r.json()["message"],
        "fake API: application/strategic-merge-patch+json is not implemented by this fake"
    );
    // A type no server accepts: the real 415.
    let r = raw(
        &api,
        "PATCH",
        path,
        &[("Content-Type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(
        r.json()["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    );
    assert_eq!(api.resource_version(), rv, "nothing written");
}

#[tokio::test]
async fn patches_keep_system_fields_drop_status_and_bump_the_generation() {
    let api = fake();
    let client = client(&api).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let before = nodes.get("demo-cp").await.unwrap();
    let patch = json!({
        "metadata": {"labels": {"ttdoctor.io/fixed": "true"}, "uid": "changed"},
        "status": {"capacity": {"cpu": "64"}}
    });
    let node = nodes
        .patch("demo-cp", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patch");
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["ttdoctor.io/fixed"], "true");
    assert_eq!(labels["kubernetes.io/hostname"], "demo-cp");
    assert_eq!(node.metadata.uid, before.metadata.uid);
    assert_eq!(node.status, before.status, "status changes are dropped");

    let rename = Patch::Merge(json!({"metadata": {"name": "other"}}));
    let status = api_error(
        nodes
            .patch("demo-cp", &PatchParams::default(), &rename)
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        status.message,
        "the name of the object (other) does not match the name on the URL (demo-cp)"
    );

    // A spec change bumps the generation; a label does not.
    let deployments: Api<Deployment> = Api::namespaced(client, "demo");
    let generation = deployments.get("web").await.unwrap().metadata.generation;
    let pp = PatchParams::default();
    let label = Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}}));
    let after = deployments.patch("web", &pp, &label).await.unwrap();
    assert_eq!(after.metadata.generation, generation);
    let scale = Patch::Merge(json!({"spec": {"replicas": 5}}));
    let after = deployments.patch("web", &pp, &scale).await.unwrap();
    assert_eq!(after.metadata.generation, generation.map(|g| g + 1));

    let missing = [("Content-Type", "application/merge-patch+json")];
    let r = raw(&api, "PATCH", "/api/v1/nodes/missing", &missing, "{}").await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("nodes \"missing\" not found"))
    );
}

// ---- pods/log ----

/// A node and pods in every state the kubelet tells apart for logs.
fn log_cluster() -> FakeApi {
    let status = |name: &str, state: Value, last: Value| {
        json!({"name": name, "state": state, "lastState": last, "ready": false,
               "restartCount": 3, "image": "busybox", "imageID": ""})
    };
    let terminated = |id: &str| json!({"terminated": {"exitCode": 1, "containerID": id}});
    let waiting = |reason: &str| json!({"waiting": {"reason": reason}});
    let running = json!({"running": {"startedAt": "2026-11-25T10:00:00Z"}});
    let pod = |name: &str, node: Option<&str>, containers: &[&str], statuses: Vec<Value>| {
        let containers: Vec<Value> = containers.iter().map(|c| json!({"name": c})).collect();
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "demo"},
               "spec": {"nodeName": node, "containers": containers},
               "status": {"containerStatuses": statuses}})
    };
    let mut web = pod(
        "web-0",
        Some("n1"),
        &["app", "sidecar"],
        vec![
            status(
                "app",
                waiting("CrashLoopBackOff"),
                terminated("containerd://a1"),
            ),
            status("sidecar", running.clone(), json!({})),
        ],
    );
    web["spec"]["initContainers"] = json!([{"name": "init"}]);
    web["status"]["initContainerStatuses"] =
        json!([status("init", terminated("containerd://i1"), json!({}))]);
    FakeApi::start(vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        web,
        pod(
            "solo",
            Some("n1"),
            &["app"],
            vec![status("app", running, json!({}))],
        ),
        pod(
            "pending",
            Some("n1"),
            &["app"],
            vec![status("app", waiting("ContainerCreating"), json!({}))],
        ),
        pod(
            "pulling",
            Some("n1"),
            &["app"],
            vec![status("app", waiting("ImagePullBackOff"), json!({}))],
        ),
        pod("unscheduled", None, &["app"], vec![]),
    ])
}

fn log_params(container: Option<&str>, previous: bool) -> LogParams {
    LogParams {
        container: container.map(str::to_string),
        previous,
        ..LogParams::default()
    }
}

#[tokio::test]
async fn pod_logs_are_plain_text_cut_like_the_kubelet_cuts_them() {
    let api = log_cluster();
    api.set_log("demo", "web-0", "sidecar", false, "one\ntwo\nthree\n");
    api.set_log("demo", "solo", "app", false, "alone\n");
    let pods: Api<Pod> = Api::namespaced(client(&api).await, "demo");
    let logs = async |params: LogParams| pods.logs("web-0", &params).await.expect("logs");
    let sidecar = || log_params(Some("sidecar"), false);
    assert_eq!(logs(sidecar()).await, "one\ntwo\nthree\n");
    let tail = |n| LogParams {
        tail_lines: Some(n),
        ..sidecar()
    };
    assert_eq!(logs(tail(2)).await, "two\nthree\n");
    assert_eq!(logs(tail(0)).await, "");
    assert_eq!(logs(tail(9)).await, "one\ntwo\nthree\n");
    let limited = LogParams {
        limit_bytes: Some(5),
        ..tail(2)
    };
    assert_eq!(
        logs(limited).await,
        "two\nt",
        "the tail, then the byte limit"
    );
    // A pod with one container needs no `container`.
    let solo = pods.logs("solo", &LogParams::default()).await.unwrap();
    assert_eq!(solo, "alone\n");
    let r = raw(
        &api,
        "GET",
        "/api/v1/namespaces/demo/pods/solo/log",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.body, "alone\n");
    // A pod with no node has no log location: 204, no body.
    let r = raw(
        &api,
        "GET",
        "/api/v1/namespaces/demo/pods/unscheduled/log",
        &[],
        "",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
}

#[tokio::test]
async fn which_instance_is_logged_follows_the_container_statuses() {
    let api = log_cluster();
    api.set_log("demo", "web-0", "app", true, "panic: boom\n");
    api.set_log(
        "demo",
        "web-0",
        "app",
        false,
        "the next instance never started\n",
    );
    api.set_log("demo", "web-0", "init", false, "initialized\n");
    let pods: Api<Pod> = Api::namespaced(client(&api).await, "demo");
    let logs = async |pod: &str, container: &str, previous: bool| {
        pods.logs(pod, &log_params(Some(container), previous)).await
    };
    assert_eq!(logs("web-0", "app", true).await.unwrap(), "panic: boom\n");
    // CrashLoopBackOff: waiting, the last instance terminated; that one is served.
    assert_eq!(logs("web-0", "app", false).await.unwrap(), "panic: boom\n");
    assert_eq!(logs("web-0", "init", false).await.unwrap(), "initialized\n");
    let refusal = async |pod: &str, container: &str, previous: bool| {
        let status = api_error(logs(pod, container, previous).await);
        assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
        status.message
    };
    assert_eq!(
        refusal("web-0", "sidecar", true).await,
        "previous terminated container \"sidecar\" in pod \"web-0\" not found"
    );
    assert_eq!(
        refusal("pending", "app", false).await,
        "container \"app\" in pod \"pending\" is waiting to start: ContainerCreating"
    );
    assert_eq!(
        refusal("pulling", "app", false).await,
        "container \"app\" in pod \"pulling\" is waiting to start: trying and failing to pull image"
    );
}

#[tokio::test]
async fn pod_log_requests_are_checked_like_the_api_server_checks_them() {
    let api = log_cluster();
    let pods: Api<Pod> = Api::namespaced(client(&api).await, "demo");
    let status = api_error(pods.logs("web-0", &LogParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        status.message,
        "a container name must be specified for pod web-0, choose one of: [init app sidecar]"
    );
    let status = api_error(pods.logs("web-0", &log_params(Some("db"), false)).await);
    assert_eq!(status.message, "container db is not valid for pod web-0");
    let status = api_error(pods.logs("nope", &LogParams::default()).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "pods \"nope\" not found")
    );
    let details = status.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("nope", "pods")
    );
    let negative = LogParams {
        tail_lines: Some(-1),
        ..log_params(Some("app"), false)
    };
    let status = api_error(pods.logs("solo", &negative).await);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "PodLogOptions \"solo\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
    );
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    assert_eq!(api_error(pods.logs("solo", &follow).await).code, 400);
}

#[tokio::test]
async fn forbidden_pod_logs_and_a_kubelet_that_does_not_answer() {
    let api = log_cluster();
    let client = client(&api).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "demo");
    api.forbid("get", "pods/log", Some("demo"));
    let status = api_error(pods.logs("solo", &LogParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        format!(
            "pods \"solo\" is forbidden: User \"{USER}\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"demo\""
        )
    );
    pods.get("solo").await.expect("pods/log is not pods");
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("demo".into()),
                verb: Some("get".into()),
                resource: Some("pods".into()),
                subresource: Some("log".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    assert!(!answer.status.unwrap().allowed);

    api.clear_forbids();
    api.set_log_hang(true);
    let impatient = client_with(&api, |c| c.read_timeout = Some(Duration::from_millis(300))).await;
    let pods: Api<Pod> = Api::namespaced(impatient, "demo");
    let started = Instant::now();
    let result = pods.logs("solo", &LogParams::default()).await;
    assert!(
        matches!(result, Err(ref e) if !matches!(e, kube::Error::Api(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let log_path = "/api/v1/namespaces/demo/pods/solo/log";
    let last = api
        .requests()
        .into_iter()
        .rfind(|r| r.path == log_path)
        .unwrap();
    assert_eq!(last.status, 0, "never answered");
    // The API server still answers; so do its own refusals, which come before the kubelet.
    pods.get("solo").await.expect("the API server answers");
    assert_eq!(
        api_error(pods.logs("nope", &LogParams::default()).await).code,
        404
    );
}
