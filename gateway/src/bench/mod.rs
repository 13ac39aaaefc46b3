//! The measuring tools of the `switchboard bench` commands, apart from the service: nothing in
//! `api`, `serve`, `readmodels` or `rebuild` imports this tree.
//!
//! - [`api`]: `bench api`, the operator API under load through a real `serve`;
//! - [`append`]: `bench append`, what the log and the command service sustain;
//! - [`channels`]: `bench channels`, webhooks in and deliveries out through a real `serve`,
//!   against the local provider servers;
//! - [`credentials`]: `bench credentials`, what authenticating a request costs (cached and not),
//!   what a sign-in costs, and how soon another node refuses a revoked token;
//! - [`dataset`]: `bench dataset`, the generated history of [`switchboard_dataset`] written as
//!   JSON lines;
//! - [`projections`]: `bench projections`, what the read models cost on that history, phase by
//!   phase.
//!
//! Shared here: the size flags of a generated history and their JSON form. Human-readable lines
//! go to stderr; the last stdout line of every bench is one JSON object.

pub mod api;
pub mod append;
pub mod channels;
pub mod credentials;
pub mod dataset;
pub mod export;
pub mod projections;

use serde_json::json;
use switchboard_dataset::history::{Size, Stats};

/// The size of a generated history (shared by `bench dataset` and `bench projections`).
#[derive(clap::Args, Debug, Clone)]
pub struct SizeArgs {
    /// Projects (tenants).
    #[arg(long, default_value_t = 100)]
    pub projects: usize,
    /// Dialogs (clients), over all projects.
    #[arg(long, default_value_t = 1_000_000)]
    pub dialogs: u64,
    /// Messages (inbound and outbound), over all dialogs; per dialog they follow a Zipf law.
    #[arg(long, default_value_t = 10_000_000)]
    pub messages: u64,
    /// Operators per project (one admin per 15).
    #[arg(long, default_value_t = 50)]
    pub operators: usize,
    /// Seed of the generator: the same seed and size give the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl SizeArgs {
    pub fn size(&self) -> Result<Size, String> {
        if self.projects == 0 || self.operators == 0 {
            return Err("--projects and --operators must be at least 1".into());
        }
        if self.messages / self.dialogs.max(1) > 1_000_000 {
            return Err("more than a million messages per dialog on average".into());
        }
        Ok(Size {
            projects: self.projects,
            dialogs: self.dialogs,
            messages: self.messages,
            operators: self.operators,
            seed: self.seed,
        })
    }
}

pub fn size_json(size: Size) -> serde_json::Value {
    json!({
        "projects": size.projects,
        "dialogs": size.dialogs,
        "messages": size.messages,
        "operators_per_project": size.operators,
        "seed": size.seed,
    })
}

pub fn stats_json(stats: &Stats) -> serde_json::Value {
    json!({
        "log_messages": stats.appends,
        "events": stats.events,
        "messages": stats.messages,
        "dialogs": stats.dialogs,
        "refusals": stats.refusals,
        "no_ops": stats.no_ops,
    })
}
