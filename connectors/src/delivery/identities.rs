//! What the worker reads of the log besides the queued messages: each dialog's channel ids
//! (its identities), whether a message already has its outcome, and what a resent message was
//! queued with.

use super::worker::dialogs_filter;
use std::collections::HashMap;
use switchboard_core::log::{EventLog, LogError, LogRecord, Subject, SubjectFilter};
use switchboard_schemas::events::*;
use switchboard_schemas::*;

const IDENTITY_TYPES: [&str; 4] = [
    "dialog.registered",
    "identity.linked",
    "identity.unlinked",
    "dialog.merged",
];

/// Each dialog's identities as its events up to a sequence say.
#[derive(Default)]
pub(crate) struct Identities {
    /// Dialog → its identities and the sequence they are read up to.
    dialogs: HashMap<DialogId, (Vec<ChannelIdentity>, u64)>,
}

impl Identities {
    /// Most dialogs remembered; past it the map starts again empty (a dialog not remembered
    /// is read from the log when it is next needed).
    const MAX_DIALOGS: usize = 200_000;

    fn apply(list: &mut Vec<ChannelIdentity>, event: &Event) {
        match event {
            Event::DialogRegistered(e) => list.extend(e.identity.iter().cloned()),
            Event::IdentityLinked(e) => list.push(e.identity.clone()),
            Event::IdentityUnlinked(e) => list.retain(|i| *i != e.identity),
            Event::DialogsMerged(e) => list.extend(e.identities.iter().cloned()),
            _ => {}
        }
    }

    /// A record read in order (the embedded worker's tail): applied to a dialog already known
    /// or registered by it; others are read whole when a message needs them.
    pub(crate) fn apply_record(&mut self, record: &LogRecord) {
        let AggregateOf::Dialog(dialog) = aggregate_of(record) else {
            return;
        };
        let relevant = IDENTITY_TYPES.iter().any(|t| record.batch.contains_type(t));
        let registers = record.batch.contains_type("dialog.registered");
        if self.dialogs.len() >= Self::MAX_DIALOGS {
            self.dialogs.clear();
        }
        let entry = match self.dialogs.get_mut(&dialog) {
            Some(entry) => entry,
            None if registers => self.dialogs.entry(dialog).or_default(),
            None => return,
        };
        if entry.1 >= record.seq {
            return;
        }
        entry.1 = record.seq;
        if relevant && let Ok(envelopes) = decode_batch(&record.batch) {
            for envelope in envelopes {
                Self::apply(&mut entry.0, &envelope.payload);
            }
        }
    }

    /// The client's identity on `channel` as of just before `seq`, reading what the map lacks
    /// of the dialog's events.
    pub(crate) async fn recipient<L: EventLog>(
        &mut self,
        log: &L,
        project: ProjectId,
        dialog: DialogId,
        channel: ChannelId,
        seq: u64,
    ) -> Result<Option<ChannelIdentity>, LogError> {
        if self.dialogs.len() >= Self::MAX_DIALOGS {
            self.dialogs.clear();
        }
        let entry = self.dialogs.entry(dialog).or_default();
        if entry.1 + 1 < seq {
            let filter = SubjectFilter::exact(&Subject::dialog(project, dialog));
            let mut from = entry.1 + 1;
            'pages: loop {
                let records = log.read(from, &filter, 1000).await?;
                let Some(last) = records.last() else { break };
                from = last.seq + 1;
                for record in &records {
                    if record.seq >= seq {
                        break 'pages;
                    }
                    entry.1 = record.seq;
                    if IDENTITY_TYPES.iter().any(|t| record.batch.contains_type(t))
                        && let Ok(envelopes) = decode_batch(&record.batch)
                    {
                        for envelope in envelopes {
                            Self::apply(&mut entry.0, &envelope.payload);
                        }
                    }
                }
            }
            entry.1 = entry.1.max(seq - 1);
        }
        Ok(entry.0.iter().find(|i| i.channel == channel).cloned())
    }
}

enum AggregateOf {
    Dialog(DialogId),
    Other,
}

/// The dialog of a record, from its subject (`sb.<project>.dialog.<dialog>`), without decoding.
fn aggregate_of(record: &LogRecord) -> AggregateOf {
    let mut tokens = record.subject.tokens();
    match (tokens.nth(2), tokens.next()) {
        (Some("dialog"), Some(id)) => uuid::Uuid::try_parse(id)
            .map(|u| AggregateOf::Dialog(DialogId::from_uuid(u)))
            .unwrap_or(AggregateOf::Other),
        _ => AggregateOf::Other,
    }
}

/// What `message` was queued with, read from its dialog's events before `seq` (a resend names
/// the message only: what goes out again, and through which channel, is what was queued).
pub(crate) async fn queued_before<L: EventLog>(
    log: &L,
    project: ProjectId,
    dialog: DialogId,
    message: MessageId,
    seq: u64,
) -> Result<Option<MessageQueued>, LogError> {
    let filter = SubjectFilter::exact(&Subject::dialog(project, dialog));
    let mut from = 1;
    while from < seq {
        let records = log.read(from, &filter, 1000).await?;
        let Some(last) = records.last() else { break };
        from = last.seq + 1;
        for record in records.iter().filter(|r| r.seq < seq) {
            if !record.batch.contains_type("message.queued") {
                continue;
            }
            let Ok(envelopes) = decode_batch(&record.batch) else {
                continue;
            };
            for envelope in envelopes {
                if let Event::MessageQueued(queued) = envelope.payload
                    && queued.message == message
                {
                    return Ok(Some(queued));
                }
            }
        }
    }
    Ok(None)
}

/// Whether an event is an outcome that ends a message's delivery: sent, or failed for a
/// reason other than a rate limit (retried) or the possibly-twice mark (sent after it).
fn is_outcome(event: &Event) -> Option<MessageId> {
    match event {
        Event::MessageSent(e) => Some(e.message),
        Event::MessageFailed(e)
            if e.reason != FailureReason::RateLimited && e.detail != super::POSSIBLY_TWICE =>
        {
            Some(e.message)
        }
        _ => None,
    }
}

/// The outcomes of `record`, each with the record's sequence (the latest kept per message).
fn outcomes_in(record: &LogRecord, into: &mut Resolved) {
    if !record.batch.contains_type("message.sent") && !record.batch.contains_type("message.failed")
    {
        return;
    }
    if let Ok(envelopes) = decode_batch(&record.batch) {
        for message in envelopes.iter().filter_map(|e| is_outcome(&e.payload)) {
            let seq = into.0.entry(message).or_default();
            *seq = (*seq).max(record.seq);
        }
    }
}

/// Messages whose outcome is in the log, each with the sequence of its latest outcome: a send
/// asked for at a sequence (a queued message, or a resend of it) is done when an outcome
/// follows it.
#[derive(Debug, Default)]
pub(crate) struct Resolved(HashMap<MessageId, u64>);

impl Resolved {
    /// Whether the send of `message` asked for at `seq` has its outcome.
    pub(crate) fn contains(&self, message: MessageId, seq: u64) -> bool {
        self.0.get(&message).is_some_and(|outcome| *outcome > seq)
    }
}

/// The messages after `from` whose outcome is already in the log (a crash came between
/// appending it and moving the checkpoint): they are not sent again.
pub(crate) async fn resolved_since<L: EventLog>(log: &L, from: u64) -> Result<Resolved, LogError> {
    let last = log.last_seq().await?;
    let filter = dialogs_filter();
    let mut resolved = Resolved::default();
    let mut next = from;
    while next <= last {
        let records = log.read(next, &filter, 1000).await?;
        let Some(tail) = records.last() else { break };
        next = tail.seq + 1;
        for record in &records {
            outcomes_in(record, &mut resolved);
        }
    }
    Ok(resolved)
}

/// Whether `message`, queued (or resent) at `seq` on the dialog's subject, has an outcome in
/// the log after it.
pub(crate) async fn has_outcome<L: EventLog>(
    log: &L,
    subject: &Subject,
    seq: u64,
    message: MessageId,
) -> Result<bool, LogError> {
    let filter = SubjectFilter::exact(subject);
    let mut from = seq + 1;
    let mut found = Resolved::default();
    loop {
        let records = log.read(from, &filter, 1000).await?;
        let Some(last) = records.last() else {
            return Ok(false);
        };
        from = last.seq + 1;
        for record in &records {
            outcomes_in(record, &mut found);
        }
        if found.contains(message, seq) {
            return Ok(true);
        }
    }
}
