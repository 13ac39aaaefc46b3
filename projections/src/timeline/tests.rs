use super::entry::{ROW_OPERATOR, decode_entry};
use super::*;
use crate::runtime::{ProjectionStore, open_reader};
use crate::test_support::query_plan;
use rusqlite::{Connection, params};
use switchboard_core::log::{LogRecord, Subject};
use switchboard_schemas::*;

struct Log {
    project: ProjectId,
    seq: u64,
    records: Vec<LogRecord>,
}

impl Log {
    fn push(&mut self, dialog: DialogId, actor: Actor, payload: Event) -> EventId {
        self.seq += 1;
        let event_id = EventId::new();
        let envelope = Envelope {
            event_id,
            project: self.project,
            aggregate: AggregateId::Dialog(dialog),
            occurred_at: Timestamp::from_micros(i64::try_from(self.seq).unwrap_or(0)),
            actor,
            causation_id: None,
            correlation_id: None,
            payload,
        };
        self.records.push(LogRecord {
            seq: self.seq,
            subject: Subject::dialog(self.project, dialog),
            msg_id: format!("m{}", self.seq),
            appended_at: Timestamp::from_micros(1),
            batch: encode_batch(&[envelope]).expect("encode"),
        });
        event_id
    }
}

fn received(message: MessageId, channel: ChannelId, text: &str) -> Event {
    Event::MessageReceived(MessageReceived {
        message,
        channel,
        external_id: message.token(),
        text: text.into(),
        attachments: vec![],
        reply_to: None,
        sent_at: Timestamp::from_micros(1),
    })
}

fn queued(message: MessageId, channel: ChannelId, author: MessageAuthor) -> Event {
    Event::MessageQueued(MessageQueued {
        message,
        channel,
        author,
        text: "answer".into(),
        attachments: vec![],
        reply_to: None,
        template: None,
        reply_to_external_id: None,
    })
}

fn all(conn: &Connection, dialog: DialogId) -> Vec<TimelineItem> {
    let mut items = Vec::new();
    let mut before = None;
    loop {
        let page = timeline(conn, dialog, before, 2).expect("timeline");
        assert!(page.items.len() <= 2);
        items.extend(page.items);
        match page.next {
            Some(next) => before = Some(next),
            None => return items,
        }
    }
}

#[test]
fn messages_notes_statuses_merges_and_erasure() {
    let channel = ChannelId::new();
    let operator = OperatorId::new();
    let (survivor, absorbed) = (DialogId::new(), DialogId::new());
    let (question, answer, bot, old) = (
        MessageId::new(),
        MessageId::new(),
        MessageId::new(),
        MessageId::new(),
    );
    let note = NoteId::new();
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let connector = Actor::Connector(channel);
    let by_operator = MessageAuthor::Operator(operator);
    log.push(absorbed, connector, received(old, channel, "from before"));
    // Answered in the dialog that is merged away; delivered after the merge, to the survivor.
    let early = MessageId::new();
    log.push(
        absorbed,
        Actor::Operator(operator),
        queued(early, channel, by_operator),
    );
    log.push(survivor, connector, received(question, channel, "price?"));
    log.push(
        survivor,
        Actor::Operator(operator),
        queued(answer, channel, by_operator),
    );
    log.push(
        survivor,
        Actor::Bot,
        queued(bot, channel, MessageAuthor::Bot),
    );
    let sent = Event::MessageSent(MessageSent {
        message: answer,
        external_id: "x".into(),
    });
    log.push(survivor, connector, sent);
    let read = Event::MessageRead(MessageRead { message: answer });
    log.push(survivor, connector, read);
    // Late: must not move the status back.
    let delivered = Event::MessageDelivered(MessageDelivered { message: answer });
    log.push(survivor, connector, delivered);
    let failed = Event::MessageFailed(MessageFailed {
        message: bot,
        reason: FailureReason::RateLimited,
        detail: "too many requests".into(),
        retry_after_secs: Some(3),
    });
    log.push(survivor, connector, failed);
    let added = Event::NoteAdded(NoteAdded {
        note,
        text: "VIP".into(),
    });
    log.push(survivor, Actor::Operator(operator), added);
    let merged = Event::DialogsMerged(DialogsMerged {
        absorbed,
        identities: vec![],
    });
    let merge = log.push(survivor, Actor::Operator(operator), merged);
    let delivered_late = Event::MessageDelivered(MessageDelivered { message: early });
    log.push(survivor, connector, delivered_late);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records.clone()).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let items = all(&conn, survivor);
    let summary: Vec<_> = items
        .iter()
        .map(|i| (i.id, i.kind, i.delivery, i.dialog))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                ItemId::Service(merge),
                ItemKind::Service(Actor::Operator(operator)),
                None,
                survivor
            ),
            (
                ItemId::Note(note),
                ItemKind::Note(Some(operator)),
                None,
                survivor
            ),
            (
                ItemId::Message(bot),
                ItemKind::Outbound(None),
                Some(Delivery::Failed),
                survivor
            ),
            (
                ItemId::Message(answer),
                ItemKind::Outbound(Some(operator)),
                Some(Delivery::Read),
                survivor
            ),
            (ItemId::Message(question), ItemKind::Inbound, None, survivor),
            (
                ItemId::Message(early),
                ItemKind::Outbound(Some(operator)),
                Some(Delivery::Delivered),
                absorbed
            ),
            (ItemId::Message(old), ItemKind::Inbound, None, absorbed),
        ]
    );
    assert!(matches!(items[0].entry, Some(Event::DialogsMerged(_))));
    assert_eq!(items[2].failure.as_deref(), Some("too many requests"));
    assert_eq!(items[4].text, "price?");

    log.push(
        survivor,
        Actor::Operator(operator),
        Event::ClientDeleted(ClientDeleted {}),
    );
    let last = log.records.split_off(log.records.len() - 1);
    store.apply(last).expect("apply");
    assert!(
        all(&conn, survivor).is_empty(),
        "the deleted client's messages stay"
    );
    assert!(all(&conn, absorbed).is_empty());
}

fn file(kind: AttachmentKind, name: &str) -> Attachment {
    Attachment {
        kind,
        file_name: name.into(),
        mime_type: "application/octet-stream".into(),
        size_bytes: 1234,
        storage_ref: format!("blob:{name}"),
    }
}

#[test]
fn service_entries_attachments_and_display_settings() {
    let channel = ChannelId::new();
    let operator = OperatorId::new();
    let dialog = DialogId::new();
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let photo = MessageId::new();
    log.push(
        dialog,
        Actor::Connector(channel),
        Event::MessageReceived(MessageReceived {
            message: photo,
            channel,
            external_id: "p".into(),
            text: String::new(),
            attachments: vec![
                file(AttachmentKind::Image, "a.jpg"),
                file(AttachmentKind::Image, "b.jpg"),
            ],
            reply_to: None,
            sent_at: Timestamp::from_micros(1),
        }),
    );
    let assigned = log.push(
        dialog,
        Actor::Operator(operator),
        Event::DialogAssigned(DialogAssigned {
            operator,
            previous: None,
        }),
    );
    let contract = MessageId::new();
    let mut send = queued(contract, channel, MessageAuthor::Operator(operator));
    if let Event::MessageQueued(q) = &mut send {
        q.attachments = vec![file(AttachmentKind::File, "contract.pdf")];
    }
    log.push(dialog, Actor::Operator(operator), send);
    log.push(
        dialog,
        Actor::Bot,
        queued(MessageId::new(), channel, MessageAuthor::Bot),
    );
    let closed = log.push(dialog, Actor::System, Event::DialogClosed(DialogClosed {}));
    // Not a service entry: read marks are per operator, not part of the conversation.
    log.push(
        dialog,
        Actor::Operator(operator),
        Event::ReadMarked(ReadMarked {
            operator,
            up_to: Some(photo),
        }),
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records.clone()).expect("apply");
    let conn = open_reader(&path).expect("reader");

    let items = all(&conn, dialog);
    let kinds: Vec<_> = items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [
            ItemKind::Service(Actor::System),
            ItemKind::Outbound(None),
            ItemKind::Outbound(Some(operator)),
            ItemKind::Service(Actor::Operator(operator)),
            ItemKind::Inbound,
        ]
    );
    assert_eq!(items[0].id, ItemId::Service(closed));
    assert_eq!(items[3].id, ItemId::Service(assigned));
    assert!(matches!(
        items[3].entry,
        Some(Event::DialogAssigned(DialogAssigned { operator: o, previous: None })) if o == operator
    ));
    let names: Vec<_> = items[4]
        .files
        .iter()
        .map(|f| f.file_name.as_str())
        .collect();
    assert_eq!(names, ["a.jpg", "b.jpg"]);
    assert_eq!(items[4].attachments, 2);
    assert_eq!(items[2].files, [file(AttachmentKind::File, "contract.pdf")]);

    // F7.6: hide the bot and the service entries.
    let quiet = Show {
        bot_messages: false,
        notes: true,
        service_entries: false,
    };
    let page = timeline_showing(&conn, dialog, quiet, None, 10).expect("timeline");
    let kinds: Vec<_> = page.items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [ItemKind::Outbound(Some(operator)), ItemKind::Inbound]
    );

    // F3.7: images and files on their tabs, newest first, paged.
    let images = attachments(&conn, dialog, &[AttachmentKind::Image], None, 1).expect("page");
    assert_eq!(images.items[0].attachment.file_name, "b.jpg");
    assert_eq!(images.items[0].message, photo);
    let rest = attachments(&conn, dialog, &[AttachmentKind::Image], images.next, 1).expect("page");
    assert_eq!(rest.items[0].attachment.file_name, "a.jpg");
    let files = attachments(&conn, dialog, &[AttachmentKind::File], None, 10).expect("page");
    assert_eq!(files.items.len(), 1);
    assert_eq!(files.items[0].message, contract);
    assert!(files.next.is_none());
    let every = attachments(&conn, dialog, &[], None, 10).expect("page");
    assert_eq!(every.items.len(), 3);
}

#[test]
fn merges_chain_and_replies_are_kept() {
    let channel = ChannelId::new();
    let operator = OperatorId::new();
    let (first, second, third) = (DialogId::new(), DialogId::new(), DialogId::new());
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let connector = Actor::Connector(channel);
    let (a, b, c) = (MessageId::new(), MessageId::new(), MessageId::new());
    log.push(
        first,
        connector,
        received(a, channel, "В первом — «тот самый» заказ №1"),
    );
    log.push(second, connector, received(b, channel, "in the second"));
    let mut reply = received(c, channel, "in the third");
    if let Event::MessageReceived(r) = &mut reply {
        r.reply_to = Some(b);
    }
    log.push(third, connector, reply);
    let merge = |absorbed| {
        Event::DialogsMerged(DialogsMerged {
            absorbed,
            identities: vec![],
        })
    };
    // `first` into `second`, then `second` into `third`: `third` shows all three.
    log.push(second, Actor::Operator(operator), merge(first));
    log.push(third, Actor::Operator(operator), merge(second));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records.clone()).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let messages: Vec<_> = all(&conn, third)
        .into_iter()
        .filter(|i| matches!(i.kind, ItemKind::Inbound))
        .map(|i| (i.id, i.dialog, i.reply_to))
        .collect();
    assert_eq!(
        messages,
        [
            (ItemId::Message(c), third, Some(b)),
            (ItemId::Message(b), second, None),
            (ItemId::Message(a), first, None),
        ]
    );
    // Stored in the compact form and read back whole.
    let texts: Vec<_> = all(&conn, third).into_iter().map(|i| i.text).collect();
    assert!(
        texts.iter().any(|t| t == "В первом — «тот самый» заказ №1"),
        "{texts:?}"
    );
    let compact: i64 = conn
        .query_row(
            "SELECT count(*) FROM dialog_timeline WHERE typeof(text) = 'blob'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(compact, 1);
    // The service entries of both merges show under `third` (one of them via `second`).
    let merges = all(&conn, third)
        .into_iter()
        .filter(|i| matches!(i.entry, Some(Event::DialogsMerged(_))))
        .count();
    assert_eq!(merges, 2);
}

/// Service entries of several types and actors come back whole through `encode_entry` and
/// `decode_entry`: an operator actor from the row's `operator` column, the type from its
/// code. Codes are given in log order, and an operator's `dialog.assigned` is stored in
/// fewer bytes than the old (type name, version, actor) head took.
#[test]
fn service_entries_store_a_type_code_and_leave_the_operator_to_the_row() {
    let (alice, bob) = (OperatorId::new(), OperatorId::new());
    let dialog = DialogId::new();
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let assigned = Event::DialogAssigned(DialogAssigned {
        operator: bob,
        previous: None,
    });
    let entries = [
        (Actor::Operator(alice), assigned.clone()),
        (
            Actor::Bot,
            Event::TagsAdded(TagsAdded {
                tags: vec![TagId::new(), TagId::new()],
            }),
        ),
        (Actor::System, Event::DialogClosed(DialogClosed {})),
        (
            Actor::Operator(bob),
            Event::DealStageChanged(DealStageChanged {
                pipeline: PipelineId::new(),
                stage: StageId::new(),
                previous: None,
            }),
        ),
        (
            Actor::Connector(ChannelId::new()),
            Event::ClientBlocked(ClientBlocked {}),
        ),
        (Actor::Client, Event::BotPaused(BotPaused {})),
        (
            Actor::Operator(bob),
            Event::DialogAssigned(DialogAssigned {
                operator: alice,
                previous: Some(bob),
            }),
        ),
    ];
    let ids: Vec<EventId> = entries
        .iter()
        .map(|(actor, event)| log.push(dialog, *actor, event.clone()))
        .collect();

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records.clone()).expect("apply");
    let conn = open_reader(&path).expect("reader");
    // Pages of two: each page looks the codes up on its own.
    let mut read: Vec<_> = all(&conn, dialog)
        .into_iter()
        .map(|i| (i.id, i.kind, i.entry))
        .collect();
    read.reverse();
    let expected: Vec<_> = ids
        .iter()
        .zip(&entries)
        .map(|(id, (actor, event))| {
            (
                ItemId::Service(*id),
                ItemKind::Service(*actor),
                Some(event.clone()),
            )
        })
        .collect();
    assert_eq!(read, expected);

    let codes: Vec<(i64, String, u16)> = conn
        .prepare("SELECT code, type, version FROM timeline_event_type ORDER BY code")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("codes");
    let first_use = [
        "dialog.assigned",
        "tags.added",
        "dialog.closed",
        "deal.stage_changed",
        "client.blocked",
        "bot.paused",
    ];
    assert_eq!(
        codes,
        first_use
            .iter()
            .zip(1..)
            .map(|(name, code)| (code, (*name).to_owned(), 1))
            .collect::<Vec<_>>()
    );

    // The operator's `dialog.assigned`: its code, the row-operator tag, the payload.
    let stored: Vec<u8> = conn
        .query_row(
            "SELECT entry FROM dialog_timeline WHERE item = ?1",
            [ids[0].as_uuid().as_bytes()],
            |r| r.get(0),
        )
        .expect("entry");
    let payload = assigned.encode_payload_bytes().expect("payload");
    assert_eq!(stored, [&[1, ROW_OPERATOR][..], &payload].concat());
    let mut old = postcard::to_allocvec(&(
        assigned.event_type(),
        assigned.version(),
        Actor::Operator(alice),
    ))
    .expect("old head");
    old.extend(&payload);
    assert!(
        stored.len() < old.len(),
        "{} bytes, {} before",
        stored.len(),
        old.len()
    );
    let known = |code| Ok((code == 1).then(|| ("dialog.assigned".to_owned(), 1)));
    assert_eq!(
        decode_entry(&stored, Some(alice), known).expect("decode"),
        (Actor::Operator(alice), assigned)
    );
    // The tag needs the row's operator; an unknown code is corrupt, not a panic.
    assert!(decode_entry(&stored, None, known).is_err());
    assert!(decode_entry(&stored, Some(alice), |_| Ok(None)).is_err());
}

/// `ROW_OPERATOR` is postcard's first byte of an operator actor and of no other actor, so
/// an entry's actor byte is never ambiguous.
#[test]
fn the_row_operator_tag_starts_no_other_actor() {
    let operator = postcard::to_allocvec(&Actor::Operator(OperatorId::new())).expect("encode");
    assert_eq!(operator[0], ROW_OPERATOR);
    for actor in [
        Actor::Client,
        Actor::Bot,
        Actor::Connector(ChannelId::new()),
        Actor::System,
    ] {
        let bytes = postcard::to_allocvec(&actor).expect("encode");
        assert_ne!(bytes[0], ROW_OPERATOR, "{actor:?}");
    }
}

/// A page is one index range per dialog of the merge group: no sort of a dialog's whole
/// history, so a deep page costs what the first does.
#[test]
fn pages_read_an_index_range_without_sorting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    drop(store);
    let conn = open_reader(&path).expect("reader");
    // Older pages walk the index down, newer ones (after a jump) up.
    for (hide, (condition, order)) in ["", " AND NOT (t.kind = 3)"]
        .into_iter()
        .flat_map(|hide| [(hide, ("<", "DESC")), (hide, (">", "ASC"))])
    {
        let plan = query_plan(
            &conn,
            &format!(
                "SELECT t.place FROM dialog_timeline t
                     LEFT JOIN timeline_key o ON o.key = t.operator
                 WHERE t.dialog = ?1 AND t.place {condition} ?2{hide}
                 ORDER BY t.place {order} LIMIT ?3"
            ),
            params![1, 1_i64 << 20, 50],
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("dialog_timeline_by_dialog")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}

/// A delivery update finds its outbound message through the partial index on the ids'
/// first bytes (the only index by item), not by scanning the table or a dialog.
#[test]
fn delivery_updates_look_the_message_up_by_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    drop(ProjectionStore::open(&path, TimelineProjection::default()).expect("open"));
    let conn = open_reader(&path).expect("reader");
    let plan = query_plan(
        &conn,
        super::apply::ADVANCE_SQL,
        params![[0u8; 8], [0u8; 16], 2, None::<String>],
    );
    assert!(
        plan.iter()
            .any(|step| step.contains("USING INDEX dialog_timeline_outbound (<expr>=?)")),
        "{plan:?}"
    );
    let plan = query_plan(
        &conn,
        super::apply::REQUEUE_SQL,
        params![[0u8; 8], [0u8; 16], 0, 4],
    );
    assert!(
        plan.iter()
            .any(|step| step.contains("USING INDEX dialog_timeline_outbound (<expr>=?)")),
        "{plan:?}"
    );
}

/// A merged timeline of 30 messages (alternating between the survivor and the dialog it
/// absorbed) and the merge's entry: each item's id in order, oldest first.
fn thirty_one() -> (tempfile::TempDir, Connection, DialogId, Vec<ItemId>) {
    let channel = ChannelId::new();
    let (survivor, absorbed) = (DialogId::new(), DialogId::new());
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let mut ids = Vec::new();
    for i in 0..30 {
        let message = MessageId::new();
        let dialog = if i % 2 == 0 { survivor } else { absorbed };
        log.push(
            dialog,
            Actor::Connector(channel),
            received(message, channel, &format!("m{i}")),
        );
        ids.push(ItemId::Message(message));
    }
    let merged = Event::DialogsMerged(DialogsMerged {
        absorbed,
        identities: vec![],
    });
    ids.push(ItemId::Service(log.push(survivor, Actor::System, merged)));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records).expect("apply");
    drop(store);
    let conn = open_reader(&path).expect("reader");
    (dir, conn, survivor, ids)
}

fn ids_of(page: &TimelinePage) -> Vec<ItemId> {
    page.items.iter().map(|i| i.id).collect()
}

fn window(conn: &Connection, dialog: DialogId, window: Window, limit: usize) -> TimelinePage {
    timeline_window(conn, dialog, Show::default(), window, limit).expect("page")
}

#[test]
fn a_page_around_an_item_pages_on_both_ways_without_gaps_or_repeats() {
    let (_dir, conn, dialog, oldest_first) = thirty_one();
    let anchor = oldest_first[10];
    let ItemId::Message(message) = anchor else {
        panic!("a message")
    };
    let page = window(
        &conn,
        dialog,
        Window::Around(Anchor::Item(*message.as_uuid())),
        6,
    );
    // Newest first: 3 newer than the anchor, the anchor, 2 older.
    let expected: Vec<_> = oldest_first[8..14].iter().rev().copied().collect();
    assert_eq!(ids_of(&page), expected);

    // Up to the newest, then nothing newer.
    let mut seen = ids_of(&page);
    let mut newer = page.newer;
    while let Some(cursor) = newer {
        let up = window(&conn, dialog, Window::Newer(cursor), 6);
        let mut ids = ids_of(&up);
        ids.extend(seen);
        seen = ids;
        newer = up.newer;
        if up.items.is_empty() {
            break;
        }
    }
    // Down to the oldest.
    let mut older = page.next;
    while let Some(cursor) = older {
        let down = window(&conn, dialog, Window::Older(Some(cursor)), 6);
        seen.extend(ids_of(&down));
        older = down.next;
    }
    let newest_first: Vec<_> = oldest_first.iter().rev().copied().collect();
    assert_eq!(seen, newest_first, "every item once, in order");

    // The newest page says there is nothing newer; a page further down says there may be.
    let top = window(&conn, dialog, Window::Older(None), 6);
    assert_eq!(top.newer, None);
    let lower = window(&conn, dialog, Window::Older(top.next), 6);
    let back_up = window(&conn, dialog, Window::Newer(lower.newer.expect("newer")), 6);
    assert_eq!(ids_of(&back_up), ids_of(&top));
    assert_eq!(back_up.newer, None, "the newest reached");

    // An id this timeline does not have: an empty page.
    let unknown = window(
        &conn,
        dialog,
        Window::Around(Anchor::Item(uuid::Uuid::now_v7())),
        6,
    );
    assert!(unknown.items.is_empty());
    assert_eq!((unknown.next, unknown.newer), (None, None));
}

#[test]
fn a_page_around_a_time_opens_at_the_first_item_written_then() {
    let (_dir, conn, dialog, oldest_first) = thirty_one();
    // The test log's items are written at their sequence's microsecond: the 15th at 15 µs.
    let page = window(
        &conn,
        dialog,
        Window::Around(Anchor::Time(Timestamp::from_micros(15))),
        4,
    );
    let expected: Vec<_> = oldest_first[13..17].iter().rev().copied().collect();
    assert_eq!(ids_of(&page), expected, "two newer, the 15th and one older");

    // Before everything: the oldest page; after everything: the newest.
    let first = window(
        &conn,
        dialog,
        Window::Around(Anchor::Time(Timestamp::from_micros(0))),
        4,
    );
    assert_eq!(first.items.last().map(|i| i.id), Some(oldest_first[0]));
    assert_eq!(first.next, None, "nothing older");
    let last = window(
        &conn,
        dialog,
        Window::Around(Anchor::Time(Timestamp::from_micros(1_000_000))),
        4,
    );
    assert_eq!(
        last.items.first().map(|i| i.id),
        oldest_first.last().copied()
    );
    assert_eq!(last.newer, None, "nothing newer");
}

#[test]
fn a_client_edit_replaces_the_text_and_files_in_place_and_reactions_are_kept_on_the_row() {
    let channel = ChannelId::new();
    let operator = OperatorId::new();
    let (survivor, absorbed) = (DialogId::new(), DialogId::new());
    let (old, question, answer) = (MessageId::new(), MessageId::new(), MessageId::new());
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let connector = Actor::Connector(channel);
    let mut photo = received(old, channel, "see the photo");
    if let Event::MessageReceived(e) = &mut photo {
        e.attachments = vec![file(AttachmentKind::Image, "first.jpg")];
    }
    log.push(absorbed, connector, photo);
    log.push(survivor, connector, received(question, channel, "price?"));
    log.push(
        survivor,
        Actor::Operator(operator),
        queued(answer, channel, MessageAuthor::Operator(operator)),
    );
    let merged = Event::DialogsMerged(DialogsMerged {
        absorbed,
        identities: vec![],
    });
    log.push(survivor, Actor::Operator(operator), merged);
    // After the merge the client edits a message of the absorbed dialog, changing its file.
    let edit = |message, text: &str, attachments| {
        Event::MessageEdited(MessageEdited {
            message,
            channel,
            external_id: "x".into(),
            text: text.into(),
            attachments,
            edited_at: Timestamp::from_micros(777),
        })
    };
    log.push(
        survivor,
        connector,
        edit(
            old,
            "see the photos",
            vec![
                file(AttachmentKind::Image, "second.jpg"),
                file(AttachmentKind::Image, "third.jpg"),
            ],
        ),
    );
    log.push(
        survivor,
        connector,
        edit(question, "price, please?", vec![]),
    );
    // An edit of a message the timeline does not have changes nothing.
    log.push(survivor, connector, edit(MessageId::new(), "ghost", vec![]));
    let react = |message: Option<MessageId>, reaction: &str| {
        Event::ReactionSet(ReactionSet {
            message,
            channel,
            target_external_id: "x".into(),
            reaction: reaction.into(),
            reacted_at: Timestamp::from_micros(900),
        })
    };
    log.push(survivor, connector, react(Some(answer), "👍"));
    log.push(survivor, connector, react(Some(question), "🔥"));
    log.push(survivor, connector, react(Some(question), ""));
    log.push(survivor, connector, react(None, "😢"));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records.clone()).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let items = all(&conn, survivor);
    let messages: Vec<_> = items
        .iter()
        .filter(|i| matches!(i.id, ItemId::Message(_)))
        .map(|i| {
            let files: Vec<_> = i.files.iter().map(|f| f.file_name.as_str()).collect();
            (
                i.id,
                i.text.as_str(),
                files,
                i.edited_at,
                i.reaction.as_deref(),
            )
        })
        .collect();
    let edited = Some(Timestamp::from_micros(777));
    assert_eq!(
        messages,
        vec![
            (ItemId::Message(answer), "answer", vec![], None, Some("👍")),
            (
                ItemId::Message(question),
                "price, please?",
                vec![],
                edited,
                None
            ),
            (
                ItemId::Message(old),
                "see the photos",
                vec!["second.jpg", "third.jpg"],
                edited,
                None
            ),
        ]
    );
    assert_eq!(items.len(), 4, "no item added by an edit or a reaction");
    // The files' tab (newest first) shows the edit's files, not the replaced one.
    let images = attachments(&conn, survivor, &[AttachmentKind::Image], None, 10).expect("page");
    let names: Vec<_> = images
        .items
        .iter()
        .map(|i| i.attachment.file_name.as_str())
        .collect();
    assert_eq!(names, ["third.jpg", "second.jpg"]);
}

#[test]
fn a_resent_message_is_queued_again_with_its_failure_cleared_in_its_place() {
    let channel = ChannelId::new();
    let operator = OperatorId::new();
    let dialog = DialogId::new();
    let (answer, later) = (MessageId::new(), MessageId::new());
    let mut log = Log {
        project: ProjectId::new(),
        seq: 0,
        records: Vec::new(),
    };
    let connector = Actor::Connector(channel);
    let by = Actor::Operator(operator);
    let failed = |message| {
        Event::MessageFailed(MessageFailed {
            message,
            reason: FailureReason::ChannelError,
            detail: "bad gateway".into(),
            retry_after_secs: None,
        })
    };
    log.push(
        dialog,
        by,
        queued(answer, channel, MessageAuthor::Operator(operator)),
    );
    log.push(dialog, connector, failed(answer));
    log.push(
        dialog,
        by,
        queued(later, channel, MessageAuthor::Operator(operator)),
    );
    log.push(
        dialog,
        by,
        Event::MessageResent(MessageResent { message: answer }),
    );
    // A resend of a message that is not failed (a late one) leaves its status alone.
    log.push(
        dialog,
        by,
        Event::MessageResent(MessageResent { message: later }),
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timeline.sqlite");
    let mut store = ProjectionStore::open(&path, TimelineProjection::default()).expect("open");
    store.apply(log.records.clone()).expect("apply");
    let conn = open_reader(&path).expect("reader");
    let statuses = |conn: &Connection| {
        all(conn, dialog)
            .into_iter()
            .map(|i| (i.id, i.delivery, i.failure))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(&conn),
        vec![
            (ItemId::Message(later), Some(Delivery::Queued), None),
            (ItemId::Message(answer), Some(Delivery::Queued), None),
        ]
    );
    // It fails again, then goes: the timeline follows, one row all along.
    let mut more = Log {
        project: log.project,
        seq: log.seq,
        records: Vec::new(),
    };
    more.push(dialog, connector, failed(answer));
    store.apply(more.records.clone()).expect("apply");
    assert_eq!(
        statuses(&conn)[1],
        (
            ItemId::Message(answer),
            Some(Delivery::Failed),
            Some("bad gateway".to_owned())
        )
    );
    more.records.clear();
    more.push(
        dialog,
        connector,
        Event::MessageSent(MessageSent {
            message: answer,
            external_id: "7".into(),
        }),
    );
    store.apply(more.records.clone()).expect("apply");
    assert_eq!(statuses(&conn)[1].1, Some(Delivery::Sent));
}
