//! The state of one [`JetStreamLog::tail`] stream: an ordered consumer recreated after a gap, an
//! error or a reconnection, starting at the next stream sequence not yet delivered, so that a
//! tail never delivers a record twice.

use super::{JetStreamLog, PULL_BATCH, delivered};
use crate::log::{LogError, LogRecord, SubjectFilter};
use async_nats::jetstream::consumer::pull::Ordered;
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::watch;

/// State of one [`JetStreamLog::tail`] stream.
pub(super) struct Tail {
    pub(super) log: JetStreamLog,
    pub(super) filter: SubjectFilter,
    /// The next stream sequence to deliver: anything below has been delivered (or skipped).
    pub(super) next: u64,
    pub(super) consumer: Option<(Ordered, String)>,
    pub(super) failures: u32,
    pub(super) reconnected: watch::Receiver<u64>,
}

impl Tail {
    pub(super) async fn next_item(mut self) -> Option<(Result<LogRecord, LogError>, Self)> {
        loop {
            let Some((messages, _)) = self.consumer.as_mut() else {
                if self.failures > 0 {
                    let pause = Duration::from_millis(100 << self.failures.min(5));
                    tokio::time::sleep(pause).await;
                }
                // A reconnection before this point is covered by the consumer created now.
                self.reconnected.borrow_and_update();
                match self.log.ordered(self.next, &self.filter, PULL_BATCH).await {
                    Ok((messages, _, name)) => {
                        self.consumer = Some((messages, name));
                        continue;
                    }
                    Err(e) => {
                        self.failures = self.failures.saturating_add(1);
                        return Some((Err(e), self));
                    }
                }
            };
            let item = tokio::select! {
                item = messages.next() => item,
                // Never an error: the sender lives in `self.log`.
                changed = self.reconnected.changed() => {
                    if changed.is_ok() {
                        tracing::debug!(next = self.next, "tail: reconnected, recreating its consumer");
                        self.restart();
                    }
                    continue;
                }
            };
            match item {
                Some(Ok(message)) => {
                    self.failures = 0;
                    match delivered(&message) {
                        // A recreated consumer may start before what was already delivered.
                        Ok((seq, _, _)) if seq < self.next => continue,
                        Ok((seq, _, record)) => {
                            self.next = seq + 1;
                            return Some((record.map_err(LogError::from), self));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "tail: dropping its consumer");
                            self.restart();
                        }
                    }
                }
                Some(Err(e)) => {
                    // The ordered consumer could not heal itself: start a new one from what
                    // was delivered last.
                    tracing::warn!(error = %e, next = self.next, "tail: recreating its consumer");
                    self.failures = self.failures.saturating_add(1);
                    self.restart();
                }
                None => self.restart(),
            }
        }
    }

    fn restart(&mut self) {
        if let Some((_, name)) = self.consumer.take() {
            self.log.forget_consumer(name);
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            self.restart();
        }
    }
}
