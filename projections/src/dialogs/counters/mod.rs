//! The counters of the dialog list, kept exact on every event, and what one dialog contributes
//! to them.
//!
//! A dialog is unread for an operator when they marked it unread or it has more client
//! messages than they had read (no read row: any client message). Counting that per operator
//! without a row per (dialog, operator of the project) splits in two: the *base* row (operator
//! `''`) counts the dialogs in a scope that have client messages (unread for whoever never
//! opened them), and each operator's own row holds the correction from their read states (−1
//! when they read a dialog up, +1 when they marked unread one without client messages). An
//! operator's count is base + own row: O(1) to read, exact, never capped. Every event that can
//! change a dialog's contribution retracts it before and adds it back after, so an event costs
//! O(operators who opened the dialog × its scopes).
//!
//! Scopes of a live (not deleted, not merged away) dialog: `all`; `assignee:<op>` or `free`;
//! per custom folder `folder:<f>` and `folder:<f>:assignee:<op>` or `folder:<f>:free`; when the
//! bot is paused the same for `with_operator`. Counter names are `unread:<scope>` and
//! `unanswered:<scope>` (*Unanswered* is per dialog, so it has base rows only), and `tag:<t>`,
//! the number of live dialogs carrying a tag (F2.5). Closed dialogs count like open ones.
//!
//! Keys are typed ids (compared as integers), not the names; they are stored in binary
//! ([`CounterKey::stored`]: kind, scope codes, ids as 16 bytes; read back by
//! [`CounterKey::from_stored`]); the names of [`CounterKey::row`] are for tests and
//! comparisons. The inputs of a dialog change only by the events of [`affects`];
//! [`InputsCache`] keeps them for recently applied dialogs and [`Inputs::apply`] moves them
//! with each event exactly as the applier's SQL moves the stored columns and rows, so an
//! event's contribution before and after comes from memory. Debug builds (every test) read the
//! stored inputs back after every event and fail the batch when memory and file differ.
//!
//! Submodules: `read` (the counter queries), `tests`.

use crate::blobid::{self, BlobId};
use crate::runtime::{ProjectionError, Tx};
use std::collections::{BTreeMap, HashMap};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

mod read;
#[cfg(test)]
mod tests;

pub use read::{
    all_counters, folder_badge, recount, tag_usage, unanswered_dialogs, unread_dialogs,
};

/// A set of dialogs a counter counts over; `owner` narrows a group to one assignee or the free
/// dialogs (`None`: the whole group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Scope {
    group: Group,
    owner: Option<Owner>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    All,
    WithOperator,
    Folder(u128),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Free,
    Assignee(u128),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Name {
    Tag(u128),
    Unanswered(Scope),
    Unread(Scope),
}

/// One counter row: (project, operator or none for the base row, name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CounterKey {
    project: u128,
    operator: Option<u128>,
    name: Name,
}

impl Scope {
    fn write(&self, out: &mut String) {
        use std::fmt::Write;
        let group = |out: &mut String| match self.group {
            Group::All => {}
            Group::WithOperator => out.push_str("with_operator:"),
            Group::Folder(f) => {
                let _ = write!(out, "folder:{}:", FolderId::from_u128(f).token());
            }
        };
        match self.owner {
            None => match self.group {
                Group::All => out.push_str("all"),
                Group::WithOperator => out.push_str("with_operator"),
                Group::Folder(f) => {
                    let _ = write!(out, "folder:{}", FolderId::from_u128(f).token());
                }
            },
            Some(Owner::Free) => {
                group(out);
                out.push_str("free");
            }
            Some(Owner::Assignee(op)) => {
                group(out);
                let _ = write!(out, "assignee:{}", OperatorId::from_u128(op).token());
            }
        }
    }
}

impl CounterKey {
    /// The stored row key: (project token, operator token or '', counter name).
    pub(super) fn row(&self) -> (String, String, String) {
        let operator = self
            .operator
            .map(|op| OperatorId::from_u128(op).token())
            .unwrap_or_default();
        let mut name = String::with_capacity(96);
        match &self.name {
            Name::Tag(tag) => {
                name.push_str("tag:");
                name.push_str(&TagId::from_u128(*tag).token());
            }
            Name::Unanswered(scope) => {
                name.push_str("unanswered:");
                scope.write(&mut name);
            }
            Name::Unread(scope) => {
                name.push_str("unread:");
                scope.write(&mut name);
            }
        }
        (ProjectId::from_u128(self.project).token(), operator, name)
    }

    /// Whether this is an unread counter (the only kind with per-operator rows).
    pub(super) fn is_unread(&self) -> bool {
        matches!(self.name, Name::Unread(_))
    }

    /// F1.7, F1.5: an unread counter of `folder` (`None`: the whole project) narrowed to
    /// `owner` (`None`: every dialog of it; `Some(None)`: the free ones; `Some(Some(op))`:
    /// those assigned to `op`), the base row (`operator: None`) or an operator's correction.
    pub(super) fn unread(
        project: ProjectId,
        operator: Option<OperatorId>,
        folder: Option<FolderGroup>,
        owner: Option<Option<OperatorId>>,
    ) -> Self {
        Self::scoped(project, operator, Name::Unread(Scope::of(folder, owner)))
    }

    /// F1.4: an *Unanswered* counter (base rows only), scoped as [`Self::unread`].
    pub(super) fn unanswered(
        project: ProjectId,
        folder: Option<FolderGroup>,
        owner: Option<Option<OperatorId>>,
    ) -> Self {
        Self::scoped(project, None, Name::Unanswered(Scope::of(folder, owner)))
    }

    fn scoped(project: ProjectId, operator: Option<OperatorId>, name: Name) -> Self {
        Self {
            project: project.as_uuid().as_u128(),
            operator: operator.map(|o| o.as_uuid().as_u128()),
            name,
        }
    }

    /// The stored row key: project (16 bytes), operator (16 bytes, empty for a base row), kind
    /// (`KIND_*`) and the scope or tag in the compact form of [`encode_scope`].
    pub(super) fn stored(&self) -> ([u8; 16], Vec<u8>, i64, Vec<u8>) {
        let operator = self
            .operator
            .map(|o| o.to_be_bytes().to_vec())
            .unwrap_or_default();
        let (kind, scope) = match &self.name {
            Name::Unread(scope) => (KIND_UNREAD, encode_scope(scope)),
            Name::Unanswered(scope) => (KIND_UNANSWERED, encode_scope(scope)),
            Name::Tag(tag) => (KIND_TAG, tag.to_be_bytes().to_vec()),
        };
        (self.project.to_be_bytes(), operator, kind, scope)
    }

    /// A stored row key back ([`Self::stored`]); anything malformed is `Corrupt`.
    pub(super) fn from_stored(
        project: &[u8],
        operator: &[u8],
        kind: i64,
        scope: &[u8],
    ) -> Result<Self, ProjectionError> {
        let corrupt = |what: &str| {
            ProjectionError::Corrupt(format!("counter key: {what} ({kind}, {scope:02x?})"))
        };
        let id = |bytes: &[u8]| {
            <[u8; 16]>::try_from(bytes)
                .map(u128::from_be_bytes)
                .map_err(|_| corrupt("an id is not 16 bytes"))
        };
        let name = match kind {
            KIND_UNREAD => Name::Unread(decode_scope(scope).ok_or_else(|| corrupt("bad scope"))?),
            KIND_UNANSWERED => {
                Name::Unanswered(decode_scope(scope).ok_or_else(|| corrupt("bad scope"))?)
            }
            KIND_TAG => Name::Tag(id(scope)?),
            _ => return Err(corrupt("unknown kind")),
        };
        Ok(Self {
            project: id(project)?,
            operator: if operator.is_empty() {
                None
            } else {
                Some(id(operator)?)
            },
            name,
        })
    }

    /// The scope prefix every counter of `folder` starts with (to forget them all).
    pub(super) fn folder_prefix(folder: FolderId) -> Vec<u8> {
        let mut out = vec![GROUP_FOLDER];
        out.extend(folder.as_uuid().as_u128().to_be_bytes());
        out
    }
}

/// A custom folder or the built-in *With operator* as a counter's group (`None` where it is
/// used: the whole project).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FolderGroup {
    WithOperator,
    Custom(FolderId),
}

impl Scope {
    fn of(folder: Option<FolderGroup>, owner: Option<Option<OperatorId>>) -> Self {
        Self {
            group: match folder {
                None => Group::All,
                Some(FolderGroup::WithOperator) => Group::WithOperator,
                Some(FolderGroup::Custom(f)) => Group::Folder(f.as_uuid().as_u128()),
            },
            owner: owner.map(|o| match o {
                None => Owner::Free,
                Some(op) => Owner::Assignee(op.as_uuid().as_u128()),
            }),
        }
    }
}

/// Stored counter kinds.
const KIND_UNREAD: i64 = 1;
const KIND_UNANSWERED: i64 = 2;
const KIND_TAG: i64 = 3;

/// Stored scope codes: the group, then the owner, each a byte followed by an id's 16 bytes
/// where it names one.
const GROUP_ALL: u8 = 0;
const GROUP_WITH_OPERATOR: u8 = 1;
const GROUP_FOLDER: u8 = 2;
const OWNER_NONE: u8 = 0;
const OWNER_FREE: u8 = 1;
const OWNER_ASSIGNEE: u8 = 2;

/// A scope in 2 to 34 bytes (the 36 to 100-character names it had as text).
fn encode_scope(scope: &Scope) -> Vec<u8> {
    let mut out = Vec::with_capacity(34);
    match scope.group {
        Group::All => out.push(GROUP_ALL),
        Group::WithOperator => out.push(GROUP_WITH_OPERATOR),
        Group::Folder(f) => {
            out.push(GROUP_FOLDER);
            out.extend(f.to_be_bytes());
        }
    }
    match scope.owner {
        None => out.push(OWNER_NONE),
        Some(Owner::Free) => out.push(OWNER_FREE),
        Some(Owner::Assignee(op)) => {
            out.push(OWNER_ASSIGNEE);
            out.extend(op.to_be_bytes());
        }
    }
    out
}

fn decode_scope(bytes: &[u8]) -> Option<Scope> {
    let id = |b: &[u8]| <[u8; 16]>::try_from(b).ok().map(u128::from_be_bytes);
    let (group, rest) = match bytes.split_first()? {
        (&GROUP_ALL, rest) => (Group::All, rest),
        (&GROUP_WITH_OPERATOR, rest) => (Group::WithOperator, rest),
        (&GROUP_FOLDER, rest) if rest.len() >= 16 => (Group::Folder(id(&rest[..16])?), &rest[16..]),
        _ => return None,
    };
    let owner = match rest.split_first()? {
        (&OWNER_NONE, []) => None,
        (&OWNER_FREE, []) => Some(Owner::Free),
        (&OWNER_ASSIGNEE, op) => Some(Owner::Assignee(id(op)?)),
        _ => return None,
    };
    Some(Scope { group, owner })
}

/// An operator's read state of one dialog (a `dialogoperator_read` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reader {
    operator: OperatorId,
    inbound_read: i64,
    marked_unread: bool,
}

/// What a dialog's counter contributions depend on: its `dialog_row` columns and its rows in
/// `dialog_folder`, `dialog_tag` and `dialogoperator_read` (sets kept sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inputs {
    /// The rowid of its `dialog_row`.
    row: i64,
    deleted: bool,
    merged: bool,
    inbound_count: i64,
    unanswered: bool,
    assignee: Option<OperatorId>,
    bot_paused: bool,
    folders: Vec<FolderId>,
    tags: Vec<TagId>,
    readers: Vec<Reader>,
}

/// Whether an event can change what a dialog contributes to the counters.
pub(super) fn affects(event: &Event) -> bool {
    matches!(
        event,
        Event::DialogRegistered(_)
            | Event::MessageReceived(_)
            | Event::MessageQueued(_)
            | Event::ReadMarked(_)
            | Event::MarkedUnread(_)
            | Event::DialogAssigned(_)
            | Event::DialogUnassigned(_)
            | Event::FoldersJoined(_)
            | Event::FoldersLeft(_)
            | Event::TagsAdded(_)
            | Event::TagsRemoved(_)
            | Event::BotPaused(_)
            | Event::BotResumed(_)
            | Event::ClientDeleted(_)
            | Event::DialogMergedInto(_)
    )
}

fn insert_sorted<T: Ord>(set: &mut Vec<T>, value: T) {
    if let Err(at) = set.binary_search(&value) {
        set.insert(at, value);
    }
}

fn remove_sorted<T: Ord>(set: &mut Vec<T>, value: &T) {
    if let Ok(at) = set.binary_search(value) {
        set.remove(at);
    }
}

impl Inputs {
    /// The stored inputs of `dialog` (its stored id); `None` when it has no row.
    pub(super) fn load(
        tx: &rusqlite::Connection,
        dialog: &[u8; 16],
    ) -> Result<Option<Self>, ProjectionError> {
        let mut statement = tx.prepare_cached(
            "SELECT deleted, merged_into IS NOT NULL, inbound_count, unanswered,
                    (SELECT id FROM idkey WHERE key = assignee_key), bot_paused, rowid
             FROM dialog_row WHERE dialog = ?1",
        )?;
        let mut rows = statement.query([dialog])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let (deleted, merged, inbound_count, unanswered, bot_paused, row) = (
            r.get::<_, bool>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, bool>(5)?,
            r.get::<_, i64>(6)?,
        );
        let assignee: Option<OperatorId> = match r.get::<_, Option<String>>(4)? {
            None => None,
            Some(token) => Some(token.parse().map_err(|_| {
                ProjectionError::Corrupt(format!("dialog_row.assignee_key: {token:?}"))
            })?),
        };
        drop(rows);
        drop(statement);
        let mut folders: Vec<FolderId> = blobid::all(
            tx,
            "SELECT folder FROM dialog_folder WHERE dialog = ?1",
            [row],
            "dialog_folder.folder",
        )?;
        folders.sort_unstable();
        let mut tags: Vec<TagId> = blobid::all(
            tx,
            "SELECT tag FROM dialog_tag WHERE dialog = ?1",
            [row],
            "dialog_tag.tag",
        )?;
        tags.sort_unstable();
        let mut readers = Vec::new();
        let mut statement = tx.prepare_cached(
            "SELECT (SELECT id FROM idkey WHERE key = operator), inbound_read, marked_unread
             FROM dialogoperator_read WHERE dialog = ?1",
        )?;
        let mut rows = statement.query([row])?;
        while let Some(r) = rows.next()? {
            let token: Option<String> = r.get(0)?;
            let operator = token
                .as_deref()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| {
                    ProjectionError::Corrupt(format!(
                        "dialogoperator_read.operator: not an operator's key ({token:?})"
                    ))
                })?;
            readers.push(Reader {
                operator,
                inbound_read: r.get(1)?,
                marked_unread: r.get(2)?,
            });
        }
        drop(rows);
        drop(statement);
        readers.sort_unstable_by_key(|r| r.operator);
        Ok(Some(Self {
            row,
            deleted,
            merged,
            inbound_count,
            unanswered,
            assignee,
            bot_paused,
            folders,
            tags,
            readers,
        }))
    }

    /// The rowid of the dialog's `dialog_row`, which the membership tables hold.
    pub(super) fn row(&self) -> i64 {
        self.row
    }

    /// Whether the dialog is a tombstone (F4.8), whose erased tables are not added to.
    pub(super) fn deleted(&self) -> bool {
        self.deleted
    }

    fn read_by(&mut self, operator: OperatorId) {
        let inbound_read = self.inbound_count;
        match self.readers.binary_search_by_key(&operator, |r| r.operator) {
            Ok(at) => {
                self.readers[at].inbound_read = inbound_read;
                self.readers[at].marked_unread = false;
            }
            Err(at) => self.readers.insert(
                at,
                Reader {
                    operator,
                    inbound_read,
                    marked_unread: false,
                },
            ),
        }
    }

    /// Moves the inputs of an existing dialog by one event, as the parent module's SQL moves
    /// the stored ones. `DialogRegistered` never reaches here (the stored row is read instead).
    pub(super) fn apply(&mut self, event: &Event) {
        match event {
            Event::MessageReceived(_) => {
                self.inbound_count += 1;
                self.unanswered = true;
            }
            Event::MessageQueued(e) => {
                if let MessageAuthor::Operator(op) = e.author {
                    self.unanswered = false;
                    self.read_by(op);
                }
            }
            Event::ReadMarked(e) => {
                self.unanswered = false;
                self.read_by(e.operator);
            }
            Event::MarkedUnread(e) => {
                match self
                    .readers
                    .binary_search_by_key(&e.operator, |r| r.operator)
                {
                    Ok(at) => self.readers[at].marked_unread = true,
                    Err(at) => self.readers.insert(
                        at,
                        Reader {
                            operator: e.operator,
                            inbound_read: 0,
                            marked_unread: true,
                        },
                    ),
                }
            }
            Event::DialogAssigned(e) => self.assignee = Some(e.operator),
            Event::DialogUnassigned(_) => self.assignee = None,
            Event::BotPaused(_) => self.bot_paused = true,
            Event::BotResumed(_) => self.bot_paused = false,
            Event::FoldersJoined(e) => {
                for folder in &e.folders {
                    insert_sorted(&mut self.folders, *folder);
                }
            }
            Event::FoldersLeft(e) => {
                for folder in &e.folders {
                    remove_sorted(&mut self.folders, folder);
                }
            }
            Event::TagsAdded(e) => {
                for tag in &e.tags {
                    insert_sorted(&mut self.tags, *tag);
                }
            }
            Event::TagsRemoved(e) => {
                for tag in &e.tags {
                    remove_sorted(&mut self.tags, tag);
                }
            }
            Event::ClientDeleted(_) => {
                self.deleted = true;
                self.unanswered = false;
            }
            Event::DialogMergedInto(_) => self.merged = true,
            _ => {}
        }
    }

    /// Pushes `sign` × this dialog's contributions to the counters of `project`.
    pub(super) fn contribute(
        &self,
        project: ProjectId,
        sign: i64,
        out: &mut Vec<(CounterKey, i64)>,
    ) {
        if self.deleted || self.merged {
            return;
        }
        let project = project.as_uuid().as_u128();
        let base = |name| CounterKey {
            project,
            operator: None,
            name,
        };
        for tag in &self.tags {
            out.push((base(Name::Tag(tag.as_uuid().as_u128())), sign));
        }
        let owner = Some(match self.assignee {
            Some(op) => Owner::Assignee(op.as_uuid().as_u128()),
            None => Owner::Free,
        });
        let groups = std::iter::once(Group::All)
            .chain(
                self.folders
                    .iter()
                    .map(|f| Group::Folder(f.as_uuid().as_u128())),
            )
            .chain(self.bot_paused.then_some(Group::WithOperator));
        let base_unread = self.inbound_count > 0;
        for group in groups {
            for owner in [None, owner] {
                let scope = Scope { group, owner };
                if self.unanswered {
                    out.push((base(Name::Unanswered(scope)), sign));
                }
                if base_unread {
                    out.push((base(Name::Unread(scope)), sign));
                }
                for reader in &self.readers {
                    let unread = reader.marked_unread || reader.inbound_read < self.inbound_count;
                    let correction = i64::from(unread) - i64::from(base_unread);
                    if correction != 0 {
                        out.push((
                            CounterKey {
                                project,
                                operator: Some(reader.operator.as_uuid().as_u128()),
                                name: Name::Unread(scope),
                            },
                            sign * correction,
                        ));
                    }
                }
            }
        }
    }
}

/// Sums `changes` into `pending`, dropping what cancels out.
pub(super) fn add_changes(
    changes: &mut Vec<(CounterKey, i64)>,
    pending: &mut BTreeMap<CounterKey, i64>,
) {
    changes.sort_unstable_by_key(|(key, _)| *key);
    let mut at = 0;
    while at < changes.len() {
        let key = changes[at].0;
        let mut sum = 0;
        while at < changes.len() && changes[at].0 == key {
            sum += changes[at].1;
            at += 1;
        }
        if sum != 0 {
            *pending.entry(key).or_insert(0) += sum;
        }
    }
    changes.clear();
}

/// Most dialogs whose inputs are kept; past that the cache starts over (the busy dialogs come
/// back first). ≈ 150 bytes each.
const CACHED_DIALOGS: usize = 200_000;

/// The inputs of recently applied dialogs. It is only valid together with the file it was
/// filled from: a batch that does not commit must [`InputsCache::clear`] it.
#[derive(Debug, Default)]
pub(super) struct InputsCache {
    dialogs: HashMap<DialogId, Inputs>,
}

impl InputsCache {
    /// The inputs of `dialog` (`None`: no row), from memory or the file.
    pub(super) fn get(
        &mut self,
        tx: &Tx<'_>,
        dialog: DialogId,
    ) -> Result<Option<&mut Inputs>, ProjectionError> {
        if !self.dialogs.contains_key(&dialog) {
            let Some(inputs) = Inputs::load(tx, &dialog.blob())? else {
                return Ok(None);
            };
            if self.dialogs.len() >= CACHED_DIALOGS {
                self.dialogs.clear();
            }
            self.dialogs.insert(dialog, inputs);
        }
        Ok(self.dialogs.get_mut(&dialog))
    }

    pub(super) fn clear(&mut self) {
        self.dialogs.clear();
    }
}
