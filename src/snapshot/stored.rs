//! How an object is stored: its compact JSON, the few fields every check reads of every
//! object (its core: metadata, and for pods and events what indexing needs), and its full
//! k8s-openapi type, decoded the first time something asks for it. A cluster of 150,000 pods
//! costs about the size of its JSON, not the 7× its typed form would.

use super::Object;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A string-keyed map as the API writes them in cores (labels, resource amounts), held as a
/// sorted slice: a `BTreeMap` allocates a node of about half a kilobyte however few its
/// entries, and every pod has three such maps (BENCHMARKS.md, memory at L).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmallMap<V>(Box<[(String, V)]>);

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        SmallMap(Box::default())
    }
}

impl<V> SmallMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Entries in key order, as a `BTreeMap` iterates.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.into_iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V: Clone> SmallMap<V> {
    pub fn to_btree(&self) -> BTreeMap<String, V> {
        self.0.iter().cloned().collect()
    }
}

impl<V> FromIterator<(String, V)> for SmallMap<V> {
    /// Sorted by key; of repeated keys the last wins, as in a JSON object read into a map.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> Self {
        let mut v: Vec<(String, V)> = entries.into_iter().collect();
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, earlier| later.0 == earlier.0);
        SmallMap(v.into_boxed_slice())
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SmallMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<V> {
            type Value = SmallMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(entry) = m.next_entry::<String, V>()? {
                    v.push(entry);
                }
                Ok(v.into_iter().collect())
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// The metadata every check may read of any object without decoding it whole.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub generate_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub labels: Option<SmallMap<String>>,
    #[serde(default)]
    pub owner_references: Option<Vec<OwnerRef>>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct OwnerRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

impl Meta {
    /// `(kind, name)` of the controlling owner reference.
    pub fn controller(&self) -> Option<(&str, &str)> {
        self.owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| (o.kind.as_str(), o.name.as_str()))
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }
}

/// The part of an object decoded when it is loaded.
pub trait Core:
    DeserializeOwned + Default + Clone + Send + Sync + std::fmt::Debug + 'static
{
    fn meta(&self) -> &Meta;
}

/// Metadata only: kinds the checks read whole when they need them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Plain {
    #[serde(default)]
    pub metadata: Meta,
}

impl Core for Plain {
    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

/// Resource requests and limits as written (quantities parsed when counted).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub requests: Option<SmallMap<Quantity>>,
    #[serde(default)]
    pub limits: Option<SmallMap<Quantity>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default)]
    pub host_port: Option<i32>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub host_ip: Option<String>,
}

/// What the scheduler and the image index read of a container.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerCore {
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub resources: Option<Resources>,
    /// `Always` on an init container makes it a sidecar.
    #[serde(default)]
    pub restart_policy: Option<String>,
    #[serde(default)]
    pub ports: Option<Vec<ContainerPort>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecCore {
    #[serde(default)]
    pub node_name: Option<String>,
    pub containers: Vec<ContainerCore>,
    #[serde(default)]
    pub init_containers: Option<Vec<ContainerCore>>,
    #[serde(default)]
    pub overhead: Option<SmallMap<Quantity>>,
    /// Pod-level resources (v1.34+).
    #[serde(default)]
    pub resources: Option<Resources>,
    /// `spec.priority` (set from the PriorityClass at admission): who may preempt whom.
    #[serde(default)]
    pub priority: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatusCore {
    #[serde(default)]
    pub image: String,
    #[serde(default, rename = "imageID")]
    pub image_id: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatusCore {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub container_statuses: Option<Vec<ContainerStatusCore>>,
    #[serde(default)]
    pub init_container_statuses: Option<Vec<ContainerStatusCore>>,
}

/// What indexing and the scheduler's accounting read of every pod.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodCore {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: Option<PodSpecCore>,
    #[serde(default)]
    pub status: Option<PodStatusCore>,
}

impl Core for PodCore {
    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

impl PodCore {
    pub fn node_name(&self) -> Option<&str> {
        self.spec.as_ref()?.node_name.as_deref()
    }

    pub fn phase(&self) -> Option<&str> {
        self.status.as_ref()?.phase.as_deref()
    }

    /// Whether the pod still holds node resources (not Succeeded or Failed).
    pub fn is_active(&self) -> bool {
        !matches!(self.phase(), Some("Succeeded" | "Failed"))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct InvolvedObject {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesCore {
    #[serde(default)]
    pub last_observed_time: Option<String>,
}

/// What indexing reads of every event: what it is about, and when.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventCore {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub involved_object: InvolvedObject,
    #[serde(default)]
    pub series: Option<SeriesCore>,
    #[serde(default)]
    pub last_timestamp: Option<String>,
    #[serde(default)]
    pub event_time: Option<String>,
}

impl Core for EventCore {
    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

impl EventCore {
    /// When the event last happened: its series' last observation, else lastTimestamp, else
    /// eventTime (new-style events), else creation. Compared as instants, not strings.
    pub fn time(&self) -> Option<k8s_openapi::jiff::Timestamp> {
        [
            self.series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_deref()),
            self.last_timestamp.as_deref(),
            self.event_time.as_deref(),
            self.metadata.creation_timestamp.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find_map(|t| t.parse().ok())
    }
}

/// One object of the snapshot.
pub struct Stored<T: Object> {
    /// Compact JSON, with `apiVersion` and `kind`.
    raw: Box<[u8]>,
    core: T::Core,
    /// The full object (an empty one of its kind when it does not decode) and the error.
    typed: OnceLock<(Box<T>, Option<String>)>,
}

impl<T: Object> Stored<T> {
    /// Stores compact JSON after decoding its core; the error says why it is not a `T`.
    pub fn from_raw(raw: Vec<u8>) -> Result<Stored<T>, serde_json::Error> {
        let core: T::Core = serde_json::from_slice(&raw)?;
        Ok(Stored {
            raw: raw.into_boxed_slice(),
            core,
            typed: OnceLock::new(),
        })
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn core(&self) -> &T::Core {
        &self.core
    }

    pub fn meta(&self) -> &Meta {
        self.core.meta()
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The full object, decoded on first use. One that does not decode (its core did) reads
    /// as an empty object of its kind; [`Stored::decode_error`] says why.
    pub fn get(&self) -> &T {
        &self.typed.get_or_init(|| self.decode()).0
    }

    /// `f` of the full object without keeping it: the decoded object is dropped afterwards
    /// unless [`Stored::get`] already holds it. For passes over every object of a kind (a
    /// typed node with its image list is twice its JSON); the error is the decode's.
    pub fn with_full<R>(&self, f: impl FnOnce(&T) -> R) -> (R, Option<String>) {
        match self.typed.get() {
            Some((t, e)) => (f(t), e.clone()),
            None => {
                let (t, e) = self.decode();
                (f(&t), e)
            }
        }
    }

    /// Why the full object did not decode, once [`Stored::get`] tried.
    pub fn decode_error(&self) -> Option<&str> {
        self.typed.get().and_then(|t| t.1.as_deref())
    }

    fn decode(&self) -> (Box<T>, Option<String>) {
        match serde_json::from_slice::<T>(&self.raw) {
            Ok(t) => (Box::new(t), None),
            Err(e) => {
                let m = self.meta();
                let kind = <T as k8s_openapi::Resource>::KIND;
                let id = match &m.namespace {
                    Some(ns) => format!("{ns}/{}", self.name()),
                    None => self.name().to_string(),
                };
                let mut empty = T::default();
                empty.metadata_mut().name.clone_from(&m.name);
                empty.metadata_mut().namespace.clone_from(&m.namespace);
                let why = format!("{kind} {id} is not a valid {kind}: {e}");
                (Box::new(empty), Some(why))
            }
        }
    }

    /// The object as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.raw).unwrap_or(serde_json::Value::Null)
    }
}

impl<T: Object> Clone for Stored<T> {
    fn clone(&self) -> Self {
        Stored {
            raw: self.raw.clone(),
            core: self.core.clone(),
            typed: self.typed.clone(),
        }
    }
}

impl<T: Object> std::fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.raw))
    }
}

/// Compact JSON of `obj`, with `apiVersion` and `kind`, without what no check reads
/// (managedFields, the last-applied copy).
pub fn compact<T: Object>(mut obj: T) -> Vec<u8> {
    slim(obj.metadata_mut());
    let raw = serde_json::to_vec(&obj).expect("objects serialize");
    with_type::<T>(raw)
}

/// The annotation kubectl apply keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn slim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// Puts `apiVersion` and `kind` first in compact JSON that lacks them (API list items do).
pub fn with_type<T: Object>(raw: Vec<u8>) -> Vec<u8> {
    let head = &raw[..raw.len().min(64)];
    let has = |field: &[u8]| head.windows(field.len()).any(|w| w == field);
    if has(b"\"apiVersion\"") && has(b"\"kind\"") || raw.first() != Some(&b'{') {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 64);
    out.extend_from_slice(b"{\"apiVersion\":");
    serde_json::to_writer(&mut out, T::API_VERSION).expect("a string");
    out.extend_from_slice(b",\"kind\":");
    serde_json::to_writer(&mut out, <T as k8s_openapi::Resource>::KIND).expect("a string");
    if raw.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(&raw[1..]);
    out
}

/// Compact JSON of an object without the fields at `paths` (key paths from the object's top,
/// e.g. `["metadata", "managedFields"]`), cut out of the bytes without decoding them. Input
/// that is not a JSON object is returned unchanged.
pub fn without_fields(raw: &[u8], paths: &[&[&str]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut path: Vec<Vec<u8>> = Vec::new();
    // Per open container: is it an object, and is the next string a key.
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'"' => {
                let end = string_end(raw, i);
                let s = &raw[i + 1..end - 1];
                if let Some((true, true)) = stack.last().copied() {
                    // A key: drop its pair when its path is one to remove.
                    let depth = stack.len();
                    path.truncate(depth - 1);
                    path.push(s.to_vec());
                    if paths.iter().any(|p| matches(p, &path)) {
                        let value_start = skip_ws(raw, skip_ws(raw, end) + 1);
                        let value_end = skip_ws(raw, value_end(raw, value_start));
                        // Drop the pair and one comma next to it.
                        if raw.get(value_end) == Some(&b',') {
                            i = value_end + 1;
                        } else {
                            if out.last() == Some(&b',') {
                                out.pop();
                            }
                            i = value_end;
                        }
                        continue;
                    }
                    if let Some(top) = stack.last_mut() {
                        top.1 = false;
                    }
                }
                out.extend_from_slice(&raw[i..end]);
                i = end;
                continue;
            }
            b'{' => stack.push((true, true)),
            b'[' => stack.push((false, false)),
            b'}' | b']' => {
                stack.pop();
                path.truncate(stack.len());
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = top.0;
                }
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    out
}

fn matches(pattern: &[&str], path: &[Vec<u8>]) -> bool {
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(path)
            .all(|(p, k)| p.as_bytes() == k.as_slice())
}

fn skip_ws(raw: &[u8], mut i: usize) -> usize {
    while raw.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Past the closing quote of the string opening at `start`.
fn string_end(raw: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    raw.len()
}

/// Past the end of the JSON value starting at `start`.
fn value_end(raw: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < raw.len() {
        match raw[i] {
            b'"' => {
                i = string_end(raw, i);
                if depth == 0 {
                    return i;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    raw.len()
}

/// Whether compact JSON holds a field of [`UNREAD`] (finders built once: this runs per object).
pub fn has_unread(raw: &[u8]) -> bool {
    static FINDERS: OnceLock<[memchr::memmem::Finder<'static>; 2]> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| {
        [
            memchr::memmem::Finder::new("\"managedFields\""),
            memchr::memmem::Finder::new("last-applied-configuration"),
        ]
    });
    finders.iter().any(|f| f.find(raw).is_some())
}

/// What no check reads, cut out of objects read from the API.
pub const UNREAD: &[&[&str]] = &[
    &["metadata", "managedFields"],
    &[
        "metadata",
        "annotations",
        "kubectl.kubernetes.io/last-applied-configuration",
    ],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_maps_read_like_btree_maps() {
        let m: SmallMap<String> =
            serde_json::from_str(r#"{"b": "2", "a": "1", "c": "3", "a": "last"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m.get("a").map(String::as_str),
            Some("last"),
            "the last key wins"
        );
        assert_eq!(m.get("c").map(String::as_str), Some("3"));
        assert!(m.contains_key("b") && !m.contains_key("d") && m.get("").is_none());
        let keys: Vec<&String> = m.keys().collect();
        assert_eq!(keys, ["a", "b", "c"], "in key order");
        let btree = m.to_btree();
        assert_eq!(
            btree.iter().collect::<Vec<_>>(),
            m.iter().collect::<Vec<_>>()
        );
        assert!(serde_json::from_str::<SmallMap<String>>(r#"{"a": 1}"#).is_err());
        assert!(
            serde_json::from_str::<SmallMap<String>>("{}")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn fields_are_cut_out_of_the_bytes() {
        let raw = br#"{"metadata":{"name":"p","managedFields":[{"a":{"b":"}"}}],"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"x\":1}","keep":"1"}},"spec":{"managedFields":1}}"#;
        let out = without_fields(raw, UNREAD);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"metadata": {"name": "p", "annotations": {"keep": "1"}}, "spec": {"managedFields": 1}})
        );
        let last = br#"{"metadata":{"name":"p","managedFields":[]}}"#;
        assert_eq!(
            without_fields(last, UNREAD),
            br#"{"metadata":{"name":"p"}}"#
        );
        assert_eq!(without_fields(b"[1, 2]", UNREAD), b"[1, 2]");
    }
}
