//! The connectors' one test binary: a module per provider, the fixtures of `../shared/fixtures`
//! read from beside the repository.

mod fixtures;
mod fuzz;
mod outbound;
mod record;
mod spec;
mod telegram;
mod vk;
mod vk_schema;
mod whatsapp;
