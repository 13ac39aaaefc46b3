//! [`Completing`]: a command's future that runs to its end even when its caller drops it.

use super::CommandError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

type CommandWork<T> = Pin<Box<dyn Future<Output = Result<T, CommandError>> + Send + 'static>>;

/// A command under way: polled in the caller's task, and run to completion even when the caller
/// drops it. Dropped after its first poll and before its end, the rest of the command moves into
/// a task of its own (a new task polls it at once, so every waker it registered is renewed); an
/// append's acknowledgement future is never dropped, and neither is the stripe lock released
/// before the command is done. Dropped before its first poll, nothing was started and nothing
/// runs, as with an `async fn`. A panic in the command becomes [`CommandError::Internal`].
#[must_use = "a command does nothing unless awaited"]
pub struct Completing<T: Send + 'static> {
    work: Option<CommandWork<T>>,
    started: bool,
}

impl<T: Send + 'static> Completing<T> {
    pub(super) fn new(
        work: impl Future<Output = Result<T, CommandError>> + Send + 'static,
    ) -> Self {
        Self {
            work: Some(Box::pin(work)),
            started: false,
        }
    }
}

impl<T: Send + 'static> Future for Completing<T> {
    type Output = Result<T, CommandError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(work) = this.work.as_mut() else {
            return Poll::Ready(Err(CommandError::Internal(
                "command polled after its end".into(),
            )));
        };
        this.started = true;
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                this.work = None;
                Poll::Ready(result)
            }
            Err(panic) => {
                this.work = None;
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".to_owned());
                Poll::Ready(Err(CommandError::Internal(format!(
                    "command panicked: {reason}"
                ))))
            }
        }
    }
}

impl<T: Send + 'static> Drop for Completing<T> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        if !self.started {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = work.await {
                        tracing::debug!(%error, "a command whose caller went away failed");
                    }
                });
            }
            // A command is only ever started inside a runtime, so it is dropped inside one
            // unless the runtime itself is going away, which ends every task anyway.
            Err(_) => tracing::error!("a command under way was dropped outside a runtime"),
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for Completing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completing")
            .field("started", &self.started)
            .field("done", &self.work.is_none())
            .finish()
    }
}
