//! The connectors' one test binary: a module per channel (and, for the messengers, per
//! concern); the fixtures of `shared/fixtures` read from beside the repository.

mod attachments;
mod delivery;
mod email;
mod fixtures;
mod fuzz;
mod outbound;
mod record;
mod spec;
mod telegram;
mod vk;
mod vk_schema;
mod whatsapp;
