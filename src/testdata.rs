//! Locating the shared benchmark data for tests and benchmarks.

use std::path::PathBuf;

/// The shared data directory: `$LSWAG_DATA`, else `../shared/data` beside
/// the checkout. `None` (with a printed note) when absent, except that with
/// `LSWAG_REQUIRE_DATA=1` (as CI sets) absence is a failure.
#[doc(hidden)]
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LSWAG_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("README.md").exists() {
        return Some(dir);
    }
    let required = std::env::var("LSWAG_REQUIRE_DATA").is_ok_and(|v| v == "1");
    assert!(!required, "LSWAG_REQUIRE_DATA=1 but the shared data is not at {}", dir.display());
    eprintln!("note: shared data not found at {}; skipping", dir.display());
    None
}

/// The golden case directory (a sibling of the data directory).
#[doc(hidden)]
pub fn golden_dir() -> Option<PathBuf> {
    let dir = shared_data_dir()?.join("../golden");
    if dir.join("golden.json").exists() {
        return Some(dir);
    }
    let required = std::env::var("LSWAG_REQUIRE_DATA").is_ok_and(|v| v == "1");
    assert!(!required, "LSWAG_REQUIRE_DATA=1 but the golden case is not at {}", dir.display());
    eprintln!("note: golden case not found at {}; skipping", dir.display());
    None
}
