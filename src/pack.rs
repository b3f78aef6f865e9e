//! The rule pack's files, embedded in the binary at build time (`build.rs`): `rules/*.yaml`,
//! their cases in `rules/tests/`, and the deployment profiles in `rules/profiles/`. A leaf.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The namespace the pack's rules, cases and profiles assume when none is given: where
/// TrainTicket's `make deploy` installs. Declared here, with the pack, and nowhere else.
pub const DEFAULT_NAMESPACE: &str = "train-ticket";

/// `(path, text)` of the built-in rule files (`rules/*.yaml`).
pub fn rules() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED
        .iter()
        .copied()
        .filter(|(p, _)| p.starts_with("rules/") && p.matches('/').count() == 1)
}

/// `(path, text)` of the embedded files under `rules/<dir>/`.
pub fn files_in(dir: &str) -> impl Iterator<Item = (&'static str, &'static str)> {
    let prefix = format!("rules/{dir}/");
    EMBEDDED
        .iter()
        .copied()
        .filter(move |(p, _)| p.starts_with(&prefix))
}
