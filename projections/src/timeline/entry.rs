//! A service entry's stored form (`dialog_timeline.entry`): the code of its (type, version),
//! its actor, then the payload's postcard bytes, read back through [`Event::decode_payload`].
//! Neither the type's name nor an operator actor is stored: the code is given in
//! `timeline_event_type`, and an operator actor is one tag byte because the row's `operator`
//! column already holds that operator's key.
//!
//! [`Event::decode_payload`]: switchboard_schemas::Event::decode_payload

use super::read::corrupt;
use crate::runtime::ProjectionError;
use rusqlite::Connection;
use std::collections::HashMap;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The actor byte of an entry whose actor is the operator in the row's `operator` column.
///
/// It is postcard's variant index of [`Actor::Operator`] (0), which no other actor's postcard
/// starts with: their variant indexes are varints of 1 and up (new variants are only appended,
/// see `switchboard_schemas::common`), and no varint of a non-zero value starts with a zero
/// byte. So the byte after the code is either this tag alone or a whole postcard [`Actor`].
pub(super) const ROW_OPERATOR: u8 = 0;

/// A service entry's stored form: the code of its (type, version) in `timeline_event_type`
/// (a varint), its actor, then the payload's postcard bytes.
///
/// An [`Actor::Operator`] is only the [`ROW_OPERATOR`] tag: the caller stores that operator's
/// key in the row's `operator` column (as [`TimelineProjection::operator_key`](super::TimelineProjection::operator_key) gives it), and
/// the page query joins its id back, so the 17 bytes of the id are not kept twice. Any other
/// actor (its row has no operator) is kept whole.
pub(super) fn encode_entry(code: i64, envelope: &Envelope) -> Result<Vec<u8>, ProjectionError> {
    let failed = |e: &dyn std::fmt::Display| {
        ProjectionError::Corrupt(format!("cannot encode a service entry: {e}"))
    };
    let code = u32::try_from(code).map_err(|e| failed(&e))?;
    let mut bytes = postcard::to_allocvec(&code).map_err(|e| failed(&e))?;
    match &envelope.actor {
        Actor::Operator(_) => bytes.push(ROW_OPERATOR),
        other => bytes = postcard::to_extend(other, bytes).map_err(|e| failed(&e))?,
    }
    let event = &envelope.payload;
    bytes.extend(event.encode_payload_bytes().map_err(|e| failed(&e))?);
    Ok(bytes)
}

/// A service entry's stored parts: the code of its (type, version), its actor (`None`: the
/// row's operator) and the payload's postcard bytes.
fn split_entry(bytes: &[u8]) -> Result<(i64, Option<Actor>, &[u8]), String> {
    let (code, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| e.to_string())?;
    let (actor, payload) = match rest.split_first() {
        Some((&ROW_OPERATOR, payload)) => (None, payload),
        _ => {
            let (actor, payload) =
                postcard::take_from_bytes::<Actor>(rest).map_err(|e| e.to_string())?;
            (Some(actor), payload)
        }
    };
    Ok((i64::from(code), actor, payload))
}

/// The `entry` column of the page query.
pub(super) const ENTRY_COLUMN: usize = 10;

/// A service entry's actor and event, given the row's operator and the (type, version) of a
/// code (`type_of`, from `timeline_event_type`).
pub(super) fn decode_entry(
    bytes: &[u8],
    row_operator: Option<OperatorId>,
    type_of: impl FnOnce(i64) -> rusqlite::Result<Option<(String, u16)>>,
) -> rusqlite::Result<(Actor, Event)> {
    let bad = |what: String| corrupt(ENTRY_COLUMN, format!("service entry: {what}"));
    let (code, actor, payload) = split_entry(bytes).map_err(bad)?;
    let actor = match (actor, row_operator) {
        (Some(actor), _) => actor,
        (None, Some(operator)) => Actor::Operator(operator),
        (None, None) => return Err(bad("an operator's, in a row without an operator".into())),
    };
    let (event_type, version) =
        type_of(code)?.ok_or_else(|| bad(format!("unknown event type code {code}")))?;
    let event =
        Event::decode_payload(&event_type, version, payload).map_err(|e| bad(e.to_string()))?;
    Ok((actor, event))
}

/// `timeline_event_type` as one page reads it: the whole table (a few dozen rows) at the
/// page's first service entry, not a query per entry, and again if an entry names a code that
/// was given after that (codes are only ever added, in the entry's own transaction or before).
#[derive(Default)]
pub(super) struct EntryTypes {
    loaded: HashMap<i64, (String, u16)>,
}

impl EntryTypes {
    pub(super) fn get(
        &mut self,
        conn: &Connection,
        code: i64,
    ) -> rusqlite::Result<Option<(String, u16)>> {
        if !self.loaded.contains_key(&code) {
            let mut statement =
                conn.prepare_cached("SELECT code, type, version FROM timeline_event_type")?;
            self.loaded = statement
                .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(self.loaded.get(&code).cloned())
    }
}
