//! Building the generated objects from the plan, one at a time: nodes, per-node system pods,
//! and the filler namespaces' workloads (Deployments → ReplicaSets → Pods, StatefulSets with
//! PVCs and PVs, Services with Endpoints and EndpointSlices).

use super::base::{Remap, str_at};
use super::generate::Cluster;
use super::plan::{SIDECARS, Workload};
use super::util::{Rng, ts, uid_of};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const KUBE_API: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn rv(rng: &mut Rng) -> String {
    rng.range(1_000, 9_000_000).to_string()
}

fn default_tolerations() -> Value {
    json!([
        {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
        {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
    ])
}

fn api_access_volume(name: &str) -> Value {
    json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
    ]}})
}

impl Cluster {
    pub fn ns_name(&self, w: &Workload) -> &str {
        &self.namespaces[w.ns]
    }

    fn wl_uid(&self, w: &Workload, kind: &str) -> String {
        uid_of(self.seed, &format!("{kind}:{}/{}", self.ns_name(w), w.name))
    }

    pub fn rs_name(w: &Workload, old: bool) -> String {
        format!("{}-{}", w.name, if old { &w.old_hash } else { &w.hash })
    }

    pub fn pod_name(&self, i: usize) -> String {
        let p = &self.pods[i];
        let w = &self.workloads[p.wl as usize];
        if w.sts {
            format!("{}-{}", w.name, p.ord)
        } else {
            format!("{}-{}", Self::rs_name(w, false), p.suffix)
        }
    }

    pub fn pod_uid(&self, i: usize) -> String {
        let w = &self.workloads[self.pods[i].wl as usize];
        uid_of(
            self.seed,
            &format!("pod:{}/{}", self.ns_name(w), self.pod_name(i)),
        )
    }

    fn labels(&self, w: &Workload, with_hash: bool) -> Value {
        let mut l = json!({"app": w.name});
        if with_hash {
            l["pod-template-hash"] = w.hash.clone().into();
        }
        l
    }

    fn containers(&self, w: &Workload, template: bool, api_volume: &str) -> Value {
        let img = &self.images[w.image];
        let probe = if w.sts {
            json!({"failureThreshold": 3, "initialDelaySeconds": 10, "periodSeconds": 10, "successThreshold": 1, "tcpSocket": {"port": img.port}, "timeoutSeconds": 1})
        } else {
            json!({"failureThreshold": 3, "httpGet": {"path": "/healthz", "port": img.port, "scheme": "HTTP"}, "initialDelaySeconds": 5, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1})
        };
        let mut mounts = Vec::new();
        if w.sts {
            mounts.push(json!({"mountPath": "/data", "name": "data"}));
        }
        if !template {
            mounts.push(json!({"mountPath": KUBE_API, "name": api_volume, "readOnly": true}));
        }
        let mut main = json!({
            "image": img.spec_ref,
            "imagePullPolicy": "IfNotPresent",
            "name": w.name,
            "ports": [{"containerPort": img.port, "name": if w.sts { "tcp" } else { "http" }, "protocol": "TCP"}],
            "readinessProbe": probe,
            "resources": {
                "limits": {"cpu": format!("{}m", w.cpu_m * 4), "memory": format!("{}Mi", w.lim_mi)},
                "requests": {"cpu": format!("{}m", w.cpu_m), "memory": format!("{}Mi", w.req_mi)},
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        });
        if !mounts.is_empty() {
            main["volumeMounts"] = mounts.into();
        }
        let mut out = vec![main];
        if let Some(s) = w.sidecar {
            let (image, _, mem, name) = SIDECARS[s];
            let mut c = json!({
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "name": name,
                "resources": {"limits": {"memory": format!("{}Mi", mem * 2)}, "requests": {"cpu": "10m", "memory": format!("{mem}Mi")}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            });
            if !template {
                c["volumeMounts"] =
                    json!([{"mountPath": KUBE_API, "name": api_volume, "readOnly": true}]);
            }
            out.push(c);
        }
        out.into()
    }

    fn template_spec(&self, w: &Workload) -> Value {
        json!({
            "containers": self.containers(w, true, ""),
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        })
    }

    fn template(&self, w: &Workload, with_hash: bool) -> Value {
        let mut meta = json!({"labels": self.labels(w, with_hash)});
        if let Some(t) = w.rollout {
            meta["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": ts(t - 1)});
        }
        json!({"metadata": meta, "spec": self.template_spec(w)})
    }

    /// When the pod was created, started and became ready.
    fn pod_times(&self, i: usize) -> (i64, i64, i64) {
        let p = &self.pods[i];
        let mut rng = Rng::keyed(self.seed, &format!("podtimes:{i}"));
        let start = p.created + 1 + rng.below(20) as i64;
        (p.created, start, start + 3 + rng.below(12) as i64)
    }

    fn container_statuses(&self, i: usize, started: i64, rng: &mut Rng) -> Value {
        let w = &self.workloads[self.pods[i].wl as usize];
        let img = &self.images[w.image];
        let mut out = Vec::new();
        let restarts = if w.rollout.is_none() && rng.chance(30) {
            rng.range(1, 2)
        } else {
            0
        };
        let mut main = json!({
            "containerID": format!("containerd://{}", rng.hex(64)),
            "image": img.tag_ref,
            "imageID": img.digest_ref,
            "lastState": {},
            "name": w.name,
            "ready": true,
            "restartCount": restarts,
            "started": true,
            "state": {"running": {"startedAt": ts(started)}},
        });
        if restarts > 0 {
            let until = self.now - rng.range(3_600, 40_000) as i64;
            main["lastState"] = json!({"terminated": {
                "containerID": format!("containerd://{}", rng.hex(64)),
                "exitCode": 137,
                "finishedAt": ts(until),
                "reason": "OOMKilled",
                "startedAt": ts(started),
            }});
            main["state"]["running"]["startedAt"] = ts(until + 1).into();
        }
        out.push(main);
        if let Some(s) = w.sidecar {
            let (image, _, _, name) = SIDECARS[s];
            let full = ttdoctor::index::normalize_image(image);
            let repo = full
                .rsplit_once(':')
                .map_or(full.as_str(), |(r, _)| r)
                .to_string();
            out.push(json!({
                "containerID": format!("containerd://{}", rng.hex(64)),
                "image": full,
                "imageID": format!("{repo}@sha256:{}", Rng::keyed(self.seed, &repo).hex(64)),
                "lastState": {},
                "name": name,
                "ready": true,
                "restartCount": 0,
                "started": true,
                "state": {"running": {"startedAt": ts(started)}},
            }));
        }
        out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        out.into()
    }

    pub fn pod(&self, i: usize) -> Value {
        let p = &self.pods[i];
        let w = &self.workloads[p.wl as usize];
        let ns = self.ns_name(w);
        let name = self.pod_name(i);
        let node = &self.nodes[p.node as usize];
        let mut rng = Rng::keyed(self.seed, &format!("pod:{ns}/{name}"));
        let (created, started, ready) = self.pod_times(i);
        let api_volume = format!("kube-api-access-{}", rng.k8s_suffix(5));
        let (owner_kind, owner) = if w.sts {
            ("StatefulSet", w.name.clone())
        } else {
            ("ReplicaSet", Self::rs_name(w, false))
        };
        let mut labels = self.labels(w, !w.sts);
        if w.sts {
            labels["apps.kubernetes.io/pod-index"] = p.ord.to_string().into();
            labels["controller-revision-hash"] = format!("{}-{}", w.name, w.hash).into();
            labels["statefulset.kubernetes.io/pod-name"] = name.clone().into();
        }
        let mut meta = json!({
            "creationTimestamp": ts(created),
            "generateName": format!("{owner}-"),
            "generation": 1,
            "labels": labels,
            "name": name,
            "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": owner_kind,
                "name": owner, "uid": if w.sts { self.wl_uid(w, "sts") } else { self.wl_uid(w, "rs") }}],
            "resourceVersion": rv(&mut rng),
            "uid": self.pod_uid(i),
        });
        if let Some(t) = w.rollout {
            meta["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": ts(t - 1)});
        }
        let mut volumes = vec![api_access_volume(&api_volume)];
        if w.sts {
            volumes.insert(0, json!({"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{name}")}}));
        }
        let mut spec = json!({
            "containers": self.containers(w, false, &api_volume),
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "nodeName": node.name,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": default_tolerations(),
            "volumes": volumes,
        });
        if w.sts {
            spec["hostname"] = name.clone().into();
            spec["subdomain"] = w.name.clone().into();
        }
        let cond = |t: i64, ty: &str| json!({"lastProbeTime": null, "lastTransitionTime": ts(t), "status": "True", "type": ty});
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,
            "status": {
                "conditions": [
                    cond(created + 2, "PodReadyToStartContainers"),
                    cond(created + 1, "Initialized"),
                    cond(ready, "Ready"),
                    cond(ready, "ContainersReady"),
                    cond(created, "PodScheduled"),
                ],
                "containerStatuses": self.container_statuses(i, started, &mut rng),
                "hostIP": node.ip,
                "hostIPs": [{"ip": node.ip}],
                "phase": "Running",
                "podIP": p.ip,
                "podIPs": [{"ip": p.ip}],
                "qosClass": "Burstable",
                "startTime": ts(created + 1),
            },
        })
    }

    pub fn deployment(&self, wi: usize) -> Value {
        let w = &self.workloads[wi];
        let ns = self.ns_name(w);
        let mut rng = Rng::keyed(self.seed, &format!("deploy:{ns}/{}", w.name));
        let rev = if w.rollout.is_some() { 2 } else { 1 };
        let last = w.rollout.map_or(w.created + 40, |t| t + 45);
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "annotations": {"deployment.kubernetes.io/revision": rev.to_string()},
                "creationTimestamp": ts(w.created),
                "generation": rev,
                "labels": {"app": w.name},
                "name": w.name,
                "namespace": ns,
                "resourceVersion": rv(&mut rng),
                "uid": self.wl_uid(w, "deploy"),
            },
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": w.replicas,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": w.name}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                "template": self.template(w, false),
            },
            "status": {
                "availableReplicas": w.replicas,
                "conditions": [
                    {"lastTransitionTime": ts(w.created + 30), "lastUpdateTime": ts(w.created + 30), "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"},
                    {"lastTransitionTime": ts(w.created), "lastUpdateTime": ts(last), "message": format!("ReplicaSet \"{}\" has successfully progressed.", Self::rs_name(w, false)), "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"},
                ],
                "observedGeneration": rev,
                "readyReplicas": w.replicas,
                "replicas": w.replicas,
                "terminatingReplicas": 0,
                "updatedReplicas": w.replicas,
            },
        })
    }

    pub fn replica_set(&self, wi: usize, old: bool) -> Value {
        let w = &self.workloads[wi];
        let ns = self.ns_name(w);
        let name = Self::rs_name(w, old);
        let mut rng = Rng::keyed(self.seed, &format!("rs:{ns}/{name}"));
        let hash = if old { &w.old_hash } else { &w.hash };
        let (replicas, rev) = match (old, w.rollout.is_some()) {
            (true, _) => (0, 1),
            (false, true) => (w.replicas, 2),
            (false, false) => (w.replicas, 1),
        };
        let mut template = self.template(w, true);
        template["metadata"]["labels"]["pod-template-hash"] = hash.clone().into();
        if old && let Some(m) = template["metadata"].as_object_mut() {
            m.remove("annotations");
        }
        let created = if old || w.rollout.is_none() {
            w.created + 1
        } else {
            w.rollout.unwrap_or_default()
        };
        let status = if replicas == 0 {
            json!({"observedGeneration": 2, "replicas": 0, "terminatingReplicas": 0})
        } else {
            json!({"availableReplicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1, "readyReplicas": replicas, "replicas": replicas, "terminatingReplicas": 0})
        };
        json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
                    "deployment.kubernetes.io/max-replicas": (w.replicas + w.replicas.div_ceil(4)).to_string(),
                    "deployment.kubernetes.io/revision": rev.to_string(),
                },
                "creationTimestamp": ts(created),
                "generation": if old { 2 } else { 1 },
                "labels": {"app": w.name, "pod-template-hash": hash},
                "name": name,
                "namespace": ns,
                "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": "Deployment", "name": w.name, "uid": self.wl_uid(w, "deploy")}],
                "resourceVersion": rv(&mut rng),
                "uid": if old { self.wl_uid(w, "oldrs") } else { self.wl_uid(w, "rs") },
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": w.name, "pod-template-hash": hash}},
                "template": template,
            },
            "status": status,
        })
    }

    pub fn stateful_set(&self, wi: usize) -> Value {
        let w = &self.workloads[wi];
        let ns = self.ns_name(w);
        let mut rng = Rng::keyed(self.seed, &format!("sts:{ns}/{}", w.name));
        let revision = format!("{}-{}", w.name, w.hash);
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "creationTimestamp": ts(w.created),
                "generation": 1,
                "labels": {"app": w.name},
                "name": w.name,
                "namespace": ns,
                "resourceVersion": rv(&mut rng),
                "uid": self.wl_uid(w, "sts"),
            },
            "spec": {
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "podManagementPolicy": "OrderedReady",
                "replicas": w.replicas,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": w.name}},
                "serviceName": w.name,
                "template": self.template(w, false),
                "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"},
                "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": format!("{}Gi", w.storage_gi)}}, "storageClassName": "openebs-hostpath", "volumeMode": "Filesystem"},
                    "status": {"phase": "Pending"}}],
            },
            "status": {
                "availableReplicas": w.replicas,
                "collisionCount": 0,
                "currentReplicas": w.replicas,
                "currentRevision": revision,
                "observedGeneration": 1,
                "readyReplicas": w.replicas,
                "replicas": w.replicas,
                "updateRevision": revision,
                "updatedReplicas": w.replicas,
            },
        })
    }

    pub fn pvc_uid(&self, pod: usize) -> String {
        let w = &self.workloads[self.pods[pod].wl as usize];
        uid_of(
            self.seed,
            &format!("pvc:{}/data-{}", self.ns_name(w), self.pod_name(pod)),
        )
    }

    pub fn pvc(&self, pod: usize) -> Value {
        let p = &self.pods[pod];
        let w = &self.workloads[p.wl as usize];
        let ns = self.ns_name(w);
        let uid = self.pvc_uid(pod);
        let mut rng = Rng::keyed(self.seed, &uid);
        let node = &self.nodes[p.node as usize].name;
        let size = format!("{}Gi", w.storage_gi);
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "annotations": {
                    "pv.kubernetes.io/bind-completed": "yes",
                    "pv.kubernetes.io/bound-by-controller": "yes",
                    "volume.beta.kubernetes.io/storage-provisioner": "openebs.io/local",
                    "volume.kubernetes.io/selected-node": node,
                    "volume.kubernetes.io/storage-provisioner": "openebs.io/local",
                },
                "creationTimestamp": ts(p.created - 1),
                "finalizers": ["kubernetes.io/pvc-protection"],
                "labels": {"app": w.name},
                "name": format!("data-{}", self.pod_name(pod)),
                "namespace": ns,
                "resourceVersion": rv(&mut rng),
                "uid": uid,
            },
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "storageClassName": "openebs-hostpath", "volumeMode": "Filesystem", "volumeName": format!("pvc-{uid}")},
            "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}, "phase": "Bound"},
        })
    }

    pub fn pv(&self, pod: usize) -> Value {
        let p = &self.pods[pod];
        let w = &self.workloads[p.wl as usize];
        let uid = self.pvc_uid(pod);
        let mut rng = Rng::keyed(self.seed, &format!("pv:{uid}"));
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "annotations": {"pv.kubernetes.io/provisioned-by": "openebs.io/local"},
                "creationTimestamp": ts(p.created),
                "finalizers": ["kubernetes.io/pv-protection"],
                "labels": {"openebs.io/cas-type": "local-hostpath"},
                "name": format!("pvc-{uid}"),
                "resourceVersion": rv(&mut rng),
                "uid": rng.uid(),
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": format!("{}Gi", w.storage_gi)},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": format!("data-{}", self.pod_name(pod)), "namespace": self.ns_name(w), "resourceVersion": rv(&mut rng), "uid": uid},
                "local": {"fsType": "", "path": format!("/var/openebs/local/pvc-{uid}")},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [self.nodes[p.node as usize].name]}]}]}},
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "openebs-hostpath",
                "volumeMode": "Filesystem",
            },
            "status": {"lastPhaseTransitionTime": ts(p.created + 1), "phase": "Bound"},
        })
    }

    fn svc_port(&self, w: &Workload) -> (u16, u16, &'static str) {
        let port = self.images[w.image].port;
        if w.sts {
            (port, port, "tcp")
        } else {
            (80, port, "http")
        }
    }

    pub fn service(&self, wi: usize) -> Value {
        let w = &self.workloads[wi];
        let ns = self.ns_name(w);
        let mut rng = Rng::keyed(self.seed, &format!("svc:{ns}/{}", w.name));
        let ip = self.svc_ips[wi].clone().unwrap_or_else(|| "None".into());
        let (port, target, pname) = self.svc_port(w);
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"creationTimestamp": ts(w.created - 2), "labels": {"app": w.name}, "name": w.name, "namespace": ns, "resourceVersion": rv(&mut rng), "uid": self.wl_uid(w, "svc")},
            "spec": {
                "clusterIP": ip,
                "clusterIPs": [ip],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": pname, "port": port, "protocol": "TCP", "targetPort": target}],
                "selector": {"app": w.name},
                "sessionAffinity": "None",
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        })
    }

    /// The pods behind a workload's Service, sorted by IP, with what an address names.
    fn targets(&self, w: &Workload) -> Vec<(String, Value, Option<String>)> {
        let ns = self.ns_name(w);
        let mut v: Vec<_> = (w.pod0..w.pod0 + w.replicas as usize)
            .map(|i| {
                let name = self.pod_name(i);
                let target =
                    json!({"kind": "Pod", "name": name, "namespace": ns, "uid": self.pod_uid(i)});
                let node = self.nodes[self.pods[i].node as usize].name.clone();
                (
                    self.pods[i].ip.clone(),
                    json!({"node": node, "target": target}),
                    w.sts.then_some(name),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn ready_time(&self, w: &Workload) -> i64 {
        (w.pod0..w.pod0 + w.replicas as usize)
            .map(|i| self.pod_times(i).2)
            .max()
            .unwrap_or(w.created)
    }

    pub fn endpoints(&self, wi: usize) -> Value {
        let w = &self.workloads[wi];
        let ns = self.ns_name(w);
        let mut rng = Rng::keyed(self.seed, &format!("ep:{ns}/{}", w.name));
        let (port, _, pname) = self.svc_port(w);
        let port = if w.sts {
            port
        } else {
            self.images[w.image].port
        };
        let addresses: Vec<Value> = self
            .targets(w)
            .into_iter()
            .map(|(ip, t, host)| {
                let mut a = json!({"ip": ip, "nodeName": t["node"], "targetRef": t["target"]});
                if let Some(h) = host {
                    a["hostname"] = h.into();
                }
                a
            })
            .collect();
        let mut labels =
            json!({"app": w.name, "endpoints.kubernetes.io/managed-by": "endpoint-controller"});
        if w.sts {
            labels["service.kubernetes.io/headless"] = "".into();
        }
        json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts(self.ready_time(w))},
                "creationTimestamp": ts(w.created - 2),
                "labels": labels,
                "name": w.name,
                "namespace": ns,
                "resourceVersion": rv(&mut rng),
                "uid": self.wl_uid(w, "ep"),
            },
            "subsets": [{"addresses": addresses, "ports": [{"name": pname, "port": port, "protocol": "TCP"}]}],
        })
    }

    pub fn slice_name(&self, w: &Workload) -> String {
        let mut rng = Rng::keyed(self.seed, &format!("slice:{}/{}", self.ns_name(w), w.name));
        format!("{}-{}", w.name, rng.k8s_suffix(5))
    }

    pub fn endpoint_slice(&self, wi: usize) -> Value {
        let w = &self.workloads[wi];
        let ns = self.ns_name(w);
        let mut rng = Rng::keyed(self.seed, &format!("sliceobj:{ns}/{}", w.name));
        let (_, target_port, pname) = self.svc_port(w);
        let endpoints: Vec<Value> = self
            .targets(w)
            .into_iter()
            .map(|(ip, t, host)| {
                let mut e = json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": t["node"], "targetRef": t["target"]});
                if let Some(h) = host {
                    e["hostname"] = h.into();
                }
                e
            })
            .collect();
        let mut labels = json!({"app": w.name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": w.name});
        if w.sts {
            labels["service.kubernetes.io/headless"] = "".into();
        }
        json!({
            "addressType": "IPv4",
            "apiVersion": "discovery.k8s.io/v1",
            "endpoints": endpoints,
            "kind": "EndpointSlice",
            "metadata": {
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts(self.ready_time(w))},
                "creationTimestamp": ts(w.created - 2),
                "generateName": format!("{}-", w.name),
                "generation": w.replicas + 1,
                "labels": labels,
                "name": self.slice_name(w),
                "namespace": ns,
                "ownerReferences": [{"apiVersion": "v1", "blockOwnerDeletion": true, "controller": true, "kind": "Service", "name": w.name, "uid": self.wl_uid(w, "svc")}],
                "resourceVersion": rv(&mut rng),
                "uid": rng.uid(),
            },
            "ports": [{"name": pname, "port": target_port, "protocol": "TCP"}],
        })
    }

    pub fn namespace(&self, i: usize) -> Value {
        let name = &self.namespaces[i];
        let mut rng = Rng::keyed(self.seed, &format!("ns:{name}"));
        let created = self
            .workloads
            .iter()
            .filter(|w| w.ns == i)
            .map(|w| w.created)
            .min()
            .unwrap_or(self.now)
            - 60;
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"creationTimestamp": ts(created), "labels": {"kubernetes.io/metadata.name": name}, "name": name, "resourceVersion": rv(&mut rng), "uid": rng.uid()},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })
    }

    pub fn node_uid(&self, i: usize) -> String {
        uid_of(self.seed, &format!("node:{}", self.nodes[i].name))
    }

    /// A template object (node or system pod) moved onto node `i` and to its time.
    fn rebased(&self, template: &Value, template_node: &str, i: usize, created: i64) -> Value {
        let n = &self.nodes[i];
        let old = self
            .base
            .old_nodes
            .iter()
            .find(|o| o.name == template_node)
            .expect("template node");
        let tcreated = super::base::parse_ts(
            str_at(template, &["metadata", "creationTimestamp"]).unwrap_or_default(),
        )
        .unwrap_or(old.created);
        let remap = Remap {
            exact: HashMap::from([
                (old.name.clone(), n.name.clone()),
                (old.ip.clone(), n.ip.clone()),
                (old.uid.clone(), self.node_uid(i)),
            ]),
            prefixes: Vec::new(),
            shift: created - tcreated,
        };
        let mut v = template.clone();
        remap.apply(&mut v);
        v
    }

    pub fn system_pod_name(&self, node: usize, prefix: &str) -> String {
        let mut rng = Rng::keyed(self.seed, &format!("{prefix}{}", self.nodes[node].name));
        format!("{prefix}{}", rng.k8s_suffix(5))
    }

    /// kube-proxy, flannel (`which` 0, 1) or a control-plane static pod (2..) on node `i`.
    pub fn system_pod(&self, i: usize, which: usize) -> Value {
        let n = &self.nodes[i];
        let mut rng = Rng::keyed(self.seed, &format!("syspod:{}/{which}", n.name));
        let (template, created) = match which {
            0 => (&self.base.kube_proxy, n.created + 8),
            1 => (&self.base.flannel, n.created + 5),
            _ => (&self.base.static_pods[which - 2], n.created + 18),
        };
        let tnode = str_at(template, &["spec", "nodeName"])
            .unwrap_or_default()
            .to_string();
        let mut v = self.rebased(template, &tnode, i, created);
        let name = match which {
            0 => self.system_pod_name(i, "kube-proxy-"),
            1 => self.system_pod_name(i, "kube-flannel-ds-"),
            _ => {
                let component = str_at(template, &["metadata", "name"])
                    .unwrap_or_default()
                    .trim_end_matches(tnode.as_str())
                    .to_string();
                // Command lines and annotations name the node's address.
                let old_ip = &self
                    .base
                    .old_nodes
                    .iter()
                    .find(|o| o.name == tnode)
                    .expect("template node")
                    .ip;
                let text = serde_json::to_string(&v)
                    .expect("json")
                    .replace(old_ip.as_str(), &n.ip);
                v = serde_json::from_str(&text).expect("json");
                format!("{component}{}", n.name)
            }
        };
        v["metadata"]["name"] = name.into();
        v["metadata"]["uid"] = rng.uid().into();
        v["metadata"]["resourceVersion"] = rv(&mut rng).into();
        for key in ["containerStatuses", "initContainerStatuses"] {
            for c in v["status"][key].as_array_mut().into_iter().flatten() {
                let id = format!("containerd://{}", rng.hex(64));
                if c["state"]["terminated"].is_object() {
                    c["state"]["terminated"]["containerID"] = id.clone().into();
                }
                c["containerID"] = id.into();
            }
        }
        v
    }
}
