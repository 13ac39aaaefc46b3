//! Inbound mail by IMAP (async-imap on tokio): each new message of one mailbox, once.
//!
//! New mail is what has a UID above the [`ImapCursor`]'s `last_uid` under the cursor's
//! UIDVALIDITY. [`ImapFetcher::fetch_new`] answers a [`FetchBatch`] with the mails and the cursor
//! after them; the caller persists that cursor once the mails are safely ingested, so a restart
//! neither re-ingests nor misses mail (a crash between ingesting and persisting fetches the batch
//! again, and the log's dedup by external id absorbs it).
//!
//! When the server's UIDVALIDITY differs from the cursor's (a rebuilt or migrated mailbox), every
//! UID is new again: the mailbox is read from UID 1, and a mail is skipped when its external id is
//! among the cursor's recent ones, or when it was already there before the change and is older
//! than the oldest mail the cursor remembers (see [`ImapCursor`]). So no mail is ingested twice;
//! the one trade-off is that a mail that was in the mailbox before the change, older than that,
//! and never ingested (put there with an old date, not delivered) is not ingested either.
//!
//! [`ImapFetcher::wait_for_mail`] uses IDLE when the server's CAPABILITY lists it, and sleeps the
//! poll interval otherwise. Bodies are fetched with `BODY.PEEK[]`: the mailbox's `\Seen` flags are
//! the people's, not ours.

use super::parse::{ParseError, parse, raw_hash_id};
use super::settings::{ImapSettings, Security};
use super::{InboundMail, tls};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::net::TcpStream;

/// At most this many mails are fetched by one [`ImapFetcher::fetch_new`] (and at most the
/// settings' `batch_max_bytes`).
pub const BATCH_MAX: usize = 50;
/// How many recent external ids an [`ImapCursor`] remembers.
pub const RECENT_MAX: usize = 512;
/// How long connecting, logging in or one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a mailbox was read up to. Persist it (it is serde) after the mails of a batch are
/// ingested, and hand it back to the next [`ImapFetcher::fetch_new`], also after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImapCursor {
    /// The mailbox's UIDVALIDITY when `last_uid` was read; `None` before the first fetch.
    pub uidvalidity: Option<u32>,
    /// The highest UID read under `uidvalidity`.
    pub last_uid: u32,
    /// The last [`RECENT_MAX`] mails ingested, oldest first: the dedup window across a
    /// UIDVALIDITY change.
    pub recent: VecDeque<SeenMail>,
    /// Mails older than this (Unix seconds) were in the mailbox before reading began
    /// ([`ImapFetcher::cursor_at_end`]).
    pub start_date: Option<i64>,
    /// Set while re-reading a mailbox after a UIDVALIDITY change.
    pub reset: Option<ResetFloor>,
}

/// A mail the cursor remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenMail {
    pub external_id: String,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: Option<i64>,
}

/// After a UIDVALIDITY change: mails with a UID up to `until_uid` (those that were in the
/// mailbox at the change) and an INTERNALDATE before `floor` were ingested before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetFloor {
    pub until_uid: u32,
    pub floor: i64,
}

impl ImapCursor {
    /// Whether `external_id` was ingested recently.
    pub fn has_seen(&self, external_id: &str) -> bool {
        self.recent
            .iter()
            .any(|seen| seen.external_id == external_id)
    }

    fn remember(&mut self, external_id: String, internal_date: Option<i64>) {
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(SeenMail {
            external_id,
            internal_date,
        });
    }

    /// This cursor moved to a mailbox with `uidvalidity` whose next UID is `uid_next`.
    fn rebased(&self, uidvalidity: u32, uid_next: u32) -> ImapCursor {
        let floor = if self.uidvalidity.is_none() {
            self.start_date
        } else {
            self.recent
                .iter()
                .filter_map(|seen| seen.internal_date)
                .min()
                .or(self.start_date)
        };
        ImapCursor {
            uidvalidity: Some(uidvalidity),
            last_uid: 0,
            recent: self.recent.clone(),
            start_date: self.start_date,
            reset: floor.map(|floor| ResetFloor {
                until_uid: uid_next.saturating_sub(1),
                floor,
            }),
        }
    }

    fn below_reset_floor(&self, uid: u32, internal_date: Option<i64>) -> bool {
        match (&self.reset, internal_date) {
            (Some(reset), Some(date)) => uid <= reset.until_uid && date < reset.floor,
            _ => false,
        }
    }
}

/// One fetched message.
pub struct FetchedMail {
    pub uid: u32,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: Option<i64>,
    /// RFC822.SIZE as the server gave it.
    pub size: Option<u64>,
    /// The mail is over the settings' `message_max_bytes`: `raw` is its header only, and the
    /// parsed mail has no text and no attachments.
    pub body_skipped: bool,
    pub raw: Vec<u8>,
    /// The parsed mail; an `Err` is a message with no header at all, kept for the caller to
    /// record (its external id is the hash of the bytes).
    pub mail: Result<InboundMail, ParseError>,
}

impl FetchedMail {
    /// The mail's external id: its Message-ID, or the hash of the bytes.
    pub fn external_id(&self) -> String {
        match &self.mail {
            Ok(mail) => mail.external_id.clone(),
            Err(_) => raw_hash_id(&self.raw),
        }
    }
}

impl std::fmt::Debug for FetchedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedMail")
            .field("uid", &self.uid)
            .field("internal_date", &self.internal_date)
            .field("size", &self.size)
            .field("body_skipped", &self.body_skipped)
            .field("raw_bytes", &self.raw.len())
            .field("mail", &self.mail)
            .finish()
    }
}

/// What one [`ImapFetcher::fetch_new`] answers.
#[derive(Debug)]
pub struct FetchBatch {
    /// New mails in UID order.
    pub mails: Vec<FetchedMail>,
    /// The cursor after these mails: persist it once they are ingested.
    pub cursor: ImapCursor,
    /// More new mail is waiting: fetch again without waiting.
    pub more: bool,
}

/// Why the IMAP side failed. Reconnect and go on from the last persisted cursor.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("tls with {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("STARTTLS is not offered for IMAP: use implicit TLS (port 993) or plain")]
    StartTlsUnsupported,
    #[error("the server closed the connection before its greeting")]
    NoGreeting,
    #[error("login refused for {user}: {reason}")]
    Login { user: String, reason: String },
    #[error("the mailbox {0} has no UIDVALIDITY")]
    NoUidValidity(String),
    #[error("{0} took longer than {COMMAND_TIMEOUT:?}")]
    Timeout(&'static str),
    #[error("the connection was lost earlier; reconnect")]
    Disconnected,
    #[error("imap: {0}")]
    Protocol(#[from] async_imap::error::Error),
}

/// How [`ImapFetcher::wait_for_mail`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// IDLE reported a change of the mailbox.
    Changed,
    /// IDLE ran its time out (renew it).
    IdleTimeout,
    /// The poll interval passed (a server without IDLE).
    Polled,
}

type ImapSession = Session<tls::MailStream>;

/// A logged-in IMAP session on the channel's mailbox.
#[derive(Debug)]
pub struct ImapFetcher {
    settings: ImapSettings,
    session: Option<ImapSession>,
    idle: bool,
}

async fn timed<T, E: Into<ImapError>>(
    what: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(ImapError::Timeout(what)),
    }
}

impl ImapFetcher {
    /// Connects, logs in and learns whether the server offers IDLE.
    pub async fn connect(settings: &ImapSettings) -> Result<Self, ImapError> {
        let connect_error = |source| ImapError::Connect {
            host: settings.host.clone(),
            port: settings.port,
            source,
        };
        let tcp = match tokio::time::timeout(
            COMMAND_TIMEOUT,
            TcpStream::connect((settings.host.as_str(), settings.port)),
        )
        .await
        {
            Ok(tcp) => tcp.map_err(connect_error)?,
            Err(_) => return Err(ImapError::Timeout("connecting")),
        };
        let stream = match settings.security {
            Security::Plain => tls::MailStream::Plain(tcp),
            Security::ImplicitTls => {
                tls::connect(&settings.host, tcp)
                    .await
                    .map_err(|e| ImapError::Tls {
                        host: settings.host.clone(),
                        reason: e.to_string(),
                    })?
            }
            Security::StartTls => return Err(ImapError::StartTlsUnsupported),
        };
        let mut client = Client::new(stream);
        timed("the greeting", async {
            client
                .read_response()
                .await
                .map_err(async_imap::error::Error::from)
        })
        .await?
        .ok_or(ImapError::NoGreeting)?;
        let login = client.login(&settings.username, settings.password.expose());
        let mut session = match tokio::time::timeout(COMMAND_TIMEOUT, login).await {
            Ok(Ok(session)) => session,
            Ok(Err((error, _client))) => {
                return Err(ImapError::Login {
                    user: settings.username.clone(),
                    reason: error.to_string(),
                });
            }
            Err(_) => return Err(ImapError::Timeout("login")),
        };
        let capabilities = timed("CAPABILITY", session.capabilities()).await?;
        let idle = capabilities.has_str("IDLE");
        tracing::debug!(host = %settings.host, idle, "imap session ready");
        Ok(Self {
            settings: settings.clone(),
            session: Some(session),
            idle,
        })
    }

    /// Whether the server's CAPABILITY lists IDLE.
    pub fn supports_idle(&self) -> bool {
        self.idle
    }

    fn session(&mut self) -> Result<&mut ImapSession, ImapError> {
        self.session.as_mut().ok_or(ImapError::Disconnected)
    }

    /// Selects the mailbox: its UIDVALIDITY and next UID.
    async fn select(&mut self) -> Result<(u32, u32), ImapError> {
        let name = self.settings.mailbox.clone();
        let session = self.session()?;
        let mailbox = timed("SELECT", session.select(&name)).await?;
        let uidvalidity = mailbox
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(name.clone()))?;
        let uid_next = match mailbox.uid_next {
            Some(next) => next,
            None => {
                let all = timed("UID SEARCH", session.uid_search("ALL")).await?;
                all.into_iter().max().unwrap_or(0).saturating_add(1)
            }
        };
        Ok((uidvalidity, uid_next))
    }

    /// A cursor that takes only mail arriving from now on: what an admin connecting a mailbox
    /// full of old mail wants.
    pub async fn cursor_at_end(&mut self) -> Result<ImapCursor, ImapError> {
        let (uidvalidity, uid_next) = self.select().await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(ImapCursor {
            uidvalidity: Some(uidvalidity),
            last_uid: uid_next.saturating_sub(1),
            recent: VecDeque::new(),
            start_date: Some(now),
            reset: None,
        })
    }

    /// Empties the channel of responses the server sent unasked (during another command) and
    /// answers whether one of them announced new mail (`EXISTS`, `RECENT`).
    fn drain_announcements(&mut self) -> bool {
        use async_imap::types::UnsolicitedResponse as U;
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        let mut announced = false;
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            announced |= matches!(response, U::Exists(_) | U::Recent(_));
        }
        announced
    }

    /// The mails after `cursor` (at most [`BATCH_MAX`]) and the cursor after them.
    pub async fn fetch_new(&mut self, cursor: &ImapCursor) -> Result<FetchBatch, ImapError> {
        // What the server announced so far is covered by the search below.
        self.drain_announcements();
        let (uidvalidity, uid_next) = self.select().await?;
        let mut next = if cursor.uidvalidity == Some(uidvalidity) {
            cursor.clone()
        } else {
            if cursor.uidvalidity.is_some() {
                tracing::warn!(
                    mailbox = %self.settings.mailbox,
                    old = ?cursor.uidvalidity,
                    new = uidvalidity,
                    "imap uidvalidity changed: re-reading the mailbox, skipping what was ingested"
                );
            }
            cursor.rebased(uidvalidity, uid_next)
        };
        let (message_max, batch_max_bytes) = (
            self.settings.message_max_bytes,
            self.settings.batch_max_bytes,
        );
        let session = self.session()?;
        let query = format!("UID {}:*", next.last_uid.saturating_add(1));
        let found = timed("UID SEARCH", session.uid_search(&query)).await?;
        let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > next.last_uid).collect();
        uids.sort_unstable();
        let mut more = uids.len() > BATCH_MAX;
        uids.truncate(BATCH_MAX);
        if uids.is_empty() {
            return Ok(FetchBatch {
                mails: Vec::new(),
                cursor: next,
                more: false,
            });
        }

        // Sizes and dates first: the batch is cut at `batch_max_bytes` (one mail at least), a
        // mail over `message_max_bytes` comes as its header only, and under a reset floor old
        // mail is not downloaded again.
        let meta = fetch_meta(session, &uids).await?;
        let mut taken = Vec::new();
        let mut batch_bytes = 0u64;
        for &uid in &uids {
            let size = meta.get(&uid).and_then(|m| m.size).unwrap_or(0);
            let cost = size.min(message_max);
            if !taken.is_empty() && batch_bytes.saturating_add(cost) > batch_max_bytes {
                more = true;
                break;
            }
            batch_bytes = batch_bytes.saturating_add(cost);
            taken.push(uid);
        }
        let highest = *taken.last().expect("at least one mail is taken");
        let (whole, header_only): (Vec<u32>, Vec<u32>) = taken
            .into_iter()
            .filter(|uid| meta.contains_key(uid)) // expunged since the search
            .filter(|uid| !next.below_reset_floor(*uid, meta[uid].internal_date))
            .partition(|uid| meta[uid].size.is_none_or(|size| size <= message_max));
        let mut fetched = fetch_sections(session, &whole, Section::Whole).await?;
        fetched.extend(fetch_sections(session, &header_only, Section::Header).await?);
        fetched.sort_by_key(|(uid, _, _)| *uid);

        let mut mails = Vec::with_capacity(fetched.len());
        for (uid, internal_date, raw) in fetched {
            let mail = FetchedMail {
                uid,
                internal_date,
                size: meta.get(&uid).and_then(|m| m.size),
                body_skipped: header_only.contains(&uid),
                mail: parse(&raw),
                raw,
            };
            let external_id = mail.external_id();
            if next.has_seen(&external_id) {
                tracing::debug!(uid, "imap mail already ingested, skipped");
                continue;
            }
            next.remember(external_id, internal_date);
            mails.push(mail);
        }
        next.last_uid = highest;
        if next.reset.as_ref().is_some_and(|r| highest >= r.until_uid) {
            next.reset = None;
        }
        Ok(FetchBatch {
            mails,
            cursor: next,
            more,
        })
    }

    /// Waits until the mailbox may have new mail: IDLE (renewed after the settings'
    /// `idle_timeout`) when the server offers it, else the poll interval.
    pub async fn wait_for_mail(&mut self) -> Result<Wakeup, ImapError> {
        if !self.idle {
            tokio::time::sleep(self.settings.poll_interval).await;
            return Ok(Wakeup::Polled);
        }
        // A mail announced during the last fetch's commands is not announced again in IDLE.
        if self.drain_announcements() {
            return Ok(Wakeup::Changed);
        }
        let session = self.session.take().ok_or(ImapError::Disconnected)?;
        let idle_timeout = self.settings.idle_timeout;
        let mut handle = session.idle();
        timed("IDLE", handle.init()).await?;
        let outcome = {
            let (wait, stop) = handle.wait_with_timeout(idle_timeout);
            // Keep-alives restart async-imap's own timeout: bound the whole wait too.
            let outcome = tokio::time::timeout(idle_timeout, wait).await;
            drop(stop);
            outcome
        };
        let session = timed("DONE", handle.done()).await?;
        self.session = Some(session);
        use async_imap::extensions::idle::IdleResponse;
        match outcome {
            Ok(Ok(IdleResponse::NewData(_))) => Ok(Wakeup::Changed),
            Ok(Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt)) | Err(_) => {
                Ok(Wakeup::IdleTimeout)
            }
            Ok(Err(error)) => Err(error.into()),
        }
    }

    /// Logs out politely.
    pub async fn logout(mut self) -> Result<(), ImapError> {
        let session = self.session()?;
        timed("LOGOUT", session.logout()).await
    }
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What is known of a mail before its bytes are fetched.
#[derive(Debug, Clone, Copy)]
struct Meta {
    internal_date: Option<i64>,
    size: Option<u64>,
}

async fn fetch_meta(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<HashMap<u32, Meta>, ImapError> {
    let set = uid_set(uids);
    timed("UID FETCH", async {
        let fetches: Vec<_> = session
            .uid_fetch(&set, "(UID INTERNALDATE RFC822.SIZE)")
            .await?
            .try_collect()
            .await?;
        Ok::<_, async_imap::error::Error>(
            fetches
                .iter()
                .filter_map(|f| {
                    let meta = Meta {
                        internal_date: f.internal_date().map(|d| d.timestamp()),
                        size: f.size.map(u64::from),
                    };
                    Some((f.uid?, meta))
                })
                .collect(),
        )
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Whole,
    Header,
}

/// `(uid, internal date, bytes)` of each of `uids`: the whole mail or its header.
async fn fetch_sections(
    session: &mut ImapSession,
    uids: &[u32],
    section: Section,
) -> Result<Vec<(u32, Option<i64>, Vec<u8>)>, ImapError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let query = match section {
        Section::Whole => "(UID INTERNALDATE BODY.PEEK[])",
        Section::Header => "(UID INTERNALDATE BODY.PEEK[HEADER])",
    };
    timed("UID FETCH", async {
        let fetches: Vec<_> = session.uid_fetch(&set, query).await?.try_collect().await?;
        Ok::<_, async_imap::error::Error>(
            fetches
                .iter()
                .filter_map(|f| {
                    let bytes = match section {
                        Section::Whole => f.body()?,
                        Section::Header => f.header()?,
                    };
                    Some((
                        f.uid?,
                        f.internal_date().map(|d| d.timestamp()),
                        bytes.to_vec(),
                    ))
                })
                .collect::<Vec<_>>(),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, date: i64) -> SeenMail {
        SeenMail {
            external_id: id.to_owned(),
            internal_date: Some(date),
        }
    }

    #[test]
    fn a_new_uidvalidity_reads_again_from_the_start_under_a_floor() {
        let cursor = ImapCursor {
            uidvalidity: Some(7),
            last_uid: 40,
            recent: VecDeque::from([seen("a@x", 1_000), seen("b@x", 2_000)]),
            start_date: None,
            reset: None,
        };
        let next = cursor.rebased(9, 31);
        assert_eq!(next.uidvalidity, Some(9));
        assert_eq!(next.last_uid, 0);
        assert_eq!(
            next.reset,
            Some(ResetFloor {
                until_uid: 30,
                floor: 1_000
            })
        );
        assert!(next.below_reset_floor(30, Some(999)));
        assert!(!next.below_reset_floor(30, Some(1_000)));
        assert!(
            !next.below_reset_floor(31, Some(1)),
            "arrived after the change"
        );
        assert!(next.has_seen("b@x"));
    }

    #[test]
    fn a_first_fetch_has_no_floor_unless_it_started_at_the_end() {
        let fresh = ImapCursor::default().rebased(3, 10);
        assert_eq!(fresh.reset, None);
        let started = ImapCursor {
            start_date: Some(500),
            ..ImapCursor::default()
        };
        assert_eq!(
            started.rebased(3, 10).reset,
            Some(ResetFloor {
                until_uid: 9,
                floor: 500
            })
        );
    }

    #[test]
    fn the_recent_window_is_bounded() {
        let mut cursor = ImapCursor::default();
        for i in 0..RECENT_MAX + 5 {
            cursor.remember(format!("{i}@x"), Some(i as i64));
        }
        assert_eq!(cursor.recent.len(), RECENT_MAX);
        assert!(!cursor.has_seen("0@x"));
        assert!(cursor.has_seen(&format!("{}@x", RECENT_MAX + 4)));
    }
}
