//! LIST with `limit` and `continue`, as the etcd3 store pages (`staging/src/k8s.io/apiserver/
//! pkg/storage/etcd3/store.go` GetList): items in key order without `apiVersion`/`kind` (kubectl
//! adds them), `metadata.resourceVersion`, and while more keys follow, an opaque continue token
//! in the real format (`base64url({"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"})`,
//! `storage/continue.go`) and `remainingItemCount`. A token older than the last compaction is
//! 410 `Expired` with the "inconsistent continue" message and, in `metadata.continue`, a fresh
//! token with rv -1 that continues at the current revision (`storage/etcd3/errors.go`,
//! `storage/errors.go`). A page costs a binary search and the copy of its items.
//!
//! Fake limitations: pages read the current objects (etcd serves every page from the revision
//! of the first); selectors, `resourceVersion` and watches are refused with a 400 naming the
//! fake; any malformed continue token gets one of the real messages.

use super::Inner;
use super::server::{Reply, Req, bad_request, status};
use super::store::{METRICS, RESOURCES};
use serde_json::{Map, Value, json};

const INCONSISTENT: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The options of a LIST ttdoctor does not send.
const REFUSED: &str = "watch labelSelector fieldSelector resourceVersion resourceVersionMatch";

pub(super) fn list(inner: &Inner, req: &Req, ri: usize, namespace: Option<&str>) -> Reply {
    let def = &RESOURCES[ri];
    let sent = |p: &&str| req.param(p).is_some_and(|v| !v.is_empty());
    if let Some(p) = REFUSED.split(' ').find(sent) {
        return bad_request(&format!("fake API: {p} is not implemented by this fake"));
    }
    let prefix = namespace.map_or(String::new(), |ns| format!("{ns}/"));
    let rows = inner.store.rows(ri, &prefix);
    let mut meta = Map::new();
    let mut rv = inner.store.rv;
    let (mut first, mut end) = (0, rows.len());
    // metrics-server lists everything at once: no resourceVersion, no paging.
    if !def.is(METRICS) {
        if let Some(token) = req.param("continue").filter(|c| !c.is_empty()) {
            let Some((token_rv, start)) = decode_continue(token) else {
                let message = "invalid continue token: continue key is not valid";
                return bad_request(message);
            };
            if token_rv > 0 && (token_rv as u64) < inner.store.compacted {
                let mut status = status(410, "Expired", INCONSISTENT, None);
                status["metadata"] = json!({"continue": encode_continue(-1, &start)});
                return Reply::json(410, &status);
            }
            rv = if token_rv > 0 { token_rv as u64 } else { rv };
            first = rows.partition_point(|r| r.0[prefix.len()..] < *start);
        }
        match req.param("limit").map(str::parse::<i64>) {
            Some(Ok(n)) if n > 0 => end = end.min(first + n as usize),
            Some(Err(e)) => return bad_request(&format!("strconv.ParseInt: {e}")),
            _ => {}
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        if end < rows.len() && end > first {
            let start = format!("{}\u{0}", &rows[end - 1].0[prefix.len()..]);
            meta.insert("continue".into(), json!(encode_continue(rv as i64, &start)));
            meta.insert("remainingItemCount".into(), json!(rows.len() - end));
        }
    }
    // Written by hand so that a page costs the copy of its items.
    let page = &rows[first..end];
    let size = page.iter().map(|r| r.1.len() + 1).sum::<usize>();
    let (kind, api_version) = (def.kind(), def.api_version());
    let head = format!(r#"{{"kind":"{kind}List","apiVersion":"{api_version}","metadata":"#);
    let mut body = Vec::with_capacity(size + head.len() + 256);
    body.extend(head.as_bytes());
    serde_json::to_writer(&mut body, &meta).expect("metadata");
    body.extend(br#","items":["#);
    let items: Vec<&[u8]> = page.iter().map(|r| &r.1[..]).collect();
    body.extend(items.join(&b","[..]));
    body.extend(b"]}\n");
    Reply::bytes(200, "application/json", body)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_continue(rv: i64, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).to_string();
    let mut out = String::new();
    // base64.RawURLEncoding
    for chunk in token.as_bytes().chunks(3) {
        let n = chunk.iter().enumerate();
        let n = n.fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// `storage.DecodeContinue`: the revision and the start key relative to the list's prefix.
fn decode_continue(token: &str) -> Option<(i64, String)> {
    let (mut data, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in token.bytes() {
        acc = acc << 6 | B64.iter().position(|b| *b == c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            data.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let v: Value = serde_json::from_slice(&data).ok()?;
    let rv = v["rv"].as_i64().filter(|rv| *rv != 0)?;
    let start = v["start"].as_str().filter(|s| !s.is_empty())?;
    // path.Clean must not change it (no traversal out of the list's prefix).
    let key = format!("/{}", start.trim_start_matches('/'));
    let unclean = ["//", "/./", "/../"].iter().any(|p| key.contains(p)) || key.ends_with("/..");
    let version = v["v"] == "meta.k8s.io/v1";
    (version && !unclean).then(|| (rv, start.trim_start_matches('/').to_string()))
}
