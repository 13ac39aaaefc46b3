//! The Switchboard gateway: the HTTP API ([`api`]) and the `switchboard` binary's commands
//! ([`cli`]). `main.rs` only parses arguments and maps the outcome to an exit code.

pub mod api;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod events;
pub mod readmodels;
pub mod rebuild;
pub mod serve;

pub use api::{AppError, AppState, app};
