//! The catalog: every event type with its current version and the frozen older versions it
//! upcasts from, the envelope, and the binary and JSON forms.
//!
//! Binary form of one event (a *frame*): the envelope format byte (1), the envelope fields in
//! postcard, then the payload struct of the (type, version) named by the headers in postcard.
//! A log message's body is its frames, each prefixed by its length as a LEB128 varint.

pub mod dialog;
pub mod identity;
pub mod project;

use crate::common::Actor;
use crate::ids::*;
use crate::time::Timestamp;
use crate::wire::EncodedBatch;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use dialog::*;
pub use identity::*;
pub use project::*;

/// One (type, version) the catalog can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub event_type: &'static str,
    pub version: u16,
    /// Whether this is the version written today; older ones are only read and upcast.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {event_type:?} version {version}")]
    Unknown { event_type: String, version: u16 },
    #[error("bad version header {0:?}")]
    BadVersion(String),
    #[error("headers name {types} events but the body holds {frames}")]
    CountMismatch { types: usize, frames: usize },
    #[error("unknown envelope format {0}")]
    EnvelopeFormat(u8),
    #[error("malformed event body: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("a batch needs at least one event")]
    Empty,
    #[error("encoding failed: {0}")]
    Postcard(String),
}

fn strict<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes after the payload",
            rest.len()
        )));
    }
    Ok(value)
}

macro_rules! catalog {
    ($(
        $(#[$doc:meta])*
        $variant:ident($payload:ty) = $name:literal v $ver:literal $([$($old_ver:literal => $old:ty),*])?;
    )*) => {
        /// Every event, at its current version. The JSON form carries the type in a `type` field
        /// beside the payload's own fields.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum Event {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($payload), )*
        }

        impl Event {
            /// The type name, as in the `Sb-Type` header.
            pub fn event_type(&self) -> &'static str {
                match self { $( Event::$variant(_) => $name, )* }
            }

            /// The version this event is written in today.
            pub fn version(&self) -> u16 {
                match self { $( Event::$variant(_) => $ver, )* }
            }

            fn encode_payload(&self, out: Vec<u8>) -> Result<Vec<u8>, postcard::Error> {
                match self { $( Event::$variant(payload) => postcard::to_extend(payload, out), )* }
            }

            /// Decode a payload stored as (type, version), upcasting older versions.
            pub fn decode_payload(event_type: &str, version: u16, bytes: &[u8]) -> Result<Event, DecodeError> {
                match (event_type, version) {
                    $(
                        ($name, $ver) => Ok(Event::$variant(strict::<$payload>(bytes)?)),
                        $($( ($name, $old_ver) => Ok(Event::$variant(strict::<$old>(bytes)?.into())), )*)?
                    )*
                    _ => Err(DecodeError::Unknown { event_type: event_type.to_owned(), version }),
                }
            }
        }

        /// Every (type, version) that can be decoded.
        pub const CATALOG: &[CatalogEntry] = &[
            $(
                CatalogEntry { event_type: $name, version: $ver, current: true },
                $($( CatalogEntry { event_type: $name, version: $old_ver, current: false }, )*)?
            )*
        ];
    };
}

catalog! {
    // The dialog and its client.
    DialogRegistered(DialogRegistered) = "dialog.registered" v 1;
    ClientProfileUpdated(ClientProfileUpdated) = "client.profile_updated" v 1;
    IdentityLinked(IdentityLinked) = "identity.linked" v 1;
    IdentityUnlinked(IdentityUnlinked) = "identity.unlinked" v 1;
    DialogsMerged(DialogsMerged) = "dialog.merged" v 1;
    DialogMergedInto(DialogMergedInto) = "dialog.merged_into" v 1;
    MessageReceived(MessageReceived) = "message.received" v 1;
    MessageQueued(MessageQueued) = "message.queued" v 2 [1 => dialog::v1::MessageQueuedV1];
    MessageSent(MessageSent) = "message.sent" v 1;
    MessageDelivered(MessageDelivered) = "message.delivered" v 1;
    MessageRead(MessageRead) = "message.read" v 1;
    MessageFailed(MessageFailed) = "message.failed" v 2 [1 => dialog::v1::MessageFailedV1];
    NoteAdded(NoteAdded) = "note.added" v 1;
    DialogAssigned(DialogAssigned) = "dialog.assigned" v 1;
    DialogUnassigned(DialogUnassigned) = "dialog.unassigned" v 1;
    DialogClosed(DialogClosed) = "dialog.closed" v 1;
    DialogReopened(DialogReopened) = "dialog.reopened" v 1;
    DialogPinned(DialogPinned) = "dialog.pinned" v 1;
    DialogUnpinned(DialogUnpinned) = "dialog.unpinned" v 1;
    ClientBlocked(ClientBlocked) = "client.blocked" v 1;
    ClientUnblocked(ClientUnblocked) = "client.unblocked" v 1;
    ClientBlacklisted(ClientBlacklisted) = "client.blacklisted" v 1;
    ClientUnblacklisted(ClientUnblacklisted) = "client.unblacklisted" v 1;
    BotPaused(BotPaused) = "bot.paused" v 1;
    BotResumed(BotResumed) = "bot.resumed" v 1;
    BotScenarioStarted(BotScenarioStarted) = "bot.scenario_started" v 1;
    ReadMarked(ReadMarked) = "dialog.read_marked" v 1;
    MarkedUnread(MarkedUnread) = "dialog.marked_unread" v 1;
    TagsAdded(TagsAdded) = "tags.added" v 1;
    TagsRemoved(TagsRemoved) = "tags.removed" v 1;
    ListsJoined(ListsJoined) = "lists.joined" v 1;
    ListsLeft(ListsLeft) = "lists.left" v 1;
    FoldersJoined(FoldersJoined) = "folders.joined" v 1;
    FoldersLeft(FoldersLeft) = "folders.left" v 1;
    VariableSet(VariableSet) = "variable.set" v 1;
    VariableCleared(VariableCleared) = "variable.cleared" v 1;
    DealStageChanged(DealStageChanged) = "deal.stage_changed" v 1;
    DealUpdated(DealUpdated) = "deal.updated" v 1;
    TaskCreated(TaskCreated) = "task.created" v 1;
    TaskCompleted(TaskCompleted) = "task.completed" v 1;
    FunnelBlockEntered(FunnelBlockEntered) = "funnel.block_entered" v 1;
    DraftSaved(DraftSaved) = "draft.saved" v 1;
    DraftCleared(DraftCleared) = "draft.cleared" v 1;
    ClientDeleted(ClientDeleted) = "client.deleted" v 1;
    // The project.
    ProjectCreated(ProjectCreated) = "project.created" v 1;
    OperatorAdded(OperatorAdded) = "operator.added" v 1;
    OperatorRoleChanged(OperatorRoleChanged) = "operator.role_changed" v 1;
    OperatorRemoved(OperatorRemoved) = "operator.removed" v 1;
    ChannelConnected(ChannelConnected) = "channel.connected" v 1;
    ChannelDisconnected(ChannelDisconnected) = "channel.disconnected" v 1;
    FolderCreated(FolderCreated) = "folder.created" v 1;
    FolderRenamed(FolderRenamed) = "folder.renamed" v 1;
    FolderDeleted(FolderDeleted) = "folder.deleted" v 1;
    FolderNotificationsSet(FolderNotificationsSet) = "folder.notifications_set" v 1;
    TagDefined(TagDefined) = "tag.defined" v 1;
    TagDeleted(TagDeleted) = "tag.deleted" v 1;
    ListDefined(ListDefined) = "list.defined" v 1;
    VariableDefined(VariableDefined) = "variable.defined" v 1;
    PipelineDefined(PipelineDefined) = "pipeline.defined" v 1;
    SlaThresholdsSet(SlaThresholdsSet) = "sla.thresholds_set" v 1;
    TemplateSaved(TemplateSaved) = "template.saved" v 1;
    TemplateDeleted(TemplateDeleted) = "template.deleted" v 1;
    SavedFilterSaved(SavedFilterSaved) = "saved_filter.saved" v 1;
    SavedFilterDeleted(SavedFilterDeleted) = "saved_filter.deleted" v 1;
    AutoMergeSet(AutoMergeSet) = "project.auto_merge_set" v 1;
    // Identity claims.
    IdentityClaimed(IdentityClaimed) = "identity.claimed" v 1;
    IdentityReleased(IdentityReleased) = "identity.released" v 1;
    // Added later, appended (decoding goes by type name, but the list only ever grows at the end).
    MessageEdited(MessageEdited) = "message.edited" v 1;
    ReactionSet(ReactionSet) = "message.reaction_set" v 1;
    MessageResent(MessageResent) = "message.resent" v 1;
}

/// Which aggregate an event belongs to; matches the subject it is stored on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateId {
    Dialog(DialogId),
    Project,
    Identity {
        channel: ChannelId,
        /// Hash of the identity key (never the raw phone or email).
        key_hash: String,
    },
}

/// An event with its envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub event_id: EventId,
    pub project: ProjectId,
    pub aggregate: AggregateId,
    pub occurred_at: Timestamp,
    pub actor: Actor,
    /// The command or event that caused this one.
    pub causation_id: Option<Uuid>,
    /// The conversation of commands this belongs to (e.g. one bulk action).
    pub correlation_id: Option<Uuid>,
    pub payload: Event,
}

/// Envelope format 1, positional. Frozen.
#[derive(Serialize, Deserialize)]
struct EnvelopeV1 {
    event_id: EventId,
    project: ProjectId,
    aggregate: AggregateId,
    occurred_at: Timestamp,
    actor: Actor,
    causation_id: Option<Uuid>,
    correlation_id: Option<Uuid>,
}

const ENVELOPE_FORMAT_V1: u8 = 1;

/// Envelope format 1 for encoding: the same fields in the same order (so the same bytes) as
/// [`EnvelopeV1`], borrowed instead of cloned.
#[derive(Serialize)]
struct EnvelopeV1Ref<'a> {
    event_id: &'a EventId,
    project: &'a ProjectId,
    aggregate: &'a AggregateId,
    occurred_at: &'a Timestamp,
    actor: &'a Actor,
    causation_id: &'a Option<Uuid>,
    correlation_id: &'a Option<Uuid>,
}

impl Event {
    /// The payload alone, in the postcard form of its current [`Event::version`]: what
    /// [`Event::decode_payload`] reads back given [`Event::event_type`] and that version (older
    /// versions are upcast there), for read models that keep an event compactly.
    pub fn encode_payload_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_payload(Vec::with_capacity(32))
            .map_err(|e| EncodeError::Postcard(e.to_string()))
    }
}

impl Envelope {
    /// The binary frame of this one event (without the length prefix).
    pub fn encode_frame(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_frame_into(Vec::with_capacity(128))
    }

    /// Appends the frame of this event to `out`.
    fn encode_frame_into(&self, mut out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        let meta = EnvelopeV1Ref {
            event_id: &self.event_id,
            project: &self.project,
            aggregate: &self.aggregate,
            occurred_at: &self.occurred_at,
            actor: &self.actor,
            causation_id: &self.causation_id,
            correlation_id: &self.correlation_id,
        };
        out.push(ENVELOPE_FORMAT_V1);
        let out =
            postcard::to_extend(&meta, out).map_err(|e| EncodeError::Postcard(e.to_string()))?;
        self.payload
            .encode_payload(out)
            .map_err(|e| EncodeError::Postcard(e.to_string()))
    }

    /// Decode one frame stored as (type, version).
    pub fn decode_frame(event_type: &str, version: u16, frame: &[u8]) -> Result<Self, DecodeError> {
        let (&format, rest) = frame
            .split_first()
            .ok_or_else(|| DecodeError::Malformed("empty frame".into()))?;
        if format != ENVELOPE_FORMAT_V1 {
            return Err(DecodeError::EnvelopeFormat(format));
        }
        let (meta, payload) = postcard::take_from_bytes::<EnvelopeV1>(rest)
            .map_err(|e| DecodeError::Malformed(format!("envelope: {e}")))?;
        let payload = Event::decode_payload(event_type, version, payload)?;
        Ok(Self {
            event_id: meta.event_id,
            project: meta.project,
            aggregate: meta.aggregate,
            occurred_at: meta.occurred_at,
            actor: meta.actor,
            causation_id: meta.causation_id,
            correlation_id: meta.correlation_id,
            payload,
        })
    }

    /// The JSON form for analysts and `events tail`: the envelope fields, `type`, `version` and
    /// the payload's own fields in one object.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut object = match serde_json::to_value(&self.payload) {
            Ok(serde_json::Value::Object(map)) => map,
            // Every payload is a struct with named fields, so this cannot happen; keep the type.
            _ => {
                let mut map = serde_json::Map::new();
                map.insert("type".into(), self.payload.event_type().into());
                map
            }
        };
        object.insert("version".into(), self.payload.version().into());
        object.insert("event_id".into(), self.event_id.to_string().into());
        object.insert("project".into(), self.project.to_string().into());
        object.insert(
            "aggregate".into(),
            serde_json::to_value(&self.aggregate).unwrap_or_default(),
        );
        object.insert("occurred_at".into(), self.occurred_at.to_rfc3339().into());
        object.insert(
            "actor".into(),
            serde_json::to_value(self.actor).unwrap_or_default(),
        );
        object.insert(
            "causation_id".into(),
            self.causation_id.map(|id| id.to_string()).into(),
        );
        object.insert(
            "correlation_id".into(),
            self.correlation_id.map(|id| id.to_string()).into(),
        );
        object
    }
}

fn write_varint(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut() {
        *byte = (value & 0x7f) as u8 | 0x80;
        value >>= 7;
    }
    if let Some(last) = out.last_mut() {
        *last &= 0x7f;
    }
}

/// How many bytes the LEB128 varint of `value` takes.
fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, &bytes[i + 1..]));
        }
    }
    Err(DecodeError::Malformed("bad frame length".into()))
}

/// Room left for a frame's length prefix before the frame is encoded: two bytes hold lengths up
/// to 16383, which nearly every event is; other lengths move the frame once.
const LENGTH_ROOM: usize = 2;

/// Encode the events of one command on one aggregate as one log message.
pub fn encode_batch(events: &[Envelope]) -> Result<EncodedBatch, EncodeError> {
    if events.is_empty() {
        return Err(EncodeError::Empty);
    }
    let mut types = String::with_capacity(
        events
            .iter()
            .map(|e| e.payload.event_type().len() + 1)
            .sum(),
    );
    let mut versions = String::with_capacity(events.len() * 2);
    let mut body = Vec::with_capacity(512 * events.len());
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            types.push(',');
            versions.push(',');
        }
        types.push_str(event.payload.event_type());
        push_decimal(&mut versions, event.payload.version());
        // Each frame is encoded in place, after room for its length prefix.
        let start = body.len();
        body.resize(start + LENGTH_ROOM, 0);
        body = event.encode_frame_into(body)?;
        let frame_len = body.len() - start - LENGTH_ROOM;
        let prefix = varint_len(frame_len as u64);
        if prefix != LENGTH_ROOM {
            let frame = start + LENGTH_ROOM..body.len();
            if prefix > LENGTH_ROOM {
                body.resize(body.len() + prefix - LENGTH_ROOM, 0);
            }
            body.copy_within(frame, start + prefix);
            body.truncate(start + prefix + frame_len);
        }
        write_varint(&mut body[start..start + prefix], frame_len as u64);
    }
    Ok(EncodedBatch {
        types,
        versions,
        body: Bytes::from(body),
    })
}

/// Appends the decimal digits of `value` (what `to_string` gives, without the temporary).
fn push_decimal(out: &mut String, value: u16) {
    if value < 10 {
        out.push(char::from(b'0' + value as u8));
    } else {
        let mut digits = [0u8; 5];
        let mut at = digits.len();
        let mut rest = value;
        while rest > 0 {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        for &digit in &digits[at..] {
            out.push(char::from(digit));
        }
    }
}

/// Decode every event of a log message, upcasting older versions.
pub fn decode_batch(batch: &EncodedBatch) -> Result<Vec<Envelope>, DecodeError> {
    let types: Vec<&str> = batch.types.split(',').collect();
    let versions: Vec<&str> = batch.versions.split(',').collect();
    if types.len() != versions.len() {
        return Err(DecodeError::BadVersion(batch.versions.clone()));
    }
    let mut events = Vec::with_capacity(types.len());
    let mut rest: &[u8] = &batch.body;
    for (event_type, version) in types.iter().zip(&versions) {
        if rest.is_empty() {
            return Err(DecodeError::CountMismatch {
                types: types.len(),
                frames: events.len(),
            });
        }
        let version: u16 = version
            .parse()
            .map_err(|_| DecodeError::BadVersion((*version).to_owned()))?;
        let (len, after) = read_varint(rest)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= after.len())
            .ok_or_else(|| DecodeError::Malformed("frame longer than the body".into()))?;
        events.push(Envelope::decode_frame(event_type, version, &after[..len])?);
        rest = &after[len..];
    }
    if !rest.is_empty() {
        return Err(DecodeError::CountMismatch {
            types: types.len(),
            frames: types.len() + 1,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding as first written (a frame per event, then copied behind its length): the
    /// in-place encoder must give the same bytes.
    fn reference_encode(events: &[Envelope]) -> EncodedBatch {
        let mut types = Vec::new();
        let mut versions = Vec::new();
        let mut body = Vec::new();
        for event in events {
            types.push(event.payload.event_type().to_owned());
            versions.push(event.payload.version().to_string());
            let meta = EnvelopeV1 {
                event_id: event.event_id,
                project: event.project,
                aggregate: event.aggregate.clone(),
                occurred_at: event.occurred_at,
                actor: event.actor,
                causation_id: event.causation_id,
                correlation_id: event.correlation_id,
            };
            let mut frame = vec![ENVELOPE_FORMAT_V1];
            frame = postcard::to_extend(&meta, frame).unwrap();
            frame = event.payload.encode_payload(frame).unwrap();
            let mut len = frame.len() as u64;
            loop {
                let byte = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    body.push(byte);
                    break;
                }
                body.push(byte | 0x80);
            }
            body.extend_from_slice(&frame);
        }
        EncodedBatch {
            types: types.join(","),
            versions: versions.join(","),
            body: Bytes::from(body),
        }
    }

    fn note(text_len: usize, aggregate: AggregateId) -> Envelope {
        Envelope {
            event_id: EventId::new(),
            project: ProjectId::new(),
            aggregate,
            occurred_at: Timestamp::from_micros(1_700_000_000_000_000),
            actor: Actor::Connector(ChannelId::new()),
            causation_id: Some(Uuid::now_v7()),
            correlation_id: None,
            payload: Event::NoteAdded(NoteAdded {
                note: NoteId::new(),
                text: "ж".repeat(text_len / 2),
            }),
        }
    }

    #[test]
    fn in_place_encoding_matches_the_reference_for_every_length_prefix() {
        let identity = AggregateId::Identity {
            channel: ChannelId::new(),
            key_hash: "0123456789abcdef".into(),
        };
        // Frames whose length prefix takes 1, 2 and 3 bytes, and the boundaries between them.
        for text_len in [
            0, 10, 40, 60, 100, 126, 130, 300, 16_200, 16_400, 20_000, 3_000_000,
        ] {
            for aggregate in [AggregateId::Dialog(DialogId::new()), identity.clone()] {
                let one = vec![note(text_len, aggregate.clone())];
                assert_eq!(encode_batch(&one).unwrap(), reference_encode(&one));
                let several = vec![
                    note(text_len, aggregate.clone()),
                    note(5, aggregate.clone()),
                    note(text_len / 3, aggregate),
                ];
                let batch = encode_batch(&several).unwrap();
                assert_eq!(batch, reference_encode(&several));
                assert_eq!(decode_batch(&batch).unwrap(), several);
            }
        }
    }

    #[test]
    fn versions_are_written_in_decimal() {
        for value in [0u16, 1, 9, 10, 99, 100, 12_345, u16::MAX] {
            let mut out = String::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string());
        }
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut bytes = vec![0; varint_len(value)];
            write_varint(&mut bytes, value);
            assert_eq!(read_varint(&bytes).unwrap(), (value, &[][..]));
        }
    }
}
