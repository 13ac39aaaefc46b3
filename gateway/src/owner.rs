//! One data directory, one owner: `DIR/LOCK`, an exclusive file lock (`flock`) held for the
//! owning process's life, with that process's id and command line written in it so that a
//! refusal can name it.
//!
//! - `serve` owns its directory: a second `serve` (or an offline `rebuild`) is refused before it
//!   opens the log or any read model, so it can neither strip the owner's unsynced marks nor
//!   write beside it.
//! - `rebuild` owns the directory it writes when nobody does; beside a running `serve` it is the
//!   designed way to replace a read model (it writes a new generation under that read model's
//!   own lock and publishes it, and the `serve` swaps it in), so it goes on; beside another
//!   `rebuild` it is refused.
//! - `verify` and `events tail` only read (the log read-only, the read models through read
//!   connections, `verify`'s scratch files in a directory of its own): they take no lock.
//!
//! The kernel drops the lock when the process ends, however it ends, so a crash leaves no stale
//! owner behind; the text left in the file is then only a note.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file in a data directory.
pub const LOCK_FILE: &str = "LOCK";

/// What a process holds a data directory for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Serve,
    Rebuild,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Rebuild => "rebuild",
        }
    }
}

/// How long a refused process waits for the owner's note (written just after it locked).
const NOTE_PATIENCE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error(
        "the data directory {} is in use by process {holder}; stop it first or use another --data",
        dir.display()
    )]
    Busy { dir: PathBuf, holder: String },
    #[error("cannot lock the data directory {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

/// The owner's hold on a data directory: released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Owner {
    _file: File,
}

/// What [`claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// This process owns the directory now.
    Owned(Owner),
    /// A running `serve` owns it (only a `rebuild` goes on beside it).
    BesideServe { holder: String },
}

/// Makes this process the owner of `data` (creating the directory if needed) for `role`, or
/// says who owns it. A `rebuild` goes on beside a `serve`; anything else beside an owner is
/// [`OwnerError::Busy`].
pub fn claim(data: &Path, role: Role) -> Result<Claim, OwnerError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error| OwnerError::Io { path, error }
    };
    std::fs::create_dir_all(data).map_err(io_error(data))?;
    let path = data.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_error(&path))?;
    match file.try_lock() {
        Ok(()) => {
            let args: Vec<String> = std::env::args().collect();
            let note = format!(
                "{} {} ({})\n",
                std::process::id(),
                role.name(),
                args.join(" ")
            );
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(note.as_bytes()))
                .map_err(io_error(&path))?;
            Ok(Claim::Owned(Owner { _file: file }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let note = read_note(&mut file, &path)?;
            let holder = note.trim().to_owned();
            let serving = holder.split_whitespace().nth(1) == Some(Role::Serve.name());
            if role == Role::Rebuild && serving {
                Ok(Claim::BesideServe { holder })
            } else {
                Err(OwnerError::Busy {
                    dir: data.to_path_buf(),
                    holder: if holder.is_empty() {
                        "(unnamed)".to_owned()
                    } else {
                        holder
                    },
                })
            }
        }
        Err(std::fs::TryLockError::Error(error)) => Err(OwnerError::Io { path, error }),
    }
}

/// The owner's note; it is written just after the lock is taken, so an empty one is waited for
/// a moment.
fn read_note(file: &mut File, path: &Path) -> Result<String, OwnerError> {
    let deadline = Instant::now() + NOTE_PATIENCE;
    loop {
        let mut note = String::new();
        file.rewind()
            .and_then(|()| file.read_to_string(&mut note))
            .map_err(|error| OwnerError::Io {
                path: path.to_path_buf(),
                error,
            })?;
        if note.ends_with('\n') || Instant::now() >= deadline {
            return Ok(note);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_a_rebuild_beside_a_serve_and_the_lock_goes_with_the_owner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let Claim::Owned(serving) = claim(&data, Role::Serve).expect("first") else {
            panic!("the first claim owns the directory");
        };
        let refused = claim(&data, Role::Serve).expect_err("a second serve");
        let message = refused.to_string();
        assert!(
            message.contains(&format!("in use by process {} serve", std::process::id())),
            "{message}"
        );
        assert!(matches!(
            claim(&data, Role::Rebuild).expect("a rebuild beside serve"),
            Claim::BesideServe { .. }
        ));
        drop(serving);
        let Claim::Owned(rebuilding) = claim(&data, Role::Rebuild).expect("offline rebuild") else {
            panic!("nobody owns it now");
        };
        assert!(matches!(
            claim(&data, Role::Rebuild),
            Err(OwnerError::Busy { .. })
        ));
        assert!(matches!(
            claim(&data, Role::Serve),
            Err(OwnerError::Busy { .. })
        ));
        drop(rebuilding);
        assert!(matches!(
            claim(&data, Role::Serve).expect("free again"),
            Claim::Owned(_)
        ));
    }
}
