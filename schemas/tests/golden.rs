//! Backward compatibility is a test: every (type, version) of the catalog has golden encoded bytes
//! in `schemas/golden/`, and those bytes must keep decoding to the JSON stored beside them.
//!
//! New (type, version): run `SB_BLESS_GOLDEN=1 cargo test -p switchboard-schemas --test golden`
//! once; it writes the missing files only. Existing golden files are never rewritten: stored bytes
//! are forever.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use switchboard_schemas::events::dialog::v1::{MessageFailedV1, MessageQueuedV1};
use switchboard_schemas::*;
use uuid::Uuid;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn bless() -> bool {
    std::env::var_os("SB_BLESS_GOLDEN").is_some()
}

const P: ProjectId = ProjectId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0001);
const D: DialogId = DialogId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0002);
const OP: OperatorId = OperatorId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0003);
const OP2: OperatorId = OperatorId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0004);
const CH: ChannelId = ChannelId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0005);
const M: MessageId = MessageId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0006);
const M0: MessageId = MessageId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0007);
const AT: Timestamp = Timestamp::from_micros(1_763_784_000_123_456);

fn identity() -> ChannelIdentity {
    ChannelIdentity {
        channel: CH,
        kind: ChannelKind::Telegram,
        external_id: "7771988777".into(),
    }
}

fn profile() -> ClientProfile {
    ClientProfile {
        name: Some("Вася Пупкин".into()),
        phone: Some("+79991234567".into()),
        email: Some("vasya1988@example.com".into()),
        avatar_url: Some("https://example.com/a.png".into()),
        country: Some("RU".into()),
        language: Some("ru".into()),
    }
}

fn attachment() -> Attachment {
    Attachment {
        kind: AttachmentKind::Image,
        file_name: "photo.jpg".into(),
        mime_type: "image/jpeg".into(),
        size_bytes: 123_456,
        storage_ref: "blob/ab/cd".into(),
    }
}

/// One sample of every event at its current version.
fn samples() -> Vec<Event> {
    use switchboard_schemas::events::*;
    let tag = TagId::from_u128(0x10);
    let folder = FolderId::from_u128(0x11);
    let list = ListId::from_u128(0x12);
    let pipeline = PipelineId::from_u128(0x13);
    let stage = StageId::from_u128(0x14);
    let stage0 = StageId::from_u128(0x15);
    let template = TemplateId::from_u128(0x16);
    let task = TaskId::from_u128(0x17);
    vec![
        Event::DialogRegistered(DialogRegistered {
            profile: profile(),
            source: Source {
                platform: Some("instagram".into()),
                campaign: Some("black-friday".into()),
                ad_set: None,
                ad: Some("ad-7".into()),
                utm: vec![("utm_source".into(), "vk".into())],
            },
            identity: Some(identity()),
        }),
        Event::ClientProfileUpdated(ClientProfileUpdated { profile: profile() }),
        Event::IdentityLinked(IdentityLinked {
            identity: identity(),
            display_name: Some("Vasya1988".into()),
            avatar_url: None,
        }),
        Event::IdentityUnlinked(IdentityUnlinked {
            identity: identity(),
        }),
        Event::DialogsMerged(DialogsMerged {
            absorbed: DialogId::from_u128(0x20),
            identities: vec![identity()],
        }),
        Event::DialogMergedInto(DialogMergedInto { survivor: D }),
        Event::MessageReceived(MessageReceived {
            message: M,
            channel: CH,
            external_id: "tg-42".into(),
            text: "Где мой заказ?".into(),
            attachments: vec![attachment()],
            reply_to: Some(M0),
            sent_at: AT,
        }),
        Event::MessageQueued(MessageQueued {
            message: M,
            channel: CH,
            author: MessageAuthor::Operator(OP),
            text: "Уже едет".into(),
            attachments: vec![],
            reply_to: Some(M0),
            template: Some(template),
            reply_to_external_id: Some("tg-42".into()),
        }),
        Event::MessageSent(MessageSent {
            message: M,
            external_id: "tg-43".into(),
        }),
        Event::MessageDelivered(MessageDelivered { message: M }),
        Event::MessageRead(MessageRead { message: M }),
        Event::MessageFailed(MessageFailed {
            message: M,
            reason: FailureReason::RateLimited,
            detail: "Too Many Requests: retry after 7".into(),
            retry_after_secs: Some(7),
        }),
        Event::NoteAdded(NoteAdded {
            note: NoteId::from_u128(0x21),
            text: "VIP".into(),
        }),
        Event::DialogAssigned(DialogAssigned {
            operator: OP2,
            previous: Some(OP),
        }),
        Event::DialogUnassigned(DialogUnassigned { previous: OP2 }),
        Event::DialogClosed(DialogClosed {}),
        Event::DialogReopened(DialogReopened {
            cause: ReopenCause::InboundMessage,
        }),
        Event::DialogPinned(DialogPinned {}),
        Event::DialogUnpinned(DialogUnpinned {}),
        Event::ClientBlocked(ClientBlocked {}),
        Event::ClientUnblocked(ClientUnblocked {}),
        Event::ClientBlacklisted(ClientBlacklisted {}),
        Event::ClientUnblacklisted(ClientUnblacklisted {}),
        Event::BotPaused(BotPaused {}),
        Event::BotResumed(BotResumed {}),
        Event::BotScenarioStarted(BotScenarioStarted {
            scenario: "welcome".into(),
        }),
        Event::ReadMarked(ReadMarked {
            operator: OP,
            up_to: Some(M),
        }),
        Event::MarkedUnread(MarkedUnread { operator: OP }),
        Event::TagsAdded(TagsAdded { tags: vec![tag] }),
        Event::TagsRemoved(TagsRemoved { tags: vec![tag] }),
        Event::ListsJoined(ListsJoined { lists: vec![list] }),
        Event::ListsLeft(ListsLeft { lists: vec![list] }),
        Event::FoldersJoined(FoldersJoined {
            folders: vec![folder],
        }),
        Event::FoldersLeft(FoldersLeft {
            folders: vec![folder],
        }),
        Event::VariableSet(VariableSet {
            name: "city".into(),
            value: "Москва".into(),
        }),
        Event::VariableCleared(VariableCleared {
            name: "city".into(),
        }),
        Event::DealStageChanged(DealStageChanged {
            pipeline,
            stage,
            previous: Some(stage0),
        }),
        Event::DealUpdated(DealUpdated {
            line: 2,
            channel: Some(CH),
            sales_sum_minor: 199_900,
            sales_count: 3,
        }),
        Event::TaskCreated(TaskCreated {
            task,
            text: "call back".into(),
            due: Some(AT),
        }),
        Event::TaskCompleted(TaskCompleted { task }),
        Event::FunnelBlockEntered(FunnelBlockEntered {
            block: "b12".into(),
            block_name: "Оплата".into(),
        }),
        Event::DraftSaved(DraftSaved {
            operator: OP,
            text: "Здравствуйте".into(),
        }),
        Event::DraftCleared(DraftCleared { operator: OP }),
        Event::ClientDeleted(ClientDeleted {}),
        Event::ProjectCreated(ProjectCreated {
            name: "Shop".into(),
        }),
        Event::OperatorAdded(OperatorAdded {
            operator: OP,
            name: "Анна".into(),
            email: "anna@example.com".into(),
            role: Role::Operator,
            can_delete: false,
        }),
        Event::OperatorRoleChanged(OperatorRoleChanged {
            operator: OP,
            role: Role::Admin,
            can_delete: true,
        }),
        Event::OperatorRemoved(OperatorRemoved { operator: OP }),
        Event::ChannelConnected(ChannelConnected {
            channel: CH,
            kind: ChannelKind::WhatsappCloud,
            name: "+7 999 000-00-00".into(),
        }),
        Event::ChannelDisconnected(ChannelDisconnected { channel: CH }),
        Event::FolderCreated(FolderCreated {
            folder,
            name: "VIP".into(),
        }),
        Event::FolderRenamed(FolderRenamed {
            folder,
            name: "Важные".into(),
        }),
        Event::FolderDeleted(FolderDeleted { folder }),
        Event::FolderNotificationsSet(FolderNotificationsSet {
            folder,
            push: true,
            sound: false,
        }),
        Event::TagDefined(TagDefined {
            tag,
            name: "опт".into(),
            color: "#ff8800".into(),
        }),
        Event::TagDeleted(TagDeleted { tag }),
        Event::ListDefined(ListDefined {
            list,
            name: "news".into(),
        }),
        Event::VariableDefined(VariableDefined {
            name: "size".into(),
            choices: vec!["S".into(), "M".into(), "L".into()],
        }),
        Event::PipelineDefined(PipelineDefined {
            pipeline,
            name: "Sales".into(),
            stages: vec![
                Stage {
                    stage: stage0,
                    name: "New".into(),
                },
                Stage {
                    stage,
                    name: "Won".into(),
                },
            ],
        }),
        Event::SlaThresholdsSet(SlaThresholdsSet {
            yellow_after_secs: 300,
            red_after_secs: 900,
        }),
        Event::TemplateSaved(TemplateSaved {
            template,
            name: "hello".into(),
            text: "Здравствуйте!".into(),
        }),
        Event::TemplateDeleted(TemplateDeleted { template }),
        Event::SavedFilterSaved(SavedFilterSaved {
            filter: FilterId::from_u128(0x18),
            name: "VIP unanswered".into(),
            query: r#"{"unanswered":true}"#.into(),
        }),
        Event::SavedFilterDeleted(SavedFilterDeleted {
            filter: FilterId::from_u128(0x18),
        }),
        Event::AutoMergeSet(AutoMergeSet { enabled: true }),
        Event::IdentityClaimed(IdentityClaimed { dialog: D }),
        Event::IdentityReleased(IdentityReleased { dialog: D }),
        Event::MessageEdited(MessageEdited {
            message: M,
            channel: CH,
            external_id: "tg-42".into(),
            text: "Где мой заказ №42?".into(),
            attachments: vec![attachment()],
            edited_at: AT,
        }),
        Event::ReactionSet(ReactionSet {
            message: Some(M0),
            channel: CH,
            target_external_id: "tg-41".into(),
            reaction: "👍".into(),
            reacted_at: AT,
        }),
        Event::MessageResent(MessageResent { message: M }),
    ]
}

fn envelope(payload: Event) -> Envelope {
    let aggregate = match payload.event_type().split('.').next() {
        Some("identity")
            if matches!(
                payload,
                Event::IdentityClaimed(_) | Event::IdentityReleased(_)
            ) =>
        {
            AggregateId::Identity {
                channel: CH,
                key_hash: "3f2a9c".into(),
            }
        }
        _ if matches!(
            payload,
            Event::ProjectCreated(_)
                | Event::OperatorAdded(_)
                | Event::OperatorRoleChanged(_)
                | Event::OperatorRemoved(_)
                | Event::ChannelConnected(_)
                | Event::ChannelDisconnected(_)
                | Event::FolderCreated(_)
                | Event::FolderRenamed(_)
                | Event::FolderDeleted(_)
                | Event::FolderNotificationsSet(_)
                | Event::TagDefined(_)
                | Event::TagDeleted(_)
                | Event::ListDefined(_)
                | Event::VariableDefined(_)
                | Event::PipelineDefined(_)
                | Event::SlaThresholdsSet(_)
                | Event::TemplateSaved(_)
                | Event::TemplateDeleted(_)
                | Event::SavedFilterSaved(_)
                | Event::SavedFilterDeleted(_)
                | Event::AutoMergeSet(_)
        ) =>
        {
            AggregateId::Project
        }
        _ => AggregateId::Dialog(D),
    };
    Envelope {
        event_id: EventId::from_u128(0x0194_0000_0000_7000_8000_0000_0000_00ff),
        project: P,
        aggregate,
        occurred_at: AT,
        actor: Actor::Operator(OP),
        causation_id: Some(Uuid::from_u128(0xc0)),
        correlation_id: None,
        payload,
    }
}

/// Frames of older versions, built from their frozen structs.
fn old_frames() -> Vec<(&'static str, u16, Vec<u8>)> {
    // An envelope frame with the v1 payload: the v2 envelope prefix plus the v1 payload bytes.
    let probe = envelope(Event::ClientDeleted(events::ClientDeleted {}));
    let prefix = probe.encode_frame().expect("encodes");
    let v1 = MessageFailedV1 {
        message: M,
        reason: FailureReason::BlockedByClient,
        detail: "Forbidden: bot was blocked by the user".into(),
    };
    let mut frame = prefix.clone();
    frame.extend(postcard::to_allocvec(&v1).expect("encodes"));
    let queued_v1 = MessageQueuedV1 {
        message: M,
        channel: CH,
        author: MessageAuthor::Operator(OP),
        text: "Уже едет".into(),
        attachments: vec![],
        reply_to: None,
        template: Some(TemplateId::from_u128(0x16)),
    };
    let mut queued = prefix;
    queued.extend(postcard::to_allocvec(&queued_v1).expect("encodes"));
    vec![("message.failed", 1, frame), ("message.queued", 1, queued)]
}

fn file_stem(event_type: &str, version: u16) -> String {
    format!("{event_type}@v{version}")
}

fn write_if_missing(path: &Path, contents: &str) {
    if !path.exists() {
        std::fs::write(path, contents).expect("write golden file");
    }
}

#[test]
fn every_catalog_entry_has_a_sample_and_a_golden_file() {
    let samples = samples();
    let sampled: BTreeSet<&str> = samples.iter().map(Event::event_type).collect();
    assert_eq!(sampled.len(), samples.len(), "one sample per type");
    let mut frames: Vec<(&str, u16, Vec<u8>)> = samples
        .iter()
        .map(|event| {
            let frame = envelope(event.clone()).encode_frame().expect("encodes");
            (event.event_type(), event.version(), frame)
        })
        .collect();
    frames.extend(old_frames());
    for entry in CATALOG {
        let has_frame = frames
            .iter()
            .any(|(t, v, _)| *t == entry.event_type && *v == entry.version);
        assert!(
            has_frame,
            "no sample for {}@v{}",
            entry.event_type, entry.version
        );
    }
    if bless() {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        for (event_type, version, frame) in &frames {
            let stem = file_stem(event_type, *version);
            let decoded = Envelope::decode_frame(event_type, *version, frame).expect("decodes");
            write_if_missing(
                &golden_dir().join(format!("{stem}.hex")),
                &format!("{}\n", hex::encode(frame)),
            );
            let json = serde_json::to_string_pretty(&decoded.to_json()).expect("json");
            write_if_missing(
                &golden_dir().join(format!("{stem}.json")),
                &format!("{json}\n"),
            );
        }
    }
    for entry in CATALOG {
        let stem = file_stem(entry.event_type, entry.version);
        assert!(
            golden_dir().join(format!("{stem}.hex")).exists(),
            "missing golden/{stem}.hex: run SB_BLESS_GOLDEN=1 cargo test -p switchboard-schemas --test golden"
        );
    }
    // Today's encoding of today's samples is byte-identical to what was stored.
    for (event_type, version, frame) in &frames {
        let stem = file_stem(event_type, *version);
        let stored = read_hex(&golden_dir().join(format!("{stem}.hex")));
        assert_eq!(
            &stored, frame,
            "{stem}: the encoding changed; add a version instead"
        );
    }
}

fn read_hex(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::decode(text.trim()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn golden_bytes_decode_to_the_stored_values() {
    let mut checked = 0;
    for entry in std::fs::read_dir(golden_dir()).expect("golden dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("hex") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let (event_type, version) = stem.split_once("@v").expect("type@vN");
        let version: u16 = version.parse().expect("version");
        let frame = read_hex(&path);
        let decoded = Envelope::decode_frame(event_type, version, &frame)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("json")).expect("json beside hex"),
        )
        .expect("valid json");
        assert_eq!(
            serde_json::Value::Object(decoded.to_json()),
            expected,
            "{stem}"
        );
        // The JSON form also reads back into the same event.
        let back: Event = serde_json::from_value(expected).expect("json reads back");
        assert_eq!(back, decoded.payload, "{stem}");
        checked += 1;
    }
    assert_eq!(checked, CATALOG.len(), "one golden file per catalog entry");
}

#[test]
fn old_version_upcasts_to_current() {
    let (event_type, version, frame) = old_frames().remove(0);
    let decoded = Envelope::decode_frame(event_type, version, &frame).expect("decodes");
    assert_eq!(decoded.payload.version(), 2, "decoded into today's version");
    match decoded.payload {
        Event::MessageFailed(failed) => {
            assert_eq!(failed.reason, FailureReason::BlockedByClient);
            assert_eq!(failed.detail, "Forbidden: bot was blocked by the user");
            assert_eq!(failed.retry_after_secs, None);
        }
        other => panic!("expected message.failed, got {other:?}"),
    }
    let (event_type, version, frame) = old_frames().remove(1);
    let decoded = Envelope::decode_frame(event_type, version, &frame).expect("decodes");
    assert_eq!(decoded.payload.version(), 2, "decoded into today's version");
    match decoded.payload {
        Event::MessageQueued(queued) => {
            assert_eq!(queued.text, "Уже едет");
            assert_eq!(queued.reply_to_external_id, None);
        }
        other => panic!("expected message.queued, got {other:?}"),
    }
}

#[test]
fn batches_round_trip_and_reject_damage() {
    let events: Vec<Envelope> = samples().into_iter().take(3).map(envelope).collect();
    let batch = encode_batch(&events).expect("encodes");
    assert_eq!(
        batch.types,
        "dialog.registered,client.profile_updated,identity.linked"
    );
    assert_eq!(batch.versions, "1,1,1");
    assert_eq!(decode_batch(&batch).expect("decodes"), events);
    let mut truncated = batch.clone();
    truncated.body = truncated.body.slice(..truncated.body.len() - 1);
    assert!(decode_batch(&truncated).is_err());
    let mut extra = batch.clone();
    extra.types.push_str(",dialog.closed");
    extra.versions.push_str(",1");
    assert!(matches!(
        decode_batch(&extra),
        Err(DecodeError::CountMismatch { .. })
    ));
    let mut unknown = batch;
    unknown.versions = "1,1,99".into();
    assert!(matches!(
        decode_batch(&unknown),
        Err(DecodeError::Unknown { .. })
    ));
    assert_eq!(encode_batch(&[]), Err(EncodeError::Empty));
}
