//! Authorization: forbidden verbs, the authorizer's 403 (`responsewriters.Forbidden` +
//! `forbiddenMessage` in `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/
//! errors.go`), and SelfSubjectAccessReviews answered from the same rules.

use super::Inner;
use super::server::{Reply, Req, bad_request, details};
use super::store::{qualified, text};
use serde_json::{Value, json};

pub(super) enum Scope {
    ClusterOnly,
    In(String),
    Everywhere,
}

/// A denied verb (or `*`) on a resource (`pods`, `deployments.apps`, `pods/log`, or `*`).
pub(super) struct Forbid(pub String, pub String, pub Scope);

impl Inner {
    /// Whether a request with these attributes is denied. As RBAC only adds permissions, a
    /// verb forbidden in one namespace is also forbidden at the cluster scope.
    pub(super) fn is_forbidden(&self, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
        let qualified = qualified(resource, group);
        self.forbids.iter().any(|Forbid(v, r, scope)| {
            let verb = v == "*" || verb == "*" || v == verb;
            let resource = r == "*" || resource == "*" || *r == qualified;
            let scope = match scope {
                Scope::Everywhere => true,
                Scope::ClusterOnly => ns.is_empty(),
                Scope::In(forbidden) => ns.is_empty() || forbidden == ns,
            };
            verb && resource && scope
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

/// The authorization filter's 403 for `resource` (`pods`, `pods/log`) in namespace `ns`:
/// `pods "x" is forbidden: User "U" cannot get resource "pods/log" in API group "" in the
/// namespace "N"` (or `... at the cluster scope`, and without the name for lists).
/// `res` is the group and the resource.
pub(super) fn forbidden(req: &Req, verb: &str, res: (&str, &str), ns: &str, name: &str) -> Reply {
    let (group, resource) = res;
    let plural = resource.split('/').next().unwrap_or(resource);
    let scope = match ns {
        "" => "at the cluster scope".to_string(),
        ns => format!("in the namespace \"{ns}\""),
    };
    let (user, gr) = (req.user, qualified(plural, group));
    let reason = format!("cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}");
    let named = match name {
        "" => gr,
        name => format!("{gr} \"{name}\""),
    };
    let message = format!("{named} is forbidden: User \"{user}\" {reason}");
    let details = details(name, group, plural);
    Reply::status(403, "Forbidden", &message, Some(details))
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
        let at = |field: &str| text(ra, &format!("/{field}"));
        let resource = match at("subresource") {
            "" => at("resource").to_string(),
            sub => format!("{}/{sub}", at("resource")),
        };
        !inner.is_forbidden(at("verb"), at("group"), &resource, at("namespace"))
    });
    let user = req.user;
    let reason = format!(
        "RBAC: allowed by ClusterRoleBinding \"fake-apiserver\" of ClusterRole \"cluster-admin\" to User \"{user}\""
    );
    let status = match allowed {
        true => json!({"allowed": true, "reason": reason}),
        false => json!({"allowed": false}),
    };
    let review = json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {}, "spec": spec, "status": status});
    Reply::json(201, &review)
}
