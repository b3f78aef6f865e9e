//! PATCH (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`, then the registry's
//! update in `registry/generic/registry/store.go` and `rest.BeforeUpdate`).
//!
//! - JSON patch (RFC 6902): *any* failure while applying, including a failed `test` op, is
//!   `422 Invalid` with the generic message "the server rejected our request due to an error in
//!   our request" and `details: {}`, because the server uses `NewGenericServerResponse(422, ...)`
//!   and drops the evanphx error text; a body that is not a list of operations is 400.
//! - Merge patch (RFC 7386). Strategic merge and server-side apply are refused (415 naming the
//!   fake); other content types get the real 415.
//! - `dryRun=All` runs everything (validation, conflicts) and stores nothing; another value is
//!   `422 Invalid` from `ValidatePatchOptions`. `fieldManager` is accepted (managedFields are not
//!   kept up to date).
//! - Name change → 400 "the name of the object (x) does not match the name on the URL (y)";
//!   namespace change → 400; a `metadata.resourceVersion` that differs from the stored one →
//!   409 `Conflict` "Operation cannot be fulfilled on ...: the object has been modified; please
//!   apply your changes to the latest version and try again"; uid change → 422; changes to
//!   `.status` through the main resource are dropped (status subresource); `generation` bumps
//!   when the spec changes; a patch that changes nothing does not write (no new
//!   resourceVersion), as etcd3 `GuaranteedUpdate` skips identical data.
//! - The update validations a fix can meet on the kinds ttdoctor patches: label keys and
//!   values, annotation keys, Node taints, the immutable StorageClass fields, the Pod spec.

use super::Inner;
use super::server::{FieldError, Reply, Req, bad_request, details, go_value, invalid, not_found};
use super::store::{RESOURCES, ResDef, key_for, meta_mut, meta_str, with_type};
use serde_json::{Map, Value, json};

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

pub(super) fn patch(inner: &mut Inner, req: &Req, ri: usize, ns: &str, name: &str) -> Reply {
    let def = &RESOURCES[ri];
    let content_type = req
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if !PATCH_TYPES.contains(&content_type) {
        let message = format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            PATCH_TYPES.join(", ")
        );
        return Reply::status(415, "UnsupportedMediaType", &message, Some(json!({})));
    }
    if !PATCH_TYPES[..2].contains(&content_type) {
        let message = format!(
            "fake API: {content_type} is not implemented by this fake (ttdoctor sends JSON and merge patches)"
        );
        return Reply::status(415, "UnsupportedMediaType", &message, Some(json!({})));
    }
    let dry_run = match req.params("dryRun").as_slice() {
        [] => false,
        values if values.iter().all(|v| *v == "All") => true,
        values => {
            let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            let err = not_supported(
                "dryRun",
                &format!("[]string{{{}}}", quoted.join(", ")),
                &["All"],
            );
            return invalid(
                "PatchOptions.meta.k8s.io",
                "meta.k8s.io",
                "PatchOptions",
                "",
                &[err],
            );
        }
    };
    let key = key_for(ri, ns, name);
    let Some(existing) = inner.store.value(ri, &key) else {
        return not_found(def, name);
    };
    let mut doc = with_type(ri, existing.clone());
    if content_type == PATCH_TYPES[0] {
        let Ok(ops) = serde_json::from_slice::<Vec<Map<String, Value>>>(&req.body) else {
            return bad_request(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            );
        };
        let unprocessable = || {
            let message = "the server rejected our request due to an error in our request";
            Reply::status(422, "Invalid", message, Some(json!({})))
        };
        let ops = Value::Array(ops.into_iter().map(Value::Object).collect());
        let Ok(ops) = serde_json::from_value::<json_patch::Patch>(ops) else {
            return unprocessable();
        };
        if json_patch::patch(&mut doc, &ops.0).is_err() {
            return unprocessable();
        }
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(p) if !p.is_null() => json_patch::merge(&mut doc, &p),
            _ => return bad_request("Invalid JSON Patch"),
        }
    }
    update(inner, ri, ns, name, existing, doc, dry_run)
}

/// The registry's update once the new object is known.
fn update(
    inner: &mut Inner,
    ri: usize,
    ns: &str,
    name: &str,
    existing: Value,
    mut new: Value,
    dry_run: bool,
) -> Reply {
    let def = &RESOURCES[ri];
    let kind = new.get("kind").and_then(Value::as_str);
    if !new.get("metadata").is_some_and(Value::is_object) || kind.is_some_and(|k| k != def.kind) {
        let detail = match kind {
            Some(k) if k != def.kind => format!("kind {k} is not {}", def.kind),
            _ => "the patched object is not a valid object".into(),
        };
        let err = (
            "patch".into(),
            "FieldValueInvalid",
            format!(
                "Invalid value: {}: {detail}",
                go_value(&json!(new.to_string()))
            ),
        );
        return invalid("", "", "", "", &[err]);
    }
    // EnsureObjectNamespaceMatchesRequestNamespace, then checkName.
    let meta = meta_mut(&mut new);
    match meta.get("namespace").and_then(Value::as_str).unwrap_or("") {
        _ if !def.namespaced() => _ = meta.remove("namespace"),
        "" => _ = meta.insert("namespace".into(), json!(ns)),
        other if other != ns => {
            return bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            );
        }
        _ => {}
    }
    let obj_name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    if obj_name != name {
        return bad_request(&format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        ));
    }
    // Optimistic concurrency.
    let existing_rv = meta_str(&existing, "resourceVersion")
        .unwrap_or("0")
        .to_string();
    match meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" => {}
        rv => match rv.parse::<u64>() {
            Err(_) => {
                let message = format!("strconv.ParseUint: parsing {rv:?}: invalid syntax");
                return Reply::status(500, "", &message, None);
            }
            Ok(n) if n.to_string() != existing_rv => {
                let message = format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    def.group_resource()
                );
                return Reply::status(409, "Conflict", &message, Some(details(name, def)));
            }
            Ok(_) => {}
        },
    }
    // BeforeUpdate: system fields, uid immutability, the status subresource.
    meta.insert("resourceVersion".into(), json!(existing_rv));
    let old_meta = existing["metadata"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    match (meta.get("uid").and_then(Value::as_str), old_meta.get("uid")) {
        (None | Some(""), Some(u)) => _ = meta.insert("uid".into(), u.clone()),
        (Some(u), old) if Some(u) != old.and_then(Value::as_str) => {
            let err = (
                "metadata.uid".into(),
                "FieldValueInvalid",
                format!("Invalid value: {u:?}: field is immutable"),
            );
            return invalid(&def.group_kind(), def.group, def.kind, name, &[err]);
        }
        _ => {}
    }
    for f in [
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
    ] {
        match old_meta.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    let m = new.as_object_mut().expect("object");
    m.remove("apiVersion");
    m.remove("kind");
    if def.status() {
        match existing.get("status") {
            Some(s) => m.insert("status".into(), s.clone()),
            None => m.remove("status"),
        };
    }
    let errs = validate_update(def, &existing, &new);
    if !errs.is_empty() {
        return invalid(&def.group_kind(), def.group, def.kind, name, &errs);
    }
    let strip = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m
    };
    if def.generation() && strip(&existing) != strip(&new) {
        let generation = existing
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
    }
    if new == existing || dry_run {
        // Nothing to write, or what would have been stored (at the old resourceVersion).
        return Reply::json(200, &with_type(ri, new));
    }
    let stored = inner
        .store
        .write(ri, &key_for(ri, ns, name), Some(new))
        .expect("written");
    Reply::json(200, &with_type(ri, stored))
}

fn field(field: &str, reason: &'static str, body: String) -> FieldError {
    (field.to_string(), reason, body)
}

fn invalid_value(f: &str, value: &Value, detail: &str) -> FieldError {
    field(
        f,
        "FieldValueInvalid",
        format!("Invalid value: {}: {detail}", go_value(value)),
    )
}

fn not_supported(f: &str, value: &str, supported: &[&str]) -> FieldError {
    let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
    field(
        f,
        "FieldValueNotSupported",
        format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ),
    )
}

fn forbidden(f: &str, detail: &str) -> FieldError {
    field(f, "FieldValueForbidden", format!("Forbidden: {detail}"))
}

/// `ValidateObjectMetaUpdate` (labels and annotations) plus the kind's `ValidateXUpdate`
/// (`pkg/apis/core/validation`, `pkg/apis/storage/validation`), for the kinds fixes patch.
fn validate_update(def: &ResDef, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for part in ["labels", "annotations"] {
        let path = format!("metadata.{part}");
        let Some(map) = new.pointer(&format!("/metadata/{part}")) else {
            continue;
        };
        let Some(map) = map.as_object() else {
            errs.push(invalid_value(&path, map, "must be a map of strings"));
            continue;
        };
        for (k, v) in map {
            if let Err(e) = valid_label_key(k) {
                errs.push(invalid_value(&path, &json!(k), &e));
            }
            match v.as_str() {
                None => errs.push(invalid_value(&path, v, "must be a string")),
                Some(s) if part == "labels" && !valid_label_value(s) => {
                    errs.push(invalid_value(&path, v, LABEL_VALUE_MSG))
                }
                Some(_) => {}
            }
        }
    }
    match def.kind {
        "Node" => {
            let taints = new
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut seen = Vec::new();
            for (i, t) in taints.iter().enumerate() {
                let key = t.get("key").and_then(Value::as_str).unwrap_or("");
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                if let Err(e) = valid_label_key(key) {
                    errs.push(invalid_value(
                        &format!("spec.taints[{i}].key"),
                        &json!(key),
                        &e,
                    ));
                }
                const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
                if effect.is_empty() {
                    errs.push(field(
                        &format!("spec.taints[{i}].effect"),
                        "FieldValueRequired",
                        "Required value".into(),
                    ));
                } else if !EFFECTS.contains(&effect) {
                    errs.push(not_supported(
                        &format!("spec.taints[{i}].effect"),
                        &format!("{effect:?}"),
                        &EFFECTS,
                    ));
                }
                if seen.contains(&(key, effect)) {
                    let body = format!(
                        "Duplicate value: \"{key}:{effect}\": taints must be unique by key and effect pair"
                    );
                    errs.push(field(
                        &format!("spec.taints[{i}]"),
                        "FieldValueDuplicate",
                        body,
                    ));
                }
                seen.push((key, effect));
            }
        }
        "StorageClass" => {
            let get = |v: &Value, f: &str, default: Value| v.get(f).cloned().unwrap_or(default);
            if get(old, "parameters", json!({})) != get(new, "parameters", json!({})) {
                errs.push(forbidden(
                    "parameters",
                    "updates to parameters are forbidden.",
                ));
            }
            if old.get("provisioner") != new.get("provisioner") {
                errs.push(forbidden(
                    "provisioner",
                    "updates to provisioner are forbidden.",
                ));
            }
            if get(old, "reclaimPolicy", json!("Delete"))
                != get(new, "reclaimPolicy", json!("Delete"))
            {
                errs.push(forbidden(
                    "reclaimPolicy",
                    "updates to reclaimPolicy are forbidden.",
                ));
            }
            let binding = get(new, "volumeBindingMode", json!("Immediate"));
            if get(old, "volumeBindingMode", json!("Immediate")) != binding {
                errs.push(invalid_value(
                    "volumeBindingMode",
                    &binding,
                    "field is immutable",
                ));
            }
        }
        "Pod" => {
            let norm = |spec: Option<&Value>| {
                let mut s = spec.and_then(Value::as_object).cloned().unwrap_or_default();
                for k in [
                    "activeDeadlineSeconds",
                    "terminationGracePeriodSeconds",
                    "tolerations",
                ] {
                    s.remove(k);
                }
                for list in ["containers", "initContainers"] {
                    for c in s
                        .get_mut(list)
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        c.as_object_mut().map(|m| m.remove("image"));
                    }
                }
                s
            };
            let tolerations = |v: &Value| {
                v.pointer("/spec/tolerations")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let (old_tol, new_tol) = (tolerations(old), tolerations(new));
            let only_additions =
                new_tol.len() >= old_tol.len() && new_tol[..old_tol.len()] == old_tol[..];
            if norm(old.get("spec")) != norm(new.get("spec")) || !only_additions {
                errs.push(forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
        }
        _ => {}
    }
    errs
}

/// `validation.IsQualifiedName`.
fn valid_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if prefix.is_some_and(|p| p.is_empty() || p.len() > 253 || !p.split('.').all(label)) {
        return Err("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 || !valid_label_value(name) {
        return Err("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into());
    }
    Ok(())
}

/// `validation.IsValidLabelValue`.
fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
