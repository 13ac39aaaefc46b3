//! Switchboard core: the domain (aggregates as pure decide/apply), the event log contract with
//! its JetStream and embedded SQLite backends, and the command service that joins them.
//!
//! `domain` knows nothing about NATS, SQLite or HTTP.

pub mod domain;
pub mod log;
pub mod service;
pub mod subject;
pub mod wal;

pub use log::{
    AnyLog, AppendAck, AppendRequest, Durable, EventLog, Expected, LogError, LogRecord, MsgId,
    Unreadable,
};
pub use subject::{Subject, SubjectFilter};
