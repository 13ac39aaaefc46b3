//! Helpers of the unit tests: log records made by hand, as a log would hand them to a store.

use switchboard_core::log::{LogRecord, Subject};
use switchboard_schemas::*;

/// Dialog events of one project, one log message each, at sequences 1, 2, … (occurred at the
/// sequence's microsecond, caused by the system).
pub(crate) fn dialog_records(project: ProjectId, events: Vec<(DialogId, Event)>) -> Vec<LogRecord> {
    events
        .into_iter()
        .zip(1u64..)
        .map(|((dialog, payload), seq)| {
            let envelope = Envelope {
                event_id: EventId::new(),
                project,
                aggregate: AggregateId::Dialog(dialog),
                occurred_at: Timestamp::from_micros(i64::try_from(seq).unwrap_or(0)),
                actor: Actor::System,
                causation_id: None,
                correlation_id: None,
                payload,
            };
            LogRecord {
                seq,
                subject: Subject::dialog(project, dialog),
                msg_id: format!("m{seq}"),
                appended_at: Timestamp::from_micros(1),
                batch: encode_batch(&[envelope]).expect("encode"),
            }
        })
        .collect()
}

/// Every value of `table.column` as stored bytes (`table` and `column` are the test's literals):
/// how a test checks that ids are kept as 16-byte blobs.
pub(crate) fn stored_bytes(conn: &rusqlite::Connection, table: &str, column: &str) -> Vec<Vec<u8>> {
    conn.prepare(&format!("SELECT {column} FROM {table}"))
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`), one line per step: how a test checks which
/// index a statement uses.
pub(crate) fn query_plan(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("plan")
        .query_map(params, |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<rusqlite::Result<_>>()
        .expect("plan")
}
