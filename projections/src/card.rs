//! The client card read model (F7): profile, where the client came from, channel identities,
//! variables, deal, tasks, lists and the bot's funnel block. A deleted client (F4.8) keeps only
//! a tombstone row: every piece of personal data is erased.
//!
//! Tables (ids are the UUID's 16 bytes in a BLOB, `crate::blobid`: 17 bytes on disk instead of
//! a 33-byte 32-hex token, except `project_clientnumber`'s project, which the dialogs
//! projection's rule keys by token; every table keyed by a dialog other than `dialog_card`
//! holds its `dialog_card` rowid, not the id):
//! - `dialog_card`: dialog → profile, source, deal, funnel block, the client's decimal number;
//! - `project_clientnumber`: project → the last number given (F2.2: the same rule as the dialog
//!   list's, so the card shows the number the list filters by);
//! - `dialog_utm`: (dialog, position) → one UTM parameter;
//! - `dialog_identity`: (dialog, channel, external id) → the identity and its display name;
//! - `dialog_variable`: (dialog, name) → value;
//! - `dialog_task`: (dialog, task) → text, due, done;
//! - `dialog_list`: (dialog, list) membership;
//! - `dialog_funnel`: (dialog, step) → the funnel block the bot entered at that step, from the
//!   first (F7.3's transition history, F8.1's export column).

use crate::blobid::{self, BlobId};
use crate::dialogs::next_client_number;
use crate::runtime::{DecodedRecord, Projection, ProjectionError, Tx, execute_for_each};
use rusqlite::{Connection, params};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct CardProjection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dialog_card (
    -- Ids (`dialog`, `project`, `deal_pipeline`, `deal_stage`, `deal_channel`) and those of
    -- the tables below are the UUID's 16 bytes (`blobid`).
    dialog BLOB PRIMARY KEY,
    project BLOB NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    name TEXT,
    phone TEXT,
    email TEXT,
    avatar_url TEXT,
    country TEXT,
    language TEXT,
    source_platform TEXT,
    source_campaign TEXT,
    source_ad_set TEXT,
    source_ad TEXT,
    funnel_block TEXT,
    funnel_block_name TEXT,
    deal_pipeline BLOB,
    deal_stage BLOB,
    deal_line INTEGER,
    deal_channel BLOB,
    deal_sales_sum_minor INTEGER,
    deal_sales_count INTEGER,
    client_number INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS project_clientnumber (
    -- The project's token, as in the dialogs projection (`next_client_number`).
    project TEXT PRIMARY KEY,
    last INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_utm (
    -- The dialog's `dialog_card` rowid.
    dialog INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (dialog, pos)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_identity (
    -- The dialog's `dialog_card` rowid.
    dialog INTEGER NOT NULL,
    channel BLOB NOT NULL,
    external_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    display_name TEXT,
    PRIMARY KEY (dialog, channel, external_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_variable (
    -- The dialog's `dialog_card` rowid.
    dialog INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (dialog, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_task (
    -- The dialog's `dialog_card` rowid.
    dialog INTEGER NOT NULL,
    task BLOB NOT NULL,
    text TEXT NOT NULL,
    due INTEGER,
    done INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (dialog, task)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_list (
    -- The dialog's `dialog_card` rowid.
    dialog INTEGER NOT NULL,
    list BLOB NOT NULL,
    PRIMARY KEY (dialog, list)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dialog_funnel (
    -- The dialog's `dialog_card` rowid.
    dialog INTEGER NOT NULL,
    -- 1 for the first block entered, then counting up.
    step INTEGER NOT NULL,
    block TEXT NOT NULL,
    PRIMARY KEY (dialog, step)
) WITHOUT ROWID;
";

/// The tables holding a dialog's personal data, erased on deletion.
const PERSONAL: [&str; 6] = [
    "dialog_utm",
    "dialog_identity",
    "dialog_variable",
    "dialog_task",
    "dialog_list",
    "dialog_funnel",
];

impl Projection for CardProjection {
    fn name(&self) -> &'static str {
        "card"
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    fn apply_batch(
        &mut self,
        tx: &Tx<'_>,
        records: &[DecodedRecord],
    ) -> Result<(), ProjectionError> {
        for record in records {
            for envelope in record.events {
                if let AggregateId::Dialog(dialog) = &envelope.aggregate {
                    apply_event(tx, &dialog.blob(), envelope)?;
                }
            }
        }
        Ok(())
    }
}

fn set_profile(tx: &Tx<'_>, dialog: &[u8; 16], profile: &ClientProfile) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE dialog_card SET name = ?2, phone = ?3, email = ?4, avatar_url = ?5,
             country = ?6, language = ?7
         WHERE dialog = ?1 AND deleted = 0",
    )?
    .execute(params![
        dialog,
        profile.name,
        profile.phone,
        profile.email,
        profile.avatar_url,
        profile.country,
        profile.language
    ])
}

fn add_identity(
    tx: &Tx<'_>,
    dialog: &[u8; 16],
    identity: &ChannelIdentity,
    display_name: Option<&str>,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO dialog_identity (dialog, channel, external_id, kind, display_name)
         SELECT rowid, ?2, ?3, ?4, ?5 FROM dialog_card WHERE dialog = ?1 AND deleted = 0
         ON CONFLICT (dialog, channel, external_id) DO UPDATE
             SET display_name = coalesce(excluded.display_name, display_name)",
    )?
    .execute(params![
        dialog,
        identity.channel.blob(),
        identity.external_id,
        identity.kind.as_str(),
        display_name
    ])
}

/// One event of a dialog. Each of the two families of events has a function of its own, which
/// ignores the other family's events.
fn apply_event(tx: &Tx<'_>, dialog: &[u8; 16], envelope: &Envelope) -> Result<(), ProjectionError> {
    apply_client(tx, dialog, envelope)?;
    apply_crm(tx, dialog, envelope)
}

/// Who the client is: registration, profile, identities, merges, deletion (F4.8).
fn apply_client(
    tx: &Tx<'_>,
    dialog: &[u8; 16],
    envelope: &Envelope,
) -> Result<(), ProjectionError> {
    let at = envelope.occurred_at.as_micros();
    match &envelope.payload {
        Event::DialogRegistered(e) => {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO dialog_card (dialog, project, created_at, source_platform,
                         source_campaign, source_ad_set, source_ad)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (dialog) DO NOTHING",
                )?
                .execute(params![
                    dialog,
                    envelope.project.blob(),
                    at,
                    e.source.platform,
                    e.source.campaign,
                    e.source.ad_set,
                    e.source.ad
                ])?;
            if inserted == 0 {
                return Ok(());
            }
            let number = next_client_number(tx, &envelope.project.token())?;
            tx.prepare_cached("UPDATE dialog_card SET client_number = ?2 WHERE dialog = ?1")?
                .execute(params![dialog, number])?;
            set_profile(tx, dialog, &e.profile)?;
            let mut utm = tx.prepare_cached(
                "INSERT INTO dialog_utm (dialog, pos, key, value)
                 SELECT rowid, ?2, ?3, ?4 FROM dialog_card WHERE dialog = ?1",
            )?;
            for (pos, (key, value)) in e.source.utm.iter().enumerate() {
                utm.execute(params![dialog, i64::try_from(pos).unwrap_or(0), key, value])?;
            }
            if let Some(identity) = &e.identity {
                add_identity(tx, dialog, identity, None)?;
            }
        }
        Event::ClientProfileUpdated(e) => {
            set_profile(tx, dialog, &e.profile)?;
        }
        Event::IdentityLinked(e) => {
            add_identity(tx, dialog, &e.identity, e.display_name.as_deref())?;
        }
        Event::IdentityUnlinked(e) => {
            tx.prepare_cached(
                "DELETE FROM dialog_identity WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1)
                     AND channel = ?2 AND external_id = ?3",
            )?
            .execute(params![dialog, e.identity.channel.blob(), e.identity.external_id])?;
        }
        Event::DialogsMerged(e) => {
            for identity in &e.identities {
                add_identity(tx, dialog, identity, None)?;
            }
        }
        Event::ClientDeleted(_) => {
            tx.prepare_cached(
                "UPDATE dialog_card SET deleted = 1, name = NULL, phone = NULL, email = NULL,
                     avatar_url = NULL, country = NULL, language = NULL, source_platform = NULL,
                     source_campaign = NULL, source_ad_set = NULL, source_ad = NULL,
                     funnel_block = NULL, funnel_block_name = NULL, deal_pipeline = NULL,
                     deal_stage = NULL, deal_line = NULL, deal_channel = NULL,
                     deal_sales_sum_minor = NULL, deal_sales_count = NULL
                 WHERE dialog = ?1",
            )?
            .execute([dialog])?;
            for table in PERSONAL {
                // `table` is one of this module's literals, never input.
                tx.prepare_cached(&format!(
                    "DELETE FROM {table}
                     WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1)"
                ))?
                .execute([dialog])?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What the team keeps about the client: variables, the deal, tasks, lists, the funnel block.
fn apply_crm(tx: &Tx<'_>, dialog: &[u8; 16], envelope: &Envelope) -> Result<(), ProjectionError> {
    let at = envelope.occurred_at.as_micros();
    match &envelope.payload {
        Event::VariableSet(e) => {
            tx.prepare_cached(
                "INSERT INTO dialog_variable (dialog, name, value)
                 SELECT rowid, ?2, ?3 FROM dialog_card WHERE dialog = ?1 AND deleted = 0
                 ON CONFLICT (dialog, name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![dialog, e.name, e.value])?;
        }
        Event::VariableCleared(e) => {
            tx.prepare_cached("DELETE FROM dialog_variable WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1) AND name = ?2")?
                .execute(params![dialog, e.name])?;
        }
        Event::DealStageChanged(e) => {
            tx.prepare_cached(
                "UPDATE dialog_card SET deal_pipeline = ?2, deal_stage = ?3 WHERE dialog = ?1",
            )?
            .execute(params![dialog, e.pipeline.blob(), e.stage.blob()])?;
        }
        Event::DealUpdated(e) => {
            tx.prepare_cached(
                "UPDATE dialog_card SET deal_line = ?2, deal_channel = ?3,
                     deal_sales_sum_minor = ?4, deal_sales_count = ?5
                 WHERE dialog = ?1",
            )?
            .execute(params![
                dialog,
                e.line,
                e.channel.map(|c| c.blob()),
                e.sales_sum_minor,
                e.sales_count
            ])?;
        }
        Event::TaskCreated(e) => {
            tx.prepare_cached(
                "INSERT INTO dialog_task (dialog, task, text, due, created_at)
                 SELECT rowid, ?2, ?3, ?4, ?5 FROM dialog_card WHERE dialog = ?1 AND deleted = 0
                 ON CONFLICT (dialog, task) DO NOTHING",
            )?
            .execute(params![
                dialog,
                e.task.blob(),
                e.text,
                e.due.map(Timestamp::as_micros),
                at
            ])?;
        }
        Event::TaskCompleted(e) => {
            tx.prepare_cached("UPDATE dialog_task SET done = 1 WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1) AND task = ?2")?
                .execute(params![dialog, e.task.blob()])?;
        }
        Event::ListsJoined(e) => {
            execute_for_each(
                tx,
                "INSERT INTO dialog_list (dialog, list) SELECT rowid, ?2 FROM dialog_card WHERE dialog = ?1
                 ON CONFLICT DO NOTHING",
                dialog,
                e.lists.iter().map(|id| id.blob()),
            )?;
        }
        Event::ListsLeft(e) => {
            execute_for_each(
                tx,
                "DELETE FROM dialog_list WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1) AND list = ?2",
                dialog,
                e.lists.iter().map(|id| id.blob()),
            )?;
        }
        Event::FunnelBlockEntered(e) => {
            tx.prepare_cached(
                "UPDATE dialog_card SET funnel_block = ?2, funnel_block_name = ?3 WHERE dialog = ?1",
            )?
            .execute(params![dialog, e.block, e.block_name])?;
            tx.prepare_cached(
                "INSERT INTO dialog_funnel (dialog, step, block)
                 SELECT c.rowid,
                        coalesce((SELECT max(step) FROM dialog_funnel WHERE dialog = c.rowid), 0)
                            + 1,
                        ?2
                 FROM dialog_card c WHERE c.dialog = ?1 AND c.deleted = 0",
            )?
            .execute(params![dialog, e.block])?;
        }
        _ => {}
    }
    Ok(())
}

/// One task on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTask {
    pub task: TaskId,
    pub text: String,
    pub due: Option<Timestamp>,
    pub done: bool,
}

/// The client card (F7.1–F7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub dialog: DialogId,
    /// F7.1 internal id: the client's decimal number in the project, the one F2.2 filters by.
    pub number: u64,
    pub deleted: bool,
    pub created_at: Timestamp,
    pub profile: ClientProfile,
    pub source: Source,
    pub identities: Vec<(ChannelId, String, Option<String>)>,
    pub variables: Vec<(String, String)>,
    pub tasks: Vec<CardTask>,
    pub lists: Vec<ListId>,
    pub funnel_block: Option<(String, String)>,
    pub deal_stage: Option<(PipelineId, StageId)>,
}

/// The card of a dialog, if the read model knows it. An id column holding anything but 16
/// bytes is [`ProjectionError::Corrupt`], naming the column.
pub fn card(conn: &Connection, dialog: DialogId) -> Result<Option<Card>, ProjectionError> {
    let id = dialog.blob();
    let (deleted, created_at, profile, [platform, campaign, ad_set, ad], funnel, deal, number) = {
        let mut statement = conn.prepare_cached(
            "SELECT deleted, created_at, name, phone, email, avatar_url, country, language,
                    source_platform, source_campaign, source_ad_set, source_ad,
                    funnel_block, funnel_block_name, deal_pipeline, deal_stage, client_number
             FROM dialog_card WHERE dialog = ?1",
        )?;
        let mut rows = statement.query([id])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let funnel_block: Option<String> = r.get(12)?;
        let funnel_block_name: Option<String> = r.get(13)?;
        let pipeline: Option<PipelineId> = blobid::get(r, 14, "dialog_card.deal_pipeline")?;
        let stage: Option<StageId> = blobid::get(r, 15, "dialog_card.deal_stage")?;
        (
            r.get::<_, bool>(0)?,
            r.get::<_, i64>(1)?,
            ClientProfile {
                name: r.get(2)?,
                phone: r.get(3)?,
                email: r.get(4)?,
                avatar_url: r.get(5)?,
                country: r.get(6)?,
                language: r.get(7)?,
            },
            [r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?],
            funnel_block.zip(funnel_block_name),
            pipeline.zip(stage),
            r.get::<_, i64>(16)?,
        )
    };
    let utm = conn
        .prepare_cached("SELECT key, value FROM dialog_utm WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1) ORDER BY pos")?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(String, String)>, _>>()?;
    let mut identities = Vec::new();
    {
        let mut statement = conn.prepare_cached(
            "SELECT channel, external_id, display_name FROM dialog_identity
             WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1)
             ORDER BY channel, external_id",
        )?;
        let mut rows = statement.query([id])?;
        while let Some(r) = rows.next()? {
            let channel: ChannelId = blobid::get_required(r, 0, "dialog_identity.channel")?;
            identities.push((channel, r.get(1)?, r.get(2)?));
        }
    }
    let variables = conn
        .prepare_cached(
            "SELECT name, value FROM dialog_variable
             WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1) ORDER BY name",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(String, String)>, _>>()?;
    let mut tasks = Vec::new();
    {
        let mut statement = conn.prepare_cached(
            "SELECT task, text, due, done FROM dialog_task
             WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1)
             ORDER BY created_at, task",
        )?;
        let mut rows = statement.query([id])?;
        while let Some(r) = rows.next()? {
            tasks.push(CardTask {
                task: blobid::get_required(r, 0, "dialog_task.task")?,
                text: r.get(1)?,
                due: r.get::<_, Option<i64>>(2)?.map(Timestamp::from_micros),
                done: r.get(3)?,
            });
        }
    }
    let lists: Vec<ListId> = blobid::all(
        conn,
        "SELECT list FROM dialog_list
         WHERE dialog = (SELECT rowid FROM dialog_card WHERE dialog = ?1) ORDER BY list",
        [id],
        "dialog_list.list",
    )?;
    Ok(Some(Card {
        dialog,
        number: u64::try_from(number).unwrap_or(0),
        deleted,
        created_at: Timestamp::from_micros(created_at),
        profile,
        source: Source {
            platform,
            campaign,
            ad_set,
            ad,
            utm,
        },
        identities,
        variables,
        tasks,
        lists,
        funnel_block: funnel,
        deal_stage: deal,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ProjectionStore, open_reader};
    use switchboard_core::log::LogRecord;

    fn records(project: ProjectId, dialog: DialogId, events: Vec<Event>) -> Vec<LogRecord> {
        let events = events.into_iter().map(|event| (dialog, event)).collect();
        crate::test_support::dialog_records(project, events)
    }

    #[test]
    fn the_card_follows_its_events_and_forgets_a_deleted_client() {
        let (project, dialog) = (ProjectId::new(), DialogId::new());
        let channel = ChannelId::new();
        let telegram = ChannelIdentity {
            channel,
            kind: ChannelKind::Telegram,
            external_id: "1988".into(),
        };
        let (task, list) = (TaskId::new(), ListId::new());
        let (pipeline, stage) = (PipelineId::new(), StageId::new());
        let profile = ClientProfile {
            name: Some("Maria".into()),
            phone: Some("+79000000000".into()),
            ..ClientProfile::default()
        };
        let source = Source {
            platform: Some("vk".into()),
            utm: vec![("utm_source".into(), "vk".into())],
            ..Source::default()
        };
        let events = vec![
            Event::DialogRegistered(DialogRegistered {
                profile: profile.clone(),
                source: source.clone(),
                identity: Some(telegram.clone()),
            }),
            Event::IdentityLinked(IdentityLinked {
                identity: telegram.clone(),
                display_name: Some("masha".into()),
                avatar_url: None,
            }),
            Event::VariableSet(VariableSet {
                name: "city".into(),
                value: "Kazan".into(),
            }),
            Event::VariableSet(VariableSet {
                name: "size".into(),
                value: "M".into(),
            }),
            Event::VariableCleared(VariableCleared {
                name: "size".into(),
            }),
            Event::TaskCreated(TaskCreated {
                task,
                text: "call back".into(),
                due: Some(Timestamp::from_micros(99)),
            }),
            Event::TaskCompleted(TaskCompleted { task }),
            Event::ListsJoined(ListsJoined { lists: vec![list] }),
            Event::DealStageChanged(DealStageChanged {
                pipeline,
                stage,
                previous: None,
            }),
            Event::FunnelBlockEntered(FunnelBlockEntered {
                block: "b7".into(),
                block_name: "Greeting".into(),
            }),
        ];
        let all = records(project, dialog, events);

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("card.sqlite");
        let mut store = ProjectionStore::open(&path, CardProjection).expect("open");
        store.apply(all.clone()).expect("apply");
        let conn = open_reader(&path).expect("reader");
        let card = card(&conn, dialog).expect("query").expect("a card");
        assert_eq!(card.profile, profile);
        assert_eq!(card.number, 1, "the project's first client");
        assert_eq!(card.source, source);
        assert_eq!(
            card.identities,
            vec![(channel, "1988".to_owned(), Some("masha".to_owned()))]
        );
        assert_eq!(
            card.variables,
            vec![("city".to_owned(), "Kazan".to_owned())]
        );
        assert_eq!(
            card.tasks,
            vec![CardTask {
                task,
                text: "call back".into(),
                due: Some(Timestamp::from_micros(99)),
                done: true,
            }]
        );
        assert_eq!(card.lists, vec![list]);
        assert_eq!(card.deal_stage, Some((pipeline, stage)));
        assert_eq!(
            card.funnel_block,
            Some(("b7".to_owned(), "Greeting".to_owned()))
        );

        let mut tombstone = records(
            project,
            dialog,
            vec![Event::ClientDeleted(ClientDeleted {})],
        );
        tombstone[0].seq = all.len() as u64 + 1;
        store.apply(tombstone).expect("apply");
        let card = super::card(&conn, dialog)
            .expect("query")
            .expect("a tombstone");
        assert!(card.deleted);
        assert_eq!(card.profile, ClientProfile::default());
        assert_eq!(card.source, Source::default());
        assert!(card.identities.is_empty() && card.variables.is_empty());
        assert!(card.tasks.is_empty() && card.lists.is_empty());
        assert_eq!((card.funnel_block, card.deal_stage), (None, None));
    }

    #[test]
    fn ids_round_trip_through_blob_columns_and_a_malformed_one_is_an_error() {
        let (project, dialog) = (ProjectId::new(), DialogId::new());
        let channel = ChannelId::new();
        let (task, list) = (TaskId::new(), ListId::new());
        let (pipeline, stage) = (PipelineId::new(), StageId::new());
        let identity = ChannelIdentity {
            channel,
            kind: ChannelKind::Telegram,
            external_id: "7".into(),
        };
        let events = vec![
            Event::DialogRegistered(DialogRegistered {
                profile: ClientProfile::default(),
                source: Source::default(),
                identity: Some(identity),
            }),
            Event::TaskCreated(TaskCreated {
                task,
                text: "t".into(),
                due: None,
            }),
            Event::ListsJoined(ListsJoined { lists: vec![list] }),
            Event::DealStageChanged(DealStageChanged {
                pipeline,
                stage,
                previous: None,
            }),
            Event::DealUpdated(DealUpdated {
                line: 1,
                channel: Some(channel),
                sales_sum_minor: 0,
                sales_count: 0,
            }),
        ];
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("card.sqlite");
        let mut store = ProjectionStore::open(&path, CardProjection).expect("open");
        store
            .apply(records(project, dialog, events))
            .expect("apply");
        let conn = open_reader(&path).expect("reader");
        let read = card(&conn, dialog).expect("query").expect("a card");
        assert_eq!(read.dialog, dialog);
        assert_eq!(read.identities, vec![(channel, "7".to_owned(), None)]);
        assert_eq!(
            read.tasks.iter().map(|t| t.task).collect::<Vec<_>>(),
            vec![task]
        );
        assert_eq!(read.lists, vec![list]);
        assert_eq!(read.deal_stage, Some((pipeline, stage)));
        for (table, column, id) in [
            ("dialog_card", "dialog", dialog.blob()),
            ("dialog_card", "project", project.blob()),
            ("dialog_card", "deal_pipeline", pipeline.blob()),
            ("dialog_card", "deal_stage", stage.blob()),
            ("dialog_card", "deal_channel", channel.blob()),
            ("dialog_identity", "channel", channel.blob()),
            ("dialog_task", "task", task.blob()),
            ("dialog_list", "list", list.blob()),
        ] {
            assert_eq!(
                crate::test_support::stored_bytes(&conn, table, column),
                vec![id.to_vec()],
                "{table}.{column}"
            );
        }

        // A malformed id is an error naming the column, never a panic.
        let writer = rusqlite::Connection::open(&path).expect("writer");
        for (table, column) in [
            ("dialog_card", "deal_stage"),
            ("dialog_identity", "channel"),
            ("dialog_task", "task"),
            ("dialog_list", "list"),
        ] {
            let saved: Vec<u8> = writer
                .query_row(&format!("SELECT {column} FROM {table}"), [], |r| r.get(0))
                .expect("saved");
            writer
                .execute(&format!("UPDATE {table} SET {column} = x'0badbeef'"), [])
                .expect("corrupt");
            match card(&conn, dialog) {
                Err(ProjectionError::Corrupt(message)) => {
                    let name = format!("{table}.{column}: ");
                    assert!(message.starts_with(&name), "{message}");
                }
                other => panic!("{table}.{column}: {other:?}"),
            }
            writer
                .execute(&format!("UPDATE {table} SET {column} = ?1"), [saved])
                .expect("restore");
            assert_eq!(card(&conn, dialog).expect("query"), Some(read.clone()));
        }
    }
}
