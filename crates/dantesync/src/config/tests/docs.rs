//! The documentation and the examples agree with the keys the configuration reads.

use super::*;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn every_key_is_documented() {
    let doc = std::fs::read_to_string(repo_file("docs/config.md")).unwrap();
    let mut missing = Vec::new();
    for (section, keys) in file::sections() {
        for k in keys {
            let path = read::join(section, k);
            if !doc.contains(&format!("`{path}`")) {
                missing.push(path);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md does not document {missing:?}"
    );
}

#[test]
fn the_examples_are_valid_and_the_full_one_sets_every_key() {
    let dir = repo_file("examples/config");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).unwrap();
            let cfg = parse(&bytes, &path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert!(
                cfg.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                cfg.warnings
            );
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert!(
        names.contains(&"full.json".to_owned()) && names.contains(&"minimal.json".to_owned()),
        "{names:?}"
    );

    // full.json names every key of the schema except the earlier tool's, and the simulated
    // clock's keys, which have their own example (a production file must not carry them).
    let paths_in = |name: &str| {
        let root = json::parse(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        let mut present = Vec::new();
        collect_paths(&root, "", &mut present);
        present
    };
    let full = paths_in("full.json");
    let simulated = paths_in("simulated-clock.json");
    for (section, keys) in file::sections() {
        for k in keys {
            let path = read::join(section, k);
            let earlier =
                section == "system" || k == "system" || path == "ntp_server_mode.max_step_us";
            let sim_only = path == "clock.drift_ppm" || path == "clock.offset_ms";
            if sim_only {
                assert!(
                    simulated.contains(&path),
                    "simulated-clock.json lacks {path}"
                );
            } else {
                assert!(earlier || full.contains(&path), "full.json lacks {path}");
            }
        }
    }
}

fn collect_paths(node: &Node, path: &str, out: &mut Vec<String>) {
    if let Value::Object(members) = &node.value {
        for m in members {
            let p = read::join(path, &m.key);
            collect_paths(&m.value, &p, out);
            out.push(p);
        }
    }
}
