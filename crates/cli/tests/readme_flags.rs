//! The README's table of `serve` flags says what `trustyconvert serve --help` says:
//! the same flags, the same environment variables, the same defaults. Both come from
//! the server's named defaults, so a change to one that forgets the other fails here.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::BIN;

/// What one flag documents: its environment variable and its default, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Documented {
    env: String,
    default: Option<String>,
}

/// The text between backticks in `cell`, in order.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, span)| span.to_owned())
        .collect()
}

/// The table under the README's `trustyconvert serve` heading, flag by flag.
fn readme_flags() -> BTreeMap<String, Documented> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README is readable");
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("`trustyconvert serve`"))
        .expect("the README has a `trustyconvert serve` section");
    let mut flags = BTreeMap::new();
    for row in section.lines().filter(|line| line.starts_with("| `--")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        let names: Vec<String> = code_spans(cells[0])
            .iter()
            .map(|flag| flag.split(' ').next().unwrap().to_owned())
            .collect();
        let envs = code_spans(cells[1]);
        let defaults = code_spans(cells[2]);
        assert_eq!(names.len(), envs.len(), "row {row}");
        for (i, name) in names.into_iter().enumerate() {
            let documented = Documented {
                env: envs[i].clone(),
                default: defaults.get(i).cloned(),
            };
            flags.insert(name, documented);
        }
    }
    flags
}

/// The flags `serve --help` prints, with their `[env: …]` and `[default: …]`.
fn help_flags() -> BTreeMap<String, Documented> {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let bracketed = |text: &str, key: &str| {
        let start = text.find(&format!("[{key}: "))? + key.len() + 3;
        let end = text[start..].find(']')? + start;
        Some(text[start..end].to_owned())
    };
    let mut flags = BTreeMap::new();
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(flag) = line.trim_start().strip_prefix("--") else {
            continue;
        };
        let name = format!("--{}", flag.split(' ').next().unwrap());
        if name == "--help" {
            continue;
        }
        let description = lines.get(i + 1).copied().unwrap_or("");
        let env = bracketed(description, "env").expect("every flag has a variable");
        flags.insert(
            name,
            Documented {
                env: env.trim_end_matches('=').to_owned(),
                default: bracketed(description, "default"),
            },
        );
    }
    flags
}

#[test]
fn readme_flag_table_matches_serve_help() {
    let (readme, help) = (readme_flags(), help_flags());
    assert!(help.len() > 20, "help parsed: {help:?}");
    assert_eq!(
        readme.keys().collect::<Vec<_>>(),
        help.keys().collect::<Vec<_>>(),
        "the README documents exactly the flags `serve` has"
    );
    for (flag, documented) in &help {
        assert_eq!(
            &readme[flag], documented,
            "{flag}: the README and --help disagree"
        );
    }
}
