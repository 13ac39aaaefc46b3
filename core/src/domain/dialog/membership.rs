//! What the dialog belongs to and carries: tags and lists (F7.3), folders (F1.5), variables
//! (F7.2), the deal (F7.4), tasks (F7.5) and the funnel block.

use super::{DialogCommand as C, DialogCommand, DialogState, SHORT_MAX};
use crate::domain::{Context, Refusal, bounded_text};
use std::collections::BTreeSet;
use switchboard_schemas::events::*;

/// Decide one of the membership commands (the others never reach here: [`super::decide`]
/// dispatches by family).
pub(super) fn decide(
    state: &DialogState,
    command: DialogCommand,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, Refusal> {
    // At most one event; an event is 300 bytes, so not the four a first push would make room for.
    let mut events = Vec::with_capacity(1);
    match command {
        C::AddTags { tags } => {
            let new = joining(&tags, &state.tags, "tag", |t| ctx.project.has_tag(t))?;
            push_if_any(&mut events, new, |tags| {
                Event::TagsAdded(TagsAdded { tags })
            });
        }
        C::RemoveTags { tags } => {
            let present = leaving(&tags, &state.tags);
            push_if_any(&mut events, present, |tags| {
                Event::TagsRemoved(TagsRemoved { tags })
            });
        }
        C::JoinLists { lists } => {
            let new = joining(&lists, &state.lists, "list", |l| ctx.project.has_list(l))?;
            push_if_any(&mut events, new, |lists| {
                Event::ListsJoined(ListsJoined { lists })
            });
        }
        C::LeaveLists { lists } => {
            let present = leaving(&lists, &state.lists);
            push_if_any(&mut events, present, |lists| {
                Event::ListsLeft(ListsLeft { lists })
            });
        }
        C::JoinFolders { folders } => {
            let new = joining(&folders, &state.folders, "folder", |f| {
                ctx.project.has_folder(f)
            })?;
            push_if_any(&mut events, new, |folders| {
                Event::FoldersJoined(FoldersJoined { folders })
            });
        }
        C::LeaveFolders { folders } => {
            let present = leaving(&folders, &state.folders);
            push_if_any(&mut events, present, |folders| {
                Event::FoldersLeft(FoldersLeft { folders })
            });
        }
        C::SetVariable { name, value } => {
            bounded_text("name", &name, 100, false)?;
            bounded_text("value", &value, 4096, true)?;
            if let Some(choices) = ctx.project.variable_choices(&name)
                && !choices.is_empty()
                && !choices.contains(&value)
            {
                return Err(Refusal::invalid(
                    "value",
                    "not one of the variable's choices",
                ));
            }
            if state.variables.get(&name) != Some(&value) {
                events.push(Event::VariableSet(VariableSet { name, value }));
            }
        }
        C::ClearVariable { name } => {
            if state.variables.contains_key(&name) {
                events.push(Event::VariableCleared(VariableCleared { name }));
            }
        }
        C::ChangeDealStage { pipeline, stage } => {
            match ctx.project.pipeline_has_stage(pipeline, stage) {
                None => return Err(Refusal::unknown("pipeline", pipeline)),
                Some(false) => return Err(Refusal::unknown("stage", stage)),
                Some(true) => {}
            }
            if state.deal_stage != Some((pipeline, stage)) {
                let previous = state.deal_stage.map(|(_, s)| s);
                events.push(Event::DealStageChanged(DealStageChanged {
                    pipeline,
                    stage,
                    previous,
                }));
            }
        }
        C::UpdateDeal {
            line,
            channel,
            sales_sum_minor,
            sales_count,
        } => {
            if !(1..=2).contains(&line) {
                return Err(Refusal::invalid("line", "must be 1 or 2"));
            }
            if sales_sum_minor < 0 {
                return Err(Refusal::invalid("sales_sum_minor", "must not be negative"));
            }
            if let Some(channel) = channel
                && ctx.project.channel(channel).is_none()
            {
                return Err(Refusal::unknown("channel", channel));
            }
            events.push(Event::DealUpdated(DealUpdated {
                line,
                channel,
                sales_sum_minor,
                sales_count,
            }));
        }
        C::CreateTask { task, text, due } => {
            bounded_text("text", &text, 2000, false)?;
            if state.tasks.contains_key(&task) {
                return Err(Refusal::AlreadyExists {
                    kind: "task",
                    id: task.to_string(),
                });
            }
            events.push(Event::TaskCreated(TaskCreated { task, text, due }));
        }
        C::CompleteTask { task } => match state.tasks.get(&task) {
            None => return Err(Refusal::unknown("task", task)),
            Some(true) => {}
            Some(false) => events.push(Event::TaskCompleted(TaskCompleted { task })),
        },
        C::EnterFunnelBlock { block, block_name } => {
            bounded_text("block", &block, SHORT_MAX, false)?;
            bounded_text("block_name", &block_name, SHORT_MAX, true)?;
            events.push(Event::FunnelBlockEntered(FunnelBlockEntered {
                block,
                block_name,
            }));
        }
        other => unreachable!("not a membership command: {other:?}"),
    }
    Ok(events)
}

/// Membership to add (tags, lists, folders): every id must be defined in the project; answers
/// the distinct ones not yet present.
fn joining<T: Ord + Copy + std::fmt::Display>(
    wanted: &[T],
    have: &BTreeSet<T>,
    kind: &'static str,
    defined: impl Fn(T) -> bool,
) -> Result<Vec<T>, Refusal> {
    if let Some(unknown) = wanted.iter().find(|id| !defined(**id)) {
        return Err(Refusal::unknown(kind, unknown));
    }
    let mut seen = BTreeSet::new();
    Ok(wanted
        .iter()
        .copied()
        .filter(|t| !have.contains(t) && seen.insert(*t))
        .collect())
}

/// Membership to remove: the distinct ids that are present.
fn leaving<T: Ord + Copy>(wanted: &[T], have: &BTreeSet<T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    wanted
        .iter()
        .copied()
        .filter(|t| have.contains(t) && seen.insert(*t))
        .collect()
}

/// One event for a non-empty change, none for an empty one (idempotent commands).
fn push_if_any<T>(events: &mut Vec<Event>, ids: Vec<T>, event: impl FnOnce(Vec<T>) -> Event) {
    if !ids.is_empty() {
        events.push(event(ids));
    }
}
