//! Holds the code to the layer order of `lib.rs`'s "Layout": a module may use only modules of
//! the layers before its own. Read from the sources' `crate::` paths, outside their tests.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom up, as `lib.rs` lists them.
const LAYERS: &[&[&str]] = &[
    &[
        "duration",
        "secret",
        "workflow_types",
        "payload",
        "failure",
        "search_attributes",
        "http",
        "service",
    ],
    &["config"],
    &["temporal_client", "namespace"],
    &["gateway"],
    &["activities"],
    &["workflows"],
    &["schedules", "resume"],
    &["openclaw_cron"],
    &["worker", "dev_server"],
    &["commands"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules `code` names with a `crate::` path, `use crate::{a, b::c}` included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of every item at the group's own depth.
            let (mut depth, mut item_start) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        found.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The code of a file without its comments and its `#[cfg(test)] mod tests`.
fn code_outside_tests(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_uses_only_the_layers_before_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.iter().next().unwrap().to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if ["lib", "main", "layers"].contains(&module) {
            continue;
        }
        let own = layer_of(module)
            .unwrap_or_else(|| panic!("src/{top} is in no layer: add it to LAYERS and lib.rs"));
        let code = code_outside_tests(&std::fs::read_to_string(&file).unwrap());
        for used in crate_paths(&code) {
            match layer_of(&used) {
                Some(layer) if layer < own || used == module => {}
                Some(_) => broken.push(format!("src/{}: {module} uses {used}", relative.display())),
                None => {}
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer order broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn crate_paths_reads_use_groups() {
    let code = "use crate::{a::{b, c}, d};\nlet x = crate::e::f();\nuse crate::g;";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["a", "d", "e", "g"]);
}
