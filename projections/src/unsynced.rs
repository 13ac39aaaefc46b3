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
use crate::files::{self, UNSYNCED_MARK_SUFFIX, sibling, sync_file, sync_parent};
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

/// What a mark says: the boot that wrote the file and, since marks name their writer, that
/// writer's process id (a mark of older code names only the boot).
#[derive(Debug, Clone, PartialEq, Eq)]
struct MarkText {
    boot: String,
    pid: Option<u32>,
}

impl MarkText {
    fn parse(text: &str) -> Self {
        let mut lines = text.lines().map(str::trim);
        Self {
            boot: lines.next().unwrap_or_default().to_owned(),
            pid: lines.next().and_then(|pid| pid.parse().ok()),
        }
    }

    fn read(mark: &Path) -> Result<Option<Self>, ProjectionError> {
        match std::fs::read_to_string(mark) {
            Ok(text) => Ok(Some(Self::parse(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProjectionError::io("read", mark, e)),
        }
    }
}

/// The boot named by the mark of the file at `path`, when that file was left unsynced by
/// another boot than this one (or when this boot cannot be told): the file cannot be trusted
/// and must be rebuilt from the log. `None`: no mark, or a mark of this boot.
pub fn from_another_boot(path: &Path) -> Result<Option<String>, ProjectionError> {
    let Some(marked) = MarkText::read(&mark_path(path))? else {
        return Ok(None);
    };
    match boot_id() {
        Some(now) if now == marked.boot => Ok(None),
        _ => Ok(Some(marked.boot)),
    }
}

/// Whether the process `pid` is running (signal 0 reaches it).
fn running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else: still running.
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// A live file's mark while its writer holds it. Dropped (the writer's connection closed
/// first), it syncs the file and removes the mark as [`Mark::release`] does, logging what fails
/// (the mark then stays, and the next boot rebuilds the file). A sync that fails keeps the
/// mark, and so does [`Mark::keep`] (a clean close that failed before the syncs).
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
        let me = std::process::id();
        match MarkText::read(&mark)? {
            Some(marked) if marked.pid == Some(me) => {}
            Some(MarkText {
                pid: Some(writer), ..
            }) if running(writer) => {
                return Err(ProjectionError::Corrupt(format!(
                    "{} is being written by process {writer}; one process writes a read model",
                    path.display()
                )));
            }
            // No mark, or one left by a process of this boot that has ended (its writes are in
            // the kernel's cache, so the file is whole): the mark becomes this process's.
            _ => write_mark(&mark, &boot, me)?,
        }
        Ok(Some(Self {
            file: path.to_path_buf(),
            mark,
            released: false,
        }))
    }

    /// Leaves the mark in place for good: the writer could not finish its clean close (its
    /// last checkpoint or close failed), so the file may not be whole on the disk and the next
    /// boot must rebuild it.
    pub(crate) fn keep(mut self) {
        self.released = true;
        tracing::warn!(file = %self.file.display(), "the file's clean close failed: its unsynced mark stays");
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
        // Only this process's mark: another one's names files this process does not write.
        match MarkText::read(&self.mark)? {
            Some(marked) if marked.pid == Some(std::process::id()) => {}
            Some(_) => {
                tracing::warn!(mark = %self.mark.display(), "the unsynced mark names another process; left in place");
                return Ok(());
            }
            None => return Ok(()),
        }
        match std::fs::remove_file(&self.mark) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProjectionError::io("remove", &self.mark, e)),
        }
        sync_parent(&self.mark)
    }
}

/// Writes the mark durably ([`files::replace_synced`]: a unique temporary name, synced, renamed
/// into place, the directory synced).
fn write_mark(mark: &Path, boot: &str, pid: u32) -> Result<(), ProjectionError> {
    files::replace_synced(mark, format!("{boot}\n{pid}\n").as_bytes())
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_mark_stays_when_the_clean_close_fails_and_goes_only_with_its_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("model.sqlite");
        std::fs::write(&path, b"pages").expect("write");
        let mark = Mark::take(&path)
            .expect("take")
            .expect("Linux tells its boot");
        let text = std::fs::read_to_string(mark_path(&path)).expect("marked");
        assert_eq!(
            text.lines().nth(1),
            Some(std::process::id().to_string().as_str()),
            "names its writer: {text}"
        );
        // The close failed before the syncs: the next boot must rebuild the file.
        mark.keep();
        assert!(mark_path(&path).exists());

        // A sync that fails (the file is gone) keeps the mark too.
        let other = dir.path().join("gone.sqlite");
        let mark = Mark::take(&other).expect("take").expect("marked");
        assert!(mark.release().is_err());
        assert!(mark_path(&other).exists());

        // A mark naming another writer is not this process's to remove.
        let third = dir.path().join("third.sqlite");
        std::fs::write(&third, b"pages").expect("write");
        let mark = Mark::take(&third).expect("take").expect("marked");
        let boot = boot_id().expect("boot");
        std::fs::write(mark_path(&third), format!("{boot}\n1\n")).expect("write");
        mark.release().expect("release leaves it");
        assert!(mark_path(&third).exists(), "pid 1's mark stays");
        // ... and while that writer runs (pid 1 always does), the file is not taken over.
        let refused = Mark::take(&third).expect_err("in use");
        assert!(refused.to_string().contains("process 1"), "{refused}");
    }
}
