//! Identifiers. Every id is a UUID newtype: type-safe at compile time, 16 bytes in postcard,
//! 32 lowercase hex characters as a subject token (always a valid NATS token).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub const fn from_u128(value: u128) -> Self {
                Self(Uuid::from_u128(value))
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
            /// 32 lowercase hex digits, the form used in subjects.
            pub fn token(&self) -> String {
                self.0.simple().to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.simple())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

uuid_id!(
    /// A tenant; projects are isolated from each other completely (F12.2).
    ProjectId,
    /// A dialog, which is also its client: one conversation per client across all channels.
    DialogId,
    /// An operator (admin or not) of one project.
    OperatorId,
    /// A connected messenger account: one Telegram bot, one WhatsApp number, one VK group, one mailbox.
    ChannelId,
    /// A message in a dialog, inbound or outbound.
    MessageId,
    /// An internal note (comment) in a dialog.
    NoteId,
    /// A folder of the project (custom folders; the built-in ones have no id).
    FolderId,
    /// A tag definition of the project.
    TagId,
    /// A mailing list of the project.
    ListId,
    /// A deal pipeline.
    PipelineId,
    /// A stage of a pipeline.
    StageId,
    /// A canned reply.
    TemplateId,
    /// A saved filter.
    FilterId,
    /// A task on a client card.
    TaskId,
    /// One event; UUIDv7 so that ids sort by creation time.
    EventId,
);
