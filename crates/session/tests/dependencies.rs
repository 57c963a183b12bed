//! The session layer is a library for any axum application: nothing of the converter
//! built on it may be in its dependency tree.

use std::process::Command;

/// Crates that belong to conversions (the converter, its engines and their codecs).
const CONVERSION_CRATES: [&str; 9] = [
    "trustyconvert-server",
    "trustyconvert-convert",
    "image",
    "resvg",
    "krilla",
    "calamine",
    "lopdf",
    "zip",
    "pulldown-cmark",
];

#[test]
fn the_session_crate_builds_without_any_conversion_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "--package",
            "trustyconvert-session",
            "--all-features",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("cargo tree prints UTF-8");
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"axum"),
        "the tree was read (it lists axum): {tree}"
    );
    for crate_name in CONVERSION_CRATES {
        assert!(
            !names.contains(&crate_name),
            "{crate_name} is in the session crate's dependency tree:\n{tree}"
        );
    }
}
