//! Live read-model files are written without syncs, behind a mark that says so.
//!
//! A read model is derived data: everything in it is rebuilt from the log, and its checkpoint
//! is in the same transaction as its changes. What a sync buys it is only that a power cut or
//! a kernel crash cannot leave the file half-written. Its price is on the path every event
//! takes to the screen: SQLite syncs the WAL and the database file at the end of every
//! checkpoint, and the writer's own last copy of each WAL cycle (`switchboard_core::wal`)
//! waits for them (BENCHMARKS.md has the figures).
//!
//! So a live file is written with `synchronous=OFF`, and a *mark* beside it (`<file>-unsynced`)
//! names the boot of the machine (Linux's `boot_id`) that writes it. The mark is made durable
//! before the file's first unsynced write and removed only after a clean close has synced the
//! file and its WAL. A process that dies leaves the mark, but not its writes: they are in the
//! kernel's cache, which survives the process, so a restart in the same boot trusts the file
//! (and resumes from its checkpoint). A mark from another boot means the machine went down
//! while the file was being written: the file may be torn, and it is rebuilt from the log
//! instead of being read ([`from_another_boot`]). Where the boot cannot be told (not Linux),
//! files are synced as before and no mark is made.

use crate::error::ProjectionError;
use crate::files::{UNSYNCED_MARK_SUFFIX, sibling, sync_file, sync_parent};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The suffix of a file's mark.
pub const MARK_SUFFIX: &str = UNSYNCED_MARK_SUFFIX;

/// The mark of the file at `path`.
pub fn mark_path(path: &Path) -> PathBuf {
    sibling(path, MARK_SUFFIX)
}

/// This boot's id, if the system tells it.
pub fn boot_id() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The boot named by the mark of the file at `path`, when that file was left unsynced by
/// another boot than this one (or when this boot cannot be told): the file cannot be trusted
/// and must be rebuilt from the log. `None`: no mark, or a mark of this boot.
pub fn from_another_boot(path: &Path) -> Result<Option<String>, ProjectionError> {
    let mark = mark_path(path);
    let marked = match std::fs::read_to_string(&mark) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ProjectionError::io("read", &mark, e)),
    };
    match boot_id() {
        Some(now) if now == marked => Ok(None),
        _ => Ok(Some(marked)),
    }
}

/// A live file's mark while its writer holds it. Dropped (the writer's connection closed
/// first), it syncs the file and removes the mark as [`Mark::release`] does, logging what fails
/// (the mark then stays, and the next boot rebuilds the file).
#[derive(Debug)]
pub(crate) struct Mark {
    file: PathBuf,
    mark: PathBuf,
    released: bool,
}

impl Mark {
    /// Marks the file at `path` as written unsynced by this boot, durably, before anything is
    /// written to it. `None` when this boot cannot be told (then the file must be synced).
    /// An error when the file carries another boot's mark.
    pub(crate) fn take(path: &Path) -> Result<Option<Self>, ProjectionError> {
        if let Some(marked) = from_another_boot(path)? {
            return Err(ProjectionError::Corrupt(format!(
                "{} was being written when the machine stopped (boot {marked}): it may be torn; \
                 rebuild it from the log",
                path.display()
            )));
        }
        let Some(boot) = boot_id() else {
            return Ok(None);
        };
        let mark = mark_path(path);
        if !mark.exists() {
            let draft = sibling(&mark, ".new");
            std::fs::File::create(&draft)
                .and_then(|mut file| {
                    file.write_all(boot.as_bytes())?;
                    file.sync_all()
                })
                .map_err(|e| ProjectionError::io("write", &draft, e))?;
            std::fs::rename(&draft, &mark).map_err(|e| ProjectionError::io("rename", &draft, e))?;
            sync_parent(&mark)?;
        }
        Ok(Some(Self {
            file: path.to_path_buf(),
            mark,
            released: false,
        }))
    }

    /// Removes the mark once the file and its WAL are synced: call it only when the writer
    /// has written its last page.
    pub(crate) fn release(mut self) -> Result<(), ProjectionError> {
        self.released = true;
        self.sync_and_remove()
    }

    fn sync_and_remove(&self) -> Result<(), ProjectionError> {
        sync_file(&self.file)?;
        let wal = sibling(&self.file, "-wal");
        if wal.exists() {
            sync_file(&wal)?;
        }
        match std::fs::remove_file(&self.mark) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProjectionError::io("remove", &self.mark, e)),
        }
        sync_parent(&self.mark)
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        if !self.released
            && let Err(error) = self.sync_and_remove()
        {
            tracing::warn!(%error, file = %self.file.display(), "the unsynced mark stays");
        }
    }
}
