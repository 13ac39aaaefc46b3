//! One caller's live stream: a position in the hub's ring, read forward as the HTTP body is
//! pulled (a reader that does not read holds nothing but its position), each change shown as
//! the caller may see it, counters at most every `LiveOptions::counters_every`, a heartbeat
//! after `LiveOptions::heartbeat` of silence.

use super::{LiveMark, LiveMessage, LiveRemove, LiveRow, Notification, NotifyFolder, RemoveReason};
use crate::api::bulk::JobView;
use crate::api::bulk::run::JobRecord;
use crate::api::dialogs::row::DialogItem;
use crate::live::{Change, DialogChange, Gone, LiveHub, ProjectChange, Seen};
use crate::readmodels::{Kind, ReadModels};
use axum::response::sse::Event;
use futures::Stream;
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{AnyLog, EventLog};
use switchboard_projections::project;
use switchboard_projections::query::QueryCaller;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Changes taken from the ring at once.
const TAKE: usize = 64;

/// What a stream starts with.
pub struct Setup {
    pub hub: LiveHub,
    pub models: Arc<ReadModels<AnyLog>>,
    pub log: AnyLog,
    pub caller: QueryCaller,
    /// `Last-Event-ID`: go on after it; none: from now.
    pub from: Option<u64>,
    /// Completes when the stream must end (the caller's credentials are revoked, the server
    /// stops).
    pub ends: BoxFuture<'static, ()>,
    /// The progress of the bulk jobs this node runs.
    pub jobs: Option<broadcast::Receiver<Arc<JobRecord>>>,
}

struct LiveStream {
    hub: LiveHub,
    wake: watch::Receiver<u64>,
    models: Arc<ReadModels<AnyLog>>,
    caller: QueryCaller,
    /// The last sequence the stream has shown (or skipped as unseen).
    cursor: u64,
    taken: VecDeque<Arc<Change>>,
    /// An event to send before anything else (a `reset` at the start).
    first: Option<Event>,
    /// When the counters are to be sent (something the caller sees changed).
    counters_due: Option<Instant>,
    counters_sent: Instant,
    counters_every: Duration,
    heartbeat_due: Instant,
    heartbeat: Duration,
    ends: BoxFuture<'static, ()>,
    jobs: Option<broadcast::Receiver<Arc<JobRecord>>>,
    ended: bool,
}

/// What one change is for the stream.
enum Step {
    Send(Event),
    Skip,
    End,
}

/// The caller's events, from `setup.from` (or now).
pub async fn start(setup: Setup) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let Setup {
        hub,
        models,
        log,
        caller,
        from,
        ends,
        jobs,
    } = setup;
    let now = Instant::now();
    let head = hub.head();
    let mut cursor = head;
    let mut first = None;
    if let Some(from) = from {
        // An id past the log's end is of another log (or made up): reload.
        let known = from <= head || log.last_seq().await.is_ok_and(|last| from <= last);
        if from < hub.floor() || !known {
            first = Some(mark("reset", head));
        } else {
            cursor = from;
        }
    }
    let (counters_every, heartbeat) = (hub.options().counters_every, hub.options().heartbeat);
    let stream = LiveStream {
        wake: hub.subscribe(),
        hub,
        models,
        caller,
        cursor,
        taken: VecDeque::new(),
        first,
        counters_due: Some(now),
        counters_sent: now.checked_sub(counters_every).unwrap_or(now),
        counters_every,
        heartbeat_due: now + heartbeat,
        heartbeat,
        ends,
        jobs,
        ended: false,
    };
    futures::stream::unfold(stream, |mut stream| async move {
        let event = stream.next_event().await?;
        stream.heartbeat_due = Instant::now() + stream.heartbeat;
        Some((Ok(event), stream))
    })
}

fn mark(kind: &'static str, seq: u64) -> Event {
    data(
        Event::default().event(kind).id(seq.to_string()),
        &LiveMark { seq },
    )
}

fn data(event: Event, value: &impl serde::Serialize) -> Event {
    match serde_json::to_string(value) {
        Ok(json) => event.data(json),
        // Our own types always serialise; an empty object keeps the stream going.
        Err(_) => event.data("{}"),
    }
}

impl LiveStream {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.first.take() {
                return Some(event);
            }
            let now = Instant::now();
            if self.counters_due.is_some_and(|due| due <= now)
                && let Some(event) = self.counters().await
            {
                return Some(event);
            }
            if let Some(change) = self.taken.pop_front() {
                let shown_up_to = self.cursor;
                self.cursor = self.cursor.max(change.seq());
                match self.show(&change, shown_up_to).await {
                    Step::Send(event) => return Some(event),
                    Step::Skip => continue,
                    Step::End => {
                        self.ended = true;
                        return None;
                    }
                }
            }
            match self.hub.after(self.cursor, TAKE) {
                Err(behind) => {
                    self.cursor = behind.head;
                    self.taken.clear();
                    self.counters_changed();
                    return Some(mark("reset", behind.head));
                }
                Ok(changes) if !changes.is_empty() => {
                    self.taken.extend(changes);
                    continue;
                }
                Ok(_) => {}
            }
            if self.heartbeat_due <= now {
                return Some(mark("heartbeat", self.cursor));
            }
            let deadline = match self.counters_due {
                Some(due) => due.min(self.heartbeat_due),
                None => self.heartbeat_due,
            };
            let job = async {
                match self.jobs.as_mut() {
                    Some(jobs) => jobs.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.wake.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = &mut self.ends => {
                    self.ended = true;
                    return None;
                }
                job = job => match job {
                    Ok(record)
                        if record.project == self.caller.project
                            && record.owner == self.caller.operator =>
                    {
                        let event = Event::default().event("job").id(self.cursor.to_string());
                        return Some(data(event, &JobView::new(&record)));
                    }
                    // Another's job, or progress missed by a slow stream (the next one says
                    // where the job is).
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => self.jobs = None,
                },
            }
        }
    }

    fn counters_changed(&mut self) {
        if self.counters_due.is_none() {
            self.counters_due =
                Some((self.counters_sent + self.counters_every).max(Instant::now()));
        }
    }

    /// The caller's counters now (none when the read models cannot answer: tried again later).
    async fn counters(&mut self) -> Option<Event> {
        self.counters_due = None;
        self.counters_sent = Instant::now();
        let (Some(dialogs), Some(project)) = (
            self.models.readers(Kind::Dialogs),
            self.models.readers(Kind::Project),
        ) else {
            self.counters_due = Some(Instant::now() + Duration::from_secs(1));
            return None;
        };
        match crate::api::counters::read(dialogs, project, self.caller).await {
            Ok(counters) => Some(data(
                Event::default()
                    .event("counters")
                    .id(self.cursor.to_string()),
                &counters,
            )),
            Err(error) => {
                tracing::warn!(%error, "live: cannot read the counters; trying again");
                self.counters_due = Some(Instant::now() + Duration::from_secs(1));
                None
            }
        }
    }

    async fn show(&mut self, change: &Change, shown_up_to: u64) -> Step {
        if change.project() != self.caller.project {
            return Step::Skip;
        }
        match change {
            Change::Dialog(change) => self.show_dialog(change, shown_up_to),
            Change::Project(change) => self.show_project(change).await,
        }
    }

    fn show_dialog(&mut self, change: &DialogChange, shown_up_to: u64) -> Step {
        let seq = change.seq;
        let event = Event::default().id(seq.to_string());
        match change.seen_by(&self.caller) {
            Seen::Unseen => Step::Skip,
            Seen::Removed(gone) => {
                self.counters_changed();
                let (reason, merged_into) = match gone {
                    Gone::Reassigned => (RemoveReason::Reassigned, None),
                    Gone::Deleted => (RemoveReason::Deleted, None),
                    Gone::Merged(survivor) => (RemoveReason::Merged, Some(survivor.to_string())),
                };
                let remove = LiveRemove {
                    seq,
                    dialog: change.dialog.to_string(),
                    reason,
                    merged_into,
                };
                Step::Send(data(event.event("remove"), &remove))
            }
            Seen::Row(row, marks) => {
                self.counters_changed();
                let mut item = DialogItem::from_row(row.clone());
                if let Some(marks) = marks {
                    item.unread_messages = marks.unread_messages(row);
                    item.unread = marks.marked_unread || item.unread_messages > 0;
                    item.draft.clone_from(&marks.draft);
                } else {
                    item.unread_messages = row.inbound_count;
                    item.unread = row.inbound_count > 0;
                }
                let messages: Vec<Notification> = change
                    .messages
                    .iter()
                    .filter(|m| m.seq > shown_up_to)
                    .map(|m| Notification {
                        seq: m.seq,
                        message: m.message.to_string(),
                        channel: m.channel.to_string(),
                        text: m.text.clone(),
                        truncated: m.truncated,
                        attachments: m.attachments,
                        sent_at: m.sent_at,
                    })
                    .collect();
                if messages.is_empty() {
                    return Step::Send(data(event.event("row"), &LiveRow { seq, row: item }));
                }
                let folders = change
                    .folders
                    .iter()
                    .map(|f| NotifyFolder {
                        folder: f.folder.to_string(),
                        name: f.name.clone(),
                        push: f.push,
                        sound: f.sound,
                    })
                    .collect();
                let message = LiveMessage {
                    seq,
                    row: item,
                    messages,
                    folders,
                };
                Step::Send(data(event.event("message"), &message))
            }
        }
    }

    /// A project change: the folders (counters), or the caller's own membership: removed ends
    /// the stream, another role resets it (everything the caller sees may differ).
    async fn show_project(&mut self, change: &ProjectChange) -> Step {
        if change.folders {
            self.counters_changed();
        }
        if change.member != Some(self.caller.operator) {
            return Step::Skip;
        }
        let Some(readers) = self.models.readers(Kind::Project) else {
            return Step::End;
        };
        let (p, operator) = (self.caller.project, self.caller.operator);
        match readers
            .query(move |conn| project::operator(conn, p, operator))
            .await
        {
            Ok(Some(member)) if !member.removed => {
                if member.role == self.caller.role {
                    return Step::Skip;
                }
                self.caller.role = member.role;
                self.counters_changed();
                Step::Send(mark("reset", change.seq))
            }
            Ok(_) => Step::End,
            Err(error) => {
                tracing::warn!(%error, "live: cannot read the caller's membership; ending");
                Step::End
            }
        }
    }
}
