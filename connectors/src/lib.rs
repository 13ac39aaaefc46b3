//! Switchboard connectors: Telegram, WhatsApp Cloud, VK and email — inbound verification and
//! normalisation, and the mapping of what arrives onto `core`'s commands.
//!
//! - [`inbound`]: the provider-neutral [`Inbound`] every parser produces.
//! - [`telegram`], [`vk`], [`whatsapp`]: each provider's webhook verification and parser.
//! - [`email`]: IMAP in, SMTP out, MIME parsing (email's own `InboundMail`).
//! - [`ingest`]: deterministic message and command ids, and [`Inbound`] → dialog commands.
//! - [`record`]: an item recorded through `core`'s command service: the sender's dialog found
//!   or created by its identities, then the item's command.
//! - [`outbound`]: our messages as provider API calls (each provider's `outbound` builds them).
//! - [`delivery`]: the outbound worker: queued messages sent, outcomes appended.
//! - [`outcome`]: providers' errors classified (rate limited, blocked, permanent, transient).
//! - [`attachments`]: the attachment store (a content-addressed directory or a JetStream object
//!   store), blobs named by SHA-256.
//! - [`setup`]: connecting a channel: its credentials checked, the provider's webhook set.
//! - [`state`]: a connector's own SQLite state per channel (a mailbox cursor, mail threads).
//! - [`secret`]: [`Secret`], a channel secret that never shows in `Debug`.
//! - `error`, `de`: leaves (the webhook refusal; small deserialisation helpers).
//!
//! Invariants: nothing here panics on input (every parser has a proptest fuzz target); no HTTP
//! type appears here (the gateway maps [`WebhookError`] to 400/401/403); a secret's value is never
//! formatted.

pub mod attachments;
mod de;
pub mod delivery;
pub mod email;
mod error;
pub mod inbound;
pub mod ingest;
pub mod outbound;
pub mod outcome;
pub mod record;
pub mod secret;
pub mod setup;
pub mod state;
pub mod telegram;
pub mod vk;
pub mod whatsapp;

pub use error::WebhookError;
pub use inbound::Inbound;
pub use secret::Secret;
