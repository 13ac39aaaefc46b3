//! The Switchboard gateway: the HTTP API ([`api`]) and the `switchboard` binary's commands
//! ([`cli`]). `main.rs` only parses arguments and maps the outcome to an exit code.
//!
//! - [`api`]: the axum router, its errors and handlers; [`serve`]: serving it until a signal;
//! - [`readmodels`]: the read models of a data directory and the runners `serve` keeps;
//!   [`rebuild`]: `rebuild` and `verify`;
//! - [`live`]: the live hub `GET /v1/live` streams are fed from;
//! - [`events`]: `events tail`; [`backend`]: opening the log a command points at;
//! - [`credentials`]: accounts, sessions, API tokens, the root token and channel secrets
//!   (SQLite or a JetStream bucket), never events;
//! - [`owner`]: one process owns a data directory (`DIR/LOCK`);
//! - [`cli`]: the command line, which ties them together;
//! - [`web`]: the web inbox at `/` (built by `build.rs` from `gateway/web/`, embedded);
//! - [`mod@bench`]: the `bench` commands, apart from the service: nothing above imports it.
//!
//! Only this crate knows HTTP and JSON-over-HTTP.

pub mod api;
pub mod backend;
pub mod bench;
pub mod channels;
pub mod cli;
pub mod credentials;
pub mod demo;
pub mod events;
pub mod language;
pub mod live;
pub mod owner;
pub mod readmodels;
pub mod rebuild;
pub mod serve;
pub mod web;

pub use api::{AppError, AppState, app};
