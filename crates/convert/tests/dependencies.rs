//! The conversions are usable without HTTP: no web framework, session layer or store
//! client may be in this crate's dependency tree.

use std::process::Command;

/// Crates of HTTP, sessions and storage.
const FORBIDDEN: [&str; 8] = [
    "axum",
    "hyper",
    "tower",
    "redis",
    "rusqlite",
    "reqwest",
    "trustyconvert-session",
    "trustyconvert-server",
];

/// `cargo tree` of this crate, one package per line, normal and build edges only.
const TREE: &str = "tree --offline --locked --edges normal,build --prefix none --format {p}";

/// The names of the packages this crate builds with.
fn dependency_names() -> Vec<String> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(TREE.split(' '))
        .args(["--package", env!("CARGO_PKG_NAME")]);
    let output = cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8_lossy(&output.stdout);
    tree.lines()
        .filter_map(|line| line.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_convert_crate_builds_without_http_sessions_or_stores() {
    let names = dependency_names();
    assert!(
        names.iter().any(|name| name == "image"),
        "the tree was read (it lists image): {names:?}"
    );
    for forbidden in FORBIDDEN {
        assert!(
            !names.iter().any(|name| name == forbidden),
            "{forbidden} is in the convert crate's dependency tree: {names:?}"
        );
    }
}
