//! Files of the index: the checkpoint in the commit payload, the `CURRENT` pointer and the
//! version directories, and an opened version.
//!
//! `root/CURRENT` names the version directory in use (`root/v000001`, …). [`super::rebuild`]
//! builds a new version from the log, commits it and atomically renames a new pointer file
//! over `CURRENT`; readers follow with [`super::SearchReader::reopen`], and opening the writer
//! removes the older versions. The checkpoint (last applied sequence) is the commit payload
//! (`sb1 <seq> <undecodable> <last undecodable or -> [<applied record's append time, µs>]`). The document store is zstd in 32 KiB
//! blocks (an existing index keeps the settings it was created with).

use super::documents::corrupt;
use super::schema::{Fields, register_tokenizers, schema};
use crate::files;
use crate::runtime::{Checkpoint, ProjectionError};
use std::fmt;
use std::path::{Path, PathBuf};
use tantivy::directory::MmapDirectory;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, ReloadPolicy};

/// The document store: zstd at this level, in blocks of this many bytes. Bodies are small and
/// alike, so the block size is what makes zstd pay, and a hit fetched from a block not cached
/// costs its whole block's decompression (the measured trade-off is in BENCHMARKS.md).
const DOCSTORE_ZSTD_LEVEL: i32 = 9;
const DOCSTORE_BLOCK_BYTES: usize = 32 << 10;

pub(super) fn encode_checkpoint(checkpoint: Checkpoint) -> String {
    let last = checkpoint
        .last_undecodable_seq
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    match checkpoint.applied_at {
        None => format!("sb1 {} {} {last}", checkpoint.seq, checkpoint.undecodable),
        Some(at) => format!(
            "sb1 {} {} {last} {}",
            checkpoint.seq,
            checkpoint.undecodable,
            at.as_micros()
        ),
    }
}

pub(super) fn decode_checkpoint(payload: Option<&str>) -> Result<Checkpoint, ProjectionError> {
    let Some(payload) = payload else {
        return Ok(Checkpoint::default());
    };
    let bad = || corrupt(format!("bad commit payload {payload:?}"));
    let parts: Vec<&str> = payload.split(' ').collect();
    // A fifth part, the applied record's append time (micros), since the log check; a
    // payload without it (an index committed before) checks the sequence only.
    let (tag, seq, undecodable, last, applied_at) = match parts.as_slice() {
        [tag, seq, undecodable, last] => (tag, seq, undecodable, last, None),
        [tag, seq, undecodable, last, at] => (tag, seq, undecodable, last, Some(at)),
        _ => return Err(bad()),
    };
    if *tag != "sb1" {
        return Err(bad());
    }
    Ok(Checkpoint {
        seq: seq.parse().map_err(|_| bad())?,
        undecodable: undecodable.parse().map_err(|_| bad())?,
        last_undecodable_seq: match *last {
            "-" => None,
            n => Some(n.parse().map_err(|_| bad())?),
        },
        applied_at: applied_at
            .map(|at| at.parse().map(switchboard_schemas::Timestamp::from_micros))
            .transpose()
            .map_err(|_| bad())?,
    })
}

pub(super) fn version_name(number: u64) -> String {
    format!("v{number:06}")
}

fn version_number(name: &str) -> Option<u64> {
    name.strip_prefix('v')
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

/// The version `root/CURRENT` names, if any.
/// The version directory `root/CURRENT` names: the index in use (older versions wait there
/// until a writer opens and removes them); none before the first commit.
pub fn version_in_use(root: &Path) -> Result<Option<PathBuf>, ProjectionError> {
    Ok(read_pointer(root)?.map(|version| root.join(version_name(version))))
}

pub(super) fn read_pointer(root: &Path) -> Result<Option<u64>, ProjectionError> {
    match files::read_pointer(root)? {
        None => Ok(None),
        Some(name) => version_number(&name).map(Some).ok_or_else(|| {
            corrupt(format!(
                "{} names no version: {name:?}",
                root.join(files::POINTER).display()
            ))
        }),
    }
}

/// Points `root/CURRENT` at `version` (through the one pointer writer, [`files::write_pointer`]:
/// atomic, and durable once it returns).
pub(super) fn write_pointer(root: &Path, version: u64) -> Result<(), ProjectionError> {
    files::write_pointer(root, &version_name(version))
}

/// Version numbers of the version directories under `root`.
pub(super) fn versions(root: &Path) -> Result<Vec<u64>, ProjectionError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ProjectionError::io("list", root, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ProjectionError::io("list", root, e))?;
        if let Some(number) = entry.file_name().to_str().and_then(version_number) {
            found.push(number);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// One opened version directory: the index, its reader and the schema's fields.
pub(super) struct Opened {
    pub(super) version: u64,
    dir: PathBuf,
    pub(super) index: Index,
    pub(super) reader: IndexReader,
    pub(super) fields: Fields,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("version", &self.version)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Opened {
    pub(super) fn open(root: &Path, version: u64) -> Result<Self, ProjectionError> {
        let dir = root.join(version_name(version));
        std::fs::create_dir_all(&dir).map_err(|e| ProjectionError::io("create", &dir, e))?;
        let directory = MmapDirectory::open(&dir)
            .map_err(|e| ProjectionError::io("open", &dir, std::io::Error::other(e)))?;
        let (schema, fields) = schema();
        let settings = tantivy::IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(DOCSTORE_ZSTD_LEVEL),
            }),
            docstore_blocksize: DOCSTORE_BLOCK_BYTES,
            ..tantivy::IndexSettings::default()
        };
        // An existing index keeps the settings it was created with (its meta.json).
        let index = Index::builder()
            .schema(schema)
            .settings(settings)
            .open_or_create(directory)
            .map_err(|e| {
                corrupt(format!(
                    "cannot open {} ({e}); rebuild the search index",
                    dir.display()
                ))
            })?;
        register_tokenizers(&index)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            version,
            dir,
            index,
            reader,
            fields,
        })
    }

    pub(super) fn checkpoint(&self) -> Result<Checkpoint, ProjectionError> {
        decode_checkpoint(self.index.load_metas()?.payload.as_deref())
    }
}

/// Opens the version `CURRENT` names, creating the first one when there is none.
pub(super) fn open_current(root: &Path) -> Result<Opened, ProjectionError> {
    std::fs::create_dir_all(root).map_err(|e| ProjectionError::io("create", root, e))?;
    match read_pointer(root)? {
        Some(version) => Opened::open(root, version),
        None => {
            let version = versions(root)?.last().map_or(1, |v| v + 1);
            let opened = Opened::open(root, version)?;
            write_pointer(root, version)?;
            Ok(opened)
        }
    }
}
