//! What a log message carries: the event types and versions (headers `Sb-Type` and `Sb-Ver`, so that
//! consumers can skip what they do not need without decoding) and a body of one or more encoded
//! events. The log itself never looks inside; only this crate knows the encoding.

use bytes::Bytes;

/// Header naming the event type(s) of a log message, comma-separated when it carries several.
pub const TYPE_HEADER: &str = "Sb-Type";
/// Header naming the schema version(s), one per type, comma-separated.
pub const VERSION_HEADER: &str = "Sb-Ver";

/// One log message's worth of events, encoded. Several events of one command on one aggregate
/// travel together in one message, so they are appended atomically.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// Value of the `Sb-Type` header, e.g. `message.received` or `message.received,dialog.reopened`.
    pub types: String,
    /// Value of the `Sb-Ver` header, e.g. `1` or `1,1`.
    pub versions: String,
    /// The encoded events: each a varint length followed by that many bytes.
    pub body: Bytes,
}

impl EncodedBatch {
    /// The (type, version) pairs named by the headers, without decoding the body.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, Option<u16>)> + '_ {
        self.types
            .split(',')
            .zip(self.versions.split(',').map(|v| v.parse::<u16>().ok()))
    }

    /// Whether any event of the batch is of the given type (header only).
    pub fn contains_type(&self, event_type: &str) -> bool {
        self.types.split(',').any(|t| t == event_type)
    }
}

impl std::fmt::Debug for EncodedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedBatch")
            .field("types", &self.types)
            .field("versions", &self.versions)
            .field("body_len", &self.body.len())
            .finish()
    }
}
