//! The shared fixtures: `shared/fixtures/` beside the repository (the CI clone has `shared/`
//! beside it too). A missing directory fails the test, naming the path: it is never skipped.

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    assert!(
        dir.join("README.md").is_file(),
        "the shared fixtures are missing: expected {} (shared/ beside the repository)",
        dir.display()
    );
    dir
}

pub fn read(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}
