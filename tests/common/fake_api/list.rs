//! LIST with `limit` and `continue`, as the etcd3 store pages (`staging/src/k8s.io/apiserver/
//! pkg/storage/etcd3/store.go` GetList): items in key order without `apiVersion`/`kind` (kubectl
//! adds them), `metadata.resourceVersion` the revision read, and while more keys follow, an
//! opaque continue token in the real format (`base64url({"v":"meta.k8s.io/v1","rv":N,
//! "start":"<key>\u0000"})`, `storage/continue.go`) plus `remainingItemCount`. Every page of
//! one list reads the revision of its first page. A token older than the last compaction is 410
//! `Expired` with the "inconsistent continue" message and, in `metadata.continue`, a fresh token
//! with rv -1 that continues at the current revision (`storage/etcd3/errors.go`,
//! `storage/errors.go`). A page costs a binary search and the copy of its items.

use super::Inner;
use super::server::{Reply, Req, bad_request, status_value};
use super::store::RESOURCES;
use serde_json::{Map, Value, json};

const CONTINUE_INCONSISTENT: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

pub(super) fn list(inner: &Inner, req: &Req, ri: usize, namespace: Option<&str>) -> Reply {
    let def = &RESOURCES[ri];
    for p in [
        "watch",
        "labelSelector",
        "fieldSelector",
        "resourceVersion",
        "resourceVersionMatch",
    ] {
        if req.param(p).is_some_and(|v| !v.is_empty()) {
            return bad_request(&format!(
                "fake API: {p} is not implemented by this fake (ttdoctor lists with limit and continue only)"
            ));
        }
    }
    let prefix = match namespace {
        Some(ns) => format!("{ns}/"),
        None => String::new(),
    };
    let store = &inner.store;
    let mut metadata = Map::new();
    let (read_rv, start, limit) = if def.metrics() {
        // metrics-server lists everything at once: no resourceVersion, no paging.
        (store.resource_version(), prefix.clone(), 0)
    } else {
        let limit = match req.param("limit").map(str::parse::<i64>) {
            Some(Ok(n)) => n.max(0) as usize,
            Some(Err(e)) => {
                return bad_request(&format!(
                    "strconv.ParseInt: parsing {:?}: {e}",
                    req.param("limit").unwrap_or("")
                ));
            }
            None => 0,
        };
        let (rv, start) = match req.param("continue").filter(|c| !c.is_empty()) {
            None => (store.resource_version(), prefix.clone()),
            Some(token) => match decode_continue(token) {
                Err(e) => return bad_request(&format!("invalid continue token: {e}")),
                Ok((rv, start)) if rv > 0 && (rv as u64) < store.compacted() => {
                    let mut status = status_value(410, "Expired", CONTINUE_INCONSISTENT, None);
                    status["metadata"] = json!({"continue": encode_continue(-1, &start)});
                    return Reply::json(410, &status);
                }
                Ok((rv, start)) if rv > 0 => (
                    (rv as u64).min(store.resource_version()),
                    format!("{prefix}{start}"),
                ),
                Ok((_, start)) => (store.resource_version(), format!("{prefix}{start}")),
            },
        };
        metadata.insert("resourceVersion".into(), json!(rv.to_string()));
        (rv, start, limit)
    };
    let (rows, all_visible) = store.rows(ri, &prefix, read_rv);
    let mut i = rows.partition_point(|r| r.key < start);
    let mut items: Vec<&[u8]> = Vec::new();
    let mut last_key = "";
    let mut more = false;
    while i < rows.len() {
        if let Some(obj) = rows[i].at(read_rv) {
            if limit > 0 && items.len() >= limit {
                more = true;
                break;
            }
            items.push(obj);
            last_key = &rows[i].key;
        }
        i += 1;
    }
    if more {
        let token = encode_continue(
            read_rv as i64,
            &format!("{}\u{0}", &last_key[prefix.len()..]),
        );
        let remaining = if all_visible {
            rows.len() - i
        } else {
            rows[i..].iter().filter(|r| r.at(read_rv).is_some()).count()
        };
        metadata.insert("continue".into(), json!(token));
        metadata.insert("remainingItemCount".into(), json!(remaining));
    }
    // Written by hand so that a page costs the copy of its items.
    let mut body = Vec::with_capacity(items.iter().map(|o| o.len() + 1).sum::<usize>() + 256);
    body.extend_from_slice(
        format!(
            r#"{{"kind":"{}List","apiVersion":"{}","metadata":"#,
            def.kind,
            def.api_version()
        )
        .as_bytes(),
    );
    serde_json::to_writer(&mut body, &metadata).expect("metadata");
    body.extend_from_slice(br#","items":["#);
    for (n, obj) in items.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(obj);
    }
    body.extend_from_slice(b"]}\n");
    Reply::bytes(200, "application/json", body)
}

fn encode_continue(rv: i64, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64url_encode(token.to_string().as_bytes())
}

/// `storage.DecodeContinue`: the revision and the start key relative to the list's prefix; the
/// errors are the real ones.
fn decode_continue(token: &str) -> Result<(i64, String), String> {
    const GENERIC: &str = "continue key is not valid";
    let data = base64url_decode(token).map_err(|e| format!("{GENERIC}: {e}"))?;
    let v: Value = serde_json::from_slice(&data).map_err(|e| format!("{GENERIC}: {e}"))?;
    let version = v.get("v").and_then(Value::as_str).unwrap_or_default();
    if version != "meta.k8s.io/v1" {
        return Err(format!(
            "{GENERIC}: server does not recognize this encoded version {version}"
        ));
    }
    let rv = v.get("rv").and_then(Value::as_i64).unwrap_or(0);
    if rv == 0 {
        return Err(format!(
            "{GENERIC}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        ));
    }
    let start = v.get("start").and_then(Value::as_str).unwrap_or_default();
    if start.is_empty() {
        return Err(format!(
            "{GENERIC}: encoded start key empty (version meta.k8s.io/v1)"
        ));
    }
    // path.Clean must not change it (no traversal out of the list's prefix).
    let key = format!("/{}", start.trim_start_matches('/'));
    if key.contains("//") || key.contains("/./") || key.contains("/../") || key.ends_with("/..") {
        return Err(format!("{GENERIC}: {start}"));
    }
    Ok((rv, start.trim_start_matches('/').to_string()))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `base64.RawURLEncoding`.
fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(s: &str) -> Result<Vec<u8>, String> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for (i, c) in s.bytes().enumerate() {
        let v = B64
            .iter()
            .position(|b| *b == c)
            .ok_or_else(|| format!("illegal base64 data at input byte {i}"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if s.len() % 4 == 1 {
        return Err(format!("illegal base64 data at input byte {}", s.len() - 1));
    }
    Ok(out)
}
