//! The fixed ids and actors of every test, the refusals of the rights rules (F12) and the
//! standard project: admin A, operators O1 and O2, D with the delete permission, Telegram and
//! WhatsApp channels, a template, a folder, two tags, a list, variables, a pipeline.

use crate::domain::Refusal;
use crate::domain::project::ProjectState;
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
