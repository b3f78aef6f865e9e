//! Authorization: forbidden verbs, the authorizer's 403 (`responsewriters.Forbidden` +
//! `forbiddenMessage` in `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/
//! errors.go`), and SelfSubjectAccessReviews answered from the same rules.

use super::Inner;
use super::server::{Reply, Req, bad_request, details};
use serde_json::{Value, json};

pub(super) enum Scope {
    ClusterOnly,
    In(String),
    Everywhere,
}

/// One denied verb on a resource (`pods`, or a subresource `pods/exec`) of a group.
pub(super) struct Forbid {
    verb: String,
    resource: String,
    group: String,
    scope: Scope,
}

impl Forbid {
    /// `resource` is `pods`, `deployments.apps`, `pods/log`, `nodes.metrics.k8s.io` or `*`.
    pub fn new(verb: &str, resource: &str, scope: Scope) -> Forbid {
        let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
        let (verb, resource, group) = (verb.into(), resource.into(), group.into());
        Forbid {
            verb,
            resource,
            group,
            scope,
        }
    }
}

impl Inner {
    /// Whether a request with these attributes is denied. As RBAC only adds permissions, a
    /// verb forbidden in one namespace is also forbidden at the cluster scope.
    pub(super) fn is_forbidden(&self, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
        self.forbids.iter().any(|f| {
            (f.verb == "*" || verb == "*" || f.verb == verb)
                && (f.resource == "*"
                    || resource == "*"
                    || (f.resource == resource && f.group == group))
                && match &f.scope {
                    Scope::Everywhere => true,
                    Scope::ClusterOnly => ns.is_empty(),
                    Scope::In(forbidden) => ns.is_empty() || forbidden == ns,
                }
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

/// The authorization filter's 403 for `resource` (`pods`, `pods/log`): `pods "x" is forbidden:
/// User "U" cannot get resource "pods/log" in API group "" in the namespace "N"` (or `... at the
/// cluster scope`, and without the name for lists).
pub(super) fn forbidden(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
    name: Option<&str>,
) -> Reply {
    let plural = resource.split('/').next().unwrap_or(resource);
    let scope = match ns {
        "" => "at the cluster scope".to_string(),
        ns => format!("in the namespace \"{ns}\""),
    };
    let gr = super::store::qualified(plural, group);
    let reason = format!(
        "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
    );
    let message = match name {
        Some(n) => format!("{gr} \"{n}\" is forbidden: {reason}"),
        None => format!("{gr} is forbidden: {reason}"),
    };
    Reply::status(
        403,
        "Forbidden",
        &message,
        Some(details(name.unwrap_or(""), group, plural)),
    )
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: answered from the forbid
/// rules, a subresource (`pods` + `exec`) being its own resource (`pods/exec`) as in RBAC.
pub(super) fn self_subject_access_review(inner: &Inner, req: &Req) -> Reply {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("the object provided is unrecognized: {e}")),
    };
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    // Non-resource attributes (paths) are always allowed.
    let allowed = spec.get("resourceAttributes").is_none_or(|ra| {
        let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("");
        let resource = match s("subresource") {
            "" => s("resource").to_string(),
            sub => format!("{}/{sub}", s("resource")),
        };
        !inner.is_forbidden(s("verb"), s("group"), &resource, s("namespace"))
    });
    let status = match allowed {
        true => json!({"allowed": true, "reason": format!(
            "RBAC: allowed by ClusterRoleBinding \"fake-apiserver\" of ClusterRole \"cluster-admin\" to User \"{}\"",
            req.user
        )}),
        false => json!({"allowed": false}),
    };
    let review = json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {}, "spec": spec, "status": status});
    Reply::json(201, &review)
}
