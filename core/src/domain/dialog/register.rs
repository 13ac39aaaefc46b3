//! Who the client is: registering the dialog (F5.1, F5.2), the profile, the channel identities
//! (F11.2) and merging two dialogs into one (F4.9).

use super::{DialogCommand as C, DialogCommand, DialogState, SHORT_MAX};
use crate::domain::{Caller, Context, Refusal, bounded_text};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// `Register`: the only command on a dialog that does not exist yet.
pub(super) fn register(
    state: &DialogState,
    profile: ClientProfile,
    source: Source,
    identity: Option<ChannelIdentity>,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    let caller = ctx.caller;
    if state.deleted {
        return Err(Refusal::Deleted);
    }
    if let Some(survivor) = state.merged_into {
        return Err(Refusal::MergedInto(survivor));
    }
    if state.exists {
        return Err(Refusal::DialogExists);
    }
    if let Caller::Operator { .. } = caller {
        // F5.1: creating by hand needs a way to reach the client.
        if profile.phone.is_none() && profile.email.is_none() && identity.is_none() {
            return Err(Refusal::invalid(
                "phone",
                "a phone, an email or an identity is needed",
            ));
        }
    }
    check_profile(&profile)?;
    if let Some(identity) = &identity {
        check_identity(identity, ctx)?;
    }
    Ok(vec![Event::DialogRegistered(DialogRegistered {
        profile,
        source,
        identity,
    })])
}

/// Decide one of the register commands (the others never reach here: [`super::decide`]
/// dispatches by family).
pub(super) fn decide(
    state: &DialogState,
    command: DialogCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    let caller = ctx.caller;
    // At most one event; an event is 300 bytes, so not the four a first push would make room for.
    let mut events = Vec::with_capacity(1);
    match command {
        C::UpdateProfile { profile } => {
            check_profile(&profile)?;
            events.push(Event::ClientProfileUpdated(ClientProfileUpdated {
                profile,
            }));
        }
        C::LinkIdentity {
            identity,
            display_name,
            avatar_url,
        } => {
            check_identity(&identity, ctx)?;
            if !state.identities.contains(&identity) {
                events.push(Event::IdentityLinked(IdentityLinked {
                    identity,
                    display_name,
                    avatar_url,
                }));
            }
        }
        C::UnlinkIdentity { identity } => {
            if state.identities.contains(&identity) {
                events.push(Event::IdentityUnlinked(IdentityUnlinked { identity }));
            }
        }
        C::MergeInto { survivor } => {
            caller.require_admin()?;
            events.push(Event::DialogMergedInto(DialogMergedInto { survivor }));
        }
        C::AcceptMerge {
            absorbed,
            identities,
        } => {
            caller.require_admin()?;
            events.push(Event::DialogsMerged(DialogsMerged {
                absorbed,
                identities,
            }));
        }
        other => unreachable!("not a register command: {other:?}"),
    }
    Ok(events)
}

fn check_profile(profile: &ClientProfile) -> Result<(), Refusal> {
    for (field, value, max) in [
        ("name", &profile.name, SHORT_MAX),
        ("phone", &profile.phone, 32),
        ("email", &profile.email, 254),
        ("avatar_url", &profile.avatar_url, 2048),
        ("country", &profile.country, 2),
        ("language", &profile.language, 35),
    ] {
        if let Some(value) = value {
            bounded_text(field, value, max, false)?;
        }
    }
    if let Some(phone) = &profile.phone {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if digits < 5
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()".contains(c))
        {
            return Err(Refusal::invalid("phone", "not a phone number"));
        }
    }
    if let Some(email) = &profile.email
        && !email.contains('@')
    {
        return Err(Refusal::invalid("email", "not an email address"));
    }
    Ok(())
}

fn check_identity(identity: &ChannelIdentity, ctx: &Context<'_>) -> Result<(), Refusal> {
    bounded_text("external_id", &identity.external_id, SHORT_MAX, false)?;
    match ctx.project.channel(identity.channel) {
        None => Err(Refusal::unknown("channel", identity.channel)),
        Some(kind) if kind != identity.kind => Err(Refusal::invalid(
            "identity",
            "kind does not match the channel",
        )),
        Some(_) => Ok(()),
    }
}
