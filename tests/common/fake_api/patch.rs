//! PATCH (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`, then the registry's
//! update: `registry/generic/registry/store.go`, `rest.BeforeUpdate`).
//!
//! - JSON patch (RFC 6902): *any* failure while applying, including a failed `test` op, is
//!   `422 Invalid` with the generic message "the server rejected our request due to an error in
//!   our request" and `details: {}`, because the server uses `NewGenericServerResponse(422, ...)`
//!   and drops the evanphx error text; a body that is not a list of operations is 400. Merge
//!   patch (RFC 7386). Other patch types get the real 415, strategic merge and server-side apply
//!   a 415 naming the fake.
//! - `dryRun=All` runs everything (conflicts included) and stores nothing; another value is
//!   `422 Invalid` (`ValidatePatchOptions`). `fieldManager` is accepted; managedFields are kept
//!   as they are.
//! - Name change → 400 "the name of the object (x) does not match the name on the URL (y)";
//!   namespace change → 400; a `metadata.resourceVersion` that differs from the stored one →
//!   409 `Conflict` "Operation cannot be fulfilled on ...: the object has been modified; please
//!   apply your changes to the latest version and try again"; system fields (uid, creation
//!   time, generation) are kept; changes to `.status` through the main resource are dropped
//!   (status subresource); `generation` bumps when the spec changes; a patch that changes
//!   nothing does not write (no new resourceVersion), as etcd3 `GuaranteedUpdate` skips
//!   identical data.
//!
//! Fake limitation: field values are not validated (ttdoctor's fixes only set labels,
//! annotations and taints, which the fix tests check).

use super::Inner;
use super::server::{Answer, Reply, Req, bad_request, details, invalid, not_found};
use super::store::{GENERATION, NS, RESOURCES, STATUS, key_for, meta_mut, text, with_type};
use serde_json::{Map, Value, json};

const TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// What a patch cannot change.
const SYSTEM_FIELDS: &str = "resourceVersion uid creationTimestamp deletionTimestamp \
    deletionGracePeriodSeconds generation managedFields";

/// `PATCH` of the object `name` (in namespace `ns`) of resource `ri`.
pub(super) fn patch(inner: &mut Inner, req: &Req, ri: usize, ns: &str, name: &str) -> Answer {
    let def = &RESOURCES[ri];
    let content_type = req.header("content-type").unwrap_or("");
    let content_type = content_type.split(';').next().unwrap_or("").trim();
    let types = TYPES.join(", ");
    let message = match TYPES.iter().position(|t| *t == content_type) {
        Some(0 | 1) => None,
        Some(_) => Some(format!(
            "fake API: {content_type} is not implemented by this fake"
        )),
        None => Some(format!(
            "the body of the request was in an unknown format - accepted media types include: {types}"
        )),
    };
    if let Some(message) = message {
        let unsupported = Reply::status(415, "UnsupportedMediaType", &message, Some(json!({})));
        return Err(unsupported);
    }
    let dry_run = match &req.params("dryRun")[..] {
        [] => false,
        values if values.iter().all(|v| *v == "All") => true,
        values => {
            let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            let quoted = quoted.join(", ");
            let body =
                format!("Unsupported value: []string{{{quoted}}}: supported values: \"All\"");
            let err = ("dryRun", "FieldValueNotSupported", body);
            return Err(invalid(("meta.k8s.io", "PatchOptions"), "", &[err]));
        }
    };
    let key = key_for(ri, ns, name);
    let missing = || not_found(def, name);
    let existing = inner.store.value(ri, &key).ok_or_else(missing)?;
    let mut new = with_type(ri, existing.clone());
    if content_type == TYPES[0] {
        let message = "json: cannot unmarshal object into Go value of type jsonpatch.Patch";
        let ops: Vec<Map<String, Value>> =
            serde_json::from_slice(&req.body).map_err(|_| bad_request(message))?;
        let message = "the server rejected our request due to an error in our request";
        let unprocessable = || Reply::status(422, "Invalid", message, Some(json!({})));
        let ops = Value::Array(ops.into_iter().map(Value::Object).collect());
        let ops: json_patch::Patch = serde_json::from_value(ops).map_err(|_| unprocessable())?;
        json_patch::patch(&mut new, &ops.0).map_err(|_| unprocessable())?;
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(p) if !p.is_null() => json_patch::merge(&mut new, &p),
            _ => return Err(bad_request("Invalid JSON Patch")),
        }
    }
    // EnsureObjectNamespaceMatchesRequestNamespace, then checkName.
    let namespace = text(&new, "/metadata/namespace").to_string();
    let obj_name = text(&new, "/metadata/name").to_string();
    let meta = meta_mut(&mut new);
    if !def.is(NS) {
        meta.remove("namespace");
    } else if namespace.is_empty() {
        meta.insert("namespace".into(), json!(ns));
    } else if namespace != ns {
        let message =
            "the namespace of the provided object does not match the namespace sent on the request";
        return Err(bad_request(message));
    }
    if obj_name != name {
        let message = format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        );
        return Err(bad_request(&message));
    }
    // Optimistic concurrency: a resourceVersion in the patch is a precondition.
    let stored_rv = text(&existing, "/metadata/resourceVersion");
    let given_rv = meta.get("resourceVersion").and_then(Value::as_str);
    let given_rv = given_rv.unwrap_or("");
    match given_rv.parse::<u64>() {
        _ if given_rv.is_empty() => {}
        Err(_) => {
            let message = format!("strconv.ParseUint: parsing {given_rv:?}: invalid syntax");
            return Err(Reply::status(500, "", &message, None));
        }
        Ok(rv) if rv.to_string() != stored_rv => {
            let message = format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                def.group_resource()
            );
            let details = details(name, def.group(), def.plural());
            return Err(Reply::status(409, "Conflict", &message, Some(details)));
        }
        Ok(_) => {}
    }
    // BeforeUpdate: system fields stay as they are; so does the status (a subresource).
    let old = existing["metadata"].clone();
    for f in SYSTEM_FIELDS.split_whitespace() {
        match old.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    let obj = new.as_object_mut().expect("an object");
    obj.remove("apiVersion");
    obj.remove("kind");
    if def.is(STATUS) {
        match existing.get("status") {
            Some(s) => obj.insert("status".into(), s.clone()),
            None => obj.remove("status"),
        };
    }
    let spec = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m
    };
    if def.is(GENERATION) && spec(&existing) != spec(&new) {
        let generation = existing["metadata"]["generation"].as_i64().unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
    }
    if new == existing || dry_run {
        // Nothing to write, or what would have been stored (at the old resourceVersion).
        return Ok(Reply::json(200, &with_type(ri, new)));
    }
    Ok(Reply::json(200, &inner.store.write(ri, &key, new)))
}
