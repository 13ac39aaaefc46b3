//! Small pieces the parsers share: ids that come as a number or a string, Unix times, names.

use crate::error::WebhookError;
use serde::{Deserialize, Deserializer};
use switchboard_schemas::Timestamp;

/// An id that providers send as a JSON number in one place and a string in another (Telegram's
/// examples give an `inline_query` id as a number; the spec says string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Signed(i64),
            Unsigned(u64),
            Text(String),
        }
        Ok(Id(match Raw::deserialize(deserializer)? {
            Raw::Signed(n) => n.to_string(),
            Raw::Unsigned(n) => n.to_string(),
            Raw::Text(s) => s,
        }))
    }
}

/// Seconds since the Unix epoch, as a timestamp; out of range is an error, never an overflow.
pub(crate) fn unix_seconds(seconds: i64, field: &str) -> Result<Timestamp, WebhookError> {
    // Years 1970..=9999: what RFC 3339 can print.
    if !(0..=253_402_300_799).contains(&seconds) {
        return Err(WebhookError::Malformed(format!(
            "{field}: {seconds} is not a time"
        )));
    }
    Ok(Timestamp::from_micros(seconds * 1_000_000))
}

/// Unix seconds written as a decimal string (WhatsApp's `timestamp`).
pub(crate) fn unix_seconds_text(text: &str, field: &str) -> Result<Timestamp, WebhookError> {
    let seconds: i64 = text
        .trim()
        .parse()
        .map_err(|_| WebhookError::Malformed(format!("{field}: {text:?} is not a number")))?;
    unix_seconds(seconds, field)
}

/// First and last name joined, or `None` when both are missing or blank.
pub(crate) fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let name = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// A non-blank string, trimmed.
pub(crate) fn non_blank(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
