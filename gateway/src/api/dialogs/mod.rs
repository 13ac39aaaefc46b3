//! The dialog list and one dialog: `/v1/dialogs…`.

pub mod as_of;
pub mod card;
pub mod filter;
pub mod list;
pub mod row;
pub mod view;
