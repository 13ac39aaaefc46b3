//! Recording what arrived: the dialog of the sender (found by its identities, or created,
//! F5.2), then the item's command, through `core`'s [`CommandService`].
//!
//! The sender's identities (WhatsApp: the phone and the user id) are claimed for one dialog: the
//! first one some dialog already owns names the dialog, and the others are claimed for it and
//! linked; an identity another dialog owns stays there (merging is by hand, F4.9). The item's
//! command carries [`ingest::command_id`], so a provider's retry is not appended twice.

use crate::inbound::*;
use crate::ingest::{self, ChannelRef};
use switchboard_core::domain::Refusal;
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::identity::IdentityCommand;
use switchboard_core::log::EventLog;
use switchboard_core::service::{CommandAck, CommandError, CommandMeta, CommandService};
use switchboard_schemas::{Actor, ChannelIdentity, DialogId, MessageId, ProjectId, Timestamp};

/// What became of one inbound item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The item's command ran on `dialog` (`ack.events` is 0 when it was there already).
    Done { dialog: DialogId, ack: CommandAck },
    /// A status of a message the lookup does not know (not one of ours, or too old).
    UnknownMessage,
    /// An unsupported item that names nobody: no dialog to keep it in (the caller logs it).
    NoDialog,
}

/// Finds the dialog and our id of an outbound message from a status (its external id, and
/// our id when the provider echoed it): the outbound side's record of what it sent.
pub type OutboundLookup<'a> = dyn Fn(&InboundStatus) -> Option<(DialogId, MessageId)> + Sync + 'a;

/// Records one item. A refusal of the domain (a blocked client: [`Refusal::Blocked`]) comes back
/// as `Err(CommandError::Refused(_))`; nothing is appended then.
pub async fn record<L: EventLog>(
    service: &CommandService<L>,
    project: ProjectId,
    channel: ChannelRef,
    inbound: &Inbound,
    lookup: &OutboundLookup<'_>,
) -> Result<Recorded, CommandError> {
    let now = Timestamp::now();
    let (sender, command) = match inbound {
        Inbound::Message(m) => (&m.sender, ingest::receive_command(channel, m)),
        Inbound::Edit(e) => (&e.sender, ingest::edit_command(channel, e)),
        Inbound::Reaction(r) => (&r.sender, ingest::reaction_command(channel, r, now)),
        Inbound::Unsupported(u) => {
            match (&u.sender, ingest::unsupported_command(channel, u, now)) {
                (Some(sender), Some(command)) => (sender, command),
                _ => return Ok(Recorded::NoDialog),
            }
        }
        Inbound::Status(status) => {
            let Some((dialog, message)) = lookup(status) else {
                return Ok(Recorded::UnknownMessage);
            };
            let command = ingest::status_command(message, status);
            let ack = run(service, project, channel, dialog, command, inbound).await?;
            return Ok(Recorded::Done { dialog, ack });
        }
    };
    let dialog = dialog_of(service, project, channel, sender).await?;
    let ack = run(service, project, channel, dialog, command, inbound).await?;
    Ok(Recorded::Done { dialog, ack })
}

async fn run<L: EventLog>(
    service: &CommandService<L>,
    project: ProjectId,
    channel: ChannelRef,
    dialog: DialogId,
    command: DialogCommand,
    inbound: &Inbound,
) -> Result<CommandAck, CommandError> {
    let meta = CommandMeta {
        command_id: ingest::command_id(channel.channel, inbound),
        actor: Actor::Connector(channel.channel),
        correlation_id: None,
    };
    service.dialog(project, dialog, command, meta).await
}

fn meta(channel: ChannelRef) -> CommandMeta {
    CommandMeta::new(Actor::Connector(channel.channel))
}

async fn claim<L: EventLog>(
    service: &CommandService<L>,
    project: ProjectId,
    channel: ChannelRef,
    identity: &ChannelIdentity,
    dialog: DialogId,
) -> Result<Option<DialogId>, CommandError> {
    let command = IdentityCommand::Claim { dialog };
    match service
        .identity(project, identity, command, meta(channel))
        .await
    {
        Ok(_) => Ok(None),
        Err(CommandError::Refused(Refusal::IdentityClaimed(owner))) => Ok(Some(owner)),
        Err(other) => Err(other),
    }
}

/// The dialog of a sender: the one that owns the first of its identities some dialog owns, or
/// a new one; every identity of the sender that no other dialog owns ends up in it.
pub async fn dialog_of<L: EventLog>(
    service: &CommandService<L>,
    project: ProjectId,
    channel: ChannelRef,
    sender: &Sender,
) -> Result<DialogId, CommandError> {
    let identities = sender.identities(channel);
    let Some(first) = identities.first() else {
        return Err(CommandError::Refused(Refusal::Invalid {
            field: "identity",
            reason: "the sender has no id".into(),
        }));
    };
    let candidate = DialogId::new();
    let mut owner: Option<(DialogId, &ChannelIdentity)> = None;
    let mut claimed_for_candidate = Vec::new();
    let mut ours = Vec::new();
    for identity in &identities {
        let target = owner.map_or(candidate, |(dialog, _)| dialog);
        match claim(service, project, channel, identity, target).await? {
            None if target == candidate => claimed_for_candidate.push(identity),
            None => ours.push(identity),
            Some(other) if owner.is_none() => owner = Some((other, identity)),
            // Owned by a second dialog: the same person twice; an operator merges (F4.9).
            Some(_) => {}
        }
    }
    let (dialog, registered_with) = match owner {
        Some((dialog, identity)) => {
            // Identities claimed before the owner was found move to it.
            for identity in claimed_for_candidate {
                let release = IdentityCommand::Release { dialog: candidate };
                service
                    .identity(project, identity, release, meta(channel))
                    .await?;
                if claim(service, project, channel, identity, dialog)
                    .await?
                    .is_none()
                {
                    ours.push(identity);
                }
            }
            (dialog, identity)
        }
        None => {
            ours.extend(claimed_for_candidate.into_iter().skip(1));
            (candidate, first)
        }
    };
    // The owner's registration may still be under way in another request: registering it here
    // too is harmless (the second is refused as existing).
    let register = DialogCommand::Register {
        profile: sender.profile(),
        source: Sender::source(channel),
        identity: Some(registered_with.clone()),
    };
    match service
        .dialog(project, dialog, register, meta(channel))
        .await
    {
        Ok(_) | Err(CommandError::Refused(Refusal::DialogExists)) => {}
        Err(other) => return Err(other),
    }
    for identity in ours {
        let link = DialogCommand::LinkIdentity {
            identity: identity.clone(),
            display_name: sender.name.clone(),
            avatar_url: sender.avatar_url.clone(),
        };
        service.dialog(project, dialog, link, meta(channel)).await?;
    }
    Ok(dialog)
}
