//! The resource kinds a snapshot holds, with what the API needs to list them.

use std::fmt;

/// One kind of object ttdoctor reads. The order is the order of the `kubectl get` command
/// whose output a snapshot file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Node,
    StorageClass,
    PersistentVolume,
    PersistentVolumeClaim,
    Namespace,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    StatefulSet,
    Deployment,
    ReplicaSet,
    Event,
    NodeMetrics,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Node,
        Kind::StorageClass,
        Kind::PersistentVolume,
        Kind::PersistentVolumeClaim,
        Kind::Namespace,
        Kind::Pod,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::StatefulSet,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Event,
        Kind::NodeMetrics,
    ];

    /// The `kind` field as the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::StorageClass => "StorageClass",
            Kind::PersistentVolume => "PersistentVolume",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::StatefulSet => "StatefulSet",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Event => "Event",
            Kind::NodeMetrics => "NodeMetrics",
        }
    }

    /// The resource name in API paths (`/api/v1/<plural>`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::StorageClass => "storageclasses",
            Kind::PersistentVolume => "persistentvolumes",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
            Kind::Namespace => "namespaces",
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::StatefulSet => "statefulsets",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Event => "events",
            Kind::NodeMetrics => "nodes",
        }
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::StorageClass => "storage.k8s.io/v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::StatefulSet | Kind::Deployment | Kind::ReplicaSet => "apps/v1",
            Kind::NodeMetrics => "metrics.k8s.io/v1beta1",
            _ => "v1",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Node
                | Kind::StorageClass
                | Kind::PersistentVolume
                | Kind::Namespace
                | Kind::NodeMetrics
        )
    }

    /// Accepts the kind name in any case, its plural, or a common short name.
    pub fn parse(s: &str) -> Option<Kind> {
        let l = s.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| {
            k.name().eq_ignore_ascii_case(&l)
                || (k.plural() == l && *k != Kind::NodeMetrics)
                || match k {
                    Kind::Node => l == "no",
                    Kind::StorageClass => l == "sc",
                    Kind::PersistentVolume => l == "pv",
                    Kind::PersistentVolumeClaim => l == "pvc",
                    Kind::Namespace => l == "ns",
                    Kind::Pod => l == "po",
                    Kind::Service => l == "svc",
                    Kind::Endpoints => l == "ep",
                    Kind::StatefulSet => l == "sts",
                    Kind::Deployment => l == "deploy",
                    Kind::ReplicaSet => l == "rs",
                    Kind::Event => l == "ev",
                    _ => false,
                }
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
