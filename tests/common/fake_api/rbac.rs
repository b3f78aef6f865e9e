//! Authorization: forbidden verbs, the authorizer's 403 (`responsewriters.Forbidden` +
//! `forbiddenMessage` in `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/
//! errors.go`), and SelfSubjectAccessReviews answered from the same rules.

use super::Inner;
use super::server::{FieldError, Reply, bad_request, invalid};
use serde_json::{Map, Value, json};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Scope {
    ClusterOnly,
    Namespace(String),
    Everywhere,
}

/// One denied (verb, resource) at a scope.
pub(super) struct Forbid {
    verb: String,
    group: String,
    /// `pods`, or a subresource `pods/exec`.
    resource: String,
    scope: Scope,
}

impl Forbid {
    /// `resource` is `pods`, `deployments.apps`, `pods/log`, `nodes.metrics.k8s.io` or `*`.
    pub fn new(verb: &str, resource: &str, scope: Scope) -> Forbid {
        let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
        Forbid {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            scope,
        }
    }
}

impl Inner {
    /// Whether a request with these attributes is denied. Like RBAC, which only adds
    /// permissions, a verb forbidden in one namespace is also forbidden at the cluster scope.
    pub(super) fn is_forbidden(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
    ) -> bool {
        self.forbids.iter().any(|f| {
            let verb_ok = f.verb == "*" || verb == "*" || f.verb == verb;
            let res_ok = f.resource == "*"
                || resource == "*"
                || (f.resource == resource && f.group == group);
            let scope_ok = match &f.scope {
                Scope::Everywhere => true,
                Scope::ClusterOnly => namespace.is_empty(),
                Scope::Namespace(ns) => namespace.is_empty() || ns == namespace,
            };
            verb_ok && res_ok && scope_ok
        })
    }
}

/// The RBAC verb of a resource request.
pub(super) fn verb(method: &str, has_name: bool) -> &'static str {
    match (method, has_name) {
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// The authorization filter's 403: `pods "x" is forbidden: User "U" cannot get resource
/// "pods/log" in API group "" in the namespace "N"` (or `... at the cluster scope`).
pub(super) fn forbidden(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    sub: Option<&str>,
    namespace: &str,
    name: Option<&str>,
) -> Reply {
    let full = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    let scope = match namespace {
        "" => "at the cluster scope".to_string(),
        ns => format!("in the namespace \"{ns}\""),
    };
    let gr = match group {
        "" => resource.to_string(),
        g => format!("{resource}.{g}"),
    };
    let reason = format!(
        "User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
    );
    let name = name.filter(|n| !n.is_empty());
    let message = match name {
        Some(n) => format!("{gr} \"{n}\" is forbidden: {reason}"),
        None => format!("{gr} is forbidden: {reason}"),
    };
    let mut d = Map::new();
    if let Some(n) = name {
        d.insert("name".into(), json!(n));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(resource));
    Reply::status(403, "Forbidden", &message, Some(Value::Object(d)))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: answered from the forbid
/// rules, a subresource (`pods` + `exec`) being its own resource (`pods/exec`) as in RBAC.
pub(super) fn self_subject_access_review(inner: &Inner, req: &super::server::Req) -> Reply {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("the object provided is unrecognized: {e}")),
    };
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let ra = spec.get("resourceAttributes");
    if ra.is_some() == spec.get("nonResourceAttributes").is_some() {
        let err: FieldError = (
            "spec.resourceAttributes".into(),
            "FieldValueInvalid",
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
        );
        return invalid(
            "SelfSubjectAccessReview.authorization.k8s.io",
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "",
            &[err],
        );
    }
    let allowed = ra.is_none_or(|ra| {
        let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("");
        let resource = match s("subresource") {
            "" => s("resource").to_string(),
            sub => format!("{}/{sub}", s("resource")),
        };
        !inner.is_forbidden(s("verb"), s("group"), &resource, s("namespace"))
    });
    let status = if allowed {
        json!({"allowed": true, "reason": format!("RBAC: allowed by ClusterRoleBinding \"fake-apiserver\" of ClusterRole \"cluster-admin\" to User \"{}\"", req.user)})
    } else {
        json!({"allowed": false})
    };
    let review = json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": spec,
        "status": status,
    });
    Reply::json(201, &review)
}
