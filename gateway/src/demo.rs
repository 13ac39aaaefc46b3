//! `serve --demo`: an empty data directory becomes a populated inbox a newcomer can sign in to.
//!
//! The history is [`switchboard_dataset`]'s (one project, its operators, folders, tags,
//! channels, a few hundred conversations in Russian and English, every event decided by the
//! domain), appended to the empty log in order; each operator it adds gets an account with the
//! demo password. A log that already holds anything is served as it is: the demo never writes
//! into a real installation.

use crate::credentials::{CredentialError, CredentialStore};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use switchboard_core::{AnyLog, AppendRequest, EventLog, MsgId};
use switchboard_dataset::history::{Generator, Item, Size};
use switchboard_dataset::log_record;
use switchboard_schemas::{Event, Role};

/// The password of every demo account (printed at the start; a demo is not an installation).
pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// The demo's size: enough to scroll, filter and search, small enough to start in seconds.
pub const DEMO_SIZE: Size = Size {
    projects: 1,
    dialogs: 300,
    messages: 3_000,
    operators: 4,
    seed: 20_261_207,
};

/// Appends in flight while filling.
const WINDOW: usize = 256;

/// Who can sign in to the demo.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub email: String,
    pub admin: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot read the log: {0}")]
    Log(#[from] switchboard_core::LogError),
    #[error("cannot generate the demo history: {0}")]
    Generate(String),
    #[error("cannot append the demo history: {0}")]
    Append(String),
    #[error("cannot create a demo account: {0}")]
    Account(#[from] CredentialError),
}

/// Fills an empty log with the demo and makes its accounts; `None` when the log was not empty.
pub async fn fill(
    log: &AnyLog,
    credentials: &CredentialStore,
) -> Result<Option<Vec<DemoAccount>>, DemoError> {
    if log.last_seq().await? > 0 {
        return Ok(None);
    }
    let mut people = Vec::new();
    let mut in_flight = FuturesOrdered::new();
    for item in Generator::new(DEMO_SIZE, 1) {
        let Item::Append(append) = item else {
            continue;
        };
        for envelope in &append.events {
            if let Event::OperatorAdded(added) = &envelope.payload {
                people.push((envelope.project, added.clone()));
            }
        }
        let record = log_record(&append).map_err(DemoError::Generate)?;
        let request = AppendRequest {
            subject: record.subject,
            expected: append.expected,
            msg_id: MsgId::new(record.msg_id).map_err(|e| DemoError::Generate(e.to_string()))?,
            batch: record.batch,
        };
        let log = log.clone();
        in_flight.push_back(async move { log.append(request).await });
        if in_flight.len() >= WINDOW
            && let Some(done) = in_flight.next().await
        {
            done.map_err(|e| DemoError::Append(e.to_string()))?;
        }
    }
    while let Some(done) = in_flight.next().await {
        done.map_err(|e| DemoError::Append(e.to_string()))?;
    }
    let mut accounts = Vec::new();
    for (project, added) in people {
        credentials
            .create_account(project, added.operator, &added.email, DEMO_PASSWORD)
            .await?;
        accounts.push(DemoAccount {
            email: added.email,
            admin: added.role == Role::Admin,
        });
    }
    Ok(Some(accounts))
}
