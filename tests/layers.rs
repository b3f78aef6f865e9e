//! Data flows one way, and so do the imports: a module of the library may use only the
//! modules declared before it in `src/lib.rs` (the layer order documented there). This test
//! reads the sources and fails on any import from a layer above.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules in declaration order: their rank.
fn layers() -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .enumerate()
        .map(|(i, m)| (m, i))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate modules a source file names: `crate::x`, `crate::{x, y::z}`, and `super::x`
/// in a top-level file (where `super` is the crate root).
fn imports(text: &str, top_level_file: bool) -> Vec<String> {
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut prefixes = vec!["crate::"];
    if top_level_file {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let layers = layers();
    assert!(layers.len() >= 10, "lib.rs declares the layers: {layers:?}");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap();
        let top = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .replace(".rs", "");
        // The binary may use everything.
        let Some(&rank) = layers.get(&top) else {
            assert!(
                ["lib", "main", "cli"].contains(&top.as_str()),
                "{} belongs to no layer: declare it in src/lib.rs",
                rel.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for name in imports(&text, rel.components().count() == 1) {
            match layers.get(&name) {
                Some(&r) if r > rank => violations.push(format!(
                    "{} ({top}) imports {name}, a layer above it",
                    rel.display()
                )),
                _ => {}
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_sees_imports() {
    let found = imports(
        "use crate::{engine::run, model};\nlet x = crate::fix::plan(); // crate::app",
        false,
    );
    assert_eq!(found, ["engine", "model", "fix"]);
    assert_eq!(imports("use super::report;", true), ["report"]);
}
