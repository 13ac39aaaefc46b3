//! What an admin enters to connect an `email` channel: the address, the IMAP and SMTP servers.
//! Passwords are [`Secret`]s: no `Debug`, `Display` or log shows them.

use std::time::Duration;

/// A password or token: the crate's one secret type.
pub use crate::secret::Secret;

/// How the connection to a mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP submissions 465), certificates checked against
    /// the system's roots. RFC 8314 recommends it.
    ImplicitTls,
    /// Plain TCP upgraded by STARTTLS (SMTP 587), required: a server that does not offer it is
    /// refused. SMTP only.
    StartTls,
    /// No encryption: only for a server on the same host or a trusted network (and the tests).
    Plain,
}

/// The IMAP side of an email channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: Secret,
    /// The mailbox that receives the channel's mail, usually `INBOX`.
    pub mailbox: String,
    /// How long one IDLE waits before it is renewed (RFC 2177: at most 29 minutes).
    pub idle_timeout: Duration,
    /// How often a server without IDLE is polled.
    pub poll_interval: Duration,
    /// A mail larger than this is fetched as its header only (and marked so).
    pub message_max_bytes: u64,
    /// One fetch downloads at most about this much (one mail at least).
    pub batch_max_bytes: u64,
}

impl ImapSettings {
    /// The defaults: `INBOX`, IDLE renewed every 25 minutes, polling every 30 seconds, mails up
    /// to 50 MiB (what large providers accept), batches up to 100 MiB.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        security: Security,
        username: impl Into<String>,
        password: Secret,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            security,
            username: username.into(),
            password,
            mailbox: "INBOX".to_owned(),
            idle_timeout: Duration::from_secs(25 * 60),
            poll_interval: Duration::from_secs(30),
            message_max_bytes: 50 * 1024 * 1024,
            batch_max_bytes: 100 * 1024 * 1024,
        }
    }
}

/// The SMTP side of an email channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// `None`: the server takes mail without authentication (a local relay).
    pub credentials: Option<(String, Secret)>,
    /// How long one SMTP conversation may take.
    pub timeout: Duration,
}

/// An `email` channel as an admin connects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// The channel's address: `From` of what we send, `To` of what clients write.
    pub address: String,
    /// The display name on what we send.
    pub display_name: Option<String>,
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
}

impl EmailSettings {
    /// The domain of [`EmailSettings::address`]: the right side of our Message-IDs.
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map(|(_, domain)| domain)
            .filter(|d| !d.is_empty())
            .unwrap_or("localhost")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug() {
        let imap = ImapSettings::new(
            "imap.example.com",
            993,
            Security::ImplicitTls,
            "user",
            Secret::new("hunter2-imap"),
        );
        let settings = EmailSettings {
            address: "support@example.com".to_owned(),
            display_name: None,
            imap,
            smtp: SmtpSettings {
                host: "smtp.example.com".to_owned(),
                port: 465,
                security: Security::ImplicitTls,
                credentials: Some(("user".to_owned(), Secret::new("hunter2-smtp"))),
                timeout: Duration::from_secs(30),
            },
        };
        let shown = format!("{settings:?} {settings:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(***)"));
        assert_eq!(settings.domain(), "example.com");
    }
}
