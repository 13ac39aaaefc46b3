//! Switchboard read models: the projection runtime that consumes the event log from a
//! checkpoint, the SQLite read models (dialog list, unread counters, folder badges, timeline,
//! client card) and the tantivy search index. Built from events only; rebuildable from the log.
//!
//! Empty until the read-model issue lands; the crate exists so that the dependency direction
//! (`schemas ← core ← projections ← gateway`) is fixed from the start.
