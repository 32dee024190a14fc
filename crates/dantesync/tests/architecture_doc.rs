//! `docs/architecture.md` is a map for contributors: every path it names must exist, and the
//! rule it states about file sizes must hold, or the map misleads the next reader.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `a/{b,c}/d.rs` → `a/b/d.rs`, `a/c/d.rs` (one level of braces, as the doc writes them).
fn expand(path: &str) -> Vec<String> {
    match (path.find('{'), path.find('}')) {
        (Some(open), Some(close)) if open < close => path[open + 1..close]
            .split(',')
            .map(|alt| format!("{}{}{}", &path[..open], alt, &path[close + 1..]))
            .collect(),
        _ => vec![path.to_owned()],
    }
}

/// Every `code span` of the doc that is a repository path: it starts at a top-level folder.
fn named_paths(doc: &str) -> Vec<String> {
    const ROOTS: [&str; 7] = [
        "crates/",
        "scripts/",
        "fuzz/",
        "docs/",
        "tests/",
        "packaging/",
        "examples/",
    ];
    doc.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| ROOTS.iter().any(|r| span.starts_with(r)))
        .map(|span| span.split_whitespace().next().unwrap_or(span).to_owned())
        .flat_map(|p| expand(&p))
        .collect()
}

#[test]
fn every_path_the_architecture_doc_names_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let paths = named_paths(&doc);
    assert!(paths.len() > 20, "only {} paths found", paths.len());
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !repo().join(p.trim_end_matches('/')).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names paths that do not exist: {missing:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_of_a_crate_is_over_600_lines() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(repo().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 100, "only {} files found", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over 600 lines (split them by concern; docs/architecture.md): {long:?}"
    );
}
