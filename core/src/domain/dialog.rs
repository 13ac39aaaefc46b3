//! The Dialog aggregate: one client and the conversation with them across all their channels.
//!
//! State holds only what decisions need (flags, assignee, identities, per-operator read marks,
//! recent message ids for idempotency and status transitions); message bodies are not state.

use super::compose::check_outbound;
use super::{Caller, Context, Refusal, bounded_text};
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
    /// lookup does not read every id's separately allocated text) and the external id.
    recent_inbound: VecDeque<(ChannelId, u64, String)>,
    recent_outbound: VecDeque<(MessageId, Delivery)>,
    outbound_forgotten: bool,
}

impl DialogState {
    pub fn has_channel(&self, channel: ChannelId) -> bool {
        self.identities.iter().any(|i| i.channel == channel)
    }

    pub fn delivery(&self, message: MessageId) -> Option<Delivery> {
        self.recent_outbound
            .iter()
            .find(|(id, _)| *id == message)
            .map(|(_, d)| *d)
    }

    fn set_delivery(&mut self, message: MessageId, delivery: Delivery) {
        if let Some(entry) = self
            .recent_outbound
            .iter_mut()
            .find(|(id, _)| *id == message)
        {
            entry.1 = delivery;
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
        push_bounded(&mut self.recent_inbound, (channel, hash, external_id));
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
                push_bounded(&mut self.recent_outbound, (e.message, Delivery::Queued));
            }
            Event::MessageSent(e) => self.set_delivery(e.message, Delivery::Sent),
            Event::MessageDelivered(e) => self.set_delivery(e.message, Delivery::Delivered),
            Event::MessageRead(e) => self.set_delivery(e.message, Delivery::Read),
            Event::MessageFailed(e) => self.set_delivery(e.message, Delivery::Failed),
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
}

const TEXT_MAX: usize = 10_000;
const INBOUND_TEXT_MAX: usize = 100_000;
const SHORT_MAX: usize = 200;

/// Decide a dialog command. An empty answer means the command changes nothing (idempotent).
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
        return Ok(vec![Event::DialogRegistered(DialogRegistered {
            profile,
            source,
            identity,
        })]);
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

    // One event, sometimes two (reopened, then the message); an event is 300 bytes, so not the
    // four a first push would make room for.
    let mut events = Vec::with_capacity(2);
    match command {
        C::Register { .. } => return Err(Refusal::DialogExists),
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
        C::ReceiveMessage {
            message,
            channel,
            external_id,
            text,
            attachments,
            reply_to,
            sent_at,
        } => {
            let hash = external_id_hash(&external_id);
            if state
                .recent_inbound
                .iter()
                .any(|(seen_channel, seen_hash, seen)| {
                    *seen_channel == channel && *seen_hash == hash && *seen == external_id
                })
            {
                return Ok(vec![]); // the channel delivered it again
            }
            if state.blocked {
                return Err(Refusal::Blocked);
            }
            if !state.has_channel(channel) {
                return Err(Refusal::ChannelUnavailable(channel));
            }
            bounded_text("external_id", &external_id, SHORT_MAX, false)?;
            bounded_text("text", &text, INBOUND_TEXT_MAX, true)?;
            if text.trim().is_empty() && attachments.is_empty() {
                return Err(Refusal::invalid(
                    "text",
                    "a message needs text or an attachment",
                ));
            }
            if state.closed {
                events.push(Event::DialogReopened(DialogReopened {
                    cause: ReopenCause::InboundMessage,
                }));
            }
            events.push(Event::MessageReceived(MessageReceived {
                message,
                channel,
                external_id,
                text,
                attachments,
                reply_to,
                sent_at,
            }));
        }
        C::SendMessage {
            message,
            channel,
            text,
            attachments,
            reply_to,
            template,
        } => {
            let author = match caller {
                Caller::Operator { id, .. } => MessageAuthor::Operator(*id),
                Caller::Service(Actor::Bot | Actor::System) => MessageAuthor::Bot,
                Caller::Service(_) => {
                    return Err(Refusal::Forbidden("only an operator or the bot may send"));
                }
            };
            if state.delivery(message).is_some() {
                return Ok(vec![]); // the same message again
            }
            if state.blocked {
                return Err(Refusal::Blocked);
            }
            if author == MessageAuthor::Bot && state.bot_paused {
                return Err(Refusal::Forbidden("the bot is paused for this dialog"));
            }
            if !state.has_channel(channel) {
                return Err(Refusal::ChannelUnavailable(channel));
            }
            let kind = ctx
                .project
                .channel(channel)
                .ok_or(Refusal::ChannelUnavailable(channel))?;
            check_outbound(kind, &text, &attachments)?;
            if let Some(template) = template
                && !ctx.project.has_template(template)
            {
                return Err(Refusal::unknown("template", template));
            }
            if state.closed {
                events.push(Event::DialogReopened(DialogReopened {
                    cause: ReopenCause::OutboundMessage,
                }));
            }
            events.push(Event::MessageQueued(MessageQueued {
                message,
                channel,
                author,
                text,
                attachments,
                reply_to,
                template,
            }));
            if let MessageAuthor::Operator(operator) = author
                && state.drafts.contains(&operator)
            {
                events.push(Event::DraftCleared(DraftCleared { operator }));
            }
        }
        C::MarkSent {
            message,
            external_id,
        } => {
            if advance(state, message, Delivery::Sent)? {
                bounded_text("external_id", &external_id, SHORT_MAX, false)?;
                events.push(Event::MessageSent(MessageSent {
                    message,
                    external_id,
                }));
            }
        }
        C::MarkDelivered { message } => {
            if advance(state, message, Delivery::Delivered)? {
                events.push(Event::MessageDelivered(MessageDelivered { message }));
            }
        }
        C::MarkReadByClient { message } => {
            if advance(state, message, Delivery::Read)? {
                events.push(Event::MessageRead(MessageRead { message }));
            }
        }
        C::MarkFailed {
            message,
            reason,
            detail,
            retry_after_secs,
        } => {
            if advance(state, message, Delivery::Failed)? {
                bounded_text("detail", &detail, 2000, true)?;
                events.push(Event::MessageFailed(MessageFailed {
                    message,
                    reason,
                    detail,
                    retry_after_secs,
                }));
            }
        }
        C::AddNote { note, text } => {
            caller.require_operator()?;
            bounded_text("text", &text, TEXT_MAX, false)?;
            events.push(Event::NoteAdded(NoteAdded { note, text }));
        }
        C::Assign { operator } => {
            if ctx.project.operator(operator).is_none() {
                return Err(Refusal::unknown("operator", operator));
            }
            if let Caller::Operator { id, .. } = caller {
                // An operator may take a free dialog, or hand over their own; only an admin may
                // move someone else's (access was checked above).
                if !caller.is_admin() && state.assignee.is_none() && operator != *id {
                    return Err(Refusal::Forbidden(
                        "an operator may only take a free dialog for themselves",
                    ));
                }
            }
            if state.assignee != Some(operator) {
                // F4.1: a closed dialog stays closed.
                events.push(Event::DialogAssigned(DialogAssigned {
                    operator,
                    previous: state.assignee,
                }));
            }
        }
        C::Unassign => {
            if let Some(previous) = state.assignee {
                events.push(Event::DialogUnassigned(DialogUnassigned { previous }));
            }
        }
        C::Close => toggle(
            &mut events,
            !state.closed,
            Event::DialogClosed(DialogClosed {}),
        ),
        C::Reopen => toggle(
            &mut events,
            state.closed,
            Event::DialogReopened(DialogReopened {
                cause: ReopenCause::Operator,
            }),
        ),
        C::Pin => toggle(
            &mut events,
            !state.pinned,
            Event::DialogPinned(DialogPinned {}),
        ),
        C::Unpin => toggle(
            &mut events,
            state.pinned,
            Event::DialogUnpinned(DialogUnpinned {}),
        ),
        C::Block => toggle(
            &mut events,
            !state.blocked,
            Event::ClientBlocked(ClientBlocked {}),
        ),
        C::Unblock => toggle(
            &mut events,
            state.blocked,
            Event::ClientUnblocked(ClientUnblocked {}),
        ),
        C::Blacklist => toggle(
            &mut events,
            !state.blacklisted,
            Event::ClientBlacklisted(ClientBlacklisted {}),
        ),
        C::Unblacklist => toggle(
            &mut events,
            state.blacklisted,
            Event::ClientUnblacklisted(ClientUnblacklisted {}),
        ),
        C::PauseBot => toggle(
            &mut events,
            !state.bot_paused,
            Event::BotPaused(BotPaused {}),
        ),
        C::ResumeBot => toggle(
            &mut events,
            state.bot_paused,
            Event::BotResumed(BotResumed {}),
        ),
        C::StartScenario { scenario } => {
            if state.blocked {
                return Err(Refusal::Blocked);
            }
            // F4.7: while paused the bot only runs what an operator starts by hand.
            if state.bot_paused && !matches!(caller, Caller::Operator { .. }) {
                return Err(Refusal::Forbidden("the bot is paused for this dialog"));
            }
            bounded_text("scenario", &scenario, SHORT_MAX, false)?;
            events.push(Event::BotScenarioStarted(BotScenarioStarted { scenario }));
        }
        C::MarkRead => {
            let operator = caller.require_operator()?;
            if state.is_unread_for(operator) || state.unanswered {
                events.push(Event::ReadMarked(ReadMarked {
                    operator,
                    up_to: state.last_message,
                }));
            }
        }
        C::MarkUnread => {
            let operator = caller.require_operator()?;
            if !state.read.get(&operator).is_some_and(|r| r.marked_unread) {
                events.push(Event::MarkedUnread(MarkedUnread { operator }));
            }
        }
        C::AddTags { tags } => {
            let new = joining(&tags, &state.tags, "tag", |t| ctx.project.has_tag(t))?;
            push_if_any(&mut events, new, |tags| {
                Event::TagsAdded(TagsAdded { tags })
            });
        }
        C::RemoveTags { tags } => {
            let present = leaving(&tags, &state.tags);
            push_if_any(&mut events, present, |tags| {
                Event::TagsRemoved(TagsRemoved { tags })
            });
        }
        C::JoinLists { lists } => {
            let new = joining(&lists, &state.lists, "list", |l| ctx.project.has_list(l))?;
            push_if_any(&mut events, new, |lists| {
                Event::ListsJoined(ListsJoined { lists })
            });
        }
        C::LeaveLists { lists } => {
            let present = leaving(&lists, &state.lists);
            push_if_any(&mut events, present, |lists| {
                Event::ListsLeft(ListsLeft { lists })
            });
        }
        C::JoinFolders { folders } => {
            let new = joining(&folders, &state.folders, "folder", |f| {
                ctx.project.has_folder(f)
            })?;
            push_if_any(&mut events, new, |folders| {
                Event::FoldersJoined(FoldersJoined { folders })
            });
        }
        C::LeaveFolders { folders } => {
            let present = leaving(&folders, &state.folders);
            push_if_any(&mut events, present, |folders| {
                Event::FoldersLeft(FoldersLeft { folders })
            });
        }
        C::SetVariable { name, value } => {
            bounded_text("name", &name, 100, false)?;
            bounded_text("value", &value, 4096, true)?;
            if let Some(choices) = ctx.project.variable_choices(&name)
                && !choices.is_empty()
                && !choices.contains(&value)
            {
                return Err(Refusal::invalid(
                    "value",
                    "not one of the variable's choices",
                ));
            }
            if state.variables.get(&name) != Some(&value) {
                events.push(Event::VariableSet(VariableSet { name, value }));
            }
        }
        C::ClearVariable { name } => {
            if state.variables.contains_key(&name) {
                events.push(Event::VariableCleared(VariableCleared { name }));
            }
        }
        C::ChangeDealStage { pipeline, stage } => {
            match ctx.project.pipeline_has_stage(pipeline, stage) {
                None => return Err(Refusal::unknown("pipeline", pipeline)),
                Some(false) => return Err(Refusal::unknown("stage", stage)),
                Some(true) => {}
            }
            if state.deal_stage != Some((pipeline, stage)) {
                let previous = state.deal_stage.map(|(_, s)| s);
                events.push(Event::DealStageChanged(DealStageChanged {
                    pipeline,
                    stage,
                    previous,
                }));
            }
        }
        C::UpdateDeal {
            line,
            channel,
            sales_sum_minor,
            sales_count,
        } => {
            if !(1..=2).contains(&line) {
                return Err(Refusal::invalid("line", "must be 1 or 2"));
            }
            if sales_sum_minor < 0 {
                return Err(Refusal::invalid("sales_sum_minor", "must not be negative"));
            }
            if let Some(channel) = channel
                && ctx.project.channel(channel).is_none()
            {
                return Err(Refusal::unknown("channel", channel));
            }
            events.push(Event::DealUpdated(DealUpdated {
                line,
                channel,
                sales_sum_minor,
                sales_count,
            }));
        }
        C::CreateTask { task, text, due } => {
            bounded_text("text", &text, 2000, false)?;
            if state.tasks.contains_key(&task) {
                return Err(Refusal::AlreadyExists {
                    kind: "task",
                    id: task.to_string(),
                });
            }
            events.push(Event::TaskCreated(TaskCreated { task, text, due }));
        }
        C::CompleteTask { task } => match state.tasks.get(&task) {
            None => return Err(Refusal::unknown("task", task)),
            Some(true) => {}
            Some(false) => events.push(Event::TaskCompleted(TaskCompleted { task })),
        },
        C::EnterFunnelBlock { block, block_name } => {
            bounded_text("block", &block, SHORT_MAX, false)?;
            bounded_text("block_name", &block_name, SHORT_MAX, true)?;
            events.push(Event::FunnelBlockEntered(FunnelBlockEntered {
                block,
                block_name,
            }));
        }
        C::SaveDraft { text } => {
            let operator = caller.require_operator()?;
            bounded_text("text", &text, TEXT_MAX, true)?;
            if text.trim().is_empty() {
                if state.drafts.contains(&operator) {
                    events.push(Event::DraftCleared(DraftCleared { operator }));
                }
            } else {
                events.push(Event::DraftSaved(DraftSaved { operator, text }));
            }
        }
        C::ClearDraft => {
            let operator = caller.require_operator()?;
            if state.drafts.contains(&operator) {
                events.push(Event::DraftCleared(DraftCleared { operator }));
            }
        }
        C::Delete => {
            caller.require_delete()?;
            events.push(Event::ClientDeleted(ClientDeleted {}));
        }
    }
    Ok(events)
}

fn toggle(events: &mut Vec<Event>, needed: bool, event: Event) {
    if needed {
        events.push(event);
    }
}

/// Whether a delivery status moves the message forward. Statuses never go back (a late
/// "delivered" after "read" changes nothing); a status for a message this dialog never queued is
/// refused unless the dialog has forgotten old messages.
fn advance(state: &DialogState, message: MessageId, to: Delivery) -> Result<bool, Refusal> {
    match state.delivery(message) {
        None if state.outbound_forgotten => Ok(true),
        None => Err(Refusal::unknown("message", message)),
        // A failed message may still be reported sent or delivered by a later retry.
        Some(Delivery::Failed) => Ok(to != Delivery::Failed),
        // Failure is only news before delivery.
        Some(current) if to == Delivery::Failed => Ok(current < Delivery::Delivered),
        Some(current) => Ok(to > current),
    }
}

/// Membership to add (tags, lists, folders): every id must be defined in the project; answers
/// the distinct ones not yet present.
fn joining<T: Ord + Copy + std::fmt::Display>(
    wanted: &[T],
    have: &BTreeSet<T>,
    kind: &'static str,
    defined: impl Fn(T) -> bool,
) -> Result<Vec<T>, Refusal> {
    if let Some(unknown) = wanted.iter().find(|id| !defined(**id)) {
        return Err(Refusal::unknown(kind, unknown));
    }
    let mut seen = BTreeSet::new();
    Ok(wanted
        .iter()
        .copied()
        .filter(|t| !have.contains(t) && seen.insert(*t))
        .collect())
}

/// Membership to remove: the distinct ids that are present.
fn leaving<T: Ord + Copy>(wanted: &[T], have: &BTreeSet<T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    wanted
        .iter()
        .copied()
        .filter(|t| have.contains(t) && seen.insert(*t))
        .collect()
}

/// One event for a non-empty change, none for an empty one (idempotent commands).
fn push_if_any<T>(events: &mut Vec<Event>, ids: Vec<T>, event: impl FnOnce(Vec<T>) -> Event) {
    if !ids.is_empty() {
        events.push(event(ids));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_owned_events_gives_the_same_state() {
        let channel = ChannelId::new();
        let identity = ChannelIdentity {
            channel,
            kind: ChannelKind::Telegram,
            external_id: "42".into(),
        };
        let received = |n: usize| {
            Event::MessageReceived(MessageReceived {
                message: MessageId::new(),
                channel,
                external_id: format!("m{n}"),
                text: "hello".into(),
                attachments: vec![],
                reply_to: None,
                sent_at: Timestamp::from_micros(1),
            })
        };
        let mut events = vec![Event::DialogRegistered(DialogRegistered {
            profile: ClientProfile::default(),
            source: Source::default(),
            identity: Some(identity),
        })];
        events.extend((0..RECENT_MESSAGES + 3).map(received));
        events.push(Event::DialogClosed(DialogClosed {}));
        events.push(received(1));
        let (mut by_ref, mut owned) = (DialogState::default(), DialogState::default());
        for event in events {
            by_ref.apply(&event);
            owned.apply_owned(event);
            assert_eq!(by_ref, owned);
        }
    }
}
