//! The resources served and the object store. Each resource keeps its rows sorted by etcd key
//! (`<namespace>/<name>`, or `<name>`), so a page starts with a binary search, and each row holds
//! the object's compact JSON without `apiVersion`/`kind` (how list items are served), so a page
//! is served by copying bytes and only single-object work parses JSON. Every write takes the next
//! value of one global resourceVersion counter, like etcd's revision; compaction
//! ([`super::FakeApi::expire_continue_tokens`]) only moves the oldest revision a continue token
//! may carry.

use serde_json::{Map, Value, json};
use std::collections::HashSet;

pub(super) const NS: &str = "namespaced";
/// Has a status subresource: changes to `.status` through the main resource are dropped.
pub(super) const STATUS: &str = "status";
/// `metadata.generation` is tracked (bumped when the spec changes).
pub(super) const GENERATION: &str = "generation";
/// Served by metrics-server through the aggregator (not in etcd: no resourceVersion, no paging).
pub(super) const METRICS: &str = "metrics";
/// A review: created (POST) and answered, never stored.
pub(super) const REVIEW: &str = "review";

/// A resource: apiVersion, plural, kind, then its traits (the constants above).
pub(super) struct ResDef(&'static str);

/// The kinds ttdoctor reads, in the order of the real `/api/v1` and `/apis`.
pub(super) const RESOURCES: [ResDef; 18] = [
    ResDef("v1 endpoints Endpoints namespaced"),
    ResDef("v1 events Event namespaced"),
    ResDef("v1 namespaces Namespace status"),
    ResDef("v1 nodes Node status"),
    ResDef("v1 persistentvolumeclaims PersistentVolumeClaim namespaced status"),
    ResDef("v1 persistentvolumes PersistentVolume status"),
    ResDef("v1 pods Pod namespaced status generation"),
    ResDef("v1 services Service namespaced status"),
    ResDef("apps/v1 daemonsets DaemonSet namespaced status generation"),
    ResDef("apps/v1 deployments Deployment namespaced status generation"),
    ResDef("apps/v1 replicasets ReplicaSet namespaced status generation"),
    ResDef("apps/v1 statefulsets StatefulSet namespaced status generation"),
    ResDef("authorization.k8s.io/v1 selfsubjectaccessreviews SelfSubjectAccessReview review"),
    ResDef("batch/v1 jobs Job namespaced status generation"),
    ResDef("storage.k8s.io/v1 storageclasses StorageClass"),
    ResDef("discovery.k8s.io/v1 endpointslices EndpointSlice namespaced generation"),
    ResDef("metrics.k8s.io/v1beta1 nodes NodeMetrics metrics"),
    ResDef("metrics.k8s.io/v1beta1 pods PodMetrics namespaced metrics"),
];

impl ResDef {
    fn word(&self, n: usize) -> &'static str {
        self.0.split(' ').nth(n).unwrap_or("")
    }

    pub fn api_version(&self) -> &'static str {
        self.word(0)
    }

    pub fn plural(&self) -> &'static str {
        self.word(1)
    }

    pub fn kind(&self) -> &'static str {
        self.word(2)
    }

    pub fn is(&self, trait_: &str) -> bool {
        self.0.split(' ').skip(3).any(|t| t == trait_)
    }

    pub fn group(&self) -> &'static str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn version(&self) -> &'static str {
        self.api_version().rsplit('/').next().unwrap_or("")
    }

    /// `pods`, `deployments.apps`: the qualified resource of messages.
    pub fn group_resource(&self) -> String {
        qualified(self.plural(), self.group())
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
    RESOURCES.iter().position(|r| gv(r) && r.plural() == plural)
}

/// `pods`, `deployments.apps`, `nodes.metrics.k8s.io`.
fn resolve(resource: &str) -> usize {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let named = |r: &ResDef| r.group() == group && r.plural() == plural;
    let found = RESOURCES.iter().position(named);
    found.unwrap_or_else(|| panic!("fake API: unknown resource {resource}"))
}

fn resolve_kind(obj: &Value) -> usize {
    let (api_version, kind) = (text(obj, "/apiVersion"), text(obj, "/kind"));
    let is = |r: &ResDef| r.kind() == kind && r.api_version() == api_version;
    let found = RESOURCES.iter().position(is);
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
    /// The current resourceVersion (etcd revision).
    pub(super) rv: u64,
    /// The revision of the last compaction: continue tokens from before it have expired.
    pub(super) compacted: u64,
    uids: u64,
}

impl Store {
    /// A store holding `objects`, and whether metrics were among them. Objects keep the
    /// resourceVersions they came with when those are numbers and unique (a snapshot of a real
    /// cluster keeps its revisions); the others get fresh ones, in order. Each object is stored
    /// as it comes (an iterator never holds more than one as a `Value`: an L-sized cluster is
    /// ~450,000 objects).
    pub(super) fn load(objects: impl IntoIterator<Item = Value>) -> (Store, bool) {
        let mut store = Store {
            tables: RESOURCES.iter().map(|_| Vec::new()).collect(),
            ..Store::default()
        };
        let (mut used, mut has_metrics) = (HashSet::new(), false);
        // Rows still without a resourceVersion: fresh ones come after the highest kept.
        let mut fresh = Vec::new();
        for obj in objects {
            let ri = resolve_kind(&obj);
            let rv = text(&obj, "/metadata/resourceVersion").parse::<u64>().ok();
            let rv = rv.filter(|rv| *rv > 0 && !RESOURCES[ri].is(METRICS) && used.insert(*rv));
            let mut obj = store.normalize(ri, obj, None);
            has_metrics |= RESOURCES[ri].is(METRICS);
            match rv {
                Some(rv) => set_rv(&mut obj, rv),
                None if !RESOURCES[ri].is(METRICS) => fresh.push((ri, store.tables[ri].len())),
                None => {}
            }
            store.tables[ri].push(Row(obj_key(ri, &obj), to_bytes(&obj)));
        }
        store.rv = used.into_iter().max().unwrap_or(0).max(1000);
        for (ri, i) in fresh {
            let mut obj = serde_json::from_slice(&store.tables[ri][i].1).expect("stored JSON");
            set_rv(&mut obj, store.next_rv());
            store.tables[ri][i].1 = to_bytes(&obj);
        }
        for rows in &mut store.tables {
            // The same object twice: the later one stands, as if written after.
            rows.reverse();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.dedup_by(|a, b| a.0 == b.0);
        }
        (store, has_metrics)
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
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

    /// Stores `obj` at the next revision (metrics objects have none); returns it, typed.
    pub(super) fn write(&mut self, ri: usize, key: &str, mut obj: Value) -> Value {
        if !RESOURCES[ri].is(METRICS) {
            set_rv(&mut obj, self.next_rv());
        }
        let row = Row(key.to_string(), to_bytes(&obj));
        match self.find(ri, key) {
            Ok(i) => self.tables[ri][i] = row,
            Err(i) => self.tables[ri].insert(i, row),
        }
        with_type(ri, obj)
    }

    /// Strips `apiVersion`/`kind`; fills namespace, uid, creationTimestamp and generation as
    /// the registry does on create (keeping those of `old`, when replacing).
    pub(super) fn normalize(&mut self, ri: usize, mut obj: Value, old: Option<&Value>) -> Value {
        let def = &RESOURCES[ri];
        let fields = obj.as_object_mut().expect("an object");
        fields.retain(|k, _| k != "apiVersion" && k != "kind");
        if def.is(METRICS) {
            return obj;
        }
        self.uids += 1;
        let old = |f| Some(text(old?, f).to_string()).filter(|s| !s.is_empty());
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.uids);
        let created = old("/metadata/creationTimestamp").unwrap_or_else(now);
        let uid = old("/metadata/uid").unwrap_or(uid);
        let defaults = [("namespace", "default".into()), ("uid", uid)];
        let meta = meta_mut(&mut obj);
        for (field, default) in defaults.into_iter().chain([("creationTimestamp", created)]) {
            let value = meta.get(field).and_then(Value::as_str);
            if value.is_none_or(str::is_empty) {
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

    /// The resource and key of an object named as tests name them.
    pub(super) fn locate(g: &str, v: &str, resource: &str, ns: Option<&str>, name: &str) -> Key {
        let ri = find_def(g, v, resource);
        let ri = ri.unwrap_or_else(|| panic!("fake API: no {resource} in {g}/{v}"));
        (ri, key_for(ri, ns.unwrap_or("default"), name))
    }

    /// The current object, with `apiVersion` and `kind`.
    pub(super) fn get(&self, (ri, key): Key) -> Option<Value> {
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
        self.write(ri, &obj_key(ri, &obj), obj)
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
        Some(self.write(ri, &key, obj))
    }

    /// Deletes an object (a new revision); returns what it was.
    pub(super) fn delete(&mut self, (ri, key): Key) -> Option<Value> {
        let i = self.find(ri, &key).ok()?;
        self.next_rv();
        let row = self.tables[ri].remove(i);
        let obj = serde_json::from_slice(&row.1).expect("stored JSON");
        Some(with_type(ri, obj))
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
    let ns = Some(text(obj, "/metadata/namespace")).filter(|s| !s.is_empty());
    key_for(ri, ns.unwrap_or("default"), text(obj, "/metadata/name"))
}

/// The object with `apiVersion` and `kind` first, as a GET serves it.
pub(super) fn with_type(ri: usize, obj: Value) -> Value {
    let def = &RESOURCES[ri];
    let mut out = json!({"apiVersion": def.api_version(), "kind": def.kind()});
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

fn set_rv(obj: &mut Value, rv: u64) {
    meta_mut(obj).insert("resourceVersion".into(), json!(rv.to_string()));
}

pub(super) fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    let meta = &mut v["metadata"];
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("an object")
}

/// `YYYY-MM-DDTHH:MM:SSZ` now.
fn now() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
