//! Toleration matching, shared by every layer that asks whether a pod may land on a tainted
//! node (the scheduler simulation has its own, on its own types).

use k8s_openapi::api::core::v1::Toleration;

/// `Toleration.ToleratesTaint` (k8s.io/api core/v1 `toleration.go`): an empty effect matches
/// any effect, an empty key with `Exists` matches any key; `Exists` ignores the value, `Equal`
/// (or no operator) compares it; `Lt`/`Gt` need an alpha feature gate and never match.
pub fn tolerates(tols: &[Toleration], key: &str, value: &str, effect: &str) -> bool {
    tols.iter().any(|tol| {
        let op = tol.operator.as_deref().unwrap_or("Equal");
        let tkey = tol.key.as_deref().unwrap_or_default();
        let teff = tol.effect.as_deref().unwrap_or_default();
        let key_ok = (tkey.is_empty() && op == "Exists") || tkey == key;
        let value_ok = match op {
            "Exists" => true,
            "Equal" | "" => tol.value.as_deref().unwrap_or_default() == value,
            _ => false,
        };
        key_ok && value_ok && (teff.is_empty() || teff == effect)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: some(key),
            operator: some(op),
            value: some(value),
            effect: some(effect),
            ..Toleration::default()
        }
    }

    #[test]
    fn matches_like_the_api() {
        let cp = "node-role.kubernetes.io/control-plane";
        assert!(tolerates(
            &[tol(cp, "Exists", "", "NoSchedule")],
            cp,
            "",
            "NoSchedule"
        ));
        assert!(tolerates(&[tol("", "Exists", "", "")], cp, "", "NoExecute"));
        assert!(!tolerates(&[tol("", "", "", "")], cp, "", "NoSchedule"));
        assert!(!tolerates(
            &[tol(cp, "Exists", "", "NoExecute")],
            cp,
            "",
            "NoSchedule"
        ));
        assert!(tolerates(
            &[tol("gpu", "Equal", "a", "")],
            "gpu",
            "a",
            "NoSchedule"
        ));
        assert!(!tolerates(
            &[tol("gpu", "", "a", "")],
            "gpu",
            "b",
            "NoSchedule"
        ));
        assert!(!tolerates(
            &[tol("n", "Gt", "5", "")],
            "n",
            "7",
            "NoSchedule"
        ));
        assert!(!tolerates(&[], cp, "", "NoSchedule"));
    }
}
