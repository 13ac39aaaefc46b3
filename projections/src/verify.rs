//! Checksums of a read model file, for `switchboard verify`: a live read model and one rebuilt
//! from the log up to the same checkpoint must hold the same rows in every table.
//!
//! A table's checksum is SHA-256 over its rows in a canonical order (every column ascending, so
//! neither the physical order nor the rowid matters) with every value written with its type
//! tag and length, so `NULL`, `''` and `0` never collide. Everything is read in one read
//! transaction: on a live WAL file the checksums describe one committed state, whatever the
//! writer does meanwhile.

use crate::error::ProjectionError;
use crate::runtime::Checkpoint;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One table's row count and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSum {
    pub rows: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// Every table of one read model file at one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSums {
    /// The checkpoint rows of the file, by projection name.
    pub checkpoints: BTreeMap<String, Checkpoint>,
    /// Every other table, by name.
    pub tables: BTreeMap<String, TableSum>,
}

/// Checksums every table of the file behind `conn` (the `checkpoint` table is read, not
/// hashed: it is compared as values).
pub fn file_sums(conn: &Connection) -> Result<FileSums, ProjectionError> {
    // A deferred transaction takes its snapshot at the first read and keeps it to the end.
    conn.execute_batch("BEGIN DEFERRED")?;
    let sums = read_sums(conn);
    let end = conn.execute_batch("COMMIT");
    let sums = sums?;
    end?;
    Ok(sums)
}

fn read_sums(conn: &Connection) -> Result<FileSums, ProjectionError> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut checkpoints = BTreeMap::new();
    let mut tables = BTreeMap::new();
    for name in names {
        if name == "checkpoint" {
            let mut statement = conn.prepare(
                "SELECT projection, seq, undecodable, last_undecodable_seq FROM checkpoint",
            )?;
            let rows = statement.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?;
            for row in rows {
                let (projection, seq, undecodable, last) = row?;
                let unsigned = |v: i64| {
                    u64::try_from(v).map_err(|_| {
                        ProjectionError::Corrupt(format!("negative checkpoint value {v}"))
                    })
                };
                checkpoints.insert(
                    projection,
                    Checkpoint {
                        seq: unsigned(seq)?,
                        undecodable: unsigned(undecodable)?,
                        last_undecodable_seq: last.map(unsigned).transpose()?,
                        applied_at: None,
                    },
                );
            }
            continue;
        }
        tables.insert(name.clone(), table_sum(conn, &name)?);
    }
    Ok(FileSums {
        checkpoints,
        tables,
    })
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn table_sum(conn: &Connection, table: &str) -> Result<TableSum, ProjectionError> {
    let columns: Vec<String> = conn
        .prepare(&format!("PRAGMA table_info({})", quote(table)))?
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<_, _>>()?;
    let order = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = conn.prepare(&format!(
        "SELECT {order} FROM {} ORDER BY {order}",
        quote(table)
    ))?;
    let width = columns.len();
    let mut rows = statement.query([])?;
    let mut hasher = Sha256::new();
    hasher.update((width as u64).to_le_bytes());
    for column in &columns {
        write_bytes(&mut hasher, column.as_bytes());
    }
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        count += 1;
        for i in 0..width {
            match row.get_ref(i)? {
                ValueRef::Null => hasher.update([0u8]),
                ValueRef::Integer(v) => {
                    hasher.update([1u8]);
                    hasher.update(v.to_le_bytes());
                }
                ValueRef::Real(v) => {
                    hasher.update([2u8]);
                    hasher.update(v.to_bits().to_le_bytes());
                }
                ValueRef::Text(v) => {
                    hasher.update([3u8]);
                    write_bytes(&mut hasher, v);
                }
                ValueRef::Blob(v) => {
                    hasher.update([4u8]);
                    write_bytes(&mut hasher, v);
                }
            }
        }
    }
    Ok(TableSum {
        rows: count,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn write_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// How one table compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableComparison {
    pub table: String,
    pub live: Option<TableSum>,
    pub rebuilt: Option<TableSum>,
    pub equal: bool,
}

/// Compares the tables of two files (a table missing on one side differs).
pub fn compare(live: &FileSums, rebuilt: &FileSums) -> Vec<TableComparison> {
    let mut names: Vec<&String> = live.tables.keys().chain(rebuilt.tables.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let a = live.tables.get(name).cloned();
            let b = rebuilt.tables.get(name).cloned();
            TableComparison {
                table: name.clone(),
                equal: a.is_some() && a == b,
                live: a,
                rebuilt: b,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(rows: &[(i64, Option<&str>)]) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);
             CREATE TABLE checkpoint (projection TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                 undecodable INTEGER NOT NULL DEFAULT 0, last_undecodable_seq INTEGER);
             INSERT INTO checkpoint VALUES ('p', 7, 1, 3);",
        )
        .expect("schema");
        for (a, b) in rows {
            conn.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![a, b])
                .expect("insert");
        }
        conn
    }

    #[test]
    fn insertion_order_does_not_matter_but_values_do() {
        let one = file_sums(&db(&[(1, Some("x")), (2, None)])).expect("sums");
        let two = file_sums(&db(&[(2, None), (1, Some("x"))])).expect("sums");
        assert_eq!(one, two);
        assert_eq!(one.tables["t"].rows, 2);
        assert_eq!(
            one.checkpoints["p"],
            Checkpoint {
                seq: 7,
                undecodable: 1,
                last_undecodable_seq: Some(3),
                applied_at: None,
            }
        );
        assert!(compare(&one, &two).iter().all(|c| c.equal));
        // NULL and '' are different values.
        let empty = file_sums(&db(&[(1, Some("x")), (2, Some(""))])).expect("sums");
        let diff = compare(&one, &empty);
        assert_eq!(diff.len(), 1);
        assert!(!diff[0].equal);
        // A missing table differs.
        let mut missing = one.clone();
        missing.tables.clear();
        assert!(!compare(&one, &missing)[0].equal);
    }

    #[test]
    fn text_boundaries_do_not_collide() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE u (a TEXT, b TEXT); INSERT INTO u VALUES ('ab', 'c');
             CREATE TABLE v (a TEXT, b TEXT); INSERT INTO v VALUES ('a', 'bc');",
        )
        .expect("schema");
        let sums = file_sums(&conn).expect("sums");
        assert_ne!(sums.tables["u"].sha256, sums.tables["v"].sha256);
    }
}
