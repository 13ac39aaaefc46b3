//! The search index over real logs: commands through the command service, the index fed the
//! log's records directly (to control batches and commits) or by the projection runner (on both
//! backends), real tantivy in temp directories.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchboard_core::domain::dialog::DialogCommand;
use switchboard_core::domain::project::ProjectCommand;
use switchboard_core::log::embedded::{EmbeddedLog, EmbeddedOptions};
use switchboard_core::log::{EventLog, LogRecord, SubjectFilter};
use switchboard_core::service::{CommandMeta, CommandService, ServiceOptions};
use switchboard_projections::dialogs::DialogsProjection;
use switchboard_projections::query::{self, FoundDetail, QueryCaller};
use switchboard_projections::search::{
    self, HitDetail, SearchCursor, SearchError, SearchHit, SearchIndex, SearchOptions, SearchOrder,
    SearchQuery, SearchReader, SearchTarget,
};
use switchboard_projections::timeline::{self, ItemId, ItemKind, TimelineItem, TimelineProjection};
use switchboard_projections::{
    ProjectionStore, RunnerOptions, Store, Until, open_reader, open_reader_for,
};
use switchboard_schemas::{
    Actor, ChannelId, ChannelIdentity, ChannelKind, ClientProfile, DialogId, MessageId, NoteId,
    OperatorId, ProjectId, Role, Source, Timestamp,
};

const WAIT: Duration = Duration::from_secs(10);

struct World<L: EventLog> {
    log: L,
    service: CommandService<L>,
    project: ProjectId,
    channel: ChannelId,
    admin: OperatorId,
    /// The timeline read model of the same log (a real SQLite file), where message hits are
    /// read (the index keeps no texts); kept up with the log by [`World::timeline`].
    timeline: Mutex<ProjectionStore<TimelineProjection>>,
    timeline_path: PathBuf,
    _timeline_dir: tempfile::TempDir,
}

async fn world<L: EventLog>(log: L) -> World<L> {
    let service = CommandService::new(log.clone(), ServiceOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let timeline_path = dir.path().join("timeline.sqlite");
    let timeline = ProjectionStore::open(&timeline_path, TimelineProjection::default())
        .expect("open the timeline");
    let world = World {
        log,
        service,
        project: ProjectId::new(),
        channel: ChannelId::new(),
        admin: OperatorId::new(),
        timeline: Mutex::new(timeline),
        timeline_path,
        _timeline_dir: dir,
    };
    world.setup_project(world.project).await;
    world
}

impl<L: EventLog> World<L> {
    async fn setup_project(&self, project: ProjectId) {
        for command in [
            ProjectCommand::Create {
                name: "shop".into(),
            },
            ProjectCommand::ConnectChannel {
                channel: self.channel,
                kind: ChannelKind::Telegram,
                name: "bot".into(),
            },
            ProjectCommand::AddOperator {
                operator: self.admin,
                name: "admin".into(),
                email: "admin@example.com".into(),
                role: Role::Admin,
                can_delete: true,
            },
        ] {
            self.service
                .project(project, command, CommandMeta::new(Actor::System))
                .await
                .expect("project setup");
        }
    }

    fn identity(&self, external: &str) -> ChannelIdentity {
        ChannelIdentity {
            channel: self.channel,
            kind: ChannelKind::Telegram,
            external_id: external.into(),
        }
    }

    async fn command_in(
        &self,
        project: ProjectId,
        dialog: DialogId,
        actor: Actor,
        command: DialogCommand,
    ) -> u64 {
        let ack = self
            .service
            .dialog(project, dialog, command, CommandMeta::new(actor))
            .await
            .unwrap_or_else(|e| panic!("command refused: {e}"));
        assert!(
            ack.events > 0,
            "the command was expected to change something"
        );
        ack.seq
    }

    async fn admin(&self, dialog: DialogId, command: DialogCommand) -> u64 {
        self.command_in(self.project, dialog, Actor::Operator(self.admin), command)
            .await
    }

    async fn register_in(
        &self,
        project: ProjectId,
        profile: ClientProfile,
        external: Option<&str>,
    ) -> DialogId {
        let dialog = DialogId::new();
        let register = DialogCommand::Register {
            profile,
            source: Source::default(),
            identity: external.map(|e| self.identity(e)),
        };
        self.command_in(project, dialog, Actor::Connector(self.channel), register)
            .await;
        dialog
    }

    async fn register(&self, name: Option<&str>, external: Option<&str>) -> DialogId {
        let profile = ClientProfile {
            name: name.map(Into::into),
            ..ClientProfile::default()
        };
        self.register_in(self.project, profile, external).await
    }

    async fn inbound_in(
        &self,
        project: ProjectId,
        dialog: DialogId,
        text: &str,
    ) -> (u64, MessageId) {
        let message = MessageId::new();
        let command = DialogCommand::ReceiveMessage {
            message,
            channel: self.channel,
            external_id: MessageId::new().token(),
            text: text.into(),
            attachments: vec![],
            reply_to: None,
            sent_at: Timestamp::now(),
        };
        let seq = self
            .command_in(project, dialog, Actor::Connector(self.channel), command)
            .await;
        (seq, message)
    }

    async fn inbound(&self, dialog: DialogId, text: &str) -> MessageId {
        self.inbound_in(self.project, dialog, text).await.1
    }

    async fn reply(&self, dialog: DialogId, text: &str) -> MessageId {
        let message = MessageId::new();
        let command = DialogCommand::SendMessage {
            message,
            channel: self.channel,
            text: text.into(),
            attachments: vec![],
            reply_to: None,
            template: None,
        };
        self.admin(dialog, command).await;
        message
    }

    async fn note(&self, dialog: DialogId, text: &str) -> NoteId {
        let note = NoteId::new();
        self.admin(
            dialog,
            DialogCommand::AddNote {
                note,
                text: text.into(),
            },
        )
        .await;
        note
    }

    async fn records(&self, from: u64) -> Vec<LogRecord> {
        self.log
            .read(from, &SubjectFilter::all(), 100_000)
            .await
            .expect("read the log")
    }

    /// The timeline item of each message hit, the timeline first brought up to the log's end.
    async fn items(&self, hits: &[SearchHit]) -> Vec<(DialogId, TimelineItem)> {
        let applied = self.timeline.lock().expect("timeline").checkpoint().seq;
        let records = self.records(applied + 1).await;
        self.timeline
            .lock()
            .expect("timeline")
            .apply(records)
            .expect("apply to the timeline");
        let conn = open_reader(&self.timeline_path).expect("timeline reader");
        hits.iter()
            .map(|hit| match hit.detail {
                HitDetail::Message(m) => {
                    let item = timeline::item_at(&conn, m.place)
                        .expect("read the timeline")
                        .unwrap_or_else(|| panic!("no timeline item at {}", m.place));
                    assert_eq!(item.dialog, m.written_in);
                    (hit.dialog, item)
                }
                HitDetail::Client(_) => panic!("a client among message hits"),
            })
            .collect()
    }
}

/// Everything in the log the index has not applied yet, applied and committed.
async fn feed<L: EventLog>(world: &World<L>, index: &mut SearchIndex) {
    let records = world.records(index.applied().seq + 1).await;
    index.apply(records).expect("apply");
    index.finish().expect("commit");
}

/// Opens an index that commits only when told ([`Store::finish`]), so that tests decide what
/// is committed.
fn open(root: &Path) -> SearchIndex {
    let options = SearchOptions {
        commit_interval: Duration::from_secs(3600),
        ..SearchOptions::default()
    };
    SearchIndex::open(root, options).expect("open the index")
}

fn search(reader: &SearchReader, query: &SearchQuery) -> Vec<DialogId> {
    reader
        .search(query)
        .unwrap_or_else(|e| panic!("search {:?}: {e}", query.text))
        .hits
        .into_iter()
        .map(|hit| hit.dialog)
        .collect()
}

fn clients(reader: &SearchReader, project: ProjectId, text: &str) -> HashSet<DialogId> {
    search(
        reader,
        &SearchQuery::new(project, SearchTarget::Clients, text),
    )
    .into_iter()
    .collect()
}

/// The messages a search finds: where each now lives and its timeline id.
async fn messages<L: EventLog>(
    w: &World<L>,
    reader: &SearchReader,
    project: ProjectId,
    text: &str,
) -> Vec<(DialogId, ItemId)> {
    let page = reader
        .search(&SearchQuery::new(project, SearchTarget::Messages, text))
        .unwrap_or_else(|e| panic!("search {text:?}: {e}"));
    ids(w, &page.hits).await
}

async fn ids<L: EventLog>(w: &World<L>, hits: &[SearchHit]) -> Vec<(DialogId, ItemId)> {
    w.items(hits)
        .await
        .into_iter()
        .map(|(dialog, item)| (dialog, item.id))
        .collect()
}

/// Hits as a set (`ItemId` has no `Hash`: keyed by its debug form).
fn keyed(hits: &[(DialogId, ItemId)]) -> HashSet<(DialogId, String)> {
    hits.iter().map(|(d, i)| (*d, format!("{i:?}"))).collect()
}

fn set(dialogs: &[DialogId]) -> HashSet<DialogId> {
    dialogs.iter().copied().collect()
}

async fn embedded() -> (tempfile::TempDir, EmbeddedLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"), EmbeddedOptions::default())
        .expect("open the log");
    (dir, log)
}

/// F2.1: `1988` finds "Vasya1988" and the Telegram id `7771988777`; substrings of phones and
/// emails, case and `ё` do not matter; short and long queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_found_by_substring() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let vasya = w.register(Some("Vasya1988"), Some("100")).await;
    let telegram = w.register(None, Some("7771988777")).await;
    let petya = w
        .register_in(
            w.project,
            ClientProfile {
                name: Some("Пётр Сидоров".into()),
                phone: Some("+7 (912) 345-67-89".into()),
                email: Some("Petya.Sidorov@Example.com".into()),
                ..ClientProfile::default()
            },
            None,
        )
        .await;
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;

    let p = w.project;
    assert_eq!(clients(&reader, p, "1988"), set(&[vasya, telegram]));
    assert_eq!(clients(&reader, p, "VASYA"), set(&[vasya]));
    assert_eq!(clients(&reader, p, "asya19"), set(&[vasya]));
    assert_eq!(clients(&reader, p, "петр"), set(&[petya]), "ё is е");
    assert_eq!(
        clients(&reader, p, "р Сидо"),
        set(&[petya]),
        "across a space"
    );
    assert_eq!(
        clients(&reader, p, "345-67"),
        set(&[petya]),
        "the phone as written"
    );
    assert_eq!(
        clients(&reader, p, "9123456"),
        set(&[petya]),
        "the phone's digits"
    );
    // Longer than a gram: a phrase of the value's 3-grams, in order.
    assert_eq!(clients(&reader, p, "sidorov@example.com"), set(&[petya]));
    assert!(clients(&reader, p, "sidorov@example.org").is_empty());
    assert!(clients(&reader, p, "7771988770").is_empty());
    // Two characters: a word prefix.
    assert_eq!(clients(&reader, p, "va"), set(&[vasya]));
    assert_eq!(clients(&reader, p, "Си"), set(&[petya]));
    assert!(clients(&reader, p, "+7").is_empty(), "not a word: no match");
    // One character, or none: refused with a reason.
    let short = reader.search(&SearchQuery::new(p, SearchTarget::Clients, "v"));
    assert!(
        matches!(short, Err(SearchError::TooShort { min: 2 })),
        "{short:?}"
    );
    let empty = reader.search(&SearchQuery::new(p, SearchTarget::Clients, "  "));
    assert!(matches!(empty, Err(SearchError::Empty)), "{empty:?}");
    // The hit says what the client is.
    let page = reader
        .search(&SearchQuery::new(p, SearchTarget::Clients, "7771988777"))
        .expect("search");
    let [hit] = page.hits.as_slice() else {
        panic!("one hit expected: {page:?}");
    };
    match &hit.detail {
        HitDetail::Client(c) => {
            assert_eq!(
                c.identities,
                vec![(w.channel, "7771988777".to_owned(), None)]
            );
            assert_eq!(c.name, None);
        }
        other => panic!("not a client: {other:?}"),
    }
}

/// F2.1: message words with Russian and English stemming; inbound, outbound and notes; every
/// word must match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_found_by_stemmed_words() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let anna = w.register(Some("Anna"), Some("1")).await;
    let boris = w.register(Some("Boris"), Some("2")).await;
    let asked = w.inbound(anna, "Где мой заказ? Жду уже неделю").await;
    let answered = w
        .reply(anna, "Sorry, we are running late with deliveries")
        .await;
    let noted = w.note(anna, "Клиент просит скидку").await;
    let other = w.inbound(boris, "Хочу оформить заказы на ёлки").await;
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;

    let p = w.project;
    let found = async |text: &str| keyed(&messages(&w, &reader, p, text).await);
    assert_eq!(
        found("заказы").await,
        keyed(&[
            (anna, ItemId::Message(asked)),
            (boris, ItemId::Message(other))
        ])
    );
    assert_eq!(
        found("run").await,
        keyed(&[(anna, ItemId::Message(answered))])
    );
    assert_eq!(
        found("DELIVERY").await,
        keyed(&[(anna, ItemId::Message(answered))])
    );
    assert_eq!(found("скидки").await, keyed(&[(anna, ItemId::Note(noted))]));
    assert_eq!(
        found("елка").await,
        keyed(&[(boris, ItemId::Message(other))])
    );
    assert_eq!(
        found("заказ неделю").await,
        keyed(&[(anna, ItemId::Message(asked))])
    );
    assert!(
        found("заказ running").await.is_empty(),
        "all words must match"
    );
    assert!(found("зак").await.is_empty(), "words, not substrings");
    // The hit is completed from the timeline: its author and text are there.
    let page = reader
        .search(&SearchQuery::new(p, SearchTarget::Messages, "скидка"))
        .expect("search");
    let [(dialog, note)] = w.items(&page.hits).await.try_into().expect("one hit");
    assert_eq!(dialog, anna);
    assert_eq!(note.kind, ItemKind::Note(Some(w.admin)));
    assert_eq!(note.text, "Клиент просит скидку");
    let page = reader
        .search(&SearchQuery::new(p, SearchTarget::Messages, "running"))
        .expect("search");
    let [(_, reply)] = w.items(&page.hits).await.try_into().expect("one hit");
    assert_eq!(reply.kind, ItemKind::Outbound(Some(w.admin)));
    let punctuation = reader.search(&SearchQuery::new(p, SearchTarget::Messages, "?!"));
    assert!(
        matches!(punctuation, Err(SearchError::Empty)),
        "{punctuation:?}"
    );
    // Clients and messages do not mix.
    assert!(clients(&reader, p, "заказ").is_empty());
    assert!(messages(&w, &reader, p, "anna").await.is_empty());
}

/// A profile update, identity link and unlink replace the client document (one document,
/// never two), also when several changes wait uncommitted on top of a commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_changes_replace_the_client_document() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let dialog = w.register(Some("Anna"), Some("5550001")).await;
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;
    let p = w.project;
    assert_eq!(clients(&reader, p, "anna"), set(&[dialog]));
    let docs = reader.num_docs();

    // Three changes, applied one batch each, committed together.
    let profile = ClientProfile {
        name: Some("Bella".into()),
        email: Some("bella@example.com".into()),
        ..ClientProfile::default()
    };
    w.admin(dialog, DialogCommand::UpdateProfile { profile })
        .await;
    let link = DialogCommand::LinkIdentity {
        identity: w.identity("8880002"),
        display_name: Some("belka".into()),
        avatar_url: None,
    };
    w.admin(dialog, link).await;
    let unlink = DialogCommand::UnlinkIdentity {
        identity: w.identity("5550001"),
    };
    w.admin(dialog, unlink).await;
    for record in w.records(index.applied().seq + 1).await {
        index.apply(vec![record]).expect("apply");
    }
    assert_eq!(
        clients(&reader, p, "anna"),
        set(&[dialog]),
        "not committed yet"
    );
    index.finish().expect("commit");

    assert!(clients(&reader, p, "anna").is_empty());
    assert_eq!(clients(&reader, p, "bella"), set(&[dialog]));
    assert_eq!(clients(&reader, p, "@example"), set(&[dialog]));
    assert_eq!(clients(&reader, p, "8880002"), set(&[dialog]));
    assert_eq!(
        clients(&reader, p, "belka"),
        set(&[dialog]),
        "the display name"
    );
    assert!(clients(&reader, p, "5550001").is_empty(), "unlinked");
    assert_eq!(reader.num_docs(), docs, "replaced, not added");

    // After a restart the update reads the committed document back.
    drop(index);
    let mut index = open(&dir.path().join("search"));
    let profile = ClientProfile {
        name: Some("Bella Donna".into()),
        ..ClientProfile::default()
    };
    w.admin(dialog, DialogCommand::UpdateProfile { profile })
        .await;
    feed(&w, &mut index).await;
    assert_eq!(clients(&index.reader(), p, "donna"), set(&[dialog]));
    assert_eq!(
        clients(&index.reader(), p, "8880002"),
        set(&[dialog]),
        "identities kept"
    );
    assert_eq!(index.reader().num_docs(), docs);
}

/// F4.8: a deleted client leaves the index with all its messages; F4.9: a merged-away dialog's
/// client document goes, its messages and identities live on in the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_merged_dialogs_vanish() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let p = w.project;
    let gone = w.register(Some("Gone Client"), Some("4040")).await;
    w.inbound(gone, "удалите мои данные").await;
    let survivor = w.register(Some("Survivor"), Some("1111")).await;
    w.inbound(survivor, "first channel hello").await;
    let absorbed = w.register(Some("Absorbed"), Some("2222")).await;
    let committed_message = w.inbound(absorbed, "committed before the merge").await;
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;
    assert_eq!(clients(&reader, p, "gone"), set(&[gone]));
    assert_eq!(clients(&reader, p, "absorbed"), set(&[absorbed]));

    // This message and the merge are applied in one uncommitted window.
    let pending_message = w.inbound(absorbed, "pending when merged").await;
    w.admin(gone, DialogCommand::Delete).await;
    w.admin(absorbed, DialogCommand::MergeInto { survivor })
        .await;
    let accept = DialogCommand::AcceptMerge {
        absorbed,
        identities: vec![w.identity("2222")],
    };
    w.admin(survivor, accept).await;
    feed(&w, &mut index).await;

    assert!(clients(&reader, p, "gone").is_empty());
    assert!(clients(&reader, p, "4040").is_empty());
    assert!(
        messages(&w, &reader, p, "данные").await.is_empty(),
        "messages erased too"
    );
    assert!(clients(&reader, p, "absorbed").is_empty());
    assert_eq!(
        clients(&reader, p, "2222"),
        set(&[survivor]),
        "identity taken over"
    );
    assert_eq!(
        messages(&w, &reader, p, "committed").await,
        vec![(survivor, ItemId::Message(committed_message))]
    );
    assert_eq!(
        messages(&w, &reader, p, "pending").await,
        vec![(survivor, ItemId::Message(pending_message))]
    );
    // Client docs: survivor only; messages: the survivor's one and the absorbed dialog's two,
    // which a merge document sends on to the survivor.
    assert_eq!(reader.num_docs(), 5);
    let mut within = SearchQuery::new(p, SearchTarget::Messages, "pending committed first");
    within.dialogs = Some(vec![survivor]);
    assert!(reader.search(&within).expect("search").hits.is_empty());
    for text in ["pending", "committed", "hello"] {
        let mut within = SearchQuery::new(p, SearchTarget::Messages, text);
        within.dialogs = Some(vec![survivor]);
        let page = reader.search(&within).expect("search");
        assert_eq!(page.hits.len(), 1, "{text} within the survivor");
        assert_eq!(page.hits[0].dialog, survivor);
        within.dialogs = Some(vec![absorbed]);
        let page = reader.search(&within).expect("search");
        assert!(
            page.hits.iter().all(|h| h.dialog == survivor),
            "a merged-away dialog's messages are the survivor's"
        );
    }

    // Deleting the survivor erases what it absorbed.
    w.admin(survivor, DialogCommand::Delete).await;
    feed(&w, &mut index).await;
    assert_eq!(reader.num_docs(), 0);
}

/// F4.9 twice over: a dialog absorbed by one that is merged away in turn lives on in the last
/// survivor, committed or not between the merges; deleting that one erases all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_chain_to_the_last_survivor() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let p = w.project;
    let first = w.register(Some("First"), Some("1")).await;
    let second = w.register(Some("Second"), Some("2")).await;
    let last = w.register(Some("Last"), Some("3")).await;
    let written_first = w.inbound(first, "сообщение первое").await;
    let written_second = w.inbound(second, "сообщение второе").await;
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;
    w.admin(first, DialogCommand::MergeInto { survivor: second })
        .await;
    feed(&w, &mut index).await;
    assert_eq!(
        keyed(&messages(&w, &reader, p, "сообщение").await),
        keyed(&[
            (second, ItemId::Message(written_first)),
            (second, ItemId::Message(written_second)),
        ])
    );
    w.admin(second, DialogCommand::MergeInto { survivor: last })
        .await;
    let written_last = w.inbound(last, "сообщение третье").await;
    feed(&w, &mut index).await;
    assert_eq!(
        keyed(&messages(&w, &reader, p, "сообщение").await),
        keyed(&[
            (last, ItemId::Message(written_first)),
            (last, ItemId::Message(written_second)),
            (last, ItemId::Message(written_last)),
        ])
    );
    let mut within = SearchQuery::new(p, SearchTarget::Messages, "первое");
    within.dialogs = Some(vec![last]);
    assert_eq!(search(&reader, &within), vec![last]);
    assert_eq!(clients(&reader, p, "first"), HashSet::new());
    assert_eq!(clients(&reader, p, "last"), set(&[last]));

    // Both merges in one uncommitted window give the same index.
    let mut once = open(&dir.path().join("once"));
    once.apply(w.records(1).await).expect("apply");
    once.finish().expect("commit");
    assert_eq!(
        once.reader().digest().expect("digest").sha256,
        reader.digest().expect("digest").sha256
    );

    w.admin(last, DialogCommand::Delete).await;
    feed(&w, &mut index).await;
    assert!(messages(&w, &reader, p, "сообщение").await.is_empty());
    assert_eq!(reader.num_docs(), 0, "nothing of the three is left");
}

/// `query::search_items`: a caller's page shows each message as the timeline has it (text,
/// author); a message the timeline has not applied yet is left out of the page, not shown empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_messages_are_read_from_the_timeline() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let p = w.project;
    let anna = w.register(Some("Anna"), Some("1")).await;
    w.inbound(anna, "где мой заказ").await;
    let before_reply = w.log.last_seq().await.expect("last");
    w.reply(anna, "заказ уже в пути").await;
    let dialogs_path = dir.path().join("dialogs.sqlite");
    let mut dialogs = ProjectionStore::open(&dialogs_path, DialogsProjection::default())
        .expect("open the dialog list");
    dialogs.apply(w.records(1).await).expect("apply");
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;
    w.items(&[]).await; // the timeline up to the log's end
    let caller = QueryCaller {
        project: p,
        operator: w.admin,
        role: Role::Admin,
    };
    let dialogs_conn = open_reader_for::<DialogsProjection>(&dialogs_path).expect("reader");
    let timeline_conn = open_reader(&w.timeline_path).expect("reader");
    let found = |text: &str| {
        query::search_items(
            &dialogs_conn,
            &timeline_conn,
            &reader,
            &caller,
            SearchQuery::new(p, SearchTarget::Messages, text),
        )
        .expect("search")
    };
    let page = found("заказы");
    let shown: Vec<(DialogId, String, ItemKind)> = page
        .hits
        .iter()
        .map(|hit| match &hit.detail {
            FoundDetail::Message(item) => (hit.dialog, item.text.clone(), item.kind),
            FoundDetail::Client(_) => panic!("a client among message hits"),
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                anna,
                "заказ уже в пути".to_owned(),
                ItemKind::Outbound(Some(w.admin))
            ),
            (anna, "где мой заказ".to_owned(), ItemKind::Inbound),
        ]
    );

    // Indexed before the timeline applied it: not on the page until the timeline has it.
    let late_timeline = dir.path().join("late.sqlite");
    let mut late =
        ProjectionStore::open(&late_timeline, TimelineProjection::default()).expect("open");
    let records = w.records(1).await;
    let until_reply = records
        .iter()
        .filter(|r| r.seq <= before_reply)
        .cloned()
        .collect();
    late.apply(until_reply).expect("apply");
    let late_conn = open_reader(&late_timeline).expect("reader");
    let page = query::search_items(
        &dialogs_conn,
        &late_conn,
        &reader,
        &caller,
        SearchQuery::new(p, SearchTarget::Messages, "заказы"),
    )
    .expect("search");
    assert_eq!(page.hits.len(), 1);
    assert!(
        matches!(&page.hits[0].detail, FoundDetail::Message(item) if item.kind == ItemKind::Inbound)
    );
}

/// F12.2: a search never leaves its project; `dialogs` narrows it further.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_are_isolated() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let other_project = ProjectId::new();
    w.setup_project(other_project).await;
    let ours = w.register(Some("Maria"), Some("10")).await;
    let ours_too = w.register(Some("Maria Two"), None).await;
    let profile = ClientProfile {
        name: Some("Maria".into()),
        ..ClientProfile::default()
    };
    let theirs = w.register_in(other_project, profile, Some("11")).await;
    w.inbound(ours, "секретный заказ").await;
    w.inbound_in(other_project, theirs, "секретный заказ").await;
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;

    assert_eq!(clients(&reader, w.project, "maria"), set(&[ours, ours_too]));
    assert_eq!(clients(&reader, other_project, "maria"), set(&[theirs]));
    assert_eq!(messages(&w, &reader, w.project, "секретные").await.len(), 1);
    assert_eq!(
        messages(&w, &reader, w.project, "секретные").await[0].0,
        ours
    );
    assert_eq!(
        messages(&w, &reader, other_project, "секретные").await[0].0,
        theirs
    );
    let mut narrowed = SearchQuery::new(w.project, SearchTarget::Clients, "maria");
    narrowed.dialogs = Some(vec![ours_too, theirs]);
    assert_eq!(search(&reader, &narrowed), vec![ours_too]);
    narrowed.dialogs = Some(vec![]);
    assert!(search(&reader, &narrowed).is_empty());
}

/// Newest first pages by a keyset cursor; relevance ranks the better match first and pages by
/// offset; pages never repeat or skip a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_first_and_relevance_orders_page() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let p = w.project;
    let dialog = w.register(Some("Shopper"), Some("9")).await;
    let texts = [
        "доставка доставка доставка",
        "когда будет доставка? я жду очень долго, уже почти неделю, и никто не отвечает",
        "доставка",
        "вопрос про доставку и оплату",
        "спасибо за доставку",
    ];
    let mut sent = Vec::new();
    for text in texts {
        sent.push(ItemId::Message(w.inbound(dialog, text).await));
    }
    let mut index = open(&dir.path().join("search"));
    let reader = index.reader();
    feed(&w, &mut index).await;

    // Newest first, two a page.
    let mut query = SearchQuery::new(p, SearchTarget::Messages, "доставки");
    query.limit = 2;
    let mut newest = Vec::new();
    let mut pages = 0;
    loop {
        let page = reader.search(&query).expect("search");
        pages += 1;
        assert!(page.hits.len() <= 2);
        newest.extend(ids(&w, &page.hits).await.into_iter().map(|(_, id)| id));
        match page.next {
            Some(cursor) => {
                assert!(matches!(cursor, SearchCursor::Before(_)));
                query.after = Some(cursor.to_string().parse().expect("cursor"));
            }
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    let mut expected = sent.clone();
    expected.reverse();
    assert_eq!(newest, expected, "newest first, every hit once");
    assert_eq!(pages, 3);

    // By relevance: the repeated word in a short message first, the long message last.
    let mut query = SearchQuery::new(p, SearchTarget::Messages, "доставка");
    query.order = SearchOrder::Relevance;
    let all = reader.search(&query).expect("search");
    let ranked: Vec<ItemId> = ids(&w, &all.hits)
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ranked.len(), 5);
    assert_eq!(ranked[0], sent[0]);
    assert_eq!(ranked[4], sent[1]);
    assert!(all.hits.windows(2).all(|p| p[0].score >= p[1].score));
    assert_ne!(ranked, expected, "relevance is not recency here");
    query.limit = 3;
    let first = reader.search(&query).expect("search");
    assert_eq!(first.next, Some(SearchCursor::Offset(3)));
    query.after = first.next;
    let second = reader.search(&query).expect("search");
    assert_eq!(second.next, None);
    let paged: Vec<_> = first
        .hits
        .iter()
        .chain(&second.hits)
        .map(|h| h.dialog)
        .collect();
    assert_eq!(paged.len(), 5);
    // A newest-first cursor is no relevance cursor.
    query.after = Some(SearchCursor::Before(1));
    assert!(matches!(
        reader.search(&query),
        Err(SearchError::BadCursor(_))
    ));
}

/// The checkpoint is the commit payload: a reopened index resumes after it, and records at or
/// below it, offered again, add nothing; the result equals an index fed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_exactly() {
    let (dir, log) = embedded().await;
    let w = world(log).await;
    let anna = w.register(Some("Anna"), Some("1")).await;
    w.inbound(anna, "первое сообщение").await;
    let root = dir.path().join("search");
    let mut index = open(&root);
    feed(&w, &mut index).await;
    let first = index.checkpoint();
    assert_eq!(first.seq, w.log.last_seq().await.expect("last"));
    // Applied but never committed: lost with the process, redone after the restart.
    let boris = w.register(Some("Boris"), Some("2")).await;
    w.inbound(boris, "второе сообщение").await;
    index.apply(w.records(first.seq + 1).await).expect("apply");
    assert_eq!(index.checkpoint(), first, "nothing committed yet");
    drop(index);

    let mut index = open(&root);
    assert_eq!(
        index.checkpoint(),
        first,
        "read back from the commit payload"
    );
    // The whole log again, then a part of it again: everything at or below is skipped.
    let everything = w.records(1).await;
    index.apply(everything.clone()).expect("apply");
    index.finish().expect("commit");
    index
        .apply(everything[everything.len() / 2..].to_vec())
        .expect("apply");
    index.finish().expect("commit");
    let reader = index.reader();
    assert_eq!(messages(&w, &reader, w.project, "сообщение").await.len(), 2);
    assert_eq!(clients(&reader, w.project, "boris"), set(&[boris]));
    assert_eq!(
        reader.num_docs(),
        4,
        "two clients, two messages, no duplicates"
    );
    let live = reader.digest().expect("digest");

    // Fed once, in one go, elsewhere: the same documents.
    let mut fresh = open(&dir.path().join("fresh"));
    fresh.apply(everything).expect("apply");
    fresh.finish().expect("commit");
    assert_eq!(fresh.reader().digest().expect("digest"), live);
}

/// Through the runner on each backend: a new message becomes searchable on its own (the runner
/// commits without being asked), and `wait_for(seq)` means searchable. How soon is a figure of
/// `switchboard bench` (append→searchable p99, BENCHMARKS.md), not of a timed test.
async fn searchable_on_its_own<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = world(log.clone()).await;
    let anna = w.register(Some("Anna"), Some("1")).await;
    let (runner, reader) = search::start(
        log.clone(),
        &dir.path().join("search"),
        SearchOptions::default(),
        RunnerOptions::default(),
    )
    .await
    .expect("start");
    let last = log.last_seq().await.expect("last");
    runner.wait_for(last, WAIT).await.expect("caught up");
    assert_eq!(clients(&reader, w.project, "anna"), set(&[anna]));

    for n in 0..3 {
        let word = ["апельсины", "bananas", "вишни"][n];
        let appended = Instant::now();
        let (seq, message) = w.inbound_in(w.project, anna, &format!("хочу {word}")).await;
        // Polled without `wait_for`: only the runner's own commits make it searchable.
        let found = loop {
            let hits = messages(&w, &reader, w.project, word).await;
            if !hits.is_empty() {
                break hits;
            }
            assert!(
                appended.elapsed() < WAIT,
                "{word:?} not searchable within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(found, vec![(anna, ItemId::Message(message))]);
        runner.wait_for(seq, WAIT).await.expect("applied");
        assert!(reader.checkpoint().expect("checkpoint").seq >= seq);
    }
    let status = runner.shutdown().await;
    assert_eq!(status.failed, None);
    assert_eq!(status.checkpoint.seq, log.last_seq().await.expect("last"));
}

/// `search::rebuild` gives the live index again (the same checksum), swaps it in so that a
/// reopened writer resumes from it; a rebuild up to a sequence is the index as it was then.
async fn rebuild_equals_the_live_index<L: EventLog>(log: L) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("search");
    let w = world(log.clone()).await;
    let options = RunnerOptions {
        max_batch: 3,
        ..RunnerOptions::default()
    };
    let (runner, reader) = search::start(log.clone(), &root, SearchOptions::default(), options)
        .await
        .expect("start");
    let mut dialogs = Vec::new();
    for n in 0..4 {
        let dialog = w
            .register(Some(&format!("Client {n}")), Some(&format!("77{n}")))
            .await;
        w.inbound(dialog, &format!("сообщение номер {n}")).await;
        dialogs.push(dialog);
    }
    let halfway = log.last_seq().await.expect("last");
    let profile = ClientProfile {
        name: Some("Renamed".into()),
        ..ClientProfile::default()
    };
    w.admin(dialogs[0], DialogCommand::UpdateProfile { profile })
        .await;
    w.admin(dialogs[1], DialogCommand::Delete).await;
    w.admin(
        dialogs[2],
        DialogCommand::MergeInto {
            survivor: dialogs[3],
        },
    )
    .await;
    w.reply(dialogs[3], "answer after the merge").await;
    let last = log.last_seq().await.expect("last");
    runner.wait_for(last, WAIT).await.expect("caught up");
    let status = runner.shutdown().await;
    assert_eq!(status.checkpoint.seq, last);
    let live = reader.digest().expect("digest");
    assert_eq!(live.checkpoint.seq, last);
    // Client docs: 0 (renamed), 3; messages: 0's, 2's (sent on to 3 by 2's merge document),
    // 3's two; the merge document.
    assert_eq!(live.documents, 7);

    let mut seen = Vec::new();
    let rebuilt = search::rebuild(&log, &root, Until::End, 5, SearchOptions::rebuild(), |p| {
        seen.push(p)
    })
    .await
    .expect("rebuild");
    assert_eq!(rebuilt.seq, last);
    assert!(
        seen.windows(2)
            .all(|p| p[0].applied_seq <= p[1].applied_seq)
    );
    assert_eq!(
        seen.last().map(|p| (p.applied_seq, p.target_seq)),
        Some((last, last))
    );
    assert!(
        reader.reopen().expect("reopen"),
        "the reader follows the swap"
    );
    assert_eq!(
        reader.digest().expect("digest"),
        live,
        "rebuilt equals live"
    );
    assert_eq!(clients(&reader, w.project, "renamed"), set(&[dialogs[0]]));

    // The writer opens on the rebuilt version and resumes after it.
    let index = SearchIndex::open_with(&reader, SearchOptions::default()).expect("open");
    assert_eq!(index.checkpoint().seq, last);
    drop(index);

    // As of halfway: everything registered and said, nothing renamed, deleted or merged.
    search::rebuild(
        &log,
        &root,
        Until::Seq(halfway),
        1000,
        SearchOptions::rebuild(),
        |_| {},
    )
    .await
    .expect("rebuild");
    assert!(reader.reopen().expect("reopen"));
    let then = reader.digest().expect("digest");
    assert_eq!(then.checkpoint.seq, halfway);
    assert_eq!(then.documents, 8);
    assert_eq!(clients(&reader, w.project, "client 1"), set(&[dialogs[1]]));
    assert!(clients(&reader, w.project, "renamed").is_empty());
    let versions = std::fs::read_dir(&root)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('v'))
        .count();
    assert!(versions >= 2, "old versions stay until a writer opens");
    drop(SearchIndex::open_with(&reader, SearchOptions::default()).expect("open"));
    let versions = std::fs::read_dir(&root)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('v'))
        .count();
    assert_eq!(
        versions, 1,
        "a writer removes the versions no longer in use"
    );
}

switchboard_tests::both_backends!(searchable_on_its_own, rebuild_equals_the_live_index);
