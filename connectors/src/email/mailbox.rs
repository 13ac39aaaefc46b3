//! The ingest loop of one email channel: connect, fetch what is new, record each mail through the
//! command service, save the cursor, wait (IDLE or polling), and again; on an error, reconnect
//! after a pause that doubles from [`MailboxOptions::backoff_min`] to `backoff_max`.
//!
//! Exactly once: the cursor ([`CURSOR_KEY`] in the channel's [`ConnectorState`]) is saved only
//! after every mail of its batch was recorded (its events stored). A stop, crash or error before
//! that fetches the batch again; each mail's command id is derived from (channel, Message-ID), so
//! the log drops the redo as a duplicate and the dialog's memory of recent external ids answers
//! past the log's duplicate window: nothing is appended twice.
//!
//! A stop ([`run`]'s `stop` set to `true`) ends the loop at its next wait or between batches,
//! never in the middle of a batch's recording.

use super::ImapSettings;
use super::imap::{ImapCursor, ImapError, ImapFetcher};
use super::inbound::{MailSink, RecordMailError, record_mail};
use crate::record::Recorded;
use crate::state::StateError;
use std::time::Duration;
use switchboard_core::log::EventLog;
use tokio::sync::watch;

/// The key of the IMAP cursor in the channel's state.
pub const CURSOR_KEY: &str = "imap.cursor";

#[derive(Debug, Clone)]
pub struct MailboxOptions {
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A mailbox with no saved cursor is read from the mail arriving after the first connection
    /// (an admin connecting a mailbox full of old mail); `false` reads everything in it.
    pub start_at_end: bool,
}

impl Default for MailboxOptions {
    fn default() -> Self {
        Self {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            start_at_end: true,
        }
    }
}

/// What one [`run`] did, for its caller's log and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxReport {
    /// Mails recorded with new events.
    pub recorded: u64,
    /// Mails fetched again whose recording appended nothing (a redo after a crash).
    pub already_there: u64,
    /// Mails passed over (no header, no sender, refused by the domain).
    pub passed_over: u64,
    /// Sessions that ended in an error and were reconnected.
    pub reconnects: u64,
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Record(#[from] RecordMailError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Runs the loop until `stop` turns `true` (or its sender is dropped).
pub async fn run<L: EventLog>(
    settings: ImapSettings,
    sink: MailSink<L>,
    options: MailboxOptions,
    mut stop: watch::Receiver<bool>,
) -> MailboxReport {
    let mut report = MailboxReport::default();
    let mut backoff = options.backoff_min;
    loop {
        if stopped(&stop) {
            return report;
        }
        let mut fetched = false;
        let outcome = session(
            &settings,
            &sink,
            &options,
            &mut stop,
            &mut report,
            &mut fetched,
        );
        if ended_by_stop(outcome.await, &mut report, &sink, backoff) {
            return report;
        }
        // A session that fetched was healthy: the next failure starts from the shortest pause.
        if fetched {
            backoff = options.backoff_min;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
        backoff = (backoff * 2).min(options.backoff_max);
    }
}

/// Answers whether the session ended by a stop; logs and counts an error.
fn ended_by_stop<L: EventLog>(
    outcome: Result<(), SessionError>,
    report: &mut MailboxReport,
    sink: &MailSink<L>,
    backoff: Duration,
) -> bool {
    match outcome {
        Ok(()) => true,
        Err(error) => {
            report.reconnects += 1;
            tracing::warn!(
                channel = %sink.channel.channel,
                %error,
                retry_in = ?backoff,
                "email channel: mailbox session failed"
            );
            false
        }
    }
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// One connection: fetch and record until stopped (`Ok`) or an error.
async fn session<L: EventLog>(
    settings: &ImapSettings,
    sink: &MailSink<L>,
    options: &MailboxOptions,
    stop: &mut watch::Receiver<bool>,
    report: &mut MailboxReport,
    fetched: &mut bool,
) -> Result<(), SessionError> {
    let mut fetcher = tokio::select! {
        connected = ImapFetcher::connect(settings) => connected?,
        _ = stop.changed() => return Ok(()),
    };
    let mut cursor = match sink.state.load::<ImapCursor>(CURSOR_KEY).await? {
        Some(cursor) => cursor,
        None if options.start_at_end => {
            let cursor = fetcher.cursor_at_end().await?;
            sink.state.save(CURSOR_KEY, &cursor).await?;
            cursor
        }
        None => ImapCursor::default(),
    };
    loop {
        if stopped(stop) {
            let _ = fetcher.logout().await;
            return Ok(());
        }
        let batch = fetcher.fetch_new(&cursor).await?;
        *fetched = true;
        for mail in batch.mails {
            match record_mail(sink, mail).await? {
                Some(Recorded::Done { ack, .. }) if ack.events > 0 => report.recorded += 1,
                Some(Recorded::Done { .. }) => report.already_there += 1,
                _ => report.passed_over += 1,
            }
        }
        // Every mail of the batch is stored: only now may the cursor move past it.
        sink.state.save(CURSOR_KEY, &batch.cursor).await?;
        cursor = batch.cursor;
        if batch.more {
            continue;
        }
        tokio::select! {
            woke = fetcher.wait_for_mail() => { woke?; }
            // Dropping an IDLE under way drops the connection: nothing to log out of.
            _ = stop.changed() => return Ok(()),
        }
    }
}
