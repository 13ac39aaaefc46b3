//! `switchboard events tail`: the log as JSON lines, one per event.
//!
//! Each line has `seq`, `subject` and `index` (the event's 0-based position in its log message;
//! a message carries several events when one command emitted them together), then every field of
//! [`Envelope::to_json`]: `type`, `version`, `occurred_at`, the other envelope fields and the
//! event's own fields. A message whose body does not decode gives one line with `seq`, `subject`,
//! the `type` and `version` headers as stored and `error`, and the tail goes on; so does a
//! record the log cannot read at all (a subject that is not one, a row that is not a message):
//! one line with `seq`, the `subject` as stored and `error`. Without `--follow`, their count is
//! a warning on stderr at the end.

use futures::{FutureExt, StreamExt};
use serde::Serialize;
use std::io::{self, Write};
use switchboard_core::{EventLog, LogError, LogRecord, SubjectFilter, Unreadable};
use switchboard_schemas::{Envelope, decode_batch};

/// What to print.
#[derive(Clone, Debug)]
pub struct TailOptions {
    /// The first sequence to print (sequences start at 1).
    pub from_seq: u64,
    /// Keep printing new events as they are appended, forever.
    pub follow: bool,
    pub filter: SubjectFilter,
    /// Messages per read when not following.
    pub page_size: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        Self {
            from_seq: 1,
            follow: false,
            filter: SubjectFilter::all(),
            page_size: 512,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("cannot write the output: {0}")]
    Io(#[from] io::Error),
}

/// Print the log to `out`. Without `follow`, stops at the log's last sequence at the start; with
/// it, never returns on its own. A closed output (e.g. `| head`) ends it quietly with `Ok`.
pub async fn tail<L: EventLog>(
    log: &L,
    options: &TailOptions,
    out: &mut impl Write,
) -> Result<(), TailError> {
    match tail_until_closed(log, options, out).await {
        Err(TailError::Io(error)) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

async fn tail_until_closed<L: EventLog>(
    log: &L,
    options: &TailOptions,
    out: &mut impl Write,
) -> Result<(), TailError> {
    let from_seq = options.from_seq.max(1);
    if options.follow {
        let mut records = log.tail_all(from_seq, options.filter.clone());
        loop {
            // Flush whenever nothing more is ready at once: each live event shows without delay,
            // while a backlog is written in large chunks.
            let next = match records.next().now_or_never() {
                Some(next) => next,
                None => {
                    out.flush()?;
                    records.next().await
                }
            };
            match next {
                None => break,
                Some(Ok(record)) => write_record(out, &record)?,
                Some(Err(LogError::Unreadable(unreadable))) => write_unreadable(out, &unreadable)?,
                Some(Err(error)) => return Err(error.into()),
            }
        }
    } else {
        let end = log.last_seq().await?;
        let mut from = from_seq;
        let mut unreadable = 0u64;
        while from <= end {
            let page = log
                .read_all(from, &options.filter, options.page_size.max(1))
                .await?;
            let Some(last) = page.last() else { break };
            from = seq_of(last) + 1;
            for record in page.iter().take_while(|record| seq_of(record) <= end) {
                match record {
                    Ok(record) => write_record(out, record)?,
                    Err(record) => {
                        unreadable += 1;
                        write_unreadable(out, record)?;
                    }
                }
            }
            out.flush()?;
        }
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "records that cannot be read were shown as error lines"
            );
        }
    }
    out.flush()?;
    Ok(())
}

fn seq_of(record: &Result<LogRecord, Unreadable>) -> u64 {
    match record {
        Ok(record) => record.seq,
        Err(unreadable) => unreadable.seq,
    }
}

/// The line of a record the log cannot read.
pub fn write_unreadable(out: &mut impl Write, unreadable: &Unreadable) -> io::Result<()> {
    let mut line = Line::start(out, unreadable.seq, &unreadable.subject)?;
    line.field("error", &unreadable.to_string())?;
    line.end()
}

/// Envelope fields first, in this order; the event's own fields follow.
const LEADING: [&str; 9] = [
    "type",
    "version",
    "occurred_at",
    "event_id",
    "project",
    "aggregate",
    "actor",
    "causation_id",
    "correlation_id",
];

/// The lines of one log message.
pub fn write_record(out: &mut impl Write, record: &LogRecord) -> io::Result<()> {
    match decode_batch(&record.batch) {
        Ok(events) => {
            for (index, event) in events.iter().enumerate() {
                write_event(out, record, index, event)?;
            }
            Ok(())
        }
        Err(error) => {
            let mut line = Line::start(out, record.seq, record.subject.as_str())?;
            line.field("type", &record.batch.types)?;
            line.field("version", &record.batch.versions)?;
            line.field("error", &error.to_string())?;
            line.end()
        }
    }
}

fn write_event(
    out: &mut impl Write,
    record: &LogRecord,
    index: usize,
    event: &Envelope,
) -> io::Result<()> {
    let mut fields = event.to_json();
    let mut line = Line::start(out, record.seq, record.subject.as_str())?;
    line.field("index", &index)?;
    for key in LEADING {
        if let Some(value) = fields.remove(key) {
            line.field(key, &value)?;
        }
    }
    for (key, value) in &fields {
        line.field(key, value)?;
    }
    line.end()
}

/// One JSON object written field by field, in the order given (a `serde_json::Map` would sort
/// the keys and put `seq` in the middle).
struct Line<'a, W: Write> {
    out: &'a mut W,
}

impl<'a, W: Write> Line<'a, W> {
    fn start(out: &'a mut W, seq: u64, subject: &str) -> io::Result<Self> {
        write!(out, "{{\"seq\":{seq}")?;
        let mut line = Self { out };
        line.field("subject", subject)?;
        Ok(line)
    }

    fn field(&mut self, key: &str, value: &(impl Serialize + ?Sized)) -> io::Result<()> {
        self.out.write_all(b",")?;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.write_all(b":")?;
        serde_json::to_writer(&mut *self.out, value)?;
        Ok(())
    }

    fn end(self) -> io::Result<()> {
        self.out.write_all(b"}\n")
    }
}
