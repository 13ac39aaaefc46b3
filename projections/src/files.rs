//! The file helpers every store shares: names beside a file (`sibling`), syncs
//! (`sync_file`, `sync_parent`), replacing a small file durably ([`replace_synced`]), removing
//! a SQLite database with everything beside it (`remove_database`), and the `CURRENT` pointer that names which version of a store is in
//! use ([`read_pointer`], [`write_pointer`]).
//!
//! A leaf: it uses only [`crate::error`]. Every failure is a [`ProjectionError::Io`] naming the
//! operation and the path. [`write_pointer`] is the one writer of pointers: a reader sees the
//! old name or the new one, never a part, and once it returns the new name survives a power
//! cut.

use crate::error::ProjectionError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The file in a store's directory that names the version in use.
pub const POINTER: &str = "CURRENT";

/// The suffix of a live file's unsynced mark (see `crate::unsynced`): removed with its database.
pub(crate) const UNSYNCED_MARK_SUFFIX: &str = "-unsynced";

/// `path` with `suffix` appended to its file name (`x.sqlite` → `x.sqlite-wal`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Flushes a file's data (or a directory's entries) to the disk.
pub(crate) fn sync_file(path: &Path) -> Result<(), ProjectionError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| ProjectionError::io("sync", path, e))
}

/// Syncs the directory holding `path`, so that a file created, renamed or removed there stays
/// so after a power cut.
pub(crate) fn sync_parent(path: &Path) -> Result<(), ProjectionError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => sync_file(dir),
        None => sync_file(Path::new(".")),
    }
}

/// Removes the SQLite database at `path` with its WAL, its shared memory and its unsynced
/// mark; any of them missing is fine.
pub(crate) fn remove_database(path: &Path) -> Result<(), ProjectionError> {
    for file in [
        path.to_path_buf(),
        sibling(path, "-wal"),
        sibling(path, "-shm"),
        sibling(path, UNSYNCED_MARK_SUFFIX),
    ] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProjectionError::io("remove", file, e)),
        }
    }
    Ok(())
}

/// What `dir/CURRENT` names (its text, trimmed), or `None` when there is no pointer yet.
/// Checking the name is the caller's.
pub fn read_pointer(dir: &Path) -> Result<Option<String>, ProjectionError> {
    let pointer = dir.join(POINTER);
    match std::fs::read_to_string(&pointer) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProjectionError::io("read", pointer, e)),
    }
}

/// Points `dir/CURRENT` at `name` with [`replace_synced`].
pub fn write_pointer(dir: &Path, name: &str) -> Result<(), ProjectionError> {
    replace_synced(&dir.join(POINTER), format!("{name}\n").as_bytes())
}

/// Replaces the file at `path` by one holding `bytes`, durably: writes a file of a name no
/// other writer uses, syncs it, renames it over `path` (atomic: a reader sees the old bytes or
/// the new ones) and syncs the directory (so the rename survives a power cut). Any step that
/// fails is an error (the temporary file is then removed).
pub fn replace_synced(path: &Path, bytes: &[u8]) -> Result<(), ProjectionError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let temporary = sibling(
        path,
        &format!(
            ".{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
    );
    let written = write_synced(&temporary, bytes).and_then(|()| {
        std::fs::rename(&temporary, path).map_err(|e| ProjectionError::io("rename", &temporary, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    sync_parent(path)
}

/// Creates `path` holding `bytes`, synced.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ProjectionError> {
    let mut file =
        std::fs::File::create(path).map_err(|e| ProjectionError::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| ProjectionError::io("write", path, e))?;
    file.sync_all()
        .map_err(|e| ProjectionError::io("sync", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read_pointer(dir.path()).expect("read"), None);
        write_pointer(dir.path(), "g000001").expect("write");
        write_pointer(dir.path(), "g000002").expect("write");
        assert_eq!(
            read_pointer(dir.path()).expect("read").as_deref(),
            Some("g000002")
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, [POINTER], "no temporary file stays");
    }

    #[test]
    fn a_pointer_that_cannot_be_written_is_an_error_naming_the_step() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing");
        let failed = write_pointer(&missing, "g000001").expect_err("no directory");
        assert!(
            matches!(&failed, ProjectionError::Io { op: "create", .. }),
            "{failed}"
        );
        assert!(failed.to_string().starts_with("cannot create "), "{failed}");
    }
}
