//! The module layering ARCHITECTURE.md promises: inside each library crate, the
//! top-level modules import each other without a circle (a circle means two modules
//! that can only be understood, and changed, together).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Name → the top-level module it is re-exported from, read from `lib.rs`'s
/// `pub use module::{A, B}` and `pub use module::A` lines, so that `crate::A` counts as
/// an import of `module`.
fn reexports(src: &Path) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut names = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.trim_end_matches(';').split_once("::") else {
            continue;
        };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = item.trim().rsplit("::").next().unwrap_or("").trim();
            let name = name.split(" as ").last().unwrap_or(name).trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    names
}

/// The module path of a source file below `src` (`a.rs`, `a/mod.rs` → `[a]`;
/// `a/b.rs` → `[a, b]`; `lib.rs` → `[]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if path
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        path.pop();
    }
    path
}

/// The first segments of the paths in a `use` tree's text after `crate::` (or after
/// the `super::`s that reach the crate root): `a::x` → `a`; `{a::x, B, c::{y, z}}` →
/// `a`, `B`, `c`.
fn first_segments(text: &str) -> Vec<String> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        items.push(current);
        return items.iter().flat_map(|item| first_segments(item)).collect();
    }
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() || name == "self" {
        Vec::new()
    } else {
        vec![name]
    }
}

/// Top-level module → the top-level modules of the same crate it names, outside
/// comments and unit tests: `crate::x`, `crate::{x, y}`, `crate::Name` (through the
/// re-exports of `lib.rs`) and `super::…` paths that climb to the crate root.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let reexported = reexports(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_owned()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap();
        let module = module_path(relative);
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs declares and re-exports; it is not a module of its own
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            named.extend(first_segments(&code[at + "crate::".len()..]));
        }
        // `super::` climbing from this file's module to the crate root, then a name.
        for (at, _) in code.match_indices("super::") {
            if at >= "super::".len() && code[..at].ends_with("super::") {
                continue; // counted from the first `super::` of the run
            }
            let mut rest = &code[at..];
            let mut climbs = 0;
            while let Some(after) = rest.strip_prefix("super::") {
                climbs += 1;
                rest = after;
            }
            if climbs >= module.len() {
                named.extend(first_segments(rest));
            }
        }
        let imports = graph.entry(top.clone()).or_default();
        for name in named {
            let target = match reexported.get(&name) {
                Some(module) => module.clone(),
                None if name.starts_with(|c: char| c.is_ascii_lowercase()) => name,
                None => continue, // a macro-made or glob name: not traced
            };
            if target != top {
                imports.insert(target);
            }
        }
    }
    graph
}

/// A circle of imports, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        let node = path.last().unwrap().clone();
        for next in graph.get(&node).into_iter().flatten() {
            if let Some(at) = path.iter().position(|n| n == next) {
                let mut circle = path[at..].to_vec();
                circle.push(next.clone());
                return Some(circle);
            }
            if done.contains(next) {
                continue;
            }
            path.push(next.clone());
            if let Some(circle) = visit(graph, path, done) {
                return Some(circle);
            }
            path.pop();
        }
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| {
        if done.contains(start) {
            return None;
        }
        visit(graph, &mut vec![start.clone()], &mut done)
    })
}

#[test]
fn no_library_crate_has_an_import_circle_between_its_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in [
        "session", "convert", "server", "client", "protocol", "leptos",
    ] {
        let graph = module_graph(&crates.join(name).join("src"));
        assert!(graph.len() > 3, "{name}: the modules were read: {graph:?}");
        if let Some(circle) = find_circle(&graph) {
            panic!(
                "crates/{name}: modules import each other in a circle: {}",
                circle.join(" → ")
            );
        }
    }
}

#[test]
fn re_exported_names_group_imports_and_super_paths_count_as_imports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod c;\npub use b::{Thing, Other};\n",
    )
    .unwrap();
    std::fs::write(src.join("a/mod.rs"), "use crate::Thing;\nmod inner;\n").unwrap();
    std::fs::write(src.join("a/inner.rs"), "use super::super::c::x;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::{\n    c::y,\n};\n").unwrap();
    std::fs::write(src.join("c.rs"), "// use crate::a;\nfn f() {}\n").unwrap();
    let graph = module_graph(src);
    let of = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(of("a"), ["b", "c"]);
    assert_eq!(of("b"), ["c"]);
    assert!(of("c").is_empty(), "comments are not imports");
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("config", &["csrf"][..]),
        ("csrf", &["cookies"][..]),
        ("cookies", &["config"][..]),
        ("time", &[][..]),
    ]
    .into_iter()
    .map(|(m, deps)| (m.to_owned(), deps.iter().map(|d| d.to_string()).collect()))
    .collect();
    let circle = find_circle(&graph).expect("config → csrf → cookies → config");
    assert_eq!(circle.first(), circle.last());
    assert_eq!(circle.len(), 4);
}
