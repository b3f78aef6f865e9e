//! A cluster snapshot: every object ttdoctor reads, typed, from one source (a file or the API).

mod kinds;
mod load;
mod metrics;
mod write;

pub use kinds::Kind;
pub use load::{LoadError, load_file, load_str};
pub use metrics::NodeMetrics;
pub use write::to_yaml;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Endpoints, Event, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::storage::v1::StorageClass;
use std::collections::BTreeMap;

/// Everything read from one cluster. Lists are in source order.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub nodes: Vec<Node>,
    pub storage_classes: Vec<StorageClass>,
    pub persistent_volumes: Vec<PersistentVolume>,
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoints>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub stateful_sets: Vec<StatefulSet>,
    pub deployments: Vec<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub events: Vec<Event>,
    /// `None` when metrics.k8s.io was not read (no metrics-server, or not in the file).
    pub node_metrics: Option<Vec<NodeMetrics>>,
    /// Kinds that could not be read, with the reason (e.g. forbidden); rules needing them skip.
    pub unavailable: BTreeMap<Kind, String>,
    /// Objects of kinds ttdoctor does not use, counted by kind.
    pub ignored_kinds: BTreeMap<String, usize>,
    /// What the reader should know about how complete the data is.
    pub notes: Vec<String>,
}

impl Snapshot {
    /// The objects of one kind as JSON, in the API's own shape (with apiVersion and kind).
    pub fn json_of(&self, kind: Kind) -> Vec<serde_json::Value> {
        fn all<T: serde::Serialize>(items: &[T]) -> Vec<serde_json::Value> {
            items
                .iter()
                .map(|o| serde_json::to_value(o).expect("k8s objects serialize"))
                .collect()
        }
        match kind {
            Kind::Node => all(&self.nodes),
            Kind::StorageClass => all(&self.storage_classes),
            Kind::PersistentVolume => all(&self.persistent_volumes),
            Kind::PersistentVolumeClaim => all(&self.persistent_volume_claims),
            Kind::Namespace => all(&self.namespaces),
            Kind::Pod => all(&self.pods),
            Kind::Service => all(&self.services),
            Kind::Endpoints => all(&self.endpoints),
            Kind::EndpointSlice => all(&self.endpoint_slices),
            Kind::StatefulSet => all(&self.stateful_sets),
            Kind::Deployment => all(&self.deployments),
            Kind::ReplicaSet => all(&self.replica_sets),
            Kind::Event => all(&self.events),
            Kind::NodeMetrics => all(self.node_metrics.as_deref().unwrap_or_default()),
        }
    }

    /// Every object in the API's JSON shape, each with `apiVersion` and `kind` (NodeMetrics
    /// as `metrics.k8s.io/v1beta1` `NodeMetrics`), kinds in [`Kind::ALL`] order.
    pub fn json_objects(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            for mut v in self.json_of(kind) {
                if let Some(o) = v.as_object_mut() {
                    o.insert("apiVersion".into(), kind.api_version().into());
                    o.insert("kind".into(), kind.name().into());
                }
                out.push(v);
            }
        }
        out
    }

    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Node => self.nodes.len(),
            Kind::StorageClass => self.storage_classes.len(),
            Kind::PersistentVolume => self.persistent_volumes.len(),
            Kind::PersistentVolumeClaim => self.persistent_volume_claims.len(),
            Kind::Namespace => self.namespaces.len(),
            Kind::Pod => self.pods.len(),
            Kind::Service => self.services.len(),
            Kind::Endpoints => self.endpoints.len(),
            Kind::EndpointSlice => self.endpoint_slices.len(),
            Kind::StatefulSet => self.stateful_sets.len(),
            Kind::Deployment => self.deployments.len(),
            Kind::ReplicaSet => self.replica_sets.len(),
            Kind::Event => self.events.len(),
            Kind::NodeMetrics => self.node_metrics.as_ref().map_or(0, Vec::len),
        }
    }

    /// Kinds this snapshot can answer for (read successfully, even if empty).
    pub fn available(&self, kind: Kind) -> bool {
        if kind == Kind::NodeMetrics {
            return self.node_metrics.is_some();
        }
        !self.unavailable.contains_key(&kind)
    }

    /// Adds one object given as JSON. Unknown kinds are counted, not rejected.
    pub fn insert_json(&mut self, kind: &str, value: serde_json::Value) -> Result<(), String> {
        fn push<T: serde::de::DeserializeOwned>(
            v: &mut Vec<T>,
            value: serde_json::Value,
        ) -> Result<(), String> {
            v.push(serde_json::from_value(value).map_err(|e| e.to_string())?);
            Ok(())
        }
        match Kind::ALL.iter().find(|k| k.name() == kind) {
            Some(Kind::Node) => push(&mut self.nodes, value),
            Some(Kind::StorageClass) => push(&mut self.storage_classes, value),
            Some(Kind::PersistentVolume) => push(&mut self.persistent_volumes, value),
            Some(Kind::PersistentVolumeClaim) => push(&mut self.persistent_volume_claims, value),
            Some(Kind::Namespace) => push(&mut self.namespaces, value),
            Some(Kind::Pod) => push(&mut self.pods, value),
            Some(Kind::Service) => push(&mut self.services, value),
            Some(Kind::Endpoints) => push(&mut self.endpoints, value),
            Some(Kind::EndpointSlice) => push(&mut self.endpoint_slices, value),
            Some(Kind::StatefulSet) => push(&mut self.stateful_sets, value),
            Some(Kind::Deployment) => push(&mut self.deployments, value),
            Some(Kind::ReplicaSet) => push(&mut self.replica_sets, value),
            Some(Kind::Event) => push(&mut self.events, value),
            Some(Kind::NodeMetrics) => push(self.node_metrics.get_or_insert_default(), value),
            None => {
                *self.ignored_kinds.entry(kind.to_string()).or_default() += 1;
                Ok(())
            }
        }
    }
}
