//! Subject naming. Every subject lives under `sb.`; tokens are `[a-z0-9_-]+`; user-supplied
//! strings never become tokens unhashed.
//!
//! | subject | aggregate |
//! |---|---|
//! | `sb.<project>.dialog.<dialog>` | one dialog (and its client) |
//! | `sb.<project>.project` | project settings: operators, folders, tags, pipeline, SLA, templates, saved filters |
//! | `sb.<project>.identity.<channel>.<key-hash>` | the claim of one channel identity by exactly one dialog |

use std::fmt;
use switchboard_schemas::{ChannelId, DialogId, ProjectId};

/// The root token of every subject.
pub const ROOT: &str = "sb";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("subject is empty")]
    Empty,
    #[error("subject token {0:?} is not [a-z0-9_-]+")]
    BadToken(String),
    #[error("'>' may only be the last token of a filter")]
    TailNotLast,
    #[error("subject {0:?} contains a wildcard")]
    Wildcard(String),
}

/// Appends an id's subject token (32 lowercase hex digits, as `token()` of the id types) without
/// an intermediate string.
fn push_token(out: &mut String, id: &uuid::Uuid) {
    out.push_str(id.simple().encode_lower(&mut [0u8; 32]));
}

fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A literal subject (no wildcards), validated.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(String);

impl Subject {
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        if text.is_empty() {
            return Err(SubjectError::Empty);
        }
        for token in text.split('.') {
            if token == "*" || token == ">" {
                return Err(SubjectError::Wildcard(text.to_owned()));
            }
            if !valid_token(token) {
                return Err(SubjectError::BadToken(token.to_owned()));
            }
        }
        Ok(Self(text.to_owned()))
    }

    pub fn dialog(project: ProjectId, dialog: DialogId) -> Self {
        // Written straight into one exactly sized string: this runs for every dialog command.
        let mut text = String::with_capacity(ROOT.len() + 1 + 32 + ".dialog.".len() + 32);
        text.push_str(ROOT);
        text.push('.');
        push_token(&mut text, project.as_uuid());
        text.push_str(".dialog.");
        push_token(&mut text, dialog.as_uuid());
        Self(text)
    }

    pub fn project(project: ProjectId) -> Self {
        let mut text = String::with_capacity(ROOT.len() + 1 + 32 + ".project".len());
        text.push_str(ROOT);
        text.push('.');
        push_token(&mut text, project.as_uuid());
        text.push_str(".project");
        Self(text)
    }

    /// `key_hash` is a hash of the channel's own identity key (phone, user id, email); the raw key
    /// never appears in a subject.
    pub fn identity(project: ProjectId, channel: ChannelId, key_hash: &str) -> Self {
        debug_assert!(valid_token(key_hash));
        let mut text = String::with_capacity(
            ROOT.len() + 1 + 32 + ".identity.".len() + 32 + 1 + key_hash.len(),
        );
        text.push_str(ROOT);
        text.push('.');
        push_token(&mut text, project.as_uuid());
        text.push_str(".identity.");
        push_token(&mut text, channel.as_uuid());
        text.push('.');
        text.push_str(key_hash);
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.0)
    }
}

/// A subject filter with NATS semantics: `*` matches one token, `>` (last only) one or more.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SubjectFilter {
    text: String,
    tokens: Vec<FilterToken>,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum FilterToken {
    Literal(String),
    One,
    Tail,
}

impl SubjectFilter {
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        if text.is_empty() {
            return Err(SubjectError::Empty);
        }
        let parts: Vec<&str> = text.split('.').collect();
        let mut tokens = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            tokens.push(match *part {
                "*" => FilterToken::One,
                ">" if i + 1 == parts.len() => FilterToken::Tail,
                ">" => return Err(SubjectError::TailNotLast),
                literal if valid_token(literal) => FilterToken::Literal(literal.to_owned()),
                bad => return Err(SubjectError::BadToken(bad.to_owned())),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// Everything in the log: `sb.>`.
    pub fn all() -> Self {
        Self::parse("sb.>").unwrap_or_else(|_| unreachable!("constant filter is valid"))
    }

    /// Everything of one project: `sb.<project>.>`.
    pub fn project(project: ProjectId) -> Self {
        Self::literal_prefix(format!("{ROOT}.{}", project.token()))
    }

    /// Exactly one subject.
    pub fn exact(subject: &Subject) -> Self {
        Self {
            text: subject.0.clone(),
            tokens: subject
                .tokens()
                .map(|t| FilterToken::Literal(t.to_owned()))
                .collect(),
        }
    }

    fn literal_prefix(prefix: String) -> Self {
        let mut tokens: Vec<FilterToken> = prefix
            .split('.')
            .map(|t| FilterToken::Literal(t.to_owned()))
            .collect();
        tokens.push(FilterToken::Tail);
        Self {
            text: format!("{prefix}.>"),
            tokens,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal subject when the filter has no wildcard.
    pub fn as_literal(&self) -> Option<Subject> {
        self.tokens
            .iter()
            .all(|t| matches!(t, FilterToken::Literal(_)))
            .then(|| Subject(self.text.clone()))
    }

    pub fn matches(&self, subject: &str) -> bool {
        let mut parts = subject.split('.');
        for token in &self.tokens {
            match token {
                FilterToken::Tail => return parts.next().is_some(),
                FilterToken::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                FilterToken::Literal(lit) => {
                    if parts.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for SubjectFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for SubjectFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectFilter({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        let one = SubjectFilter::parse("sb.*.dialog.*").unwrap();
        assert!(one.matches("sb.p1.dialog.d1"));
        assert!(!one.matches("sb.p1.dialog"));
        assert!(!one.matches("sb.p1.dialog.d1.x"));
        assert!(!one.matches("sb.p1.project"));
        let tail = SubjectFilter::parse("sb.p1.>").unwrap();
        assert!(tail.matches("sb.p1.project"));
        assert!(tail.matches("sb.p1.dialog.d1"));
        assert!(!tail.matches("sb.p1"));
        assert!(!tail.matches("sb.p2.project"));
        let exact = SubjectFilter::parse("sb.p1.project").unwrap();
        assert!(exact.matches("sb.p1.project"));
        assert!(!exact.matches("sb.p1.project.x"));
        assert_eq!(exact.as_literal().unwrap().as_str(), "sb.p1.project");
        assert!(tail.as_literal().is_none());
    }

    #[test]
    fn built_subjects_are_the_documented_names() {
        let project = ProjectId::new();
        let dialog = DialogId::new();
        let channel = ChannelId::new();
        let (p, d, c) = (project.token(), dialog.token(), channel.token());
        assert_eq!(
            Subject::dialog(project, dialog).as_str(),
            format!("sb.{p}.dialog.{d}")
        );
        assert_eq!(
            Subject::project(project).as_str(),
            format!("sb.{p}.project")
        );
        assert_eq!(
            Subject::identity(project, channel, "ab12").as_str(),
            format!("sb.{p}.identity.{c}.ab12")
        );
        for subject in [
            Subject::dialog(project, dialog),
            Subject::project(project),
            Subject::identity(project, channel, "ab12"),
        ] {
            assert_eq!(Subject::parse(subject.as_str()), Ok(subject));
        }
    }

    #[test]
    fn bad_tokens_are_refused() {
        assert_eq!(
            Subject::parse("sb.Bad.x"),
            Err(SubjectError::BadToken("Bad".into()))
        );
        assert_eq!(
            Subject::parse("sb..x"),
            Err(SubjectError::BadToken("".into()))
        );
        assert!(matches!(
            Subject::parse("sb.*"),
            Err(SubjectError::Wildcard(_))
        ));
        assert_eq!(
            SubjectFilter::parse("sb.>.x"),
            Err(SubjectError::TailNotLast)
        );
        assert_eq!(Subject::parse(""), Err(SubjectError::Empty));
    }
}
