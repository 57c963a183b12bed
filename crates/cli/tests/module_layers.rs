//! The module layering ARCHITECTURE.md promises: inside each library crate, the
//! top-level modules import each other without a circle (a circle means two modules
//! that can only be understood, and changed, together).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules of the same crate it names (`crate::x`),
/// outside comments and unit tests.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
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
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let imports = graph.entry(top.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    imports.insert(name);
                }
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
    for name in ["session", "convert", "server", "client", "protocol"] {
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
