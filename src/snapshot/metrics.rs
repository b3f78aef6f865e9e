//! `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics, which k8s-openapi does not model.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A metrics.k8s.io object: metadata, when and over which window it was measured, and its
/// own `usage` or `containers` field.
macro_rules! metrics_object {
    ($(#[$doc:meta])* $name:ident { $(#[$fdoc:meta])* $field:ident: $ty:ty }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(default)]
            pub metadata: ObjectMeta,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timestamp: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub window: Option<String>,
            $(#[$fdoc])*
            #[serde(default)]
            pub $field: $ty,
        }
    };
}

metrics_object!(
    /// One node's resource usage as metrics-server reports it.
    NodeMetrics { usage: BTreeMap<String, Quantity> }
);

metrics_object!(
    /// One pod's resource usage, per container, as metrics-server reports it.
    PodMetrics { containers: Vec<ContainerMetrics> }
);

/// One container's usage in a [`PodMetrics`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerMetrics {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

macro_rules! metrics_resource {
    ($ty:ty, $kind:literal, $plural:literal, $scope:ty) => {
        impl Resource for $ty {
            const API_VERSION: &'static str = "metrics.k8s.io/v1beta1";
            const GROUP: &'static str = "metrics.k8s.io";
            const KIND: &'static str = $kind;
            const VERSION: &'static str = "v1beta1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $scope;
        }
        impl Metadata for $ty {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

metrics_resource!(NodeMetrics, "NodeMetrics", "nodes", ClusterResourceScope);
metrics_resource!(PodMetrics, "PodMetrics", "pods", NamespaceResourceScope);
