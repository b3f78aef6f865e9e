//! `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics, which k8s-openapi does not model.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A metrics.k8s.io object: metadata, when and over which window it was measured, and its
/// own `usage` or `containers` field.
macro_rules! metrics_object {
    ($(#[$doc:meta])* $name:ident ($kind:literal) { $(#[$fdoc:meta])* $field:ident: $ty:ty }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(default)]
            pub metadata: ObjectMeta,
            #[serde(default)]
            pub timestamp: Option<String>,
            #[serde(default)]
            pub window: Option<String>,
            $(#[$fdoc])*
            #[serde(default)]
            pub $field: $ty,
        }

        /// Written with its `apiVersion` and `kind`, as metrics-server serves it.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct($kind, 6)?;
                st.serialize_field("apiVersion", "metrics.k8s.io/v1beta1")?;
                st.serialize_field("kind", $kind)?;
                st.serialize_field("metadata", &self.metadata)?;
                if let Some(t) = &self.timestamp {
                    st.serialize_field("timestamp", t)?;
                }
                if let Some(w) = &self.window {
                    st.serialize_field("window", w)?;
                }
                st.serialize_field(stringify!($field), &self.$field)?;
                st.end()
            }
        }
    };
}

metrics_object!(
    /// One node's resource usage as metrics-server reports it.
    NodeMetrics("NodeMetrics") { usage: BTreeMap<String, Quantity> }
);

metrics_object!(
    /// One pod's resource usage, per container, as metrics-server reports it.
    PodMetrics("PodMetrics") { containers: Vec<ContainerMetrics> }
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
