//! The resources served and the object store. Each resource keeps its rows sorted by etcd key
//! (`<namespace>/<name>`, or `<name>`), so a page starts with a binary search, and each row holds
//! the object's compact JSON without `apiVersion`/`kind` (how list items are served), so a page
//! is served by copying bytes and only single-object work parses JSON. Every write takes the next
//! value of one global resourceVersion counter, like etcd's revision; compaction
//! ([`Store::compact_now`]) only moves the oldest revision a continue token may carry.

use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::LazyLock;

pub(super) const NS: u8 = 1;
/// Has a status subresource: changes to `.status` through the main resource are dropped.
pub(super) const STATUS: u8 = 2;
/// `metadata.generation` is tracked (bumped when the spec changes).
pub(super) const GENERATION: u8 = 4;
/// Served by metrics-server through the aggregator (not in etcd: no resourceVersion, no paging).
pub(super) const METRICS: u8 = 8;

/// The kinds ttdoctor reads, in the order of the real `/api/v1` and `/apis`: apiVersion,
/// resource, kind, flags.
const TABLE: [&str; 15] = [
    "v1 endpoints Endpoints ns",
    "v1 events Event ns",
    "v1 namespaces Namespace status",
    "v1 nodes Node status",
    "v1 persistentvolumeclaims PersistentVolumeClaim ns status",
    "v1 persistentvolumes PersistentVolume status",
    "v1 pods Pod ns status generation",
    "v1 services Service ns status",
    "apps/v1 deployments Deployment ns status generation",
    "apps/v1 replicasets ReplicaSet ns status generation",
    "apps/v1 statefulsets StatefulSet ns status generation",
    "storage.k8s.io/v1 storageclasses StorageClass",
    "discovery.k8s.io/v1 endpointslices EndpointSlice ns generation",
    "metrics.k8s.io/v1beta1 nodes NodeMetrics metrics",
    "metrics.k8s.io/v1beta1 pods PodMetrics ns metrics",
];

pub(super) static RESOURCES: LazyLock<Vec<ResDef>> = LazyLock::new(|| {
    let def = |line: &'static str| {
        let mut words = line.split(' ');
        let mut next = || words.next().expect("a resource line");
        let (api_version, plural, kind) = (next(), next(), next());
        let names = ["ns", "status", "generation", "metrics"];
        let flag = |w| 1 << names.iter().position(|n| *n == w).expect("a flag");
        let flags = words.map(flag).sum();
        ResDef {
            api_version,
            plural,
            kind,
            flags,
        }
    };
    TABLE.into_iter().map(def).collect()
});

pub(super) struct ResDef {
    pub api_version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    flags: u8,
}

impl ResDef {
    pub fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn group(&self) -> &'static str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn version(&self) -> &'static str {
        self.api_version.rsplit('/').next().unwrap_or("")
    }

    /// `pods`, `deployments.apps`: the qualified resource of messages.
    pub fn group_resource(&self) -> String {
        qualified(self.plural, self.group())
    }
}

pub(super) fn qualified(name: &str, group: &str) -> String {
    match group {
        "" => name.to_string(),
        g => format!("{name}.{g}"),
    }
}

pub(super) fn find_def(group: &str, version: &str, plural: &str) -> Option<usize> {
    let gv = |r: &ResDef| (r.group(), r.version()) == (group, version);
    RESOURCES.iter().position(|r| gv(r) && r.plural == plural)
}

/// `pods`, `deployments.apps`, `nodes.metrics.k8s.io`; unqualified, the core group first, then
/// any other (`statefulsets`), as kubectl resolves names.
fn resolve(resource: &str) -> usize {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let exact = |r: &ResDef| r.group() == group && r.plural == plural;
    let any = |r: &ResDef| group.is_empty() && r.plural == plural && !r.is(METRICS);
    let found = RESOURCES
        .iter()
        .position(exact)
        .or_else(|| RESOURCES.iter().position(any));
    found.unwrap_or_else(|| panic!("fake API: unknown resource {resource}"))
}

fn resolve_kind(obj: &Value) -> usize {
    let (api_version, kind) = (text(obj, "/apiVersion"), text(obj, "/kind"));
    let found = RESOURCES
        .iter()
        .position(|r| r.kind == kind && r.api_version == api_version);
    found.unwrap_or_else(|| panic!("fake API: cannot serve {api_version:?} {kind:?}"))
}

/// A resource (index in [`RESOURCES`]) and an etcd key.
type Key = (usize, String);

/// An object: its key and its JSON.
pub(super) struct Row(pub String, pub Box<[u8]>);

/// The object store. Hooks ([`super::FakeApi::on_request`]) and exec handlers get it.
#[derive(Default)]
pub struct Store {
    tables: Vec<Vec<Row>>,
    rv: u64,
    compacted: u64,
    uids: u64,
}

impl Store {
    /// A store holding `objects`, and whether metrics were among them. Objects keep the
    /// resourceVersions they came with when those are numbers and unique (a snapshot of a real
    /// cluster keeps its revisions); the others get fresh ones, in order.
    pub(super) fn load(objects: Vec<Value>) -> (Store, bool) {
        let mut store = Store::default();
        let mut used = HashSet::new();
        let mut parsed = Vec::with_capacity(objects.len());
        for obj in objects {
            let ri = resolve_kind(&obj);
            let rv = meta_str(&obj, "resourceVersion").and_then(|s| s.parse::<u64>().ok());
            let rv = rv.filter(|rv| *rv > 0 && !RESOURCES[ri].is(METRICS) && used.insert(*rv));
            parsed.push((ri, rv, store.normalize(ri, obj, None)));
        }
        let has_metrics = parsed.iter().any(|(ri, _, _)| RESOURCES[*ri].is(METRICS));
        store.rv = used.into_iter().max().unwrap_or(0).max(1000);
        store.tables = RESOURCES.iter().map(|_| Vec::new()).collect();
        for (ri, rv, mut obj) in parsed {
            if !RESOURCES[ri].is(METRICS) {
                let rv = rv.unwrap_or_else(|| store.next_rv());
                meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
            }
            store.tables[ri].push(Row(obj_key(ri, &obj), to_bytes(&obj)));
        }
        for rows in &mut store.tables {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            // The same object twice: the later one stands, as if written after.
            rows.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(later, kept);
                }
                same
            });
        }
        (store, has_metrics)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// The current resourceVersion (etcd revision).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The revision of the last compaction: continue tokens from before it have expired.
    pub(super) fn compacted(&self) -> u64 {
        self.compacted
    }

    /// etcd compaction at a new revision (the revision moves on by one first, as it always
    /// does on a live cluster).
    pub(super) fn compact_now(&mut self) {
        self.compacted = self.next_rv();
    }

    /// The rows of resource `ri` whose keys start with `prefix`.
    pub(super) fn rows(&self, ri: usize, prefix: &str) -> &[Row] {
        let rows = &self.tables[ri];
        let lo = rows.partition_point(|r| r.0.as_str() < prefix);
        let len = rows[lo..].partition_point(|r| r.0.starts_with(prefix));
        &rows[lo..lo + len]
    }

    fn find(&self, ri: usize, key: &str) -> Result<usize, usize> {
        self.tables[ri].binary_search_by(|r| r.0.as_str().cmp(key))
    }

    /// The current object's JSON (without `apiVersion`/`kind`).
    pub(super) fn current(&self, ri: usize, key: &str) -> Option<&[u8]> {
        self.find(ri, key).ok().map(|i| &*self.tables[ri][i].1)
    }

    /// The current object, parsed (without `apiVersion`/`kind`).
    pub(super) fn value(&self, ri: usize, key: &str) -> Option<Value> {
        let obj = self.current(ri, key)?;
        Some(serde_json::from_slice(obj).expect("stored JSON"))
    }

    /// Stores `obj` (`None`: deletes) at the next revision (metrics objects have none); returns
    /// what was stored.
    pub(super) fn write(&mut self, ri: usize, key: &str, obj: Option<Value>) -> Option<Value> {
        let found = self.find(ri, key);
        let Some(mut obj) = obj else {
            self.next_rv();
            if let Ok(i) = found {
                self.tables[ri].remove(i);
            }
            return None;
        };
        if !RESOURCES[ri].is(METRICS) {
            let rv = self.next_rv();
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        }
        let row = Row(key.to_string(), to_bytes(&obj));
        match found {
            Ok(i) => self.tables[ri][i] = row,
            Err(i) => self.tables[ri].insert(i, row),
        }
        Some(obj)
    }

    /// Strips `apiVersion`/`kind`; fills namespace, uid, creationTimestamp and generation as
    /// the registry does on create (keeping those of `existing`, when replacing).
    pub(super) fn normalize(&mut self, ri: usize, obj: Value, old: Option<&Value>) -> Value {
        let def = &RESOURCES[ri];
        let Value::Object(mut obj) = obj else {
            panic!("fake API: an object that is not a JSON object");
        };
        obj.remove("apiVersion");
        obj.remove("kind");
        let mut obj = Value::Object(obj);
        if def.is(METRICS) {
            return obj;
        }
        self.uids += 1;
        let old = |f| old.and_then(|o| meta_str(o, f)).map(str::to_string);
        let uid = old("uid").unwrap_or(format!("00000000-0000-4000-8000-{:012x}", self.uids));
        let defaults = [
            ("namespace", "default".to_string()),
            ("uid", uid),
            (
                "creationTimestamp",
                old("creationTimestamp").unwrap_or_else(now),
            ),
        ];
        let meta = meta_mut(&mut obj);
        for (field, default) in defaults {
            if meta
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                meta.insert(field.into(), json!(default));
            }
        }
        if !def.is(NS) {
            meta.remove("namespace");
        }
        if def.is(GENERATION) && !meta.contains_key("generation") {
            meta.insert("generation".into(), json!(1));
        }
        obj
    }

    fn locate(group: &str, version: &str, resource: &str, ns: Option<&str>, name: &str) -> Key {
        let ri = find_def(group, version, resource);
        let ri = ri.unwrap_or_else(|| panic!("fake API: no {resource} in {group}/{version}"));
        (ri, key_for(ri, ns.unwrap_or("default"), name))
    }

    /// The current object, with `apiVersion` and `kind`.
    pub fn get(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (ri, key) = Self::locate(group, version, resource, namespace, name);
        self.value(ri, &key).map(|o| with_type(ri, o))
    }

    /// All current objects of `resource` (`pods`, `deployments.apps`, `nodes.metrics.k8s.io`).
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        let ri = resolve(resource);
        let parse = |r: &Row| with_type(ri, serde_json::from_slice(&r.1).expect("stored JSON"));
        self.tables[ri].iter().map(parse).collect()
    }

    /// Creates or replaces an object (needs `apiVersion` and `kind`); a new resourceVersion.
    pub fn put(&mut self, object: Value) -> Value {
        let ri = resolve_kind(&object);
        let existing = self.value(ri, &obj_key(ri, &object));
        let obj = self.normalize(ri, object, existing.as_ref());
        let stored = self.write(ri, &obj_key(ri, &obj), Some(obj));
        with_type(ri, stored.expect("written"))
    }

    /// Changes an object (always a new resourceVersion); `f` sees it with `apiVersion`/`kind`.
    pub fn mutate(
        &mut self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let (ri, key) = Self::locate(group, version, resource, namespace, name);
        let existing = self.value(ri, &key)?;
        let mut obj = with_type(ri, existing.clone());
        f(&mut obj);
        let obj = self.normalize(ri, obj, Some(&existing));
        Some(with_type(ri, self.write(ri, &key, Some(obj))?))
    }

    /// Deletes an object; returns what it was.
    pub fn delete(
        &mut self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (ri, key) = Self::locate(group, version, resource, namespace, name);
        let existing = self.value(ri, &key)?;
        self.write(ri, &key, None);
        Some(with_type(ri, existing))
    }
}

/// The etcd key of an object of resource `ri` named in a request.
pub(super) fn key_for(ri: usize, namespace: &str, name: &str) -> String {
    match RESOURCES[ri].is(NS) {
        true => format!("{namespace}/{name}"),
        false => name.to_string(),
    }
}

fn obj_key(ri: usize, obj: &Value) -> String {
    let ns = meta_str(obj, "namespace").filter(|s| !s.is_empty());
    key_for(ri, ns.unwrap_or("default"), text(obj, "/metadata/name"))
}

/// The object with `apiVersion` and `kind` first, as a GET serves it.
pub(super) fn with_type(ri: usize, obj: Value) -> Value {
    let def = &RESOURCES[ri];
    let mut out = json!({"apiVersion": def.api_version, "kind": def.kind});
    if let (Some(out), Value::Object(m)) = (out.as_object_mut(), obj) {
        out.extend(m);
    }
    out
}

fn to_bytes(v: &Value) -> Box<[u8]> {
    serde_json::to_vec(v).expect("serialize").into_boxed_slice()
}

/// The string at a JSON pointer, or "".
pub(super) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")?.get(field)?.as_str()
}

pub(super) fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    let meta = &mut v["metadata"];
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("an object")
}

/// `YYYY-MM-DDTHH:MM:SSZ` now (Howard Hinnant's civil_from_days).
fn now() -> String {
    let secs = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_secs()) as i64;
    let (z, rem) = (secs.div_euclid(86_400) + 719_468, secs.rem_euclid(86_400));
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let (d, m) = (
        doy - (153 * mp + 2) / 5 + 1,
        if mp < 10 { mp + 3 } else { mp - 9 },
    );
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
}
