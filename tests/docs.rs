//! The documentation derived from the code stays in step with it.

/// The README's helper table is `ttdoctor helpers --markdown`, the one table the helpers are
/// declared in.
#[test]
fn readme_helper_table_is_the_helper_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- helpers:start")
        .expect("README marks the helper table");
    let body = &readme[start..];
    let table_start = body.find('\n').unwrap() + 1;
    let end = body.find("<!-- helpers:end -->").expect("end marker");
    let table = &body[table_start..end];
    let generated = ttdoctor::report::docs::helpers(true);
    assert_eq!(
        table, generated,
        "README's helper table is out of date: paste `ttdoctor helpers --markdown`"
    );
    for h in ttdoctor::expr::helpers::HELPERS {
        assert!(
            table.contains(&format!("`{}`", h.signature())),
            "{} missing",
            h.name
        );
    }
}
