//! A client document's stored body: what the document was built from (postcard, in the
//! index's zstd document store). A hit shows it and an update starts from it; its order key
//! and time are not stored in it but put back from the fast fields.
//!
//! Only clients have a body: message texts are the timeline's, not stored here.

use super::documents::{Columns, corrupt};
use super::schema::{Fields, normalize};
use crate::runtime::ProjectionError;
use serde::{Deserialize, Serialize};
use switchboard_schemas::{ChannelId, ChannelIdentity, ClientProfile, Timestamp};
use tantivy::schema::Value;
use tantivy::{DocId, TantivyDocument};

/// Everything a client document is built from (its stored body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ClientBody {
    /// The `order` fast field's value, not part of the stored body.
    #[serde(skip)]
    pub(super) order: u64,
    /// The `at` fast field's value, not part of the stored body.
    #[serde(skip, default = "no_time")]
    pub(super) registered_at: Timestamp,
    pub(super) name: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) email: Option<String>,
    pub(super) identities: Vec<IdentityBody>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IdentityBody {
    pub(super) channel: ChannelId,
    pub(super) external_id: String,
    pub(super) display_name: Option<String>,
}

impl ClientBody {
    pub(super) fn new(order: u64, registered_at: Timestamp) -> Self {
        Self {
            order,
            registered_at,
            name: None,
            phone: None,
            email: None,
            identities: Vec::new(),
        }
    }

    pub(super) fn set_profile(&mut self, profile: &ClientProfile) {
        self.name.clone_from(&profile.name);
        self.phone.clone_from(&profile.phone);
        self.email.clone_from(&profile.email);
    }

    pub(super) fn link(&mut self, identity: &ChannelIdentity, display_name: Option<&str>) {
        let found = self
            .identities
            .iter_mut()
            .find(|i| i.channel == identity.channel && i.external_id == identity.external_id);
        match found {
            Some(known) => {
                if let Some(name) = display_name {
                    known.display_name = Some(name.to_owned());
                }
            }
            None => self.identities.push(IdentityBody {
                channel: identity.channel,
                external_id: identity.external_id.clone(),
                display_name: display_name.map(str::to_owned),
            }),
        }
    }

    pub(super) fn unlink(&mut self, identity: &ChannelIdentity) {
        self.identities
            .retain(|i| !(i.channel == identity.channel && i.external_id == identity.external_id));
    }

    /// The searchable values, normalised; a phone also as its digits alone.
    pub(super) fn values(&self) -> Vec<String> {
        let mut values = Vec::with_capacity(4 + 2 * self.identities.len());
        let fields = [&self.name, &self.phone, &self.email];
        values.extend(fields.into_iter().flatten().map(|v| normalize(v)));
        if let Some(phone) = &self.phone {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if digits.len() != phone.len() && !digits.is_empty() {
                values.push(digits);
            }
        }
        for identity in &self.identities {
            values.push(normalize(&identity.external_id));
            values.extend(identity.display_name.as_deref().map(normalize));
        }
        values.retain(|v| !v.trim().is_empty());
        values
    }
}

fn no_time() -> Timestamp {
    Timestamp::from_micros(0)
}

pub(super) fn body_bytes<'a>(
    doc: &'a TantivyDocument,
    fields: &Fields,
) -> Result<&'a [u8], ProjectionError> {
    doc.get_first(fields.body)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| corrupt("a document has no body"))
}

/// A client document's body, with its order key and time (fast fields) put back.
pub(super) fn decode_client(
    doc: &TantivyDocument,
    fields: &Fields,
    columns: &Columns,
    doc_id: DocId,
) -> Result<ClientBody, ProjectionError> {
    let mut body: ClientBody = postcard::from_bytes(body_bytes(doc, fields)?)
        .map_err(|e| corrupt(format!("a client body does not decode: {e}")))?;
    body.order = columns.order(doc_id)?;
    body.registered_at = columns.at(doc_id)?;
    Ok(body)
}
