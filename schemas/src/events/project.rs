//! Events of the Project aggregate (`sb.<project>.project`): operators, channels, folders, tags,
//! lists, variables, pipelines, SLA, templates and saved filters.

use crate::common::*;
use crate::ids::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCreated {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAdded {
    pub operator: OperatorId,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// F12.1: deleting clients is a separate permission.
    pub can_delete: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRoleChanged {
    pub operator: OperatorId,
    pub role: Role,
    pub can_delete: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRemoved {
    pub operator: OperatorId,
}

/// A messenger account connected to the project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConnected {
    pub channel: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDisconnected {
    pub channel: ChannelId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderCreated {
    pub folder: FolderId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderRenamed {
    pub folder: FolderId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderDeleted {
    pub folder: FolderId,
}

/// F1.5 push and sound switches of a folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderNotificationsSet {
    pub folder: FolderId,
    pub push: bool,
    pub sound: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagDefined {
    pub tag: TagId,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagDeleted {
    pub tag: TagId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDefined {
    pub list: ListId,
    pub name: String,
}

/// F7.2: a variable of the card; with `choices` it is a choice among them, else free text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableDefined {
    pub name: String,
    pub choices: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineDefined {
    pub pipeline: PipelineId,
    pub name: String,
    pub stages: Vec<Stage>,
}

/// F9.1 thresholds of waiting for an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaThresholdsSet {
    pub yellow_after_secs: u32,
    pub red_after_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSaved {
    pub template: TemplateId,
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDeleted {
    pub template: TemplateId,
}

/// F2.6: a named filter; `query` is the filter in the query API's JSON form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFilterSaved {
    pub filter: FilterId,
    pub name: String,
    pub query: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFilterDeleted {
    pub filter: FilterId,
}

/// F11.2: merge dialogs with an identical phone or email automatically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoMergeSet {
    pub enabled: bool,
}
