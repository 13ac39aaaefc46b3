//! The Switchboard event catalog.
//!
//! Stability boundary: the binary encoding of every (type, version) listed in [`CATALOG`] is a
//! promise the moment it is stored. Never reorder, remove or change the meaning of a field or
//! variant; add a new version with an upcaster instead. The golden files under `golden/` prove it.
//! Only this crate knows the binary encoding.

pub mod common;
pub mod events;
pub mod ids;
pub mod time;
pub mod wire;

pub use common::*;
pub use events::{
    AggregateId, CATALOG, CatalogEntry, DecodeError, EncodeError, Envelope, Event, decode_batch,
    encode_batch,
};
pub use ids::*;
pub use time::Timestamp;
pub use wire::EncodedBatch;
