//! One caller's live stream: a position in the hub's ring, read forward as the HTTP body is
//! pulled (a reader that does not read holds nothing but its position), each change shown as
//! the caller may see it, counters at most every `LiveOptions::counters_every`, a heartbeat
//! after `LiveOptions::heartbeat` of silence.
//!
//! A stream joins its caller's feeds of the hub and is woken only by them; it reads every
//! change of the ring only from a `Last-Event-ID` up to where it joined (`scan_until`), then
//! only those its feeds name. What is the same for many streams is made once: a change's text
//! for every caller without own state of the dialog (`DialogChange::shown`), the counters for
//! the streams of one caller at one hub position (`Memo`).

use super::{LiveMark, LiveMessage, LiveRemove, LiveRow, Notification, NotifyFolder, RemoveReason};
use crate::api::bulk::JobView;
use crate::api::bulk::run::JobRecord;
use crate::api::dialogs::row::DialogItem;
use crate::live::{Change, DialogChange, Gone, Joined, LiveHub, ProjectChange, Seen};
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

/// Waits for the next wake of any of the stream's feeds (forever once the hub is gone).
async fn woken(wakes: &mut [watch::Receiver<u64>]) {
    if wakes.is_empty() {
        return std::future::pending().await;
    }
    let changed = wakes.iter_mut().map(|wake| {
        Box::pin(async move {
            if wake.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    });
    futures::future::select_all(changed).await;
}
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
    joined: Joined,
    models: Arc<ReadModels<AnyLog>>,
    caller: QueryCaller,
    /// The last sequence the stream has shown (or skipped as unseen).
    cursor: u64,
    /// Up to here the stream reads every change of the ring (it resumed from before it
    /// joined its feeds); after it, only those its feeds hold.
    scan_until: u64,
    taken: VecDeque<Arc<Change>>,
    /// Where the stream is once `taken` is shown.
    reached: u64,
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
    let joined = hub.join(&caller);
    let head = joined.since;
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
        scan_until: joined.since,
        joined,
        hub,
        models,
        caller,
        cursor,
        taken: VecDeque::new(),
        reached: cursor,
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
    event.data(json(value))
}

fn json(value: &impl serde::Serialize) -> String {
    // Our own types always serialise; an empty object keeps the stream going.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
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
            self.cursor = self.cursor.max(self.reached);
            let next = if self.cursor < self.scan_until {
                self.hub.after(self.cursor, TAKE).map(|changes| {
                    let reached = changes.last().map_or(self.scan_until, |c| c.seq());
                    (changes, reached)
                })
            } else {
                self.hub.pending(self.cursor, &self.joined, TAKE)
            };
            match next {
                Err(behind) => {
                    self.cursor = behind.head;
                    self.reached = behind.head;
                    self.scan_until = 0;
                    self.taken.clear();
                    self.counters_changed();
                    return Some(mark("reset", behind.head));
                }
                Ok((changes, reached)) => {
                    self.reached = reached;
                    if !changes.is_empty() {
                        self.taken.extend(changes);
                        continue;
                    }
                    self.cursor = self.cursor.max(reached);
                }
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
                () = woken(&mut self.joined.wakes) => {}
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
    /// The streams of one caller share them: an answer read at or after the stream's position,
    /// for the caller's role, is sent again instead of read again.
    async fn counters(&mut self) -> Option<Event> {
        self.counters_due = None;
        self.counters_sent = Instant::now();
        let event = Event::default()
            .event("counters")
            .id(self.cursor.to_string());
        let mut memo = self.joined.memo.0.lock().await;
        if let Some((at, role, text)) = &*memo
            && *at >= self.cursor
            && *role == self.caller.role
        {
            return Some(event.data(&**text));
        }
        let (Some(dialogs), Some(project)) = (
            self.models.readers(Kind::Dialogs),
            self.models.readers(Kind::Project),
        ) else {
            self.counters_due = Some(Instant::now() + Duration::from_secs(1));
            return None;
        };
        // What the read models hold now is at least what the hub has published.
        let at = self.hub.head();
        match crate::api::counters::read(dialogs, project, self.caller).await {
            Ok(counters) => {
                let text: Arc<str> = json(&counters).into();
                *memo = Some((at, self.caller.role, Arc::clone(&text)));
                Some(event.data(&*text))
            }
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
                let all_messages = change.messages.iter().all(|m| m.seq > shown_up_to);
                let kind = if change.messages.iter().any(|m| m.seq > shown_up_to) {
                    "message"
                } else {
                    "row"
                };
                let make = || json(&shown(change, row, marks, shown_up_to));
                let event = event.event(kind);
                if !all_messages {
                    return Step::Send(event.data(make()));
                }
                let text = change.shown(marks.map(|m| m.operator), make);
                Step::Send(event.data(&*text))
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
                // Other feeds: from here, every change up to where it joins them is read.
                self.joined = self.hub.join(&self.caller);
                self.scan_until = self.joined.since;
                self.taken.clear();
                self.reached = change.seq;
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

/// A visible change as the caller with `marks` (their own state of the dialog, if any) sees
/// it: its row, and the client's messages after `shown_up_to`, if any, with the folders.
fn shown(
    change: &DialogChange,
    row: &switchboard_projections::dialogs::DialogRow,
    marks: Option<&switchboard_projections::dialogs::OperatorMarks>,
    shown_up_to: u64,
) -> ShownChange {
    let seq = change.seq;
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
        return ShownChange::Row(LiveRow {
            seq,
            row: item,
            timeline: change.timeline,
        });
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
    ShownChange::Message(LiveMessage {
        seq,
        row: item,
        messages,
        folders,
    })
}

/// The data of a `row` or a `message` event.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum ShownChange {
    Row(LiveRow),
    Message(LiveMessage),
}
