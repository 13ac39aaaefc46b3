//! A small given/when/then harness over the pure `decide`/`apply` of each aggregate.
//!
//! *Given* events build the state (the standard project below plus the dialog's own events),
//! *when* resolves the actor against the project and decides the command, *then* compares the
//! answer with the expected events or refusal and, on success, applies the events so that the
//! next step sees them.

use crate::domain::dialog::{self, DialogCommand, DialogState};
use crate::domain::identity::{self, IdentityCommand, IdentityState};
use crate::domain::project::{self, ProjectCommand, ProjectState};
use crate::domain::{Caller, Context, Refusal};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

// ---- fixed ids -----------------------------------------------------------------------------

pub const A_ID: OperatorId = OperatorId::from_u128(0xA);
pub const O1_ID: OperatorId = OperatorId::from_u128(0x01);
pub const O2_ID: OperatorId = OperatorId::from_u128(0x02);
pub const D_ID: OperatorId = OperatorId::from_u128(0xD);
/// Never added to the project.
pub const STRANGER_ID: OperatorId = OperatorId::from_u128(0x5);

/// The admin.
pub const A: Actor = Actor::Operator(A_ID);
/// An operator without the delete permission.
pub const O1: Actor = Actor::Operator(O1_ID);
/// Another operator without the delete permission.
pub const O2: Actor = Actor::Operator(O2_ID);
/// An operator with the delete permission.
pub const D: Actor = Actor::Operator(D_ID);
pub const STRANGER: Actor = Actor::Operator(STRANGER_ID);
pub const BOT: Actor = Actor::Bot;
pub const SYSTEM: Actor = Actor::System;
pub const CLIENT: Actor = Actor::Client;

pub const TELEGRAM: ChannelId = ChannelId::from_u128(0xC1);
pub const WHATSAPP: ChannelId = ChannelId::from_u128(0xC2);
/// Never connected to the project.
pub const UNKNOWN_CHANNEL: ChannelId = ChannelId::from_u128(0xCF);
/// The Telegram connector.
pub const CONNECTOR: Actor = Actor::Connector(TELEGRAM);

pub const TEMPLATE: TemplateId = TemplateId::from_u128(0x71);
pub const UNKNOWN_TEMPLATE: TemplateId = TemplateId::from_u128(0x7F);
pub const FOLDER: FolderId = FolderId::from_u128(0xF1);
pub const UNKNOWN_FOLDER: FolderId = FolderId::from_u128(0xFF);
pub const TAG: TagId = TagId::from_u128(0x7A1);
pub const TAG2: TagId = TagId::from_u128(0x7A2);
pub const UNKNOWN_TAG: TagId = TagId::from_u128(0x7AF);
pub const LIST: ListId = ListId::from_u128(0x11);
pub const UNKNOWN_LIST: ListId = ListId::from_u128(0x1F);
pub const PIPELINE: PipelineId = PipelineId::from_u128(0x91);
pub const UNKNOWN_PIPELINE: PipelineId = PipelineId::from_u128(0x9F);
pub const STAGE_NEW: StageId = StageId::from_u128(0x51);
pub const STAGE_WON: StageId = StageId::from_u128(0x52);
pub const UNKNOWN_STAGE: StageId = StageId::from_u128(0x5F);
pub const FILTER: FilterId = FilterId::from_u128(0xF17);
pub const TASK: TaskId = TaskId::from_u128(0x7A5);
pub const NOTE: NoteId = NoteId::from_u128(0x40);
pub const OTHER_DIALOG: DialogId = DialogId::from_u128(0xD2);

/// A variable whose value is a choice.
pub const SIZE: &str = "size";

pub const NOW: Timestamp = Timestamp::from_micros(1_763_784_000_000_000);

pub fn message(n: u128) -> MessageId {
    MessageId::from_u128(0x1000 + n)
}

pub fn s(text: &str) -> String {
    text.to_owned()
}

// ---- the refusals of the rights rules (F12) ------------------------------------------------

pub const NOT_YOURS: Refusal = Refusal::Forbidden("the dialog is assigned to another operator");
pub const ADMINS_ONLY: Refusal = Refusal::Forbidden("only an admin may change project settings");
pub const NEEDS_DELETE: Refusal =
    Refusal::Forbidden("deleting clients needs the delete permission");
pub const OPERATORS_ONLY: Refusal = Refusal::Forbidden("only an operator may do this");
pub const CHANNEL_SIDE_ONLY: Refusal =
    Refusal::Forbidden("only a connector or the system may report channel traffic");
pub const NOT_A_MEMBER: Refusal = Refusal::Forbidden("not an operator of this project");
pub const ONLY_FOR_THEMSELVES: Refusal =
    Refusal::Forbidden("an operator may only take a free dialog for themselves");
pub const SENDERS_ONLY: Refusal = Refusal::Forbidden("only an operator or the bot may send");

pub fn unknown(kind: &'static str, id: impl ToString) -> Refusal {
    Refusal::Unknown {
        kind,
        id: id.to_string(),
    }
}

// ---- the standard project -------------------------------------------------------------------

pub fn telegram_identity() -> ChannelIdentity {
    ChannelIdentity {
        channel: TELEGRAM,
        kind: ChannelKind::Telegram,
        external_id: s("7771988777"),
    }
}

pub fn whatsapp_identity() -> ChannelIdentity {
    ChannelIdentity {
        channel: WHATSAPP,
        kind: ChannelKind::WhatsappCloud,
        external_id: s("79990001122"),
    }
}

fn operator_added(operator: OperatorId, name: &str, role: Role, can_delete: bool) -> Event {
    Event::OperatorAdded(OperatorAdded {
        operator,
        name: s(name),
        email: format!("{}@example.com", name.to_lowercase()),
        role,
        can_delete,
    })
}

/// A project with an admin A, operators O1 and O2 (no delete permission), an operator D with
/// the delete permission, a Telegram and a WhatsApp Cloud channel, a template, a folder, two
/// tags, a list, a choice variable, a free-text variable and a pipeline with two stages.
pub fn project_events() -> Vec<Event> {
    vec![
        Event::ProjectCreated(ProjectCreated { name: s("Shop") }),
        operator_added(A_ID, "Anna", Role::Admin, false),
        operator_added(O1_ID, "Oleg", Role::Operator, false),
        operator_added(O2_ID, "Olga", Role::Operator, false),
        operator_added(D_ID, "Dmitry", Role::Operator, true),
        Event::ChannelConnected(ChannelConnected {
            channel: TELEGRAM,
            kind: ChannelKind::Telegram,
            name: s("@shop_bot"),
        }),
        Event::ChannelConnected(ChannelConnected {
            channel: WHATSAPP,
            kind: ChannelKind::WhatsappCloud,
            name: s("+7 999 000-00-00"),
        }),
        Event::TemplateSaved(TemplateSaved {
            template: TEMPLATE,
            name: s("greeting"),
            text: s("Hello!"),
        }),
        Event::FolderCreated(FolderCreated {
            folder: FOLDER,
            name: s("VIP"),
        }),
        Event::TagDefined(TagDefined {
            tag: TAG,
            name: s("paid"),
            color: s("#00ff00"),
        }),
        Event::TagDefined(TagDefined {
            tag: TAG2,
            name: s("wholesale"),
            color: s("#0000ff"),
        }),
        Event::ListDefined(ListDefined {
            list: LIST,
            name: s("news"),
        }),
        Event::VariableDefined(VariableDefined {
            name: s(SIZE),
            choices: vec![s("S"), s("M"), s("L")],
        }),
        Event::VariableDefined(VariableDefined {
            name: s("city"),
            choices: vec![],
        }),
        Event::PipelineDefined(PipelineDefined {
            pipeline: PIPELINE,
            name: s("sales"),
            stages: vec![
                Stage {
                    stage: STAGE_NEW,
                    name: s("new"),
                },
                Stage {
                    stage: STAGE_WON,
                    name: s("won"),
                },
            ],
        }),
    ]
}

pub fn standard_project() -> ProjectState {
    let mut project = ProjectState::default();
    for event in project_events() {
        project.apply(&event);
    }
    project
}

// ---- dialog events and commands -------------------------------------------------------------

pub fn profile() -> ClientProfile {
    ClientProfile {
        name: Some(s("Vasya1988")),
        ..ClientProfile::default()
    }
}

/// The client wrote to the Telegram bot for the first time (F5.2).
pub fn registered() -> Event {
    Event::DialogRegistered(DialogRegistered {
        profile: profile(),
        source: Source::default(),
        identity: Some(telegram_identity()),
    })
}

pub fn whatsapp_linked() -> Event {
    Event::IdentityLinked(IdentityLinked {
        identity: whatsapp_identity(),
        display_name: None,
        avatar_url: None,
    })
}

pub fn assigned(operator: OperatorId, previous: Option<OperatorId>) -> Event {
    Event::DialogAssigned(DialogAssigned { operator, previous })
}

pub fn closed() -> Event {
    Event::DialogClosed(DialogClosed {})
}

pub fn reopened(cause: ReopenCause) -> Event {
    Event::DialogReopened(DialogReopened { cause })
}

pub fn blocked() -> Event {
    Event::ClientBlocked(ClientBlocked {})
}

pub fn deleted() -> Event {
    Event::ClientDeleted(ClientDeleted {})
}

pub fn read_marked(operator: OperatorId, up_to: Option<MessageId>) -> Event {
    Event::ReadMarked(ReadMarked { operator, up_to })
}

pub fn marked_unread(operator: OperatorId) -> Event {
    Event::MarkedUnread(MarkedUnread { operator })
}

pub fn draft_saved(operator: OperatorId, text: &str) -> Event {
    Event::DraftSaved(DraftSaved {
        operator,
        text: s(text),
    })
}

pub fn draft_cleared(operator: OperatorId) -> Event {
    Event::DraftCleared(DraftCleared { operator })
}

pub fn external_id(n: u128) -> String {
    format!("tg-{n}")
}

/// A client text message on Telegram, as a connector reports it.
pub fn receive(n: u128) -> DialogCommand {
    DialogCommand::ReceiveMessage {
        message: message(n),
        channel: TELEGRAM,
        external_id: external_id(n),
        text: s("where is my order?"),
        attachments: vec![],
        reply_to: None,
        sent_at: NOW,
    }
}

/// What [`receive`] records.
pub fn received(n: u128) -> Event {
    Event::MessageReceived(MessageReceived {
        message: message(n),
        channel: TELEGRAM,
        external_id: external_id(n),
        text: s("where is my order?"),
        attachments: vec![],
        reply_to: None,
        sent_at: NOW,
    })
}

/// A text answer through `channel`.
pub fn send_via(n: u128, channel: ChannelId, text: &str) -> DialogCommand {
    DialogCommand::SendMessage {
        message: message(n),
        channel,
        text: s(text),
        attachments: vec![],
        reply_to: None,
        template: None,
    }
}

pub fn send(n: u128) -> DialogCommand {
    send_via(n, TELEGRAM, "on its way")
}

pub fn send_attachments(
    n: u128,
    channel: ChannelId,
    attachments: Vec<Attachment>,
) -> DialogCommand {
    DialogCommand::SendMessage {
        message: message(n),
        channel,
        text: s(""),
        attachments,
        reply_to: None,
        template: None,
    }
}

/// What [`send`] records.
pub fn queued(n: u128, author: MessageAuthor) -> Event {
    Event::MessageQueued(MessageQueued {
        message: message(n),
        channel: TELEGRAM,
        author,
        text: s("on its way"),
        attachments: vec![],
        reply_to: None,
        template: None,
    })
}

pub fn image(size_bytes: u64) -> Attachment {
    Attachment {
        kind: AttachmentKind::Image,
        file_name: s("photo.jpg"),
        mime_type: s("image/jpeg"),
        size_bytes,
        storage_ref: s("blob/photo"),
    }
}

pub const MB: u64 = 1024 * 1024;

/// One instance of every dialog command, each valid against the standard project and a
/// registered dialog that has received message 1 and queued message 2 (so that statuses find
/// their message). [`dialog_command_kind`] is an exhaustive match: a new variant does not compile
/// until it is added there, and the `every_command_covers_every_variant` test then asks for it
/// here.
pub fn every_dialog_command() -> Vec<DialogCommand> {
    use DialogCommand as C;
    vec![
        C::Register {
            profile: profile(),
            source: Source::default(),
            identity: Some(telegram_identity()),
        },
        C::UpdateProfile {
            profile: ClientProfile {
                name: Some(s("Vasily")),
                ..ClientProfile::default()
            },
        },
        C::LinkIdentity {
            identity: whatsapp_identity(),
            display_name: None,
            avatar_url: None,
        },
        C::UnlinkIdentity {
            identity: telegram_identity(),
        },
        C::MergeInto {
            survivor: OTHER_DIALOG,
        },
        C::AcceptMerge {
            absorbed: OTHER_DIALOG,
            identities: vec![whatsapp_identity()],
        },
        receive(10),
        send(11),
        C::MarkSent {
            message: message(2),
            external_id: s("tg-out-2"),
        },
        C::MarkDelivered {
            message: message(2),
        },
        C::MarkReadByClient {
            message: message(2),
        },
        C::MarkFailed {
            message: message(2),
            reason: FailureReason::ChannelError,
            detail: s("boom"),
            retry_after_secs: None,
        },
        C::AddNote {
            note: NOTE,
            text: s("call back"),
        },
        C::Assign { operator: O1_ID },
        C::Unassign,
        C::Close,
        C::Reopen,
        C::Pin,
        C::Unpin,
        C::Block,
        C::Unblock,
        C::Blacklist,
        C::Unblacklist,
        C::PauseBot,
        C::ResumeBot,
        C::StartScenario {
            scenario: s("welcome"),
        },
        C::MarkRead,
        C::MarkUnread,
        C::AddTags { tags: vec![TAG] },
        C::RemoveTags { tags: vec![TAG] },
        C::JoinLists { lists: vec![LIST] },
        C::LeaveLists { lists: vec![LIST] },
        C::JoinFolders {
            folders: vec![FOLDER],
        },
        C::LeaveFolders {
            folders: vec![FOLDER],
        },
        C::SetVariable {
            name: s(SIZE),
            value: s("M"),
        },
        C::ClearVariable { name: s(SIZE) },
        C::ChangeDealStage {
            pipeline: PIPELINE,
            stage: STAGE_NEW,
        },
        C::UpdateDeal {
            line: 1,
            channel: Some(TELEGRAM),
            sales_sum_minor: 100,
            sales_count: 1,
        },
        C::CreateTask {
            task: TASK,
            text: s("call"),
            due: None,
        },
        C::CompleteTask { task: TASK },
        C::EnterFunnelBlock {
            block: s("b1"),
            block_name: s("Welcome"),
        },
        C::SaveDraft { text: s("hello") },
        C::ClearDraft,
        C::Delete,
    ]
}

/// The variant's name; exhaustive on purpose (no wildcard arm).
pub fn dialog_command_kind(command: &DialogCommand) -> &'static str {
    use DialogCommand as C;
    match command {
        C::Register { .. } => "Register",
        C::UpdateProfile { .. } => "UpdateProfile",
        C::LinkIdentity { .. } => "LinkIdentity",
        C::UnlinkIdentity { .. } => "UnlinkIdentity",
        C::MergeInto { .. } => "MergeInto",
        C::AcceptMerge { .. } => "AcceptMerge",
        C::ReceiveMessage { .. } => "ReceiveMessage",
        C::SendMessage { .. } => "SendMessage",
        C::MarkSent { .. } => "MarkSent",
        C::MarkDelivered { .. } => "MarkDelivered",
        C::MarkReadByClient { .. } => "MarkReadByClient",
        C::MarkFailed { .. } => "MarkFailed",
        C::AddNote { .. } => "AddNote",
        C::Assign { .. } => "Assign",
        C::Unassign => "Unassign",
        C::Close => "Close",
        C::Reopen => "Reopen",
        C::Pin => "Pin",
        C::Unpin => "Unpin",
        C::Block => "Block",
        C::Unblock => "Unblock",
        C::Blacklist => "Blacklist",
        C::Unblacklist => "Unblacklist",
        C::PauseBot => "PauseBot",
        C::ResumeBot => "ResumeBot",
        C::StartScenario { .. } => "StartScenario",
        C::MarkRead => "MarkRead",
        C::MarkUnread => "MarkUnread",
        C::AddTags { .. } => "AddTags",
        C::RemoveTags { .. } => "RemoveTags",
        C::JoinLists { .. } => "JoinLists",
        C::LeaveLists { .. } => "LeaveLists",
        C::JoinFolders { .. } => "JoinFolders",
        C::LeaveFolders { .. } => "LeaveFolders",
        C::SetVariable { .. } => "SetVariable",
        C::ClearVariable { .. } => "ClearVariable",
        C::ChangeDealStage { .. } => "ChangeDealStage",
        C::UpdateDeal { .. } => "UpdateDeal",
        C::CreateTask { .. } => "CreateTask",
        C::CompleteTask { .. } => "CompleteTask",
        C::EnterFunnelBlock { .. } => "EnterFunnelBlock",
        C::SaveDraft { .. } => "SaveDraft",
        C::ClearDraft => "ClearDraft",
        C::Delete => "Delete",
    }
}

/// Every variant name, in declaration order.
pub const DIALOG_COMMAND_KINDS: [&str; 44] = [
    "Register",
    "UpdateProfile",
    "LinkIdentity",
    "UnlinkIdentity",
    "MergeInto",
    "AcceptMerge",
    "ReceiveMessage",
    "SendMessage",
    "MarkSent",
    "MarkDelivered",
    "MarkReadByClient",
    "MarkFailed",
    "AddNote",
    "Assign",
    "Unassign",
    "Close",
    "Reopen",
    "Pin",
    "Unpin",
    "Block",
    "Unblock",
    "Blacklist",
    "Unblacklist",
    "PauseBot",
    "ResumeBot",
    "StartScenario",
    "MarkRead",
    "MarkUnread",
    "AddTags",
    "RemoveTags",
    "JoinLists",
    "LeaveLists",
    "JoinFolders",
    "LeaveFolders",
    "SetVariable",
    "ClearVariable",
    "ChangeDealStage",
    "UpdateDeal",
    "CreateTask",
    "CompleteTask",
    "EnterFunnelBlock",
    "SaveDraft",
    "ClearDraft",
    "Delete",
];

/// Commands only the channel side may give.
pub fn is_channel_side(command: &DialogCommand) -> bool {
    matches!(
        command,
        DialogCommand::ReceiveMessage { .. }
            | DialogCommand::MarkSent { .. }
            | DialogCommand::MarkDelivered { .. }
            | DialogCommand::MarkReadByClient { .. }
            | DialogCommand::MarkFailed { .. }
    )
}

// ---- the harness ----------------------------------------------------------------------------

/// The answer of one *when*, waiting for its *then*.
#[must_use = "a `when` needs a `then`"]
#[derive(Debug)]
pub struct Then<'a, S> {
    state: &'a mut S,
    apply: fn(&mut S, &Event),
    command: String,
    answer: Result<Vec<Event>, Refusal>,
}

impl<S> Then<'_, S> {
    /// The command succeeded with exactly these events; they are applied for the next step.
    #[track_caller]
    pub fn then_events(self, expected: impl Into<Vec<Event>>) {
        let expected = expected.into();
        assert!(!expected.is_empty(), "use then_nothing for an empty answer");
        assert_eq!(
            self.answer,
            Ok(expected),
            "when {} then these events",
            self.command
        );
        if let Ok(events) = &self.answer {
            for event in events {
                (self.apply)(self.state, event);
            }
        }
    }

    /// The command was accepted and changes nothing (idempotent).
    #[track_caller]
    pub fn then_nothing(self) {
        assert_eq!(
            self.answer,
            Ok(vec![]),
            "when {} then nothing",
            self.command
        );
    }

    /// The command was refused with exactly this refusal.
    #[track_caller]
    pub fn then_refused(self, expected: Refusal) {
        assert_eq!(
            self.answer,
            Err(expected),
            "when {} then refused",
            self.command
        );
    }

    /// The command was refused as invalid, naming `field` (the reason text is free).
    #[track_caller]
    pub fn then_invalid(self, field: &str) {
        match &self.answer {
            Err(Refusal::Invalid { field: actual, .. }) if *actual == field => {}
            other => panic!("when {} then invalid {field}: got {other:?}", self.command),
        }
    }

    /// The raw answer, for checks the methods above do not express. Nothing is applied.
    pub fn answer(self) -> Result<Vec<Event>, Refusal> {
        self.answer
    }
}

fn resolve(actor: Actor, project: &ProjectState) -> Result<Caller, Refusal> {
    Caller::resolve(actor, project)
}

/// One dialog of the standard project.
#[derive(Debug, Clone)]
pub struct DialogSpec {
    pub project: ProjectState,
    pub dialog: DialogState,
}

/// Given the standard project and these dialog events.
pub fn given(events: impl IntoIterator<Item = Event>) -> DialogSpec {
    let mut spec = DialogSpec {
        project: standard_project(),
        dialog: DialogState::default(),
    };
    spec.and(events);
    spec
}

/// Given the standard project and a dialog registered from Telegram traffic.
pub fn given_dialog() -> DialogSpec {
    given([registered()])
}

impl DialogSpec {
    /// More given dialog events.
    pub fn and(&mut self, events: impl IntoIterator<Item = Event>) -> &mut Self {
        for event in events {
            self.dialog.apply(&event);
        }
        self
    }

    /// More given project events.
    pub fn and_project(&mut self, events: impl IntoIterator<Item = Event>) -> &mut Self {
        for event in events {
            self.project.apply(&event);
        }
        self
    }

    pub fn when(&mut self, actor: Actor, command: DialogCommand) -> Then<'_, DialogState> {
        let label = format!("{actor:?} gives {command:?}");
        let answer = resolve(actor, &self.project).and_then(|caller| {
            let ctx = Context {
                caller: &caller,
                project: &self.project,
                now: NOW,
            };
            dialog::decide(&self.dialog, command, &ctx)
        });
        Then {
            state: &mut self.dialog,
            apply: DialogState::apply,
            command: label,
            answer,
        }
    }

    /// Whether `operator` has something unread here.
    pub fn unread_for(&self, operator: OperatorId) -> bool {
        self.dialog.is_unread_for(operator)
    }
}

/// The project settings.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    pub project: ProjectState,
}

/// Given the standard project.
pub fn given_project() -> ProjectSpec {
    ProjectSpec {
        project: standard_project(),
    }
}

/// Given no project at all.
pub fn given_no_project() -> ProjectSpec {
    ProjectSpec {
        project: ProjectState::default(),
    }
}

impl ProjectSpec {
    pub fn and(&mut self, events: impl IntoIterator<Item = Event>) -> &mut Self {
        for event in events {
            self.project.apply(&event);
        }
        self
    }

    pub fn when(&mut self, actor: Actor, command: ProjectCommand) -> Then<'_, ProjectState> {
        let label = format!("{actor:?} gives {command:?}");
        let answer = resolve(actor, &self.project).and_then(|caller| {
            let ctx = Context {
                caller: &caller,
                project: &self.project,
                now: NOW,
            };
            project::decide(&self.project, command, &ctx)
        });
        Then {
            state: &mut self.project,
            apply: ProjectState::apply,
            command: label,
            answer,
        }
    }
}

/// One identity claim.
#[derive(Debug, Clone, Default)]
pub struct IdentitySpec {
    pub identity: IdentityState,
}

pub fn given_identity(events: impl IntoIterator<Item = Event>) -> IdentitySpec {
    let mut spec = IdentitySpec::default();
    for event in events {
        spec.identity.apply(&event);
    }
    spec
}

impl IdentitySpec {
    pub fn when(&mut self, command: IdentityCommand) -> Then<'_, IdentityState> {
        let label = format!("{command:?}");
        let answer = identity::decide(&self.identity, command);
        Then {
            state: &mut self.identity,
            apply: IdentityState::apply,
            command: label,
            answer,
        }
    }
}
