//! The end-to-end tests of the core against real backends, one binary with a module per suite:
//!
//! - [`cluster_faults`]: a 3-node JetStream cluster (from `deploy/nats/`) loses a follower, its
//!   leader, a node's store and a node's routes under pipelined appends, and loses nothing;
//! - [`command_service`]: the command service over both logs (concurrency, idempotence,
//!   identity claims, refusals, cache eviction);
//! - [`embedded_crash`]: an acknowledged embedded append survives `kill -9` (with the
//!   `embedded-appender` helper binary of this package, `CARGO_BIN_EXE_embedded-appender`);
//! - [`log_conformance`]: the `EventLog` contract, one suite instantiated for both backends.

mod cluster_faults;
mod command_service;
mod embedded_crash;
mod log_conformance;
