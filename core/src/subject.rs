//! Subject naming. Every subject lives under `sb.`; tokens are `[a-z0-9_-]+`; user-supplied
//! strings never become tokens unhashed.
//!
//! | subject | aggregate |
//! |---|---|
//! | `sb.<project>.dialog.<dialog>` | one dialog (and its client) |
//! | `sb.<project>.project` | project settings: operators, folders, tags, pipeline, SLA, templates, saved filters |
//! | `sb.<project>.identity.<channel>.<key-hash>` | the claim of one channel identity by exactly one dialog |

use std::borrow::Cow;
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
///
/// Only its validated text is kept (tokens are split off it when matching: no allocation per
/// token), borrowed when constant: [`SubjectFilter::all`], checked on every append, allocates
/// nothing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SubjectFilter {
    text: Cow<'static, str>,
}

impl SubjectFilter {
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        Self::check(text)?;
        Ok(Self {
            text: Cow::Owned(text.to_owned()),
        })
    }

    fn check(text: &str) -> Result<(), SubjectError> {
        if text.is_empty() {
            return Err(SubjectError::Empty);
        }
        let mut parts = text.split('.').peekable();
        while let Some(part) = parts.next() {
            match part {
                "*" => {}
                ">" if parts.peek().is_none() => {}
                ">" => return Err(SubjectError::TailNotLast),
                literal if valid_token(literal) => {}
                bad => return Err(SubjectError::BadToken(bad.to_owned())),
            }
        }
        Ok(())
    }

    /// Everything in the log: `sb.>`.
    pub fn all() -> Self {
        const ALL: &str = "sb.>";
        debug_assert!(Self::check(ALL).is_ok() && ALL.starts_with(ROOT));
        Self {
            text: Cow::Borrowed(ALL),
        }
    }

    /// Everything of one project: `sb.<project>.>`.
    pub fn project(project: ProjectId) -> Self {
        let mut text = String::with_capacity(ROOT.len() + 1 + 32 + 2);
        text.push_str(ROOT);
        text.push('.');
        push_token(&mut text, project.as_uuid());
        text.push_str(".>");
        Self {
            text: Cow::Owned(text),
        }
    }

    /// Exactly one subject.
    pub fn exact(subject: &Subject) -> Self {
        Self {
            text: Cow::Owned(subject.0.clone()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal subject when the filter has no wildcard.
    pub fn as_literal(&self) -> Option<Subject> {
        self.text
            .split('.')
            .all(|t| t != "*" && t != ">")
            .then(|| Subject(self.text.clone().into_owned()))
    }

    pub fn matches(&self, subject: &str) -> bool {
        let mut parts = subject.split('.');
        // The text was validated: `>` is the last token, every other token is `*` or a literal.
        for token in self.text.split('.') {
            match token {
                ">" => return parts.next().is_some(),
                "*" => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                literal => {
                    if parts.next() != Some(literal) {
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
    fn built_filters_are_the_documented_ones() {
        let project = ProjectId::new();
        let p = project.token();
        assert_eq!(SubjectFilter::all(), SubjectFilter::parse("sb.>").unwrap());
        assert_eq!(
            SubjectFilter::project(project),
            SubjectFilter::parse(&format!("sb.{p}.>")).unwrap()
        );
        assert!(SubjectFilter::project(project).matches(&format!("sb.{p}.project")));
        assert!(!SubjectFilter::project(project).matches(&format!("sb.{p}")));
        let subject = Subject::project(project);
        let exact = SubjectFilter::exact(&subject);
        assert_eq!(exact, SubjectFilter::parse(subject.as_str()).unwrap());
        assert_eq!(exact.as_literal(), Some(subject.clone()));
        assert!(exact.matches(subject.as_str()));
        assert!(!exact.matches(&format!("{subject}.x")));
        assert!(SubjectFilter::all().matches(subject.as_str()));
        assert!(!SubjectFilter::all().matches("sb"));
        assert!(!SubjectFilter::all().matches("xb.y"));
        assert!(SubjectFilter::all().as_literal().is_none());
        assert!(
            SubjectFilter::parse("sb.*.x")
                .unwrap()
                .as_literal()
                .is_none()
        );
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
        assert_eq!(
            SubjectFilter::parse("sb.>.>"),
            Err(SubjectError::TailNotLast)
        );
        assert_eq!(
            SubjectFilter::parse("sb.Bad.>"),
            Err(SubjectError::BadToken("Bad".into()))
        );
        assert_eq!(
            SubjectFilter::parse("sb..>"),
            Err(SubjectError::BadToken("".into()))
        );
        assert_eq!(SubjectFilter::parse(""), Err(SubjectError::Empty));
        assert_eq!(Subject::parse(""), Err(SubjectError::Empty));
    }
}
