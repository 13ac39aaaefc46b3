//! The email channel: the mail-parser fixtures, a fuzz target, charsets, and IMAP and SMTP
//! against real servers (dovecot, aiosmtpd) started by `switchboard-tests`' harness.

mod charsets;
mod fixtures;
mod fuzz;
mod imap;
mod mailbox;
mod smtp;
