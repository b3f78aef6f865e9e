//! The snapshot as expressions see it: the index, plus each object converted to a CEL value
//! the first time an expression needs it, and never again.

use super::values::{HANDLE_KEY, list};
use crate::index::Index;
use crate::snapshot::{Kind, KindVisitor, Object, Snapshot};
use kube_cel::cel::Value;
use kube_cel::cel::objects::Key;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Which object of the snapshot a value is: its kind and its position in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjId {
    pub kind: Kind,
    pub index: usize,
}

impl ObjId {
    fn encode(self) -> i64 {
        ((self.kind as i64) << 32) | self.index as i64
    }

    pub(crate) fn decode(h: i64) -> Option<ObjId> {
        let kind = *Kind::ALL.get(usize::try_from(h >> 32).ok()?)?;
        Some(ObjId {
            kind,
            index: usize::try_from(h & 0xffff_ffff).ok()?,
        })
    }
}

/// The indexed snapshot plus lazily converted values.
pub struct World {
    pub ix: Index,
    /// Objects whose full decode failed when an expression needed them, by kind and
    /// position: rules run in parallel, the report lists them in the store's order.
    errors: std::sync::Mutex<std::collections::BTreeMap<(usize, usize), String>>,
    values: Vec<Vec<OnceLock<Value>>>,
    by_name: Vec<OnceLock<HashMap<(String, String), usize>>>,
    /// Facts about the whole cluster that helpers compute once per run.
    pub(crate) cache: super::helpers::Cache,
    /// The deployment rules compare the cluster with, loaded when a rule first asks.
    deployment: crate::deploy::Source,
    namespace: String,
    model: OnceLock<Result<crate::deploy::Model, String>>,
}

impl World {
    pub fn new(ix: Index, deployment: crate::deploy::Source, namespace: &str) -> World {
        let values = Kind::ALL
            .iter()
            .map(|&k| (0..ix.snap.count(k)).map(|_| OnceLock::new()).collect())
            .collect();
        World {
            errors: std::sync::Mutex::default(),
            values,
            by_name: Kind::ALL.iter().map(|_| OnceLock::new()).collect(),
            cache: super::helpers::Cache::default(),
            deployment,
            namespace: namespace.to_string(),
            model: OnceLock::new(),
            ix,
        }
    }

    /// The objects that did not decode whole when an expression needed them, in the
    /// store's order (taken once).
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *self.errors.lock().expect("not poisoned"))
            .into_values()
            .collect()
    }

    /// The target namespace (`-n`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn snap(&self) -> &Snapshot {
        &self.ix.snap
    }

    /// The deployment (profile or manifests), loaded on first use.
    pub fn model(&self) -> Result<&crate::deploy::Model, String> {
        self.model
            .get_or_init(|| {
                // DaemonSets read a node's name, labels and taints; not its status (the image
                // list is most of a node).
                let nodes: Vec<_> = self
                    .ix
                    .snap
                    .objects
                    .nodes
                    .iter()
                    .map(|n| {
                        n.with_full(|n| k8s_openapi::api::core::v1::Node {
                            metadata: n.metadata.clone(),
                            spec: n.spec.clone(),
                            status: None,
                        })
                        .0
                    })
                    .collect();
                crate::deploy::load(&self.deployment, &self.namespace, &nodes)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The object as a CEL map (converted once; clones share it).
    pub fn value(&self, id: ObjId) -> Value {
        self.values[id.kind as usize][id.index]
            .get_or_init(|| {
                let (v, error) = convert(&self.ix.snap, id);
                if let Some(e) = error {
                    let at = (id.kind as usize, id.index);
                    self.errors.lock().expect("not poisoned").insert(at, e);
                }
                v
            })
            .clone()
    }

    /// Objects of one kind, as a CEL list.
    pub fn values(&self, kind: Kind, indexes: impl IntoIterator<Item = usize>) -> Value {
        list(
            indexes
                .into_iter()
                .map(|index| self.value(ObjId { kind, index }))
                .collect(),
        )
    }

    /// Every object of a kind, as a CEL list.
    pub fn all(&self, kind: Kind) -> Value {
        self.values(kind, 0..self.ix.snap.count(kind))
    }

    /// The object of `kind` named `name` in `ns` (`""` for cluster-scoped kinds).
    pub fn lookup(&self, kind: Kind, ns: &str, name: &str) -> Option<usize> {
        self.by_name[kind as usize]
            .get_or_init(|| {
                struct Names<'a>(&'a Snapshot);
                impl KindVisitor for Names<'_> {
                    type Output = HashMap<(String, String), usize>;
                    fn visit<T: Object>(self) -> Self::Output {
                        self.0
                            .list::<T>()
                            .iter()
                            .enumerate()
                            .map(|(i, o)| {
                                let ns = o.namespace().unwrap_or_default().to_string();
                                ((ns, o.name().to_string()), i)
                            })
                            .collect()
                    }
                }
                kind.visit(Names(&self.ix.snap))
            })
            .get(&(ns.to_string(), name.to_string()))
            .copied()
    }
}

/// One object as a CEL map with its handle. `node.status.images` is left out: it is most of
/// a node's size and the image helpers answer from the index.
fn convert(snap: &Snapshot, id: ObjId) -> (Value, Option<String>) {
    struct Convert<'a>(&'a Snapshot, usize);
    impl KindVisitor for Convert<'_> {
        type Output = (Value, Option<String>);
        fn visit<T: Object>(self) -> Self::Output {
            let stored = &self.0.list::<T>()[self.1];
            // The typed object is only the way to the value: not kept (it would double the
            // memory of every object an expression reads).
            let (mut v, error) =
                stored.with_full(|t| kube_cel::cel::to_value(t).unwrap_or(Value::Null));
            if T::kind() == Kind::Node
                && let Value::Map(m) = &mut v
                && let Some(Value::Map(status)) = Arc::make_mut(&mut m.map).get_mut(&key("status"))
            {
                Arc::make_mut(&mut status.map).remove(&key("images"));
            }
            (v, error)
        }
    }
    let (mut v, error) = id.kind.visit(Convert(snap, id.index));
    if let Value::Map(m) = &mut v {
        Arc::make_mut(&mut m.map).insert(Key::Int(HANDLE_KEY), Value::Int(id.encode()));
    }
    (v, error)
}

fn key(s: &str) -> Key {
    Key::String(Arc::new(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        for kind in Kind::ALL {
            let id = ObjId {
                kind: *kind,
                index: 123_456,
            };
            assert_eq!(ObjId::decode(id.encode()), Some(id));
        }
        assert_eq!(ObjId::decode(99 << 32), None);
    }
}
