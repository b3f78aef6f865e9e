//! Reading big JSON snapshots fast: the file is scanned once as a byte stream, each List
//! item is cut out as raw bytes and decoded straight into its type on worker threads, in
//! batches, and the batches are put back in file order. The text is never held whole, and no
//! generic JSON tree is built for the items (only for each document's small head).

use super::{Kind, Snapshot};
use std::io::Read;
use std::sync::mpsc;

/// Items per batch sent to a worker.
const BATCH_ITEMS: usize = 512;

/// An item cut out of a List: its bytes and what the scanner saw of its top-level `kind` and
/// `apiVersion` (absent in typed lists such as `PodList`, whose kind comes from the list).
struct Item {
    start: usize,
    end: usize,
    kind: Option<String>,
    api_version: Option<String>,
    /// Position in the file's sequence of items, for messages.
    index: usize,
}

/// Items of one document, packed into one buffer.
struct Batch {
    seq: usize,
    bytes: Vec<u8>,
    items: Vec<Item>,
    /// The List's item kind, when the List says it (`PodList`) before its items.
    list_kind: Option<Kind>,
}

/// What a worker made of a batch: the objects, or the first error; and the items whose kind
/// is only known once the whole document is read.
struct Decoded {
    seq: usize,
    part: Result<Snapshot, String>,
    pending: Vec<(Vec<u8>, usize)>,
}

/// A document's fields other than `items`, as text (`items` emptied), for `serde_json`.
pub(super) struct Document {
    pub head: Vec<u8>,
    /// How many items the document had.
    pub items: usize,
}

/// Scans JSON documents from `reader`, decoding List items on `workers` threads. Calls
/// `on_document` with each document's head (small: everything but its items) in order, and
/// returns the decoded items in file order.
pub(super) fn read(
    reader: impl Read,
    workers: usize,
    mut on_document: impl FnMut(Document, &mut Snapshot) -> Result<(), String>,
) -> Result<Snapshot, String> {
    let (batch_tx, batch_rx) = mpsc::sync_channel::<Batch>(workers * 2);
    let (done_tx, done_rx) = mpsc::channel::<Decoded>();
    let batch_rx = std::sync::Arc::new(std::sync::Mutex::new(batch_rx));
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let rx = std::sync::Arc::clone(&batch_rx);
            let tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    let Ok(batch) = rx.lock().expect("not poisoned").recv() else {
                        return;
                    };
                    if tx.send(decode(batch)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut scanner = Scanner::new(batch_tx);
        let scanned = scanner.run(reader, &mut on_document);
        drop(scanner);
        let mut decoded: Vec<Decoded> = done_rx.iter().collect();
        decoded.sort_by_key(|d| d.seq);
        let (snap, docs) = scanned?;
        let mut parts = Snapshot::default();
        // Reserved whole: appended batch by batch, the vectors would grow to up to twice
        // what they hold (~0.1 GB at 150,000 pods).
        for &kind in Kind::ALL {
            let n = decoded
                .iter()
                .filter_map(|d| d.part.as_ref().ok())
                .map(|p| p.count(kind))
                .sum::<usize>()
                + snap.count(kind);
            parts.reserve(kind, n);
        }
        for d in decoded {
            parts.absorb(d.part?);
            for (bytes, index) in d.pending {
                // Typed lists without per-item kinds: the list's kind, known now.
                let kind = docs
                    .iter()
                    .find(|(first, last, _)| (*first..*last).contains(&index))
                    .and_then(|(_, _, k)| *k)
                    .ok_or_else(|| format!("item {}: no `kind` field", index + 1))?;
                insert_bytes(&mut parts, kind, &bytes, index)?;
            }
        }
        // What the documents' heads said (objects given whole, SnapshotInfo, typed lists).
        parts.absorb(snap);
        Ok(parts)
    })
}

/// Decodes one batch into a snapshot of its own.
fn decode(batch: Batch) -> Decoded {
    let mut part = Snapshot::default();
    let mut pending = Vec::new();
    for item in &batch.items {
        let bytes = &batch.bytes[item.start..item.end];
        let kind = match (&item.kind, batch.list_kind) {
            (Some(k), _) => match Kind::from_type(k, item.api_version.as_deref()) {
                Some(kind) => kind,
                None => {
                    part.ignore(k);
                    continue;
                }
            },
            (None, Some(kind)) => kind,
            (None, None) => {
                pending.push((bytes.to_vec(), item.index));
                continue;
            }
        };
        if let Err(e) = insert_bytes(&mut part, kind, bytes, item.index) {
            return Decoded {
                seq: batch.seq,
                part: Err(e),
                pending,
            };
        }
    }
    Decoded {
        seq: batch.seq,
        part: Ok(part),
        pending,
    }
}

/// Stores one item's compact JSON after decoding its core.
fn insert_bytes(snap: &mut Snapshot, kind: Kind, bytes: &[u8], index: usize) -> Result<(), String> {
    snap.insert_raw(kind, bytes.to_vec()).map_err(|e| {
        let id = serde_json::from_slice::<serde_json::Value>(bytes).map_or_else(
            |_| kind.name().to_string(),
            |v| super::load::describe(kind.name(), &v),
        );
        format!(
            "item {}: {id} is not a valid {}: {e}",
            index + 1,
            kind.name()
        )
    })
}

/// The byte-level state of the scan.
struct Scanner {
    tx: mpsc::SyncSender<Batch>,
    seq: usize,
    /// Items seen so far in the file.
    items: usize,
    /// `(first item, past the last item, the list's item kind)` per document.
    docs: Vec<(usize, usize, Option<Kind>)>,
    batch: Batch,
}

/// Where the scanner is inside one document.
#[derive(Default)]
struct Doc {
    head: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The last string at the depth being watched (a key, when `:` follows).
    last_string: Vec<u8>,
    string_start: Option<usize>,
    key: Option<Vec<u8>>,
    /// After a top-level key's `:`, before its value.
    in_value: bool,
    /// Inside the `items` array of the document.
    in_items: bool,
    /// The document is a bare array, read as a list of items.
    bare: bool,
    item: Option<ItemState>,
    doc_items: usize,
}

impl Doc {
    /// Inside a string: follows escapes, and says whether `b` closes the string.
    #[inline]
    fn string_closed_by(&mut self, b: u8) -> bool {
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = false;
            return true;
        }
        false
    }
}

#[derive(Default)]
struct ItemState {
    bytes_start: usize,
    key: Option<Vec<u8>>,
    kind: Option<String>,
    api_version: Option<String>,
}

impl Scanner {
    fn new(tx: mpsc::SyncSender<Batch>) -> Scanner {
        Scanner {
            tx,
            seq: 0,
            items: 0,
            docs: Vec::new(),
            batch: Batch {
                seq: 0,
                bytes: Vec::new(),
                items: Vec::new(),
                list_kind: None,
            },
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.batch.items.is_empty() {
            return Ok(());
        }
        self.seq += 1;
        let next = Batch {
            seq: self.seq,
            bytes: Vec::with_capacity(self.batch.bytes.capacity()),
            items: Vec::with_capacity(BATCH_ITEMS),
            list_kind: self.batch.list_kind,
        };
        let full = std::mem::replace(&mut self.batch, next);
        self.tx
            .send(full)
            .map_err(|_| "a decoding thread stopped".to_string())
    }

    /// Scans every document; returns the heads' snapshot and the documents' item ranges.
    #[allow(clippy::type_complexity)]
    fn run(
        &mut self,
        mut reader: impl Read,
        on_document: &mut impl FnMut(Document, &mut Snapshot) -> Result<(), String>,
    ) -> Result<(Snapshot, Vec<(usize, usize, Option<Kind>)>), String> {
        let mut snap = Snapshot::default();
        let mut doc = Doc::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut line = 1usize;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| format!("cannot read: {e}"))?;
            if n == 0 {
                break;
            }
            let mut i = 0;
            while i < n {
                // Most of a snapshot is the text of strings inside items: copy it in one go
                // up to the next quote or backslash (JSON strings hold no raw newline).
                if doc.in_string && !doc.escaped && doc.item.is_some() {
                    let rest = &buf[i..n];
                    let k = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    self.batch.bytes.extend_from_slice(&rest[..k]);
                    i += k;
                    if i == n {
                        break;
                    }
                }
                let b = buf[i];
                i += 1;
                if b == b'\n' {
                    line += 1;
                }
                if let Some(finished) = self
                    .byte(&mut doc, b)
                    .map_err(|e| format!("invalid JSON at line {line}: {e}"))?
                {
                    self.flush()?;
                    let first = self.items - finished.items;
                    let kind = list_item_kind(&finished.head);
                    self.docs.push((first, self.items, kind));
                    self.batch.list_kind = None;
                    on_document(finished, &mut snap)?;
                }
            }
        }
        if doc.depth > 0 || doc.in_string {
            return Err(format!(
                "invalid JSON at line {line}: the document is cut short"
            ));
        }
        self.flush()?;
        Ok((snap, std::mem::take(&mut self.docs)))
    }

    /// One byte; a finished document when this byte closes one.
    fn byte(&mut self, d: &mut Doc, b: u8) -> Result<Option<Document>, String> {
        if d.item.is_some() {
            return self.item_byte(d, b);
        }
        if d.in_string {
            d.head.push(b);
            if d.string_closed_by(b) && d.depth == 1 {
                self.head_string(d);
            }
            return Ok(None);
        }
        match b {
            b' ' | b'\n' | b'\r' | b'\t' if d.depth == 0 => {}
            b'"' => {
                d.head.push(b);
                d.in_string = true;
                d.string_start = Some(d.head.len());
            }
            b':' if d.depth == 1 => {
                d.head.push(b);
                d.key = Some(std::mem::take(&mut d.last_string));
                d.in_value = true;
            }
            b',' if d.depth == 1 => {
                d.head.push(b);
                d.in_value = false;
            }
            b'[' if d.depth == 1 && d.in_value && d.key.as_deref() == Some(b"items") => {
                d.head.push(b);
                d.depth = 2;
                d.in_items = true;
                d.in_value = false;
            }
            b'[' if d.depth == 0 => {
                // A bare JSON array of objects: its elements are items.
                d.head.extend_from_slice(b"{\"items\":[");
                d.depth = 2;
                d.in_items = true;
                d.bare = true;
            }
            b'{' if d.in_items && d.depth == 2 => self.start_item(d, b),
            b'{' | b'[' => {
                d.head.push(b);
                d.depth += 1;
                if d.depth == 2 {
                    d.in_value = false;
                }
            }
            b'}' | b']' => return self.close(d, b),
            b',' if d.in_items && d.depth == 2 => {}
            _ if d.depth == 0 => {
                return Err(format!("unexpected {:?} outside a document", b as char));
            }
            _ => d.head.push(b),
        }
        Ok(None)
    }

    /// A string that ends at the top level of a document: a key, or a value (the List's
    /// `kind`, which says what its items are when it comes before them).
    fn head_string(&mut self, d: &mut Doc) {
        let start = d.string_start.take().unwrap_or(0);
        let s = d.head[start..d.head.len() - 1].to_vec();
        if !d.in_value {
            d.last_string = s;
            return;
        }
        d.in_value = false;
        if d.key.as_deref() == Some(b"kind") {
            let kind = String::from_utf8_lossy(&s);
            self.batch.list_kind = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .and_then(|k| Kind::from_type(k, None));
        }
    }

    fn close(&mut self, d: &mut Doc, b: u8) -> Result<Option<Document>, String> {
        if d.depth == 0 {
            return Err("unexpected closing bracket".into());
        }
        d.depth -= 1;
        if d.in_items && d.depth == 1 {
            d.in_items = false;
            if d.bare {
                d.head.extend_from_slice(b"]}");
                d.depth = 0;
            } else {
                d.head.push(b);
                return Ok(None);
            }
        } else {
            d.head.push(b);
        }
        if d.depth > 0 {
            return Ok(None);
        }
        let finished = std::mem::take(d);
        Ok(Some(Document {
            head: finished.head,
            items: finished.doc_items,
        }))
    }

    fn start_item(&mut self, d: &mut Doc, b: u8) {
        d.in_value = false;
        d.item = Some(ItemState {
            bytes_start: self.batch.bytes.len(),
            ..ItemState::default()
        });
        self.batch.bytes.push(b);
        d.depth += 1;
    }

    /// A byte inside a List item: copied to the batch; the item's top-level `kind` and
    /// `apiVersion` noted on the way.
    fn item_byte(&mut self, d: &mut Doc, b: u8) -> Result<Option<Document>, String> {
        let bytes = &mut self.batch.bytes;
        // Stored compact: white space outside strings is dropped.
        if !d.in_string && matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            return Ok(None);
        }
        bytes.push(b);
        if d.in_string {
            if d.string_closed_by(b) {
                let item = d.item.as_mut().expect("in an item");
                if d.depth == 3 {
                    let start = d.string_start.take().unwrap_or(0);
                    let s = &bytes[start..bytes.len() - 1];
                    match item.key.take().as_deref() {
                        Some(b"kind") => item.kind = Some(String::from_utf8_lossy(s).into_owned()),
                        Some(b"apiVersion") => {
                            item.api_version = Some(String::from_utf8_lossy(s).into_owned());
                        }
                        Some(_) => {}
                        None => d.last_string = s.to_vec(),
                    }
                }
            }
            return Ok(None);
        }
        let item = d.item.as_mut().expect("in an item");
        match b {
            b'"' => {
                d.in_string = true;
                d.string_start = Some(bytes.len());
            }
            b':' if d.depth == 3 => item.key = Some(std::mem::take(&mut d.last_string)),
            b',' if d.depth == 3 => item.key = None,
            b'{' | b'[' => d.depth += 1,
            b'}' | b']' => {
                d.depth -= 1;
                if d.depth == 2 {
                    let state = d.item.take().expect("in an item");
                    self.batch.items.push(Item {
                        start: state.bytes_start,
                        end: self.batch.bytes.len(),
                        kind: state.kind,
                        api_version: state.api_version,
                        index: self.items,
                    });
                    self.items += 1;
                    d.doc_items += 1;
                    if self.batch.items.len() >= BATCH_ITEMS {
                        self.flush()?;
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

/// `PodList` → Pod, from a document head (`List` has no item kind).
fn list_item_kind(head: &[u8]) -> Option<Kind> {
    #[derive(serde::Deserialize)]
    struct Head {
        kind: Option<String>,
    }
    let h: Head = serde_json::from_slice(head).ok()?;
    let kind = h.kind?;
    let item = kind.strip_suffix("List").filter(|k| !k.is_empty())?;
    Kind::from_type(item, None)
}
