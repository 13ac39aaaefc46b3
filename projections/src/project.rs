//! The project read model: what a project defines, for the pickers, the folder pane, the SLA
//! marks and saved filters — operators (F12), channels (F11), folders with their notification
//! switches (F1.5), tags with colors (F2.5), lists, variables with their choices (F7.2),
//! pipelines and stages (F7.4), SLA thresholds (F9.1), templates (F3.4) and saved filters
//! (F2.6).
//!
//! Tables (ids are 32-hex tokens, times microseconds since the epoch); every key starts with the
//! project, so each project's rows are one index range:
//! - `project`: name, creation, SLA thresholds, auto-merge switch;
//! - `project_operator`, `project_channel`: kept after removal/disconnection (`removed` /
//!   `connected = 0`) so that old messages still show a name;
//! - `project_folder`, `project_tag`, `project_list`, `project_variable`, `project_pipeline`,
//!   `project_stage`, `project_template`, `project_savedfilter`: deleted definitions leave.
//!
//! Order: definitions are listed in the order they were made (`created_seq`, the log sequence
//! of the defining event), which a rebuild reproduces exactly.

use crate::runtime::{DecodedRecord, Projection, ProjectionError, Tx};
use rusqlite::{Connection, OptionalExtension, params};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

/// The projection; see the module documentation.
#[derive(Debug, Default)]
pub struct ProjectProjection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS project (
    project TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    sla_yellow_secs INTEGER,
    sla_red_secs INTEGER,
    auto_merge INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS project_operator (
    project TEXT NOT NULL,
    operator TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    can_delete INTEGER NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, operator)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_channel (
    project TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    connected INTEGER NOT NULL DEFAULT 1,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_folder (
    project TEXT NOT NULL,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    push INTEGER NOT NULL DEFAULT 1,
    sound INTEGER NOT NULL DEFAULT 1,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, folder)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_tag (
    project TEXT NOT NULL,
    tag TEXT NOT NULL,
    name TEXT NOT NULL,
    color TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, tag)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_list (
    project TEXT NOT NULL,
    list TEXT NOT NULL,
    name TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, list)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_variable (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of the allowed values; empty: free text.
    choices TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_pipeline (
    project TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    name TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, pipeline)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_stage (
    project TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    position INTEGER NOT NULL,
    stage TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (project, pipeline, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_template (
    project TEXT NOT NULL,
    template TEXT NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, template)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS project_savedfilter (
    project TEXT NOT NULL,
    filter TEXT NOT NULL,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (project, filter)
) WITHOUT ROWID;
";

impl Projection for ProjectProjection {
    fn name(&self) -> &'static str {
        "project"
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
                if matches!(envelope.aggregate, AggregateId::Project) {
                    apply_event(tx, record.seq, envelope)?;
                }
            }
        }
        Ok(())
    }
}

fn seq_of(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// One project event. Each family of events has a function of its own, which ignores the
/// others' events; the answer is the number of rows changed.
fn apply_event(tx: &Tx<'_>, seq: u64, envelope: &Envelope) -> rusqlite::Result<usize> {
    let project = envelope.project.token();
    let seq = seq_of(seq);
    Ok(apply_team(tx, &project, seq, envelope)?
        + apply_organisation(tx, &project, seq, envelope)?
        + apply_texts(tx, &project, seq, envelope)?)
}

/// The project itself, its operators and channels, its SLA thresholds and auto-merge switch.
fn apply_team(
    tx: &Tx<'_>,
    project: &str,
    seq: i64,
    envelope: &Envelope,
) -> rusqlite::Result<usize> {
    match &envelope.payload {
        Event::ProjectCreated(e) => tx
            .prepare_cached(
                "INSERT INTO project (project, name, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (project) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![project, e.name, envelope.occurred_at.as_micros()]),
        Event::OperatorAdded(e) => tx
            .prepare_cached(
                "INSERT INTO project_operator
                     (project, operator, name, email, role, can_delete, created_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (project, operator) DO UPDATE SET name = excluded.name,
                     email = excluded.email, role = excluded.role,
                     can_delete = excluded.can_delete, removed = 0",
            )?
            .execute(params![
                project,
                e.operator.token(),
                e.name,
                e.email,
                role_name(e.role),
                e.can_delete,
                seq
            ]),
        Event::OperatorRoleChanged(e) => tx
            .prepare_cached(
                "UPDATE project_operator SET role = ?3, can_delete = ?4
                 WHERE project = ?1 AND operator = ?2",
            )?
            .execute(params![
                project,
                e.operator.token(),
                role_name(e.role),
                e.can_delete
            ]),
        Event::OperatorRemoved(e) => tx
            .prepare_cached(
                "UPDATE project_operator SET removed = 1 WHERE project = ?1 AND operator = ?2",
            )?
            .execute(params![project, e.operator.token()]),
        Event::ChannelConnected(e) => tx
            .prepare_cached(
                "INSERT INTO project_channel (project, channel, kind, name, created_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, channel) DO UPDATE SET kind = excluded.kind,
                     name = excluded.name, connected = 1",
            )?
            .execute(params![
                project,
                e.channel.token(),
                e.kind.as_str(),
                e.name,
                seq
            ]),
        Event::ChannelDisconnected(e) => tx
            .prepare_cached(
                "UPDATE project_channel SET connected = 0 WHERE project = ?1 AND channel = ?2",
            )?
            .execute(params![project, e.channel.token()]),
        Event::SlaThresholdsSet(e) => tx
            .prepare_cached(
                "UPDATE project SET sla_yellow_secs = ?2, sla_red_secs = ?3 WHERE project = ?1",
            )?
            .execute(params![project, e.yellow_after_secs, e.red_after_secs]),
        Event::AutoMergeSet(e) => tx
            .prepare_cached("UPDATE project SET auto_merge = ?2 WHERE project = ?1")?
            .execute(params![project, e.enabled]),
        _ => Ok(0),
    }
}

/// How the project organises dialogs: folders, tags, lists, variables, pipelines.
fn apply_organisation(
    tx: &Tx<'_>,
    project: &str,
    seq: i64,
    envelope: &Envelope,
) -> rusqlite::Result<usize> {
    match &envelope.payload {
        Event::FolderCreated(e) => tx
            .prepare_cached(
                "INSERT INTO project_folder (project, folder, name, created_seq)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, folder) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![project, e.folder.token(), e.name, seq]),
        Event::FolderRenamed(e) => tx
            .prepare_cached("UPDATE project_folder SET name = ?3 WHERE project = ?1 AND folder = ?2")?
            .execute(params![project, e.folder.token(), e.name]),
        Event::FolderNotificationsSet(e) => tx
            .prepare_cached(
                "UPDATE project_folder SET push = ?3, sound = ?4 WHERE project = ?1 AND folder = ?2",
            )?
            .execute(params![project, e.folder.token(), e.push, e.sound]),
        Event::FolderDeleted(e) => tx
            .prepare_cached("DELETE FROM project_folder WHERE project = ?1 AND folder = ?2")?
            .execute(params![project, e.folder.token()]),
        Event::TagDefined(e) => tx
            .prepare_cached(
                "INSERT INTO project_tag (project, tag, name, color, created_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, tag) DO UPDATE SET name = excluded.name,
                     color = excluded.color",
            )?
            .execute(params![project, e.tag.token(), e.name, e.color, seq]),
        Event::TagDeleted(e) => tx
            .prepare_cached("DELETE FROM project_tag WHERE project = ?1 AND tag = ?2")?
            .execute(params![project, e.tag.token()]),
        Event::ListDefined(e) => tx
            .prepare_cached(
                "INSERT INTO project_list (project, list, name, created_seq)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, list) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![project, e.list.token(), e.name, seq]),
        Event::VariableDefined(e) => {
            let choices = serde_json::to_string(&e.choices)
                .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
            tx.prepare_cached(
                "INSERT INTO project_variable (project, name, choices, created_seq)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, name) DO UPDATE SET choices = excluded.choices",
            )?
            .execute(params![project, e.name, choices, seq])
        }
        Event::PipelineDefined(e) => {
            let pipeline = e.pipeline.token();
            tx.prepare_cached(
                "INSERT INTO project_pipeline (project, pipeline, name, created_seq)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, pipeline) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![project, pipeline, e.name, seq])?;
            // A redefinition replaces the stages.
            tx.prepare_cached("DELETE FROM project_stage WHERE project = ?1 AND pipeline = ?2")?
                .execute(params![project, pipeline])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO project_stage (project, pipeline, position, stage, name)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (position, stage) in e.stages.iter().enumerate() {
                insert.execute(params![
                    project,
                    pipeline,
                    position as i64,
                    stage.stage.token(),
                    stage.name
                ])?;
            }
            Ok(e.stages.len())
        }
        _ => Ok(0),
    }
}

/// The texts operators reuse: templates and saved filters.
fn apply_texts(
    tx: &Tx<'_>,
    project: &str,
    seq: i64,
    envelope: &Envelope,
) -> rusqlite::Result<usize> {
    match &envelope.payload {
        Event::TemplateSaved(e) => tx
            .prepare_cached(
                "INSERT INTO project_template (project, template, name, text, created_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, template) DO UPDATE SET name = excluded.name,
                     text = excluded.text",
            )?
            .execute(params![project, e.template.token(), e.name, e.text, seq]),
        Event::TemplateDeleted(e) => tx
            .prepare_cached("DELETE FROM project_template WHERE project = ?1 AND template = ?2")?
            .execute(params![project, e.template.token()]),
        Event::SavedFilterSaved(e) => tx
            .prepare_cached(
                "INSERT INTO project_savedfilter (project, filter, name, query, created_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, filter) DO UPDATE SET name = excluded.name,
                     query = excluded.query",
            )?
            .execute(params![project, e.filter.token(), e.name, e.query, seq]),
        Event::SavedFilterDeleted(e) => tx
            .prepare_cached("DELETE FROM project_savedfilter WHERE project = ?1 AND filter = ?2")?
            .execute(params![project, e.filter.token()]),
        _ => Ok(0),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Operator => "operator",
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

fn id<T: std::str::FromStr>(column: usize, text: String) -> rusqlite::Result<T> {
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("not an id: {text:?}").into(),
        )
    })
}

/// F9.1 thresholds of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaThresholds {
    pub yellow_after_secs: u32,
    pub red_after_secs: u32,
}

/// The F9 mark of a waiting dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlaMark {
    None,
    Yellow,
    Red,
}

impl SlaThresholds {
    /// The mark of a dialog whose client waits since `since` (none when nobody waits), at
    /// `now`.
    pub fn mark(self, since: Option<Timestamp>, now: Timestamp) -> SlaMark {
        let Some(since) = since else {
            return SlaMark::None;
        };
        let waited = now.as_micros().saturating_sub(since.as_micros());
        let secs = |s: u32| i64::from(s) * 1_000_000;
        if waited >= secs(self.red_after_secs) {
            SlaMark::Red
        } else if waited >= secs(self.yellow_after_secs) {
            SlaMark::Yellow
        } else {
            SlaMark::None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectInfo {
    pub project: ProjectId,
    pub name: String,
    pub created_at: Timestamp,
    pub sla: Option<SlaThresholds>,
    pub auto_merge: bool,
}

pub fn project_info(
    conn: &Connection,
    project: ProjectId,
) -> Result<Option<ProjectInfo>, ProjectionError> {
    Ok(conn
        .prepare_cached(
            "SELECT name, created_at, sla_yellow_secs, sla_red_secs, auto_merge
             FROM project WHERE project = ?1",
        )?
        .query_row([project.token()], |r| {
            let yellow: Option<u32> = r.get(2)?;
            let red: Option<u32> = r.get(3)?;
            Ok(ProjectInfo {
                project,
                name: r.get(0)?,
                created_at: Timestamp::from_micros(r.get(1)?),
                sla: yellow.zip(red).map(|(yellow, red)| SlaThresholds {
                    yellow_after_secs: yellow,
                    red_after_secs: red,
                }),
                auto_merge: r.get(4)?,
            })
        })
        .optional()?)
}

/// One operator as the project read model lists it, removed ones too (the domain keeps its own
/// current members as `core::domain::project::OperatorInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectOperator {
    pub operator: OperatorId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub can_delete: bool,
    pub removed: bool,
}

/// Every operator the project ever had, in the order they were added.
pub fn operators(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<ProjectOperator>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT operator, name, email, role, can_delete, removed FROM project_operator
         WHERE project = ?1 ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        let role: String = r.get(3)?;
        Ok(ProjectOperator {
            operator: id(0, r.get(0)?)?,
            name: r.get(1)?,
            email: r.get(2)?,
            role: if role == "admin" {
                Role::Admin
            } else {
                Role::Operator
            },
            can_delete: r.get(4)?,
            removed: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One operator of the project (removed ones too), if the project ever had them.
pub fn operator(
    conn: &Connection,
    project: ProjectId,
    operator: OperatorId,
) -> Result<Option<ProjectOperator>, ProjectionError> {
    Ok(conn
        .prepare_cached(
            "SELECT name, email, role, can_delete, removed FROM project_operator
             WHERE project = ?1 AND operator = ?2",
        )?
        .query_row([project.token(), operator.token()], |r| {
            let role: String = r.get(2)?;
            Ok(ProjectOperator {
                operator,
                name: r.get(0)?,
                email: r.get(1)?,
                role: if role == "admin" {
                    Role::Admin
                } else {
                    Role::Operator
                },
                can_delete: r.get(3)?,
                removed: r.get(4)?,
            })
        })
        .optional()?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel: ChannelId,
    pub kind: String,
    pub name: String,
    pub connected: bool,
}

pub fn channels(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<ChannelInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT channel, kind, name, connected FROM project_channel
         WHERE project = ?1 ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok(ChannelInfo {
            channel: id(0, r.get(0)?)?,
            kind: r.get(1)?,
            name: r.get(2)?,
            connected: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The connected channels of `kind` in every project (what `serve` runs a mailbox loop for).
pub fn connected_channels_of_kind(
    conn: &Connection,
    kind: &str,
) -> Result<Vec<(ProjectId, ChannelId)>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT project, channel FROM project_channel
         WHERE kind = ?1 AND connected ORDER BY created_seq",
    )?;
    let rows = statement.query_map([kind], |r| Ok((id(0, r.get(0)?)?, id(1, r.get(1)?)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A custom folder (F1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    pub folder: FolderId,
    pub name: String,
    pub push: bool,
    pub sound: bool,
}

/// The project's custom folders in the order they were created.
pub fn folders(conn: &Connection, project: ProjectId) -> Result<Vec<FolderInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT folder, name, push, sound FROM project_folder
         WHERE project = ?1 ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok(FolderInfo {
            folder: id(0, r.get(0)?)?,
            name: r.get(1)?,
            push: r.get(2)?,
            sound: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub tag: TagId,
    pub name: String,
    pub color: String,
}

pub fn tags(conn: &Connection, project: ProjectId) -> Result<Vec<TagInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT tag, name, color FROM project_tag WHERE project = ?1 ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok(TagInfo {
            tag: id(0, r.get(0)?)?,
            name: r.get(1)?,
            color: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    pub list: ListId,
    pub name: String,
}

pub fn lists(conn: &Connection, project: ProjectId) -> Result<Vec<ListInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT list, name FROM project_list WHERE project = ?1 ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok(ListInfo {
            list: id(0, r.get(0)?)?,
            name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableInfo {
    pub name: String,
    /// Allowed values; empty: free text.
    pub choices: Vec<String>,
}

pub fn variables(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<VariableInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT name, choices FROM project_variable WHERE project = ?1 ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut variables = Vec::new();
    for row in rows {
        let (name, choices) = row?;
        let choices = serde_json::from_str(&choices)
            .map_err(|e| ProjectionError::Corrupt(format!("choices of {name}: {e}")))?;
        variables.push(VariableInfo { name, choices });
    }
    Ok(variables)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineInfo {
    pub pipeline: PipelineId,
    pub name: String,
    pub stages: Vec<Stage>,
}

pub fn pipelines(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<PipelineInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT pipeline, name FROM project_pipeline WHERE project = ?1 ORDER BY created_seq",
    )?;
    let heads = statement
        .query_map([project.token()], |r| {
            Ok((id::<PipelineId>(0, r.get(0)?)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stages = conn.prepare_cached(
        "SELECT stage, name FROM project_stage WHERE project = ?1 AND pipeline = ?2
         ORDER BY position",
    )?;
    let mut pipelines = Vec::with_capacity(heads.len());
    for (pipeline, name) in heads {
        let list = stages
            .query_map(params![project.token(), pipeline.token()], |r| {
                Ok(Stage {
                    stage: id(0, r.get(0)?)?,
                    name: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        pipelines.push(PipelineInfo {
            pipeline,
            name,
            stages: list,
        });
    }
    Ok(pipelines)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub template: TemplateId,
    pub name: String,
    pub text: String,
}

pub fn templates(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<TemplateInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT template, name, text FROM project_template WHERE project = ?1
         ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok(TemplateInfo {
            template: id(0, r.get(0)?)?,
            name: r.get(1)?,
            text: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A saved filter (F2.6): its name and the stored query text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFilterInfo {
    pub filter: FilterId,
    pub name: String,
    pub query: String,
}

pub fn saved_filters(
    conn: &Connection,
    project: ProjectId,
) -> Result<Vec<SavedFilterInfo>, ProjectionError> {
    let mut statement = conn.prepare_cached(
        "SELECT filter, name, query FROM project_savedfilter WHERE project = ?1
         ORDER BY created_seq",
    )?;
    let rows = statement.query_map([project.token()], |r| {
        Ok(SavedFilterInfo {
            filter: id(0, r.get(0)?)?,
            name: r.get(1)?,
            query: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sla_marks_follow_the_thresholds() {
        let sla = SlaThresholds {
            yellow_after_secs: 60,
            red_after_secs: 300,
        };
        let since = Timestamp::from_micros(1_000_000_000);
        let at = |secs: i64| Timestamp::from_micros(1_000_000_000 + secs * 1_000_000);
        assert_eq!(sla.mark(None, at(10_000)), SlaMark::None);
        assert_eq!(sla.mark(Some(since), at(59)), SlaMark::None);
        assert_eq!(sla.mark(Some(since), at(60)), SlaMark::Yellow);
        assert_eq!(sla.mark(Some(since), at(299)), SlaMark::Yellow);
        assert_eq!(sla.mark(Some(since), at(300)), SlaMark::Red);
        // A clock behind the wait start never marks.
        assert_eq!(sla.mark(Some(since), at(-5)), SlaMark::None);
    }
}
