//! Embeds the rule pack into the binary: `rules/*.yaml` (the rules), `rules/tests/*.yaml`
//! (their cases) and `rules/profiles/*.yaml` (deployment profiles).

use std::fmt::Write;
use std::path::Path;

fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|it| it.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    files
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut out = String::from(
        "/// `(path, text)` of every file of the rule pack under `rules/`.\nstatic EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for (dir, prefix) in [
        (root.clone(), "rules".to_string()),
        (root.join("tests"), "rules/tests".to_string()),
        (root.join("profiles"), "rules/profiles".to_string()),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        for f in yaml_files(&dir) {
            println!("cargo:rerun-if-changed={}", f.display());
            let name = format!("{prefix}/{}", f.file_name().unwrap().to_string_lossy());
            writeln!(
                out,
                "    ({name:?}, include_str!({:?})),",
                f.display().to_string()
            )
            .unwrap();
        }
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(dest, out).unwrap();
}
