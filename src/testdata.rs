//! Finding the shared benchmark data (`../shared/data`) and the golden case
//! from tests and benchmarks of any layer. The data is never copied into
//! the repository.

use std::path::{Path, PathBuf};

/// The shared data directory: `LSWAG_DATA` (relative paths are taken from
/// the crate root, where cargo runs tests), else `../shared/data` beside the
/// crate. When absent, prints a note and returns `None` so the test can
/// return early, unless `LSWAG_REQUIRE_DATA=1` (CI), where it panics: a
/// skipped data test is a failure there.
#[doc(hidden)]
pub fn shared_data_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = match std::env::var_os("LSWAG_DATA") {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            if p.is_relative() { root.join(p) } else { p }
        }
        _ => root.join("../shared/data"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let note = format!("shared benchmark data not found at {} (set LSWAG_DATA)", dir.display());
    if std::env::var("LSWAG_REQUIRE_DATA").is_ok_and(|v| v.trim() == "1") {
        panic!("{note}; LSWAG_REQUIRE_DATA=1 makes a skipped data test a failure");
    }
    eprintln!("note: skipping: {note}");
    None
}

/// The golden case directory (`golden/` beside the data directory).
#[doc(hidden)]
pub fn golden_dir() -> Option<PathBuf> {
    let dir = shared_data_dir()?.join("../golden");
    if dir.join("golden.json").exists() {
        return Some(dir);
    }
    let note = format!("golden case not found at {}", dir.display());
    if std::env::var("LSWAG_REQUIRE_DATA").is_ok_and(|v| v.trim() == "1") {
        panic!("{note}; LSWAG_REQUIRE_DATA=1 makes a skipped data test a failure");
    }
    eprintln!("note: skipping: {note}");
    None
}
