//! The Dialog aggregate: one client and the conversation with them across all their channels.
//!
//! State holds only what decisions need (flags, assignee, identities, per-operator read marks,
//! recent message ids for idempotency and status transitions); message bodies are not state.
//! This file holds the state, [`DialogState::apply`], the [`DialogCommand`]s and [`decide`]: the
//! checks every command shares (the dialog exists, is live, the caller has access), then one
//! decision per command family, each in its own file:
//!
//! - `register`: `Register`, `UpdateProfile`, `LinkIdentity`, `UnlinkIdentity`, `MergeInto`,
//!   `AcceptMerge` (with the profile and identity checks).
//! - `messages`: `ReceiveMessage`, `EditMessage`, `ReactToMessage`, `SendMessage`, `AddNote`,
//!   `SaveDraft`, `ClearDraft`.
//! - `statuses`: `MarkSent`, `MarkDelivered`, `MarkReadByClient`, `MarkFailed` (the channel's
//!   delivery statuses, which never go back), `ResendMessage`, `ResendLastFailed` (an
//!   operator's resend of a failed message, which queues it again), `MarkRead`, `MarkUnread`
//!   (an operator's marks).
//! - `assignment`: `Assign`, `Unassign`.
//! - `membership`: `AddTags`, `RemoveTags`, `JoinLists`, `LeaveLists`, `JoinFolders`,
//!   `LeaveFolders`, `SetVariable`, `ClearVariable`, `ChangeDealStage`, `UpdateDeal`,
//!   `CreateTask`, `CompleteTask`, `EnterFunnelBlock`.
//! - `lifecycle`: `Close`, `Reopen`, `Pin`, `Unpin`, `Block`, `Unblock`, `Blacklist`,
//!   `Unblacklist`, `PauseBot`, `ResumeBot`, `StartScenario`, `Delete`, `DeleteUnsubscribed`.
//!
//! A family's `decide` is only ever given its own commands; a new command gets an arm in
//! [`decide`] and one in its family's `decide`.

mod assignment;
mod lifecycle;
mod membership;
mod messages;
mod register;
mod statuses;
#[cfg(test)]
mod tests;

use super::{Context, Refusal};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// How many recent inbound external ids and outbound message ids a dialog remembers, so that a
/// channel delivering the same message twice (VK does) or a late status is recognised.
pub const RECENT_MESSAGES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

/// One operator's read state (F4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadState {
    pub up_to: Option<MessageId>,
    /// How many client messages the dialog had when this operator last read or answered it.
    pub inbound_read: u64,
    pub marked_unread: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialogState {
    pub exists: bool,
    pub deleted: bool,
    pub merged_into: Option<DialogId>,
    pub closed: bool,
    pub assignee: Option<OperatorId>,
    pub pinned: bool,
    pub blocked: bool,
    pub blacklisted: bool,
    pub bot_paused: bool,
    pub identities: Vec<ChannelIdentity>,
    pub tags: BTreeSet<TagId>,
    pub lists: BTreeSet<ListId>,
    pub folders: BTreeSet<FolderId>,
    pub variables: BTreeMap<String, String>,
    pub deal_stage: Option<(PipelineId, StageId)>,
    pub tasks: BTreeMap<TaskId, bool>,
    pub drafts: BTreeSet<OperatorId>,
    /// The last message of the timeline, either direction.
    pub last_message: Option<MessageId>,
    /// The client waits: a client message that no operator has read or answered (F1.4).
    pub unanswered: bool,
    /// How many client messages the dialog has received.
    pub inbound_count: u64,
    pub read: BTreeMap<OperatorId, ReadState>,
    /// Recent inbound messages: channel, a hash of the external id (compared first, so that a
    /// lookup does not read every id's separately allocated text), the external id and the
    /// message.
    recent_inbound: VecDeque<(ChannelId, u64, String, MessageId)>,
    /// Recent outbound messages: their delivery and, once failed, why (the newest last).
    recent_outbound: VecDeque<(MessageId, Delivery, Option<FailureReason>)>,
    /// Recent outbound messages the channel took: a hash of the channel's id of it and the
    /// message (a reaction names the channel's id). The hash alone, to keep the state small: a
    /// collision among one dialog's last few sent messages is negligible (64 bits).
    recent_sent: VecDeque<(u64, MessageId)>,
    outbound_forgotten: bool,
}

impl DialogState {
    pub fn has_channel(&self, channel: ChannelId) -> bool {
        self.identities.iter().any(|i| i.channel == channel)
    }

    pub fn delivery(&self, message: MessageId) -> Option<Delivery> {
        self.recent_outbound
            .iter()
            .find(|(id, ..)| *id == message)
            .map(|(_, d, _)| *d)
    }

    /// Why a failed outbound message failed (its latest failure); `None` when it has not.
    pub fn failure(&self, message: MessageId) -> Option<FailureReason> {
        self.recent_outbound
            .iter()
            .find(|(id, ..)| *id == message)
            .and_then(|(.., failure)| *failure)
    }

    /// The dialog's last outbound message (bot or operator), with its delivery and failure.
    pub fn last_outbound(&self) -> Option<(MessageId, Delivery, Option<FailureReason>)> {
        self.recent_outbound.back().copied()
    }

    fn set_delivery(&mut self, message: MessageId, delivery: Delivery) {
        self.set_outcome(message, delivery, None);
    }

    fn set_outcome(
        &mut self,
        message: MessageId,
        delivery: Delivery,
        failure: Option<FailureReason>,
    ) {
        if let Some(entry) = self
            .recent_outbound
            .iter_mut()
            .find(|(id, ..)| *id == message)
        {
            entry.1 = delivery;
            entry.2 = failure;
        }
    }

    /// Whether `operator` has unread client messages here, or marked the dialog unread (per
    /// operator, F4.3). Messages of the bot and of operators are not "unread".
    pub fn is_unread_for(&self, operator: OperatorId) -> bool {
        match self.read.get(&operator) {
            Some(read) => read.marked_unread || read.inbound_read < self.inbound_count,
            None => self.inbound_count > 0,
        }
    }

    fn mark_read(&mut self, operator: OperatorId, up_to: Option<MessageId>) {
        self.read.insert(
            operator,
            ReadState {
                up_to,
                inbound_read: self.inbound_count,
                marked_unread: false,
            },
        );
    }

    /// [`DialogState::apply`] of an event that is not needed afterwards: what the state keeps of
    /// it is moved, not copied (an inbound message's external id).
    pub fn apply_owned(&mut self, event: Event) {
        match event {
            Event::MessageReceived(e) => self.received(e.message, e.channel, e.external_id),
            Event::MessageSent(e) => self.sent(e.message, &e.external_id),
            Event::DialogRegistered(e) => self.registered(e.identity),
            other => self.apply(&other),
        }
    }

    fn registered(&mut self, identity: Option<ChannelIdentity>) {
        self.exists = true;
        self.identities.extend(identity);
    }

    fn received(&mut self, message: MessageId, channel: ChannelId, external_id: String) {
        self.last_message = Some(message);
        self.unanswered = true;
        self.inbound_count += 1;
        let hash = external_id_hash(&external_id);
        push_bounded(
            &mut self.recent_inbound,
            (channel, hash, external_id, message),
        );
    }

    fn sent(&mut self, message: MessageId, external_id: &str) {
        self.set_delivery(message, Delivery::Sent);
        let hash = external_id_hash(external_id);
        push_bounded(&mut self.recent_sent, (hash, message));
    }

    /// The message a channel's id names, among the recent ones of either direction.
    pub fn message_by_external_id(
        &self,
        channel: ChannelId,
        external_id: &str,
    ) -> Option<MessageId> {
        let hash = external_id_hash(external_id);
        self.recent_inbound
            .iter()
            .rev()
            .find(|(seen_channel, seen_hash, seen, _)| {
                *seen_channel == channel && *seen_hash == hash && seen == external_id
            })
            .map(|(.., message)| *message)
            .or_else(|| {
                self.recent_sent
                    .iter()
                    .rev()
                    .find(|(seen_hash, _)| *seen_hash == hash)
                    .map(|(_, message)| *message)
            })
    }

    /// The channel's id of a recent client message that came through `channel` (what a reply
    /// through that channel quotes).
    pub fn external_id_of(&self, channel: ChannelId, message: MessageId) -> Option<&str> {
        self.recent_inbound
            .iter()
            .rev()
            .find(|(seen_channel, .., seen)| *seen_channel == channel && *seen == message)
            .map(|(_, _, external_id, _)| external_id.as_str())
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::DialogRegistered(e) => self.registered(e.identity.clone()),
            Event::IdentityLinked(e) if !self.identities.contains(&e.identity) => {
                self.identities.push(e.identity.clone());
            }
            Event::IdentityUnlinked(e) => self.identities.retain(|i| *i != e.identity),
            Event::DialogsMerged(e) => {
                for identity in &e.identities {
                    if !self.identities.contains(identity) {
                        self.identities.push(identity.clone());
                    }
                }
            }
            Event::DialogMergedInto(e) => self.merged_into = Some(e.survivor),
            Event::MessageReceived(e) => {
                self.received(e.message, e.channel, e.external_id.clone());
            }
            Event::MessageQueued(e) => {
                self.last_message = Some(e.message);
                if let MessageAuthor::Operator(operator) = e.author {
                    self.unanswered = false;
                    // Writing a message means having read the dialog.
                    self.mark_read(operator, Some(e.message));
                }
                if self.recent_outbound.len() == RECENT_MESSAGES {
                    self.outbound_forgotten = true;
                }
                push_bounded(
                    &mut self.recent_outbound,
                    (e.message, Delivery::Queued, None),
                );
            }
            Event::MessageSent(e) => self.sent(e.message, &e.external_id),
            Event::MessageDelivered(e) => self.set_delivery(e.message, Delivery::Delivered),
            Event::MessageRead(e) => self.set_delivery(e.message, Delivery::Read),
            Event::MessageFailed(e) => {
                self.set_outcome(e.message, Delivery::Failed, Some(e.reason));
            }
            Event::MessageResent(e) => self.set_delivery(e.message, Delivery::Queued),
            Event::DialogAssigned(e) => self.assignee = Some(e.operator),
            Event::DialogUnassigned(_) => self.assignee = None,
            Event::DialogClosed(_) => self.closed = true,
            Event::DialogReopened(_) => self.closed = false,
            Event::DialogPinned(_) => self.pinned = true,
            Event::DialogUnpinned(_) => self.pinned = false,
            Event::ClientBlocked(_) => self.blocked = true,
            Event::ClientUnblocked(_) => self.blocked = false,
            Event::ClientBlacklisted(_) => self.blacklisted = true,
            Event::ClientUnblacklisted(_) => self.blacklisted = false,
            Event::BotPaused(_) => self.bot_paused = true,
            Event::BotResumed(_) => self.bot_paused = false,
            Event::ReadMarked(e) => {
                self.unanswered = false;
                self.mark_read(e.operator, e.up_to);
            }
            Event::MarkedUnread(e) => {
                self.read.entry(e.operator).or_default().marked_unread = true;
            }
            Event::TagsAdded(e) => self.tags.extend(e.tags.iter().copied()),
            Event::TagsRemoved(e) => e.tags.iter().for_each(|t| {
                self.tags.remove(t);
            }),
            Event::ListsJoined(e) => self.lists.extend(e.lists.iter().copied()),
            Event::ListsLeft(e) => e.lists.iter().for_each(|l| {
                self.lists.remove(l);
            }),
            Event::FoldersJoined(e) => self.folders.extend(e.folders.iter().copied()),
            Event::FoldersLeft(e) => e.folders.iter().for_each(|f| {
                self.folders.remove(f);
            }),
            Event::VariableSet(e) => {
                self.variables.insert(e.name.clone(), e.value.clone());
            }
            Event::VariableCleared(e) => {
                self.variables.remove(&e.name);
            }
            Event::DealStageChanged(e) => self.deal_stage = Some((e.pipeline, e.stage)),
            Event::TaskCreated(e) => {
                self.tasks.insert(e.task, false);
            }
            Event::TaskCompleted(e) => {
                self.tasks.insert(e.task, true);
            }
            Event::DraftSaved(e) => {
                self.drafts.insert(e.operator);
            }
            Event::DraftCleared(e) => {
                self.drafts.remove(&e.operator);
            }
            Event::ClientDeleted(_) => {
                self.deleted = true;
                self.identities.clear();
                self.variables.clear();
                self.drafts.clear();
            }
            _ => {}
        }
    }
}

/// FNV-1a: deterministic, and quick on the short ids channels use.
fn external_id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == RECENT_MESSAGES {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Commands on one dialog (imperative; the events they produce are in the past tense).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogCommand {
    /// F5.1 by hand, F5.2 from inbound traffic.
    Register {
        profile: ClientProfile,
        source: Source,
        identity: Option<ChannelIdentity>,
    },
    UpdateProfile {
        profile: ClientProfile,
    },
    LinkIdentity {
        identity: ChannelIdentity,
        display_name: Option<String>,
        avatar_url: Option<String>,
    },
    UnlinkIdentity {
        identity: ChannelIdentity,
    },
    /// On the dialog that disappears: hand everything to `survivor` (F4.9).
    MergeInto {
        survivor: DialogId,
    },
    /// On the surviving dialog: take over `absorbed` and its identities (F4.9).
    AcceptMerge {
        absorbed: DialogId,
        identities: Vec<ChannelIdentity>,
    },
    /// A client message from a connector.
    ReceiveMessage {
        message: MessageId,
        channel: ChannelId,
        external_id: String,
        text: String,
        attachments: Vec<Attachment>,
        reply_to: Option<MessageId>,
        sent_at: Timestamp,
    },
    /// The client changed one of their messages (no new message).
    EditMessage {
        message: MessageId,
        channel: ChannelId,
        external_id: String,
        text: String,
        attachments: Vec<Attachment>,
        edited_at: Timestamp,
    },
    /// The client set, changed or removed (`reaction` empty) a reaction to a message, named by
    /// the channel's id of it.
    ReactToMessage {
        channel: ChannelId,
        target_external_id: String,
        reaction: String,
        reacted_at: Timestamp,
    },
    /// An operator's (or the bot's) message.
    SendMessage {
        message: MessageId,
        channel: ChannelId,
        text: String,
        attachments: Vec<Attachment>,
        reply_to: Option<MessageId>,
        template: Option<TemplateId>,
    },
    MarkSent {
        message: MessageId,
        external_id: String,
    },
    MarkDelivered {
        message: MessageId,
    },
    MarkReadByClient {
        message: MessageId,
    },
    MarkFailed {
        message: MessageId,
        reason: FailureReason,
        detail: String,
        retry_after_secs: Option<u32>,
    },
    /// F3.6: an operator sends a failed outbound message again, through the channel it was
    /// queued on.
    ResendMessage {
        message: MessageId,
    },
    /// F6.5 (one dialog of the bulk action): send the dialog's last outbound message again
    /// when it failed; nothing when it did not.
    ResendLastFailed,
    AddNote {
        note: NoteId,
        text: String,
    },
    Assign {
        operator: OperatorId,
    },
    Unassign,
    Close,
    Reopen,
    Pin,
    Unpin,
    Block,
    Unblock,
    Blacklist,
    Unblacklist,
    PauseBot,
    ResumeBot,
    StartScenario {
        scenario: String,
    },
    /// F4.3, F3.9: for the calling operator, up to the last message.
    MarkRead,
    /// F4.3: for the calling operator only.
    MarkUnread,
    AddTags {
        tags: Vec<TagId>,
    },
    RemoveTags {
        tags: Vec<TagId>,
    },
    JoinLists {
        lists: Vec<ListId>,
    },
    LeaveLists {
        lists: Vec<ListId>,
    },
    JoinFolders {
        folders: Vec<FolderId>,
    },
    LeaveFolders {
        folders: Vec<FolderId>,
    },
    SetVariable {
        name: String,
        value: String,
    },
    ClearVariable {
        name: String,
    },
    ChangeDealStage {
        pipeline: PipelineId,
        stage: StageId,
    },
    UpdateDeal {
        line: u8,
        channel: Option<ChannelId>,
        sales_sum_minor: i64,
        sales_count: u32,
    },
    CreateTask {
        task: TaskId,
        text: String,
        due: Option<Timestamp>,
    },
    CompleteTask {
        task: TaskId,
    },
    EnterFunnelBlock {
        block: String,
        block_name: String,
    },
    SaveDraft {
        text: String,
    },
    ClearDraft,
    /// F4.8: irreversible; needs the delete permission.
    Delete,
    /// F6.6 (one dialog of the bulk action): [`DialogCommand::Delete`] when the client blocked
    /// the bot (the last outbound message failed so) or we blocked them; nothing otherwise.
    DeleteUnsubscribed,
}

const TEXT_MAX: usize = 10_000;
const INBOUND_TEXT_MAX: usize = 100_000;
const SHORT_MAX: usize = 200;

/// Decide a dialog command. An empty answer means the command changes nothing (idempotent).
///
/// Checks what every command shares (the dialog exists and is live, the caller's access), then
/// hands the command to the decision of its family.
pub fn decide(
    state: &DialogState,
    command: DialogCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    use DialogCommand as C;
    let caller = ctx.caller;
    if let C::Register {
        profile,
        source,
        identity,
    } = command
    {
        return register::register(state, profile, source, identity, ctx);
    }
    if !state.exists {
        return Err(Refusal::NoSuchDialog);
    }
    if state.deleted {
        return Err(Refusal::Deleted);
    }
    if let Some(survivor) = state.merged_into {
        return Err(Refusal::MergedInto(survivor));
    }
    // Channel traffic is not subject to an operator's access; everything else is.
    let channel_side = matches!(
        command,
        C::ReceiveMessage { .. }
            | C::EditMessage { .. }
            | C::ReactToMessage { .. }
            | C::MarkSent { .. }
            | C::MarkDelivered { .. }
            | C::MarkReadByClient { .. }
            | C::MarkFailed { .. }
    );
    if channel_side {
        caller.require_service()?;
    } else {
        caller.require_access(state.assignee)?;
    }

    match command {
        C::Register { .. } => Err(Refusal::DialogExists),
        C::UpdateProfile { .. }
        | C::LinkIdentity { .. }
        | C::UnlinkIdentity { .. }
        | C::MergeInto { .. }
        | C::AcceptMerge { .. } => register::decide(state, command, ctx),
        C::ReceiveMessage { .. }
        | C::EditMessage { .. }
        | C::ReactToMessage { .. }
        | C::SendMessage { .. }
        | C::AddNote { .. }
        | C::SaveDraft { .. }
        | C::ClearDraft => messages::decide(state, command, ctx),
        C::MarkSent { .. }
        | C::MarkDelivered { .. }
        | C::MarkReadByClient { .. }
        | C::MarkFailed { .. }
        | C::ResendMessage { .. }
        | C::ResendLastFailed
        | C::MarkRead
        | C::MarkUnread => statuses::decide(state, command, ctx),
        C::Assign { .. } | C::Unassign => assignment::decide(state, command, ctx),
        C::AddTags { .. }
        | C::RemoveTags { .. }
        | C::JoinLists { .. }
        | C::LeaveLists { .. }
        | C::JoinFolders { .. }
        | C::LeaveFolders { .. }
        | C::SetVariable { .. }
        | C::ClearVariable { .. }
        | C::ChangeDealStage { .. }
        | C::UpdateDeal { .. }
        | C::CreateTask { .. }
        | C::CompleteTask { .. }
        | C::EnterFunnelBlock { .. } => membership::decide(state, command, ctx),
        C::Close
        | C::Reopen
        | C::Pin
        | C::Unpin
        | C::Block
        | C::Unblock
        | C::Blacklist
        | C::Unblacklist
        | C::PauseBot
        | C::ResumeBot
        | C::StartScenario { .. }
        | C::Delete
        | C::DeleteUnsubscribed => lifecycle::decide(state, command, ctx),
    }
}
