//! A cluster snapshot: every object ttdoctor reads, decoded once into its k8s-openapi type,
//! from one source (a file or the API).

mod host;
mod kinds;
mod load;
mod metrics;
mod stored;
mod stream;
mod write;

pub use host::{Host, HostContainerd, HostDisk, HostKubelet, HostMemory, HostSwap};
pub use kinds::{Kind, KindMeta, KindVisitor, Object, Objects};
pub use load::{
    LoadError, LoadOptions, load_file, load_file_with, load_reader, load_str, load_str_with,
};
pub use metrics::{ContainerMetrics, NodeMetrics, PodMetrics};
pub use stored::{
    ContainerCore, Core, EventCore, Meta, PodCore, PodSpecCore, Resources, SmallMap, Stored,
    compact,
};
pub use write::{Format, write};

use std::collections::{BTreeMap, BTreeSet};

/// Everything read from one cluster. Lists are in source order.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub objects: Objects,
    /// Kinds whose list was read (even when empty). Metrics kinds (and the local Host) count
    /// as available only when read: a snapshot without a NodeMetricsList says nothing about
    /// usage.
    pub read: BTreeSet<Kind>,
    /// Kinds that could not be read, with the reason (e.g. forbidden); rules needing them skip.
    pub unavailable: BTreeMap<Kind, String>,
    /// Objects of kinds ttdoctor does not use, counted by kind.
    pub ignored_kinds: BTreeMap<String, usize>,
    /// What the reader should know about how complete the data is.
    pub notes: Vec<String>,
    /// Container log tails captured with the snapshot (`snapshot --with-logs`).
    pub logs: BTreeMap<crate::model::LogRef, String>,
}

impl Snapshot {
    pub fn list<T: Object>(&self) -> &[Stored<T>] {
        T::all(&self.objects)
    }

    /// Adds one typed object (without what no check reads: managedFields, the last-applied
    /// copy).
    pub fn push<T: Object>(&mut self, obj: T) {
        let stored = Stored::from_raw(compact(obj)).expect("a typed object has a core");
        self.read.insert(T::kind());
        T::all_mut(&mut self.objects).push(stored);
    }

    /// Adds one object given as compact JSON (with or without `apiVersion` and `kind`).
    pub fn insert_raw(&mut self, kind: Kind, raw: Vec<u8>) -> Result<(), String> {
        struct Insert<'a>(&'a mut Snapshot, Vec<u8>);
        impl KindVisitor for Insert<'_> {
            type Output = Result<(), String>;
            fn visit<T: Object>(self) -> Self::Output {
                // kubectl hides managedFields; the API does not.
                let raw = if stored::has_unread(&self.1) {
                    stored::without_fields(&self.1, stored::UNREAD)
                } else {
                    self.1
                };
                let stored = Stored::<T>::from_raw(stored::with_type::<T>(raw))
                    .map_err(|e| e.to_string())?;
                self.0.read.insert(T::kind());
                T::all_mut(&mut self.0.objects).push(stored);
                Ok(())
            }
        }
        kind.visit(Insert(self, raw))
    }

    /// Adds one object given as JSON.
    pub fn insert_value(&mut self, kind: Kind, value: serde_json::Value) -> Result<(), String> {
        let raw = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        self.insert_raw(kind, raw)
    }

    /// Replaces the object at `index` of `kind` (a change tried in memory, as `plan` tries
    /// fixes).
    pub fn replace_value(
        &mut self,
        kind: Kind,
        index: usize,
        value: &serde_json::Value,
    ) -> Result<(), String> {
        struct Replace<'a>(&'a mut Snapshot, usize, Vec<u8>);
        impl KindVisitor for Replace<'_> {
            type Output = Result<(), String>;
            fn visit<T: Object>(self) -> Self::Output {
                let raw = stored::with_type::<T>(self.2);
                let stored = Stored::<T>::from_raw(raw).map_err(|e| e.to_string())?;
                let list = T::all_mut(&mut self.0.objects);
                let slot = list.get_mut(self.1).ok_or("no object at that position")?;
                *slot = stored;
                Ok(())
            }
        }
        let raw = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        kind.visit(Replace(self, index, raw))
    }

    /// Moves every object of `other` (and what it says about kinds read, unreadable or
    /// ignored, and its notes) into this snapshot.
    pub fn absorb(&mut self, mut other: Snapshot) {
        struct Move<'a>(&'a mut Snapshot, &'a mut Snapshot);
        impl KindVisitor for Move<'_> {
            type Output = ();
            fn visit<T: Object>(self) {
                T::all_mut(&mut self.0.objects).append(T::all_mut(&mut self.1.objects));
            }
        }
        for &kind in Kind::ALL {
            kind.visit(Move(self, &mut other));
        }
        self.read.append(&mut other.read);
        self.unavailable.append(&mut other.unavailable);
        for (k, n) in other.ignored_kinds {
            *self.ignored_kinds.entry(k).or_default() += n;
        }
        self.notes.append(&mut other.notes);
        self.logs.append(&mut other.logs);
    }

    /// Room for `n` more objects of `kind`.
    pub fn reserve(&mut self, kind: Kind, n: usize) {
        struct Reserve<'a>(&'a mut Snapshot, usize);
        impl KindVisitor for Reserve<'_> {
            type Output = ();
            fn visit<T: Object>(self) {
                T::all_mut(&mut self.0.objects).reserve_exact(self.1);
            }
        }
        kind.visit(Reserve(self, n));
    }

    /// The metadata of every object of a kind, in store order.
    pub fn metas(&self, kind: Kind) -> Box<dyn Iterator<Item = &Meta> + '_> {
        struct Metas<'a>(&'a Snapshot);
        impl<'a> KindVisitor for Metas<'a> {
            type Output = Box<dyn Iterator<Item = &'a Meta> + 'a>;
            fn visit<T: Object>(self) -> Self::Output {
                Box::new(self.0.list::<T>().iter().map(Stored::meta))
            }
        }
        kind.visit(Metas(self))
    }

    /// The position of the object of `kind` named `name` in `ns` (`None` for cluster-scoped).
    pub fn find(&self, kind: Kind, ns: Option<&str>, name: &str) -> Option<usize> {
        self.metas(kind)
            .position(|m| m.name.as_deref() == Some(name) && m.namespace.as_deref() == ns)
    }

    /// One object as JSON, in the API's own shape.
    pub fn json_at(&self, kind: Kind, index: usize) -> serde_json::Value {
        struct Json<'a>(&'a Snapshot, usize);
        impl KindVisitor for Json<'_> {
            type Output = serde_json::Value;
            fn visit<T: Object>(self) -> Self::Output {
                self.0.list::<T>()[self.1].json()
            }
        }
        kind.visit(Json(self, index))
    }

    /// Counts an object of a kind ttdoctor does not read.
    pub fn ignore(&mut self, kind: &str) {
        *self.ignored_kinds.entry(kind.to_string()).or_default() += 1;
    }

    /// The objects of one kind as JSON, in the API's own shape (with apiVersion and kind).
    pub fn json_of(&self, kind: Kind) -> Vec<serde_json::Value> {
        (0..self.count(kind))
            .map(|i| self.json_at(kind, i))
            .collect()
    }

    /// The compact JSON of one object.
    pub fn raw_at(&self, kind: Kind, index: usize) -> &[u8] {
        struct Raw<'a>(&'a Snapshot, usize);
        impl<'a> KindVisitor for Raw<'a> {
            type Output = &'a [u8];
            fn visit<T: Object>(self) -> Self::Output {
                self.0.list::<T>()[self.1].raw()
            }
        }
        kind.visit(Raw(self, index))
    }

    /// Every object in the API's JSON shape, each with `apiVersion` and `kind`, kinds in
    /// [`Kind::ALL`] order.
    pub fn json_objects(&self) -> Vec<serde_json::Value> {
        Kind::ALL.iter().flat_map(|&k| self.json_of(k)).collect()
    }

    pub fn count(&self, kind: Kind) -> usize {
        struct Count<'a>(&'a Snapshot);
        impl KindVisitor for Count<'_> {
            type Output = usize;
            fn visit<T: Object>(self) -> usize {
                self.0.list::<T>().len()
            }
        }
        kind.visit(Count(self))
    }

    /// Kinds this snapshot can answer for (read successfully, even if empty).
    pub fn available(&self, kind: Kind) -> bool {
        if kind.meta().optional || kind.meta().local {
            return self.read.contains(&kind) && !self.unavailable.contains_key(&kind);
        }
        !self.unavailable.contains_key(&kind)
    }

    /// Objects in total.
    pub fn len(&self) -> usize {
        Kind::ALL.iter().map(|&k| self.count(k)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
