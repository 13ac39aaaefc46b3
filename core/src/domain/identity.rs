//! The claim of one channel identity (a phone, a Telegram user id, an email) by exactly one dialog.
//! Appended with an expectation on the claim's subject, so two connectors racing for the same new
//! identity cannot both create a dialog.

use super::Refusal;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityState {
    pub owner: Option<DialogId>,
}

impl IdentityState {
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::IdentityClaimed(e) => self.owner = Some(e.dialog),
            Event::IdentityReleased(e) if self.owner == Some(e.dialog) => self.owner = None,
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityCommand {
    Claim { dialog: DialogId },
    Release { dialog: DialogId },
}

pub fn decide(state: &IdentityState, command: IdentityCommand) -> Result<Vec<Event>, Refusal> {
    match command {
        IdentityCommand::Claim { dialog } => match state.owner {
            Some(owner) if owner == dialog => Ok(vec![]),
            Some(owner) => Err(Refusal::IdentityClaimed(owner)),
            None => Ok(vec![Event::IdentityClaimed(IdentityClaimed { dialog })]),
        },
        IdentityCommand::Release { dialog } => match state.owner {
            Some(owner) if owner == dialog => {
                Ok(vec![Event::IdentityReleased(IdentityReleased { dialog })])
            }
            _ => Ok(vec![]),
        },
    }
}
