//! The resources served and the object store.
//!
//! Like etcd, the store is MVCC: every write takes the next value of one global resourceVersion
//! counter and old versions stay until [`Store::compact_now`], so a paginated list keeps reading
//! the revision it started on. Each resource keeps its rows sorted by etcd key
//! (`<namespace>/<name>`, or `<name>`), so a page starts with a binary search; objects are kept
//! as compact JSON without `apiVersion`/`kind` (the way list items are served), so a page is
//! served by copying bytes and only single-object work parses JSON.

use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

const NS: u8 = 1;
/// Has a status subresource: changes to `.status` through the main resource are dropped.
const STATUS: u8 = 2;
/// `metadata.generation` is tracked (bumped when the spec changes).
const GENERATION: u8 = 4;
/// Served by metrics-server through the aggregator (not stored in etcd, no resourceVersion).
const METRICS: u8 = 8;

pub(super) struct ResDef {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    flags: u8,
}

impl ResDef {
    const fn new(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
        kind: &'static str,
        flags: u8,
    ) -> ResDef {
        ResDef {
            group,
            version,
            plural,
            kind,
            flags,
        }
    }

    pub fn namespaced(&self) -> bool {
        self.flags & NS != 0
    }

    pub fn status(&self) -> bool {
        self.flags & STATUS != 0
    }

    pub fn generation(&self) -> bool {
        self.flags & GENERATION != 0
    }

    pub fn metrics(&self) -> bool {
        self.flags & METRICS != 0
    }

    pub fn api_version(&self) -> String {
        match self.group {
            "" => self.version.to_string(),
            g => format!("{g}/{}", self.version),
        }
    }

    /// `pods`, `deployments.apps`: the qualified resource of messages.
    pub fn group_resource(&self) -> String {
        match self.group {
            "" => self.plural.to_string(),
            g => format!("{}.{g}", self.plural),
        }
    }

    /// `Pod`, `Deployment.apps`: the qualified kind of Invalid messages.
    pub fn group_kind(&self) -> String {
        match self.group {
            "" => self.kind.to_string(),
            g => format!("{}.{g}", self.kind),
        }
    }
}

/// The kinds ttdoctor reads, in the order of `/api/v1` and `/apis`.
pub(super) static RESOURCES: &[ResDef] = &[
    ResDef::new("", "v1", "endpoints", "Endpoints", NS),
    ResDef::new("", "v1", "events", "Event", NS),
    ResDef::new("", "v1", "namespaces", "Namespace", STATUS),
    ResDef::new("", "v1", "nodes", "Node", STATUS),
    ResDef::new(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        NS | STATUS,
    ),
    ResDef::new("", "v1", "persistentvolumes", "PersistentVolume", STATUS),
    ResDef::new("", "v1", "pods", "Pod", NS | STATUS | GENERATION),
    ResDef::new("", "v1", "services", "Service", NS | STATUS),
    ResDef::new(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        NS | STATUS | GENERATION,
    ),
    ResDef::new(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        NS | STATUS | GENERATION,
    ),
    ResDef::new(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        NS | STATUS | GENERATION,
    ),
    ResDef::new("storage.k8s.io", "v1", "storageclasses", "StorageClass", 0),
    ResDef::new(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        NS | GENERATION,
    ),
    ResDef::new("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", METRICS),
    ResDef::new(
        "metrics.k8s.io",
        "v1beta1",
        "pods",
        "PodMetrics",
        NS | METRICS,
    ),
];

pub(super) fn find_def(group: &str, version: &str, plural: &str) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Resolves `pods`, `deployments.apps`, `nodes.metrics.k8s.io`; an unqualified name means the
/// core group first, then any other (`statefulsets`), as kubectl resolves names.
fn resolve_resource(resource: &str) -> usize {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.plural == plural)
        .or_else(|| {
            let any = group.is_empty();
            RESOURCES
                .iter()
                .position(|r| any && !r.metrics() && r.plural == plural)
        })
        .unwrap_or_else(|| panic!("fake API: unknown resource {resource}"))
}

fn resolve_kind(obj: &Value) -> Result<usize, String> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    RESOURCES
        .iter()
        .position(|r| r.kind == kind && r.api_version() == api_version)
        .ok_or_else(|| format!("cannot serve {api_version:?} {kind:?} (not a kind ttdoctor reads)"))
}

struct Version {
    rv: u64,
    /// Compact JSON without `apiVersion`/`kind`; `None`: deleted at `rv`.
    obj: Option<Box<[u8]>>,
}

pub(super) struct Row {
    pub key: String,
    versions: Vec<Version>,
}

impl Row {
    /// The object as of revision `rv`.
    pub fn at(&self, rv: u64) -> Option<&[u8]> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.rv <= rv)?
            .obj
            .as_deref()
    }

    fn current(&self) -> Option<&[u8]> {
        self.versions.last()?.obj.as_deref()
    }
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    /// Versions in all rows, deletions among them, and the newest revision: with one version
    /// per row, no deletion and nothing newer than a list's revision, every row is visible to
    /// the list (counting the rest of a page is then a subtraction).
    versions: usize,
    deletions: usize,
    max_rv: u64,
}

/// The object store. Hooks ([`super::FakeApi::on_request`]) and exec handlers get it.
pub struct Store {
    tables: Vec<Table>,
    rv: u64,
    compacted: u64,
    seq: u64,
}

impl Store {
    /// A store holding `objects`; and whether metrics were among them. Objects keep the
    /// resourceVersions they came with when those are numbers and unique (a snapshot of a real
    /// cluster keeps its revisions); the others get fresh ones, in order.
    pub(super) fn load(objects: Vec<Value>) -> Result<(Store, bool), String> {
        let mut store = Store {
            tables: RESOURCES.iter().map(|_| Table::default()).collect(),
            rv: 0,
            compacted: 0,
            seq: seed(),
        };
        let mut used = HashSet::new();
        let mut parsed = Vec::with_capacity(objects.len());
        let mut has_metrics = false;
        for obj in objects {
            let ri = resolve_kind(&obj)?;
            let given = meta_str(&obj, "resourceVersion").and_then(|s| s.parse::<u64>().ok());
            let given = given.filter(|rv| *rv > 0 && !RESOURCES[ri].metrics() && used.insert(*rv));
            has_metrics |= RESOURCES[ri].metrics();
            parsed.push((ri, given, store.normalize(ri, obj, None)));
        }
        store.rv = used.iter().copied().max().unwrap_or(0).max(1000);
        let mut rows: Vec<Vec<(String, u64, Box<[u8]>)>> =
            RESOURCES.iter().map(|_| Vec::new()).collect();
        for (ri, given, mut obj) in parsed {
            let rv = given.unwrap_or_else(|| {
                store.rv += 1;
                store.rv
            });
            let key = obj_key(ri, &obj);
            if !RESOURCES[ri].metrics() {
                meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
            }
            rows[ri].push((key, rv, to_bytes(&obj)));
        }
        for (table, mut list) in store.tables.iter_mut().zip(rows) {
            list.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            for (key, rv, obj) in list {
                let version = Version { rv, obj: Some(obj) };
                match table.rows.last_mut() {
                    Some(row) if row.key == key => row.versions.push(version),
                    _ => table.rows.push(Row {
                        key,
                        versions: vec![version],
                    }),
                }
                table.versions += 1;
                table.max_rv = table.max_rv.max(rv);
            }
        }
        Ok((store, has_metrics))
    }

    /// The current resourceVersion (etcd revision).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The revision of the last compaction: older ones can no longer be read.
    pub(super) fn compacted(&self) -> u64 {
        self.compacted
    }

    /// The rows of resource `ri` whose keys start with `prefix`, and whether all of them are
    /// visible at revision `rv` (see [`Table`]).
    pub(super) fn rows(&self, ri: usize, prefix: &str, rv: u64) -> (&[Row], bool) {
        let t = &self.tables[ri];
        let lo = t.rows.partition_point(|r| r.key.as_str() < prefix);
        let hi = lo + t.rows[lo..].partition_point(|r| r.key.starts_with(prefix));
        let simple = t.versions == t.rows.len() && t.deletions == 0 && t.max_rv <= rv;
        (&t.rows[lo..hi], simple)
    }

    /// The current object's JSON (without `apiVersion`/`kind`).
    pub(super) fn current(&self, ri: usize, key: &str) -> Option<&[u8]> {
        let rows = &self.tables[ri].rows;
        let i = rows.binary_search_by(|r| r.key.as_str().cmp(key)).ok()?;
        rows[i].current()
    }

    /// The current object, parsed (without `apiVersion`/`kind`).
    pub(super) fn value(&self, ri: usize, key: &str) -> Option<Value> {
        self.current(ri, key)
            .map(|b| serde_json::from_slice(b).expect("stored JSON"))
    }

    /// Writes a new version (`None`: a deletion) at the next revision (metrics objects replace
    /// the old one at the current revision); returns what was stored.
    pub(super) fn write(&mut self, ri: usize, key: &str, obj: Option<Value>) -> Option<Value> {
        let metrics = RESOURCES[ri].metrics();
        if !metrics {
            self.rv += 1;
        }
        let rv = self.rv;
        let obj = obj.map(|mut o| {
            if !metrics {
                meta_mut(&mut o).insert("resourceVersion".into(), json!(rv.to_string()));
            }
            o
        });
        let table = &mut self.tables[ri];
        let i = match table.rows.binary_search_by(|r| r.key.as_str().cmp(key)) {
            Ok(i) => i,
            Err(i) => {
                table.rows.insert(
                    i,
                    Row {
                        key: key.to_string(),
                        versions: Vec::new(),
                    },
                );
                i
            }
        };
        let row = &mut table.rows[i];
        if metrics {
            table.versions -= row.versions.len();
            table.deletions -= row.versions.iter().filter(|v| v.obj.is_none()).count();
            row.versions.clear();
        }
        row.versions.push(Version {
            rv,
            obj: obj.as_ref().map(to_bytes),
        });
        table.versions += 1;
        table.deletions += usize::from(obj.is_none());
        table.max_rv = table.max_rv.max(rv);
        obj
    }

    /// etcd compaction at a new revision: only the newest version at or before it is kept.
    pub(super) fn compact_now(&mut self) {
        self.rv += 1;
        self.compacted = self.rv;
        let at = self.compacted;
        for t in &mut self.tables {
            for row in &mut t.rows {
                if let Some(base) = row.versions.iter().rposition(|v| v.rv <= at) {
                    row.versions.drain(..base);
                }
            }
            t.rows
                .retain(|r| !(r.versions.len() == 1 && r.versions[0].obj.is_none()));
            t.versions = t.rows.iter().map(|r| r.versions.len()).sum();
            t.deletions = t
                .rows
                .iter()
                .flat_map(|r| &r.versions)
                .filter(|v| v.obj.is_none())
                .count();
        }
    }

    /// Strips `apiVersion`/`kind`; fills namespace, uid, creationTimestamp and generation as
    /// the registry does on create (keeping those of `existing`, when replacing).
    pub(super) fn normalize(
        &mut self,
        ri: usize,
        mut obj: Value,
        existing: Option<&Value>,
    ) -> Value {
        let def = &RESOURCES[ri];
        if let Some(m) = obj.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        if def.metrics() {
            return obj;
        }
        let uid = self.next_uid();
        let kept = |field: &str| {
            existing
                .and_then(|e| meta_str(e, field))
                .map(str::to_string)
        };
        let (old_uid, old_ts) = (kept("uid"), kept("creationTimestamp"));
        let meta = meta_mut(&mut obj);
        let missing = |m: &Map<String, Value>, k: &str| {
            m.get(k).and_then(Value::as_str).is_none_or(str::is_empty)
        };
        if !def.namespaced() {
            meta.remove("namespace");
        } else if missing(meta, "namespace") {
            meta.insert("namespace".into(), json!("default"));
        }
        if missing(meta, "uid") {
            meta.insert("uid".into(), json!(old_uid.unwrap_or(uid)));
        }
        if missing(meta, "creationTimestamp") {
            meta.insert(
                "creationTimestamp".into(),
                json!(old_ts.unwrap_or_else(now_rfc3339)),
            );
        }
        if def.generation() && !meta.contains_key("generation") {
            meta.insert("generation".into(), json!(1));
        }
        obj
    }

    fn next_uid(&mut self) -> String {
        let a = splitmix(&mut self.seq);
        let b = splitmix(&mut self.seq);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    fn locate(
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> (usize, String) {
        let ri = find_def(group, version, resource)
            .unwrap_or_else(|| panic!("fake API: no resource {resource} in {group}/{version}"));
        (ri, key_for(ri, namespace.unwrap_or("default"), name))
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
        let ri = resolve_resource(resource);
        let rows = &self.tables[ri].rows;
        rows.iter()
            .filter_map(Row::current)
            .map(|b| with_type(ri, serde_json::from_slice(b).expect("stored JSON")))
            .collect()
    }

    /// Creates or replaces an object (needs `apiVersion` and `kind`); a new resourceVersion.
    pub fn put(&mut self, object: Value) -> Value {
        let ri = resolve_kind(&object).unwrap_or_else(|e| panic!("fake API: {e}"));
        let key = obj_key(ri, &object);
        let existing = self.value(ri, &key);
        let obj = self.normalize(ri, object, existing.as_ref());
        let key = obj_key(ri, &obj);
        with_type(ri, self.write(ri, &key, Some(obj)).expect("written"))
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
        Some(with_type(
            ri,
            self.write(ri, &key, Some(obj)).expect("written"),
        ))
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

/// The etcd key of an object of resource `ri` in the request's namespace.
pub(super) fn key_for(ri: usize, namespace: &str, name: &str) -> String {
    if RESOURCES[ri].namespaced() {
        format!("{namespace}/{name}")
    } else {
        name.to_string()
    }
}

fn obj_key(ri: usize, obj: &Value) -> String {
    let ns = meta_str(obj, "namespace").filter(|s| !s.is_empty());
    key_for(
        ri,
        ns.unwrap_or("default"),
        meta_str(obj, "name").unwrap_or_default(),
    )
}

/// The object with `apiVersion` and `kind` first, as a GET serves it.
pub(super) fn with_type(ri: usize, obj: Value) -> Value {
    let def = &RESOURCES[ri];
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(def.api_version()));
    out.insert("kind".into(), json!(def.kind));
    if let Value::Object(m) = obj {
        out.extend(m);
    }
    Value::Object(out)
}

fn to_bytes(v: &Value) -> Box<[u8]> {
    serde_json::to_vec(v).expect("serialize").into_boxed_slice()
}

pub(super) fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")?.get(field)?.as_str()
}

pub(super) fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let meta = v
        .as_object_mut()
        .expect("object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("object")
}

/// `YYYY-MM-DDTHH:MM:SSZ` now.
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s) = (rem / 3600, (rem / 60) % 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
