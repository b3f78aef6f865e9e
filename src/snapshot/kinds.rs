//! The resource kinds a snapshot holds: one table, from which the `Kind` enum, the typed
//! store and every per-kind dispatch are generated. Names, groups, versions, plurals and scopes
//! come from k8s-openapi's `Resource` constants, so they are written nowhere else.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// What the tool knows about a kind besides its type.
#[derive(Debug)]
pub struct KindMeta {
    /// The `kind` field, e.g. `Pod`.
    pub name: &'static str,
    /// `group/version`, or `version` for the core group.
    pub api_version: &'static str,
    pub group: &'static str,
    /// The resource in API paths, e.g. `pods`.
    pub plural: &'static str,
    pub namespaced: bool,
    /// kubectl's short names (`po`, `svc`, …).
    pub short: &'static [&'static str],
    /// Served by an aggregated API (metrics-server) that may be absent: read only when it
    /// answers, and never required.
    pub optional: bool,
    /// Facts about the machine ttdoctor runs on (`--local`), never read from the API server.
    pub local: bool,
}

/// Whether a k8s-openapi scope is namespaced.
pub trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// A typed object of one of the kinds in the table.
pub trait Object:
    Resource<Scope: Scope>
    + Metadata<Ty = ObjectMeta>
    + Serialize
    + DeserializeOwned
    + Clone
    + Default
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// What is decoded of every object of the kind when it loads (see [`Stored`]).
    type Core: Core;
    /// The kind in the table (the `KIND` constant is k8s-openapi's string).
    fn kind() -> Kind;
    fn all(objects: &Objects) -> &[Stored<Self>];
    fn all_mut(objects: &mut Objects) -> &mut Vec<Stored<Self>>;
}

/// Code generic over the object type of a kind chosen at run time ([`Kind::visit`]).
pub trait KindVisitor {
    type Output;
    fn visit<T: Object>(self) -> Self::Output;
}

macro_rules! kind_table {
    ($( $variant:ident : $ty:ty => $field:ident, core $core:ty, short [$($short:literal),*] $(, $flag:ident)? ;)*) => {
        /// One kind of object ttdoctor reads. The order is the order of the `kubectl get`
        /// command whose output a snapshot file is.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $($variant),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            pub fn meta(self) -> &'static KindMeta {
                match self {
                    $(Kind::$variant => {
                        const META: KindMeta = KindMeta {
                            name: <$ty as Resource>::KIND,
                            api_version: <$ty as Resource>::API_VERSION,
                            group: <$ty as Resource>::GROUP,
                            plural: <$ty as Resource>::URL_PATH_SEGMENT,
                            namespaced: <<$ty as Resource>::Scope as Scope>::NAMESPACED,
                            short: &[$($short),*],
                            optional: kind_table!(@optional $($flag)?),
                            local: kind_table!(@local $($flag)?),
                        };
                        &META
                    })*
                }
            }

            /// Runs `v` with the object type of this kind.
            pub fn visit<V: KindVisitor>(self, v: V) -> V::Output {
                match self {
                    $(Kind::$variant => v.visit::<$ty>(),)*
                }
            }
        }

        /// The objects of every kind, in source order.
        #[derive(Debug, Default, Clone)]
        pub struct Objects {
            $(pub $field: Vec<Stored<$ty>>,)*
        }

        $(impl Object for $ty {
            type Core = $core;
            fn kind() -> Kind {
                Kind::$variant
            }
            fn all(objects: &Objects) -> &[Stored<Self>] {
                &objects.$field
            }
            fn all_mut(objects: &mut Objects) -> &mut Vec<Stored<Self>> {
                &mut objects.$field
            }
        })*
    };
    (@optional optional) => { true };
    (@optional $($other:ident)?) => { false };
    (@local local) => { true };
    (@local $($other:ident)?) => { false };
}

use super::host::Host;
use super::metrics::{NodeMetrics, PodMetrics};
use super::stored::{Core, EventCore, Plain, PodCore, Stored};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::storage::v1::StorageClass;

kind_table! {
    Node: Node => nodes, core Plain, short ["no"];
    StorageClass: StorageClass => storage_classes, core Plain, short ["sc"];
    PersistentVolume: PersistentVolume => persistent_volumes, core Plain, short ["pv"];
    PersistentVolumeClaim: PersistentVolumeClaim => persistent_volume_claims, core Plain, short ["pvc"];
    Namespace: Namespace => namespaces, core Plain, short ["ns"];
    Pod: Pod => pods, core PodCore, short ["po"];
    Service: Service => services, core Plain, short ["svc"];
    Endpoints: Endpoints => endpoints, core Plain, short ["ep"];
    EndpointSlice: EndpointSlice => endpoint_slices, core Plain, short [];
    StatefulSet: StatefulSet => stateful_sets, core Plain, short ["sts"];
    Deployment: Deployment => deployments, core Plain, short ["deploy"];
    ReplicaSet: ReplicaSet => replica_sets, core Plain, short ["rs"];
    DaemonSet: DaemonSet => daemon_sets, core Plain, short ["ds"];
    Job: Job => jobs, core Plain, short [];
    Event: Event => events, core EventCore, short ["ev"];
    NodeMetrics: NodeMetrics => node_metrics, core Plain, short [], optional;
    PodMetrics: PodMetrics => pod_metrics, core Plain, short [], optional;
    Host: Host => hosts, core Plain, short [], local;
}

impl Kind {
    /// The `kind` field as the API writes it.
    pub fn name(self) -> &'static str {
        self.meta().name
    }

    /// The resource name in API paths (`/api/v1/<plural>`).
    pub fn plural(self) -> &'static str {
        self.meta().plural
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(self) -> &'static str {
        self.meta().api_version
    }

    pub fn namespaced(self) -> bool {
        self.meta().namespaced
    }

    /// Accepts the kind name in any case, its plural, or a kubectl short name.
    pub fn parse(s: &str) -> Option<Kind> {
        let l = s.to_ascii_lowercase();
        Kind::ALL.iter().copied().find(|k| {
            let m = k.meta();
            m.name.eq_ignore_ascii_case(&l)
                || (m.plural == l && !m.optional)
                || m.short.contains(&l.as_str())
        })
    }

    /// The kind of an object given its `kind` and `apiVersion` fields. Only the group has to
    /// match (an older version of the same group decodes into the same type, as kubectl
    /// converts it); a missing apiVersion matches any group.
    pub fn from_type(kind: &str, api_version: Option<&str>) -> Option<Kind> {
        fn group(av: &str) -> &str {
            av.rsplit_once('/').map_or("", |(g, _)| g)
        }
        Kind::ALL.iter().copied().find(|k| {
            k.name() == kind
                && api_version.is_none_or(|av| {
                    group(av) == k.meta().group
                        // Deployments, DaemonSets and ReplicaSets once lived in `extensions`.
                        || (group(av) == "extensions" && k.meta().group == "apps")
                })
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_like_the_api() {
        assert_eq!(Kind::Pod.plural(), "pods");
        assert_eq!(Kind::StatefulSet.api_version(), "apps/v1");
        assert_eq!(Kind::Job.api_version(), "batch/v1");
        assert_eq!(Kind::PodMetrics.plural(), "pods");
        assert_eq!(Kind::parse("pods"), Some(Kind::Pod), "not PodMetrics");
        assert!(!Kind::Node.namespaced() && Kind::Event.namespaced());
        assert_eq!(Kind::NodeMetrics.plural(), "nodes");
        assert_eq!(Kind::NodeMetrics.api_version(), "metrics.k8s.io/v1beta1");
        assert_eq!(Kind::parse("sts"), Some(Kind::StatefulSet));
        assert_eq!(Kind::parse("nodes"), Some(Kind::Node), "not NodeMetrics");
        assert_eq!(Kind::parse("PVC"), Some(Kind::PersistentVolumeClaim));
        assert_eq!(
            Kind::from_type("Deployment", Some("extensions/v1beta1")),
            Some(Kind::Deployment)
        );
        assert_eq!(Kind::from_type("Deployment", Some("v1")), None);
        assert_eq!(Kind::from_type("Widget", None), None);
    }
}
