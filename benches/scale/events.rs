//! Events as compact records, built into `v1 Event` objects when written. Kubelet and
//! controller events use the old style (`count`, `firstTimestamp`/`lastTimestamp`, `source`);
//! scheduler events the events/v1 style (`action`, `eventTime`, `series`).

use super::util::{Rng, ts, ts_micro};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub enum Source {
    /// The kubelet of a node.
    Kubelet(String),
    /// A controller (`replicaset-controller`, `deployment-controller`, …).
    Controller(&'static str),
    /// default-scheduler (events/v1), with its instance and action.
    Scheduler {
        instance: String,
        action: &'static str,
    },
}

#[derive(Clone, Debug)]
pub struct Ev {
    pub ns: String,
    pub kind: &'static str,
    pub api_version: &'static str,
    pub obj: String,
    pub obj_uid: String,
    pub field_path: Option<String>,
    pub reason: &'static str,
    pub warning: bool,
    pub message: String,
    pub count: u32,
    pub first: i64,
    pub last: i64,
    pub source: Source,
    /// Scheduler events that repeat: (count, last observed).
    pub series: Option<(u32, i64)>,
    /// Disambiguates the name (`<object>.<unix nanos in hex>`).
    pub nanos: u64,
}

impl Ev {
    /// A kubelet or controller event about a pod or controller.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ns: &str,
        kind: &'static str,
        obj: &str,
        obj_uid: &str,
        reason: &'static str,
        message: String,
        source: Source,
        first: i64,
    ) -> Ev {
        let api_version = match kind {
            "Deployment" | "ReplicaSet" | "StatefulSet" => "apps/v1",
            _ => "v1",
        };
        let mut rng = Rng::keyed(first as u64, &format!("{ns}/{obj}/{reason}/{message}"));
        Ev {
            ns: ns.to_string(),
            kind,
            api_version,
            obj: obj.to_string(),
            obj_uid: obj_uid.to_string(),
            field_path: None,
            reason,
            warning: false,
            message,
            count: 1,
            first,
            last: first,
            source,
            series: None,
            nanos: (first as u64) * 1_000_000_000 + rng.below(1_000_000_000),
        }
    }

    pub fn warning(mut self) -> Ev {
        self.warning = true;
        self
    }

    pub fn field(mut self, container: &str) -> Ev {
        self.field_path = Some(format!("spec.containers{{{container}}}"));
        self
    }

    pub fn repeat(mut self, count: u32, last: i64) -> Ev {
        self.count = count;
        self.last = last;
        self
    }

    pub fn name(&self) -> String {
        format!("{}.{:x}", self.obj, self.nanos)
    }

    pub fn to_value(&self, seed: u64) -> Value {
        let name = self.name();
        let mut rng = Rng::keyed(seed, &format!("event:{}/{name}", self.ns));
        let mut involved = json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.obj,
            "namespace": self.ns,
            "resourceVersion": rng.range(100_000, 9_000_000).to_string(),
            "uid": self.obj_uid,
        });
        if let Some(f) = &self.field_path {
            involved["fieldPath"] = f.clone().into();
        }
        let mut v = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "involvedObject": involved,
            "message": self.message,
            "metadata": {
                "creationTimestamp": ts(self.first),
                "name": name,
                "namespace": self.ns,
                "resourceVersion": rng.range(100_000, 9_000_000).to_string(),
                "uid": rng.uid(),
            },
            "reason": self.reason,
            "type": if self.warning { "Warning" } else { "Normal" },
        });
        let m = v.as_object_mut().expect("object");
        match &self.source {
            Source::Scheduler { instance, action } => {
                m.insert("action".into(), (*action).into());
                m.insert(
                    "eventTime".into(),
                    ts_micro(self.first, self.nanos % 1_000_000).into(),
                );
                m.insert("firstTimestamp".into(), Value::Null);
                m.insert("lastTimestamp".into(), Value::Null);
                m.insert("reportingComponent".into(), "default-scheduler".into());
                m.insert("reportingInstance".into(), instance.clone().into());
                m.insert("source".into(), json!({}));
                if let Some((count, last)) = self.series {
                    m.insert(
                        "series".into(),
                        json!({"count": count, "lastObservedTime": ts_micro(last, (self.nanos / 7) % 1_000_000)}),
                    );
                }
            }
            Source::Kubelet(host) => {
                self.old_style(m);
                m.insert("reportingComponent".into(), "kubelet".into());
                m.insert("reportingInstance".into(), host.clone().into());
                m.insert(
                    "source".into(),
                    json!({"component": "kubelet", "host": host}),
                );
            }
            Source::Controller(c) => {
                self.old_style(m);
                m.insert("reportingComponent".into(), (*c).into());
                m.insert("reportingInstance".into(), "".into());
                m.insert("source".into(), json!({"component": c}));
            }
        }
        v
    }

    fn old_style(&self, m: &mut serde_json::Map<String, Value>) {
        m.insert("count".into(), self.count.into());
        m.insert("eventTime".into(), Value::Null);
        m.insert("firstTimestamp".into(), ts(self.first).into());
        m.insert("lastTimestamp".into(), ts(self.last).into());
    }
}
