//! The layers of `src/` import downwards only (README, Architecture):
//! engine < space < proxy < archive < analysis < search < jobs < ui. A
//! lower layer naming a higher one (`crate::jobs` inside `search/`) fails
//! here; test modules (`#[cfg(test)]` to the end of a file) are not read.

use std::path::Path;

const LAYERS: [&str; 8] = [
    "engine", "space", "proxy", "archive", "analysis", "search", "jobs", "ui",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::NAME` references of the non-test part of `source`, with their line numbers.
fn crate_refs(source: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (i, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let name: String = rest[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            refs.push((i + 1, name));
            rest = &rest[at + 7..];
        }
    }
    refs
}

#[test]
fn no_layer_imports_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} has no Rust files");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, name) in crate_refs(&text) {
                if let Some(higher) = LAYERS.iter().position(|l| *l == name).filter(|&r| r > rank) {
                    violations.push(format!("{}:{line}: {layer} imports {}", file.display(), LAYERS[higher]));
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports pointing up:\n{}", violations.join("\n"));
}

/// The checker itself sees an upward import and skips test modules.
#[test]
fn the_checker_finds_crate_paths_outside_tests() {
    let source = "use crate::jobs::CancelToken;\n// crate::ui in a comment\nfn f() { crate::archive::x(); }\n#[cfg(test)]\nmod tests { use crate::ui; }\n";
    let names: Vec<String> = crate_refs(source).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["jobs", "archive"]);
}
