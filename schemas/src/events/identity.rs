//! Events of an identity claim (`sb.<project>.identity.<channel>.<key-hash>`): which dialog owns a
//! channel identity. Claimed with an expectation of "no events" (or of the release), so exactly one
//! dialog owns it at a time.

use crate::ids::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaimed {
    pub dialog: DialogId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityReleased {
    pub dialog: DialogId,
}
