//! The injected failures, applied to the TrainTicket objects carried over from the healthy
//! fixture. Each changes every object a real failure changes (pods, Endpoints and
//! EndpointSlices, controller status) and adds the events a cluster would record, and says
//! which findings it must produce.
//!
//! 1. tsdb lost its leader at 08:50: every `tsdb-mysql-*` pod is `role=follower`, so
//!    `tsdb-mysql-leader` has no endpoints (TT-DB-001). At 09:00 the user deleted
//!    `ts-auth-service` and `ts-user-service` to restart them; the new pods cannot reach the
//!    database: ts-auth is CrashLoopBackOff (TT-POD-001), ts-user 0/1 Running with 3 restarts
//!    (TT-POD-002), both linked to TT-DB-001.
//! 2. (in the metrics) one worker uses 97% of its allocatable memory (TT-MEM-001, error).
//! 3. At 09:10 `ts-avatar-service` was rescheduled onto worker 2, which does not hold its
//!    image, and the registry is unreachable: ImagePullBackOff (TT-IMG-002, linked to
//!    TT-IMG-001 on that node, the only node where a pod cannot pull).
//! 4. At 09:20 the user re-created `ts-admin-route-service` with
//!    `nodeSelector: {mem-class: high}`, a label no node carries: Pending (TT-SCHED-001).

use super::base::{name, namespace, str_at};
use super::events::{Ev, Source};
use super::plan::NodePlan;
use super::util::{Rng, ts};
use serde_json::{Value, json};

pub const NS: &str = "train-ticket";
pub const AVATAR_IMAGE: &str = "docker.io/codewisdom/ts-avatar-service:0.2.0";

pub struct Ctx<'a> {
    pub seed: u64,
    pub now: i64,
    pub nodes: &'a mut [NodePlan],
    /// Index of the worker the avatar pod moves to.
    pub avatar_node: usize,
    pub scheduler: String,
    pub events: Vec<Ev>,
    /// `RULE Kind ns/name` of the findings the injections must produce (besides the
    /// node-level TT-MEM-001 / TT-IMG-001, which the generator adds).
    pub expected: Vec<String>,
}

fn find<'a>(items: &'a mut [Value], kind: &str, pred: impl Fn(&str) -> bool) -> &'a mut Value {
    items
        .iter_mut()
        .find(|v| super::base::kind(v) == kind && namespace(v) == NS && pred(name(v)))
        .unwrap_or_else(|| panic!("healthy.json: no {kind} in {NS} as expected"))
}

fn slice_of<'a>(items: &'a mut [Value], svc: &str) -> &'a mut Value {
    items
        .iter_mut()
        .find(|v| {
            super::base::kind(v) == "EndpointSlice"
                && str_at(v, &["metadata", "labels", "kubernetes.io/service-name"]) == Some(svc)
        })
        .unwrap_or_else(|| panic!("healthy.json: no EndpointSlice for {svc}"))
}

fn node_index(nodes: &[NodePlan], n: &str) -> usize {
    nodes
        .iter()
        .position(|x| x.name == n)
        .expect("pod on a known node")
}

/// A pod's conditions when its containers run but are not ready (or not started).
fn not_ready_conditions(t: i64, container: &str) -> Value {
    let msg = format!("containers with unready status: [{container}]");
    json!([
        {"lastProbeTime": null, "lastTransitionTime": ts(t + 1), "status": "True", "type": "PodReadyToStartContainers"},
        {"lastProbeTime": null, "lastTransitionTime": ts(t), "status": "True", "type": "Initialized"},
        {"lastProbeTime": null, "lastTransitionTime": ts(t), "message": msg, "reason": "ContainersNotReady", "status": "False", "type": "Ready"},
        {"lastProbeTime": null, "lastTransitionTime": ts(t), "message": msg, "reason": "ContainersNotReady", "status": "False", "type": "ContainersReady"},
        {"lastProbeTime": null, "lastTransitionTime": ts(t), "status": "True", "type": "PodScheduled"},
    ])
}

/// What a pod was before it was re-created.
struct Old {
    name: String,
    uid: String,
    node: String,
}

/// The ReplicaSet's controller re-creates a deleted pod: a new name, uid and IP, on `node`.
fn recreate(pod: &mut Value, rng: &mut Rng, t: i64, node: &mut NodePlan) -> Old {
    let old = Old {
        name: name(pod).to_string(),
        uid: str_at(pod, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string(),
        node: str_at(pod, &["spec", "nodeName"])
            .unwrap_or_default()
            .to_string(),
    };
    let generate = str_at(pod, &["metadata", "generateName"])
        .unwrap_or_default()
        .to_string();
    let m = &mut pod["metadata"];
    m["name"] = format!("{generate}{}", rng.k8s_suffix(5)).into();
    m["uid"] = rng.uid().into();
    m["creationTimestamp"] = ts(t).into();
    m["resourceVersion"] = rng.range(300_000, 400_000).to_string().into();
    pod["spec"]["nodeName"] = node.name.clone().into();
    let ip = node.next_ip();
    let st = &mut pod["status"];
    st["hostIP"] = node.ip.clone().into();
    st["hostIPs"] = json!([{"ip": node.ip}]);
    st["podIP"] = ip.clone().into();
    st["podIPs"] = json!([{"ip": ip}]);
    st["startTime"] = ts(t + 1).into();
    old
}

fn container(pod: &Value) -> (String, String, u64) {
    let c = &pod["spec"]["containers"][0];
    (
        c["name"].as_str().unwrap_or_default().to_string(),
        c["image"].as_str().unwrap_or_default().to_string(),
        c["ports"][0]["containerPort"].as_u64().unwrap_or(8080),
    )
}

/// The Service's endpoint for the re-created pod, not ready (or gone when `ip` is None).
fn endpoint_not_ready(items: &mut [Value], svc: &str, pod: &Value, t: i64) {
    let (pname, uid) = (
        name(pod).to_string(),
        str_at(pod, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string(),
    );
    let ip = str_at(pod, &["status", "podIP"])
        .unwrap_or_default()
        .to_string();
    let node = str_at(pod, &["spec", "nodeName"])
        .unwrap_or_default()
        .to_string();
    let target = json!({"kind": "Pod", "name": pname, "namespace": NS, "uid": uid});
    let ep = find(items, "Endpoints", |n| n == svc);
    ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
        ts(t).into();
    let ports = ep["subsets"][0]["ports"].clone();
    ep["subsets"] = json!([{"notReadyAddresses": [{"ip": ip, "nodeName": node, "targetRef": target}], "ports": ports}]);
    let sl = slice_of(items, svc);
    sl["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
        ts(t).into();
    sl["endpoints"] = json!([{
        "addresses": [ip],
        "conditions": {"ready": false, "serving": false, "terminating": false},
        "nodeName": node,
        "targetRef": target,
    }]);
}

/// A Service with no pod behind it: Endpoints without subsets, an empty EndpointSlice.
fn endpoints_empty(items: &mut [Value], svc: &str, t: i64) {
    let ep = find(items, "Endpoints", |n| n == svc);
    ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
        ts(t).into();
    if let Some(m) = ep.as_object_mut() {
        m.remove("subsets");
    }
    let sl = slice_of(items, svc);
    sl["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
        ts(t).into();
    sl["endpoints"] = Value::Null;
    sl["ports"] = Value::Null;
}

/// Deployment and ReplicaSet status with the one replica unavailable.
fn unavailable(items: &mut [Value], deploy: &str, t: i64, deadline: bool) {
    let rs_name = {
        let rs = find(items, "ReplicaSet", |n| {
            n.strip_prefix(deploy).is_some_and(|r| r.starts_with('-'))
                && n.matches('-').count() == deploy.matches('-').count() + 1
        });
        rs["status"] = json!({"fullyLabeledReplicas": 1, "observedGeneration": 1, "replicas": 1, "terminatingReplicas": 0});
        name(rs).to_string()
    };
    let d = find(items, "Deployment", |n| n == deploy);
    let progressing = if deadline {
        json!({"lastTransitionTime": ts(t + 600), "lastUpdateTime": ts(t + 600), "message": format!("ReplicaSet \"{rs_name}\" has timed out progressing."), "reason": "ProgressDeadlineExceeded", "status": "False", "type": "Progressing"})
    } else {
        d["status"]["conditions"][1].clone()
    };
    d["status"] = json!({
        "conditions": [
            {"lastTransitionTime": ts(t), "lastUpdateTime": ts(t), "message": "Deployment does not have minimum availability.", "reason": "MinimumReplicasUnavailable", "status": "False", "type": "Available"},
            progressing,
        ],
        "observedGeneration": 1,
        "replicas": 1,
        "terminatingReplicas": 0,
        "unavailableReplicas": 1,
        "updatedReplicas": 1,
    });
}

fn rs_of(pod: &Value) -> (String, String) {
    let o = &pod["metadata"]["ownerReferences"][0];
    (
        o["name"].as_str().unwrap_or_default().into(),
        o["uid"].as_str().unwrap_or_default().into(),
    )
}

/// Killing (old pod), SuccessfulCreate and Scheduled (new pod).
fn replaced_events(ctx: &mut Ctx, pod: &Value, old: &Old, c: &str, t: i64) {
    let (rs, rs_uid) = rs_of(pod);
    let (pname, uid) = (
        name(pod).to_string(),
        str_at(pod, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string(),
    );
    let node = str_at(pod, &["spec", "nodeName"])
        .unwrap_or_default()
        .to_string();
    ctx.events.push(
        Ev::new(
            NS,
            "Pod",
            &old.name,
            &old.uid,
            "Killing",
            format!("Stopping container {c}"),
            Source::Kubelet(old.node.clone()),
            t - 1,
        )
        .field(c),
    );
    ctx.events.push(Ev::new(
        NS,
        "ReplicaSet",
        &rs,
        &rs_uid,
        "SuccessfulCreate",
        format!("Created pod: {pname}"),
        Source::Controller("replicaset-controller"),
        t,
    ));
    ctx.events.push(Ev::new(
        NS,
        "Pod",
        &pname,
        &uid,
        "Scheduled",
        format!("Successfully assigned {NS}/{pname} to {node}"),
        Source::Scheduler {
            instance: ctx.scheduler.clone(),
            action: "Binding",
        },
        t,
    ));
}

/// Failure 1: no tsdb leader, and two ts-* pods that need the database.
pub fn no_tsdb_leader(items: &mut [Value], ctx: &mut Ctx) {
    let demoted = ctx.now - 50 * 60;
    for i in 0..3 {
        let pod = find(items, "Pod", |n| n == format!("tsdb-mysql-{i}"));
        pod["metadata"]["labels"]["role"] = "follower".into();
    }
    endpoints_empty(items, "tsdb-mysql-leader", demoted);
    ctx.expected
        .push(format!("TT-DB-001 Service {NS}/tsdb-mysql-leader"));
    restarted_without_db(items, ctx, "ts-auth-service", 8, true);
    restarted_without_db(items, ctx, "ts-user-service", 3, false);
}

/// A ts-* pod the user deleted at 09:00 whose replacement cannot reach tsdb: CrashLoopBackOff
/// (`crash`) or 0/1 Running, with `restarts` restarts and the kubelet's events.
fn restarted_without_db(
    items: &mut [Value],
    ctx: &mut Ctx,
    deploy: &str,
    restarts: u32,
    crash: bool,
) {
    let deleted = ctx.now - 40 * 60;
    let mut rng = Rng::keyed(ctx.seed, &format!("inject:{deploy}"));
    let pod = find(items, "Pod", |n| {
        n.starts_with(&format!("{deploy}-"))
            && n.matches('-').count() == deploy.matches('-').count() + 2
    });
    let node_i = node_index(
        ctx.nodes,
        str_at(pod, &["spec", "nodeName"]).unwrap_or_default(),
    );
    let old = recreate(pod, &mut rng, deleted, &mut ctx.nodes[node_i]);
    let (c, image, port) = container(pod);
    let pname = name(pod).to_string();
    let uid = str_at(pod, &["metadata", "uid"])
        .unwrap_or_default()
        .to_string();
    let ip = str_at(pod, &["status", "podIP"])
        .unwrap_or_default()
        .to_string();
    let last_start = ctx.now - if crash { 150 } else { 170 };
    let status = &mut pod["status"];
    status["conditions"] = not_ready_conditions(deleted + 1, &c);
    let cs = &mut status["containerStatuses"][0];
    cs["containerID"] = format!("containerd://{}", rng.hex(64)).into();
    cs["ready"] = false.into();
    cs["restartCount"] = restarts.into();
    cs["lastState"] = json!({"terminated": {
        "containerID": format!("containerd://{}", rng.hex(64)),
        "exitCode": 1,
        "finishedAt": ts(last_start - if crash { 0 } else { 5 }),
        "reason": "Error",
        "startedAt": ts(last_start - 75),
    }});
    cs["started"] = (!crash).into();
    if crash {
        cs["state"] = json!({"waiting": {
            "message": format!("back-off 5m0s restarting failed container={c} pod={pname}_{NS}({uid})"),
            "reason": "CrashLoopBackOff",
        }});
        ctx.expected.push(format!("TT-POD-001 Pod {NS}/{pname}"));
    } else {
        cs["state"] = json!({"running": {"startedAt": ts(last_start)}});
        ctx.expected.push(format!("TT-POD-002 Pod {NS}/{pname}"));
    }
    let pod = pod.clone();
    endpoint_not_ready(items, deploy, &pod, deleted + 1);
    unavailable(items, deploy, deleted, false);
    replaced_events(ctx, &pod, &old, &c, deleted);
    let host = Source::Kubelet(ctx.nodes[node_i].name.clone());
    let ev = |reason, msg: String, first, count, last| {
        Ev::new(NS, "Pod", &pname, &uid, reason, msg, host.clone(), first)
            .field(&c)
            .repeat(count, last)
    };
    let starts = restarts + 1;
    let refused =
        format!("Readiness probe failed: dial tcp {ip}:{port}: connect: connection refused");
    let backoff = format!("Back-off restarting failed container {c} in pod {pname}_{NS}({uid})");
    let (backoffs, last_backoff) = if crash {
        (96, ctx.now - 20)
    } else {
        (14, ctx.now - 400)
    };
    ctx.events.extend([
        ev(
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
            deleted + 2,
            starts,
            last_start,
        ),
        ev(
            "Created",
            format!("Created container {c}"),
            deleted + 2,
            starts,
            last_start,
        ),
        ev(
            "Started",
            format!("Started container {c}"),
            deleted + 2,
            starts,
            last_start,
        ),
        ev(
            "Unhealthy",
            refused,
            deleted + 62,
            restarts * 9 + 4,
            ctx.now - 25,
        )
        .warning(),
        ev("BackOff", backoff, deleted + 140, backoffs, last_backoff).warning(),
    ]);
}

/// Failure 3: an ImagePullBackOff on a node without the image.
pub fn image_pull_backoff(items: &mut [Value], ctx: &mut Ctx) {
    let t = ctx.now - 30 * 60;
    let deploy = "ts-avatar-service";
    let mut rng = Rng::keyed(ctx.seed, "inject:avatar");
    let pod = find(items, "Pod", |n| n.starts_with("ts-avatar-service-"));
    let old = recreate(pod, &mut rng, t, &mut ctx.nodes[ctx.avatar_node]);
    let (c, image, _) = container(pod);
    let (pname, uid) = (
        name(pod).to_string(),
        str_at(pod, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string(),
    );
    let status = &mut pod["status"];
    status["phase"] = "Pending".into();
    status["conditions"] = not_ready_conditions(t + 1, &c);
    status["containerStatuses"] = json!([{
        "image": image,
        "imageID": "",
        "lastState": {},
        "name": c,
        "ready": false,
        "restartCount": 0,
        "started": false,
        "state": {"waiting": {"message": format!("Back-off pulling image \"{image}\""), "reason": "ImagePullBackOff"}},
    }]);
    let pod = pod.clone();
    ctx.expected.push(format!("TT-IMG-002 Pod {NS}/{pname}"));
    endpoint_not_ready(items, deploy, &pod, t + 1);
    unavailable(items, deploy, t, true);
    replaced_events(ctx, &pod, &old, &c, t);
    let host = Source::Kubelet(ctx.nodes[ctx.avatar_node].name.clone());
    let ev = |reason, msg: String, first, count, last| {
        Ev::new(NS, "Pod", &pname, &uid, reason, msg, host.clone(), first)
            .field(&c)
            .repeat(count, last)
    };
    let repo = AVATAR_IMAGE
        .rsplit_once(':')
        .map_or(AVATAR_IMAGE, |(r, _)| r);
    let path = repo.trim_start_matches("docker.io/");
    ctx.events.push(ev(
        "Pulling",
        format!("Pulling image \"{image}\""),
        t + 2,
        7,
        ctx.now - 190,
    ));
    ctx.events.push(ev("Failed", format!("Failed to pull image \"{image}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{AVATAR_IMAGE}\": failed to resolve reference \"{AVATAR_IMAGE}\": failed to do request: Head \"https://registry-1.docker.io/v2/{path}/manifests/0.2.0\": dial tcp: lookup registry-1.docker.io: i/o timeout"), t + 22, 7, ctx.now - 170).warning());
    ctx.events.push(
        ev(
            "Failed",
            "Error: ErrImagePull".into(),
            t + 22,
            7,
            ctx.now - 170,
        )
        .warning(),
    );
    ctx.events.push(ev(
        "BackOff",
        format!("Back-off pulling image \"{image}\""),
        t + 23,
        118,
        ctx.now - 12,
    ));
    ctx.events.push(
        ev(
            "Failed",
            "Error: ImagePullBackOff".into(),
            t + 23,
            118,
            ctx.now - 12,
        )
        .warning(),
    );
}

/// The Deployment deleted and applied again with a nodeSelector, and its new ReplicaSet:
/// returns the Deployment's uid, the ReplicaSet's name and uid, and the pod-template hash.
fn recreated_with_selector(
    items: &mut [Value],
    deploy: &str,
    selector: &Value,
    t: i64,
    rng: &mut Rng,
) -> (String, String, String, String) {
    let hash = rng.k8s_suffix(10);
    let d_uid = rng.uid();
    let rs_uid = rng.uid();
    let d = find(items, "Deployment", |n| n == deploy);
    d["metadata"]["uid"] = d_uid.clone().into();
    d["metadata"]["creationTimestamp"] = ts(t).into();
    d["spec"]["template"]["spec"]["nodeSelector"] = selector.clone();
    let key = "kubectl.kubernetes.io/last-applied-configuration";
    if let Some(applied) = str_at(d, &["metadata", "annotations", key]) {
        let mut a: Value = serde_json::from_str(applied).expect("last-applied is JSON");
        a["spec"]["template"]["spec"]["nodeSelector"] = selector.clone();
        d["metadata"]["annotations"][key] = format!("{}\n", super::emit::json_compact(&a)).into();
    }
    let rs_name = format!("{deploy}-{hash}");
    let dashes = deploy.matches('-').count() + 1;
    let rs = find(items, "ReplicaSet", |n| {
        n.starts_with(&format!("{deploy}-")) && n.matches('-').count() == dashes
    });
    rs["metadata"]["name"] = rs_name.clone().into();
    rs["metadata"]["uid"] = rs_uid.clone().into();
    rs["metadata"]["creationTimestamp"] = ts(t).into();
    rs["metadata"]["labels"]["pod-template-hash"] = hash.clone().into();
    rs["metadata"]["ownerReferences"][0]["uid"] = d_uid.clone().into();
    rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] = hash.clone().into();
    rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = hash.clone().into();
    rs["spec"]["template"]["spec"]["nodeSelector"] = selector.clone();
    (d_uid, rs_name, rs_uid, hash)
}

/// Failure 4: a nodeSelector no node matches.
pub fn unmatched_selector(items: &mut [Value], ctx: &mut Ctx) {
    let t = ctx.now - 20 * 60;
    let deploy = "ts-admin-route-service";
    let selector = json!({"mem-class": "high"});
    let mut rng = Rng::keyed(ctx.seed, "inject:admin-route");
    let (d_uid, rs_name, rs_uid, hash) =
        recreated_with_selector(items, deploy, &selector, t, &mut rng);
    let pod = find(items, "Pod", |n| n.starts_with(&format!("{deploy}-")));
    let old = Old {
        name: name(pod).to_string(),
        uid: str_at(pod, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string(),
        node: str_at(pod, &["spec", "nodeName"])
            .unwrap_or_default()
            .to_string(),
    };
    let pname = format!("{rs_name}-{}", rng.k8s_suffix(5));
    let uid = rng.uid();
    let m = &mut pod["metadata"];
    m["name"] = pname.clone().into();
    m["generateName"] = format!("{rs_name}-").into();
    m["uid"] = uid.clone().into();
    m["creationTimestamp"] = ts(t).into();
    m["labels"]["pod-template-hash"] = hash.clone().into();
    m["ownerReferences"][0]["name"] = rs_name.clone().into();
    m["ownerReferences"][0]["uid"] = rs_uid.clone().into();
    let spec = pod["spec"].as_object_mut().expect("spec");
    spec.remove("nodeName");
    spec.insert("nodeSelector".into(), selector);
    let (total, tainted) = (ctx.nodes.len(), ctx.nodes.iter().filter(|n| n.cp).count());
    let mut reasons = [
        format!("{tainted} node(s) had untolerated taint(s)"),
        format!(
            "{} node(s) didn't match Pod's node affinity/selector",
            total - tainted
        ),
    ];
    reasons.sort();
    let msg = format!(
        "0/{total} nodes are available: {}. no new claims to deallocate, preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
        reasons.join(", ")
    );
    pod["status"] = json!({
        "conditions": [{"lastProbeTime": null, "lastTransitionTime": ts(t), "message": msg, "observedGeneration": 1, "reason": "Unschedulable", "status": "False", "type": "PodScheduled"}],
        "phase": "Pending",
        "qosClass": "Burstable",
    });
    ctx.expected.push(format!("TT-SCHED-001 Pod {NS}/{pname}"));
    endpoints_empty(items, deploy, t);
    unavailable(items, deploy, t, true);
    let c = deploy;
    ctx.events.push(
        Ev::new(
            NS,
            "Pod",
            &old.name,
            &old.uid,
            "Killing",
            format!("Stopping container {c}"),
            Source::Kubelet(old.node.clone()),
            t - 9,
        )
        .field(c),
    );
    ctx.events.push(Ev::new(
        NS,
        "Deployment",
        deploy,
        &d_uid,
        "ScalingReplicaSet",
        format!("Scaled up replica set {rs_name} from 0 to 1"),
        Source::Controller("deployment-controller"),
        t,
    ));
    ctx.events.push(Ev::new(
        NS,
        "ReplicaSet",
        &rs_name,
        &rs_uid,
        "SuccessfulCreate",
        format!("Created pod: {pname}"),
        Source::Controller("replicaset-controller"),
        t,
    ));
    let mut sched = Ev::new(
        NS,
        "Pod",
        &pname,
        &uid,
        "FailedScheduling",
        msg,
        Source::Scheduler {
            instance: ctx.scheduler.clone(),
            action: "Scheduling",
        },
        t,
    )
    .warning();
    sched.series = Some((5, ctx.now - 140));
    ctx.events.push(sched);
}
