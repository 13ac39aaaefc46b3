//! What the clients export (F8.1) reads beyond a dialog list row: the client's channel
//! identities, funnel block and its history and variables from the card read model, and its
//! tags from the dialog list. Read one client at a time, a page after a list page (see
//! [`crate::query::export_page`]), so that an export of any size holds one page in memory.
//!
//! Reads only: the tables belong to the `card` and `dialogs` projections.

use crate::blobid::{self, BlobId};
use crate::dialogs::{DialogRow, dialog_tags};
use crate::runtime::ProjectionError;
use rusqlite::{Connection, OptionalExtension};
use switchboard_schemas::{ChannelId, ProjectId, TagId};

/// One channel identity of a client: where they write from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportIdentity {
    pub channel: ChannelId,
    /// The messenger (`ChannelKind::as_str`: `telegram`, `whatsapp_cloud`, …).
    pub kind: String,
    /// The client's id on the channel (a WhatsApp phone, a Telegram user id, an address).
    pub external_id: String,
}

/// One client of an export: the list row and the rest of F8.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportClient {
    pub row: DialogRow,
    /// In the card's order (by channel, then id).
    pub identities: Vec<ExportIdentity>,
    /// The bot's current funnel block id.
    pub funnel_block: Option<String>,
    /// Every funnel block entered, first to last.
    pub funnel_history: Vec<String>,
    pub tags: Vec<TagId>,
    /// (name, value), by name.
    pub variables: Vec<(String, String)>,
}

/// The rest of F8.1 for a list row: `dialogs` is the dialog list's file, `cards` the card's.
/// A dialog the card does not know yet (its runner is behind the list's) has no identities,
/// funnel or variables.
pub fn export_client(
    dialogs: &Connection,
    cards: &Connection,
    row: DialogRow,
) -> Result<ExportClient, ProjectionError> {
    let id = row.dialog.blob();
    let card: Option<i64> = cards
        .prepare_cached("SELECT rowid FROM dialog_card WHERE dialog = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let mut client = ExportClient {
        tags: dialog_tags(dialogs, row.dialog)?,
        row,
        identities: Vec::new(),
        funnel_block: None,
        funnel_history: Vec::new(),
        variables: Vec::new(),
    };
    let Some(card) = card else {
        return Ok(client);
    };
    client.funnel_block = cards
        .prepare_cached("SELECT funnel_block FROM dialog_card WHERE rowid = ?1")?
        .query_row([card], |r| r.get(0))?;
    let mut statement = cards.prepare_cached(
        "SELECT channel, kind, external_id FROM dialog_identity WHERE dialog = ?1
         ORDER BY channel, external_id",
    )?;
    let mut rows = statement.query([card])?;
    while let Some(r) = rows.next()? {
        client.identities.push(ExportIdentity {
            channel: blobid::get_required(r, 0, "dialog_identity.channel")?,
            kind: r.get(1)?,
            external_id: r.get(2)?,
        });
    }
    client.funnel_history = cards
        .prepare_cached("SELECT block FROM dialog_funnel WHERE dialog = ?1 ORDER BY step")?
        .query_map([card], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    client.variables = cards
        .prepare_cached("SELECT name, value FROM dialog_variable WHERE dialog = ?1 ORDER BY name")?
        .query_map([card], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(client)
}

/// The names of every variable some client of the project holds, by name: a variable needs no
/// definition (F7.2), so an export's columns are the defined ones and these. One scan of the
/// project's variables in the card read model.
pub fn variable_names_in_use(
    cards: &Connection,
    project: ProjectId,
) -> Result<Vec<String>, ProjectionError> {
    Ok(cards
        .prepare_cached(
            "SELECT DISTINCT v.name FROM dialog_variable v
             JOIN dialog_card c ON c.rowid = v.dialog
             WHERE c.project = ?1 AND c.deleted = 0
             ORDER BY v.name",
        )?
        .query_map([project.blob()], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use crate::card::CardProjection;
    use crate::dialogs::{DialogsProjection, Filter, Folder, ListQuery, Order, Tab, Viewer};
    use crate::query::{QueryCaller, export_page};
    use crate::runtime::{ProjectionStore, open_reader, open_reader_for};
    use switchboard_schemas::events::*;
    use switchboard_schemas::*;

    fn identity(channel: ChannelId, kind: ChannelKind, id: &str) -> ChannelIdentity {
        ChannelIdentity {
            channel,
            kind,
            external_id: id.into(),
        }
    }

    /// Two clients, one with two identities, a funnel history, tags and variables, one deleted:
    /// the export's pages hold the list's rows, each with what the card and the list hold, and
    /// the variables in use are the ones live clients hold.
    #[test]
    fn an_export_page_is_the_list_page_with_identities_funnel_tags_and_variables() {
        let project = ProjectId::new();
        let (maria, gone) = (DialogId::new(), DialogId::new());
        let (telegram, whatsapp) = (ChannelId::new(), ChannelId::new());
        let tag = TagId::new();
        let registered = |name: &str, identity: ChannelIdentity| {
            Event::DialogRegistered(DialogRegistered {
                profile: ClientProfile {
                    name: Some(name.into()),
                    ..ClientProfile::default()
                },
                source: Source::default(),
                identity: Some(identity),
            })
        };
        let funnel = |block: &str| {
            Event::FunnelBlockEntered(FunnelBlockEntered {
                block: block.into(),
                block_name: format!("Block {block}"),
            })
        };
        let variable = |name: &str, value: &str| {
            Event::VariableSet(VariableSet {
                name: name.into(),
                value: value.into(),
            })
        };
        let events = vec![
            (
                maria,
                registered("Maria", identity(telegram, ChannelKind::Telegram, "1988")),
            ),
            (
                maria,
                Event::IdentityLinked(IdentityLinked {
                    identity: identity(whatsapp, ChannelKind::WhatsappCloud, "+79000000000"),
                    display_name: None,
                    avatar_url: None,
                }),
            ),
            (maria, funnel("b1")),
            (maria, funnel("b7")),
            (maria, Event::TagsAdded(TagsAdded { tags: vec![tag] })),
            (maria, variable("size", "XS")),
            (maria, variable("city", "Kazan")),
            (
                gone,
                registered("Gone", identity(telegram, ChannelKind::Telegram, "7")),
            ),
            (gone, variable("secret", "x")),
            (gone, Event::ClientDeleted(ClientDeleted {})),
        ];
        let records = crate::test_support::dialog_records(project, events);
        let dir = tempfile::tempdir().expect("temp dir");
        let (dialogs_path, cards_path) = (dir.path().join("d.sqlite"), dir.path().join("c.sqlite"));
        ProjectionStore::open(&dialogs_path, DialogsProjection::default())
            .expect("open")
            .apply(records.clone())
            .expect("apply");
        ProjectionStore::open(&cards_path, CardProjection)
            .expect("open")
            .apply(records)
            .expect("apply");
        let dialogs = open_reader_for::<DialogsProjection>(&dialogs_path).expect("reader");
        let cards = open_reader(&cards_path).expect("reader");

        let admin = QueryCaller {
            project,
            operator: OperatorId::new(),
            role: Role::Admin,
        };
        let query = ListQuery {
            project,
            viewer: Viewer {
                operator: admin.operator,
                admin: true,
            },
            tab: Tab::All,
            folder: Folder::All,
            include_closed: true,
            order: Order::Created,
            filter: Filter::default(),
            after: None,
            limit: 10,
        };
        let page = export_page(&dialogs, &cards, &admin, query).expect("page");
        assert!(page.next.is_none());
        assert_eq!(page.clients.len(), 1, "the deleted client is not exported");
        let client = &page.clients[0];
        assert_eq!(client.row.dialog, maria);
        assert_eq!(client.row.client_name.as_deref(), Some("Maria"));
        let mut identities: Vec<_> = client
            .identities
            .iter()
            .map(|i| (i.channel, i.kind.as_str(), i.external_id.as_str()))
            .collect();
        identities.sort_unstable();
        let mut expected = vec![
            (telegram, "telegram", "1988"),
            (
                whatsapp,
                ChannelKind::WhatsappCloud.as_str(),
                "+79000000000",
            ),
        ];
        expected.sort_unstable();
        assert_eq!(identities, expected);
        assert_eq!(client.funnel_block.as_deref(), Some("b7"));
        assert_eq!(client.funnel_history, vec!["b1", "b7"]);
        assert_eq!(client.tags, vec![tag]);
        assert_eq!(
            client.variables,
            vec![
                ("city".to_owned(), "Kazan".to_owned()),
                ("size".to_owned(), "XS".to_owned())
            ]
        );
        assert_eq!(
            super::variable_names_in_use(&cards, project).expect("names"),
            vec!["city", "size"],
            "a deleted client's variables are erased"
        );
        assert!(
            super::variable_names_in_use(&cards, ProjectId::new())
                .expect("names")
                .is_empty()
        );
    }
}
