//! F2.3 "activity within a date range": the 15-minute buckets in which each dialog had a
//! message, one row per dialog.
//!
//! `dialog_activity` holds a dialog's buckets as one BLOB (ascending: the first as a zigzag
//! varint, then each gap to the previous as a varint, mostly one byte) and its newest bucket in
//! `last`, so a message in a bucket the dialog already has (most messages) costs one lookup and
//! no write. A list filter asks [`ACTIVE_BETWEEN`] of that BLOB; a date range few messages fall
//! in is looked up in `dialog_activity_by_bucket` (bucket, dialog) instead (see `Narrowing`).
//! One BLOB per dialog rather than a row per (dialog, bucket): far smaller (see BENCHMARKS.md).

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, params};

/// The SQL function `sb_active_between(buckets, first, last)`: 1 when a bucket of the BLOB lies
/// in `first..=last`, else 0; an error when the BLOB is malformed (never a silent 0).
pub(crate) const ACTIVE_BETWEEN: &str = "sb_active_between";

/// Registers [`ACTIVE_BETWEEN`] on a connection that runs list queries.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        ACTIVE_BETWEEN,
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let Some(bytes) = ctx.get_raw(0).as_blob_or_null()? else {
                return Ok(0);
            };
            let (first, last) = (ctx.get::<i64>(1)?, ctx.get::<i64>(2)?);
            match any_between(bytes, first, last) {
                Some(found) => Ok(i64::from(found)),
                None => Err(rusqlite::Error::UserFunctionError(
                    "dialog_activity.buckets: malformed".into(),
                )),
            }
        },
    )
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// The BLOB of ascending, distinct buckets.
pub(crate) fn encode(buckets: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buckets.len() + 4);
    let mut previous = None;
    for &bucket in buckets {
        match previous {
            None => put_varint(&mut out, zigzag(bucket)),
            Some(p) => put_varint(&mut out, bucket.wrapping_sub(p) as u64),
        }
        previous = Some(bucket);
    }
    out
}

/// The buckets of a BLOB; none when it is malformed (a gap of 0 or a truncated varint).
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<i64>> {
    let mut buckets: Vec<i64> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let raw = take_varint(bytes, &mut at)?;
        let bucket = match buckets.last() {
            None => unzigzag(raw),
            Some(&previous) if raw > 0 => previous.checked_add(i64::try_from(raw).ok()?)?,
            Some(_) => return None,
        };
        buckets.push(bucket);
    }
    Some(buckets)
}

/// Whether a bucket of the BLOB lies in `first..=last` (reads up to the first bucket past
/// `last`); none when it is malformed.
fn any_between(bytes: &[u8], first: i64, last: i64) -> Option<bool> {
    let mut at = 0;
    let mut previous: Option<i64> = None;
    while at < bytes.len() {
        let raw = take_varint(bytes, &mut at)?;
        let bucket = match previous {
            None => unzigzag(raw),
            Some(p) if raw > 0 => p.checked_add(i64::try_from(raw).ok()?)?,
            Some(_) => return None,
        };
        if bucket > last {
            return Some(false);
        }
        if bucket >= first {
            return Some(true);
        }
        previous = Some(bucket);
    }
    Some(false)
}

fn corrupt() -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        2,
        rusqlite::types::Type::Blob,
        "dialog_activity.buckets: malformed".into(),
    )
}

/// The dialog (its `dialog_row` rowid) had a message in `bucket`.
pub(crate) fn note(conn: &Connection, dialog: i64, bucket: i64) -> rusqlite::Result<()> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT last FROM dialog_activity WHERE dialog = ?1")?
        .query_row([dialog], |r| r.get(0))
        .optional()?;
    let (new_last, buckets) = match last {
        Some(last) if last == bucket => return Ok(()),
        None => (bucket, encode(&[bucket])),
        Some(last) => {
            let mut bytes: Vec<u8> = conn
                .prepare_cached("SELECT buckets FROM dialog_activity WHERE dialog = ?1")?
                .query_row([dialog], |r| r.get(0))?;
            if bucket > last {
                // The common case: a new, later bucket goes at the end.
                put_varint(&mut bytes, bucket.wrapping_sub(last) as u64);
                (bucket, bytes)
            } else {
                let mut all = decode(&bytes).ok_or_else(corrupt)?;
                match all.binary_search(&bucket) {
                    Ok(_) => return Ok(()),
                    Err(at) => all.insert(at, bucket),
                }
                (last, encode(&all))
            }
        }
    };
    conn.prepare_cached(
        "INSERT INTO dialog_activity (dialog, last, buckets) VALUES (?1, ?2, ?3)
         ON CONFLICT (dialog) DO UPDATE SET last = excluded.last, buckets = excluded.buckets",
    )?
    .execute(params![dialog, new_last, buckets])?;
    conn.prepare_cached(
        "INSERT INTO dialog_activity_by_bucket (bucket, dialog) VALUES (?1, ?2)
         ON CONFLICT DO NOTHING",
    )?
    .execute([bucket, dialog])?;
    Ok(())
}

/// The dialog's activity goes (F4.8: a deleted client's).
pub(crate) fn forget(conn: &Connection, dialog: i64) -> rusqlite::Result<()> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT buckets FROM dialog_activity WHERE dialog = ?1")?
        .query_row([dialog], |r| r.get(0))
        .optional()?;
    let Some(bytes) = bytes else {
        return Ok(());
    };
    let mut unlist = conn.prepare_cached(
        "DELETE FROM dialog_activity_by_bucket WHERE bucket = ?1 AND dialog = ?2",
    )?;
    for bucket in decode(&bytes).ok_or_else(corrupt)? {
        unlist.execute([bucket, dialog])?;
    }
    conn.prepare_cached("DELETE FROM dialog_activity WHERE dialog = ?1")?
        .execute([dialog])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_malformed_blobs_are_refused() {
        for buckets in [
            vec![],
            vec![0],
            vec![-5, -1, 0, 3],
            vec![1_960_000, 1_960_001, 1_960_100, 2_100_000],
            vec![i64::MIN / 4, 7, i64::MAX / 4],
        ] {
            let bytes = encode(&buckets);
            assert_eq!(decode(&bytes), Some(buckets.clone()), "{buckets:?}");
            for (first, last) in [(-10, -6), (-5, -5), (1, 2), (4, 1_959_999), (7, 7)] {
                let expected = buckets.iter().any(|b| (first..=last).contains(b));
                assert_eq!(
                    any_between(&bytes, first, last),
                    Some(expected),
                    "{buckets:?} {first}..={last}"
                );
            }
        }
        // Consecutive buckets take a byte each after the first (4 bytes for a bucket of 2026).
        assert_eq!(encode(&[1_960_000, 1_960_001, 1_960_002]).len(), 4 + 2);
        // A gap of 0 (a repeated bucket) or a cut varint is malformed.
        assert_eq!(decode(&[2, 0]), None);
        assert_eq!(decode(&[0x80]), None);
        assert_eq!(any_between(&[0x80], 0, 10), None);
    }

    #[test]
    fn noting_keeps_the_buckets_sorted_and_listed_by_bucket() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE dialog_activity (dialog INTEGER PRIMARY KEY, last INTEGER NOT NULL,
                 buckets BLOB NOT NULL);
             CREATE TABLE dialog_activity_by_bucket (bucket INTEGER NOT NULL,
                 dialog INTEGER NOT NULL, PRIMARY KEY (bucket, dialog)) WITHOUT ROWID;",
        )
        .expect("schema");
        register(&conn).expect("function");
        for bucket in [10, 10, 12, 11, 12, 9, 40] {
            note(&conn, 1, bucket).expect("note");
        }
        note(&conn, 2, 11).expect("note");
        let (last, bytes): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT last, buckets FROM dialog_activity WHERE dialog = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("row");
        assert_eq!((last, decode(&bytes)), (40, Some(vec![9, 10, 11, 12, 40])));
        let listed: Vec<(i64, i64)> = conn
            .prepare("SELECT bucket, dialog FROM dialog_activity_by_bucket")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .expect("listed");
        assert_eq!(
            listed,
            vec![(9, 1), (10, 1), (11, 1), (11, 2), (12, 1), (40, 1)]
        );
        let active = |first: i64, last: i64| -> Vec<i64> {
            conn.prepare(&format!(
                "SELECT dialog FROM dialog_activity WHERE {ACTIVE_BETWEEN}(buckets, ?1, ?2)"
            ))
            .and_then(|mut s| s.query_map([first, last], |r| r.get(0))?.collect())
            .expect("active")
        };
        assert_eq!(active(11, 11), vec![1, 2]);
        assert_eq!(active(13, 39), Vec::<i64>::new());
        assert_eq!(active(35, 50), vec![1]);
        forget(&conn, 1).expect("forget");
        let left: i64 = conn
            .query_row("SELECT count(*) FROM dialog_activity_by_bucket", [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(left, 1);
        // A malformed BLOB is an error in a query, not "inactive".
        conn.execute("UPDATE dialog_activity SET buckets = x'80'", [])
            .expect("corrupt");
        let failed = conn
            .prepare(&format!(
                "SELECT count(*) FROM dialog_activity WHERE {ACTIVE_BETWEEN}(buckets, 0, 99)"
            ))
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)));
        assert!(failed.is_err(), "{failed:?}");
    }
}
