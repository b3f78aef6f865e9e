//! Rendering a report for people (and, later, for machines).

pub mod docs;
pub mod host;
pub mod human;
pub mod junit;
pub mod machine;
pub mod plan;
pub mod sarif;

/// Categories in the order a reader should meet them: what breaks scheduling and storage
/// comes before the workloads it breaks. Unknown categories follow alphabetically.
const CATEGORY_ORDER: &[&str] = &[
    "host",
    "cluster",
    "nodes",
    "scheduling",
    "storage",
    "images",
    "database",
    "workloads",
    "capacity",
    "access",
];

/// Sort key for a category name.
pub fn category_rank(c: &str) -> (usize, String) {
    (
        CATEGORY_ORDER
            .iter()
            .position(|x| *x == c)
            .unwrap_or(CATEGORY_ORDER.len()),
        c.to_string(),
    )
}
