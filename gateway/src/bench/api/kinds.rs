//! The kinds of requests a client sends and how each is drawn: list pages (a tab or folder,
//! 0–3 filters from the project's tags, operators and statuses, followed page by page through
//! `next_cursor`), counters, a dialog with its timeline, a search for a word of the dataset's
//! texts, harmless commands, the mix of them, and the static baseline.

use super::client::{Conn, Tally};
use super::setup::Session;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// A kind of load (a phase runs one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `GET /static` on the bench's own axum server: the HTTP limit of the machine.
    Static,
    List,
    Counters,
    /// `GET /v1/dialogs/{id}` and `GET /v1/dialogs/{id}/timeline` (two requests).
    Dialog,
    Search,
    Commands,
    Mix,
}

impl Kind {
    pub const PHASES: [Kind; 7] = [
        Kind::Static,
        Kind::List,
        Kind::Counters,
        Kind::Dialog,
        Kind::Search,
        Kind::Commands,
        Kind::Mix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Static => "static",
            Kind::List => "list",
            Kind::Counters => "counters",
            Kind::Dialog => "dialog_timeline",
            Kind::Search => "search",
            Kind::Commands => "commands",
            Kind::Mix => "mix",
        }
    }
}

/// The mix: shares of each kind, in percent (an inbox is mostly lists and counters).
const MIX: [(Kind, u32); 5] = [
    (Kind::List, 50),
    (Kind::Counters, 20),
    (Kind::Dialog, 15),
    (Kind::Search, 5),
    (Kind::Commands, 10),
];

/// Most pages one list walk follows.
pub const MAX_PAGES: u32 = 20;
/// Dialog ids a client remembers from its list pages.
const KEEP_DIALOGS: usize = 256;

/// One client: its connection, its account, and what it has seen.
#[derive(Debug)]
pub struct Client {
    pub conn: Conn,
    pub session: Session,
    rng: StdRng,
    words: Arc<Vec<String>>,
    dialogs: Vec<String>,
    pinned: HashSet<String>,
    /// The list walk under way: the query without the cursor, the next cursor, pages left.
    walk: Option<(String, String, u32)>,
    notes: u64,
    /// A connection to the static baseline's server.
    pub static_conn: Option<Conn>,
}

impl Client {
    pub fn new(conn: Conn, session: Session, seed: u64, words: Arc<Vec<String>>) -> Self {
        Self {
            conn,
            session,
            rng: StdRng::seed_from_u64(seed),
            words,
            dialogs: Vec::new(),
            pinned: HashSet::new(),
            walk: None,
            notes: 0,
            static_conn: None,
        }
    }

    async fn get(&mut self, path: &str, tally: &mut Tally) -> Option<Bytes> {
        let started = Instant::now();
        let outcome = self
            .conn
            .call("GET", path, Some(&self.session.token), None)
            .await;
        tally.record(started, &outcome);
        match outcome {
            Ok((200, body)) => Some(body),
            _ => None,
        }
    }

    /// One step of `kind`: one request, or two for a dialog with its timeline.
    pub async fn step(&mut self, kind: Kind, tallies: &mut HashMap<Kind, Tally>) {
        let kind = if kind == Kind::Mix {
            let mut draw = self.rng.random_range(0..100);
            MIX.iter()
                .find(|(_, share)| {
                    let hit = draw < *share;
                    draw = draw.saturating_sub(*share);
                    hit
                })
                .map_or(Kind::List, |(k, _)| *k)
        } else {
            kind
        };
        let tally = tallies.entry(kind).or_default();
        match kind {
            Kind::Static => self.static_get(tally).await,
            Kind::List | Kind::Mix => self.list_page(tally).await,
            Kind::Counters => {
                self.get("/v1/counters", tally).await;
            }
            Kind::Dialog => self.dialog(tally).await,
            Kind::Search => self.search(tally).await,
            Kind::Commands => self.command(tally).await,
        }
    }

    async fn static_get(&mut self, tally: &mut Tally) {
        let Some(conn) = self.static_conn.as_mut() else {
            return;
        };
        let started = Instant::now();
        let outcome = conn.call("GET", "/static", None, None).await;
        tally.record(started, &outcome);
    }

    /// The next page of the walk under way, or the first page of a new one.
    async fn list_page(&mut self, tally: &mut Tally) {
        let (query, pages_left) = match self.walk.take() {
            Some((query, cursor, left)) => (
                format!(
                    "{query}&{}",
                    serde_urlencoded::to_string([("cursor", cursor)]).unwrap_or_default()
                ),
                left,
            ),
            None => {
                let query = self.new_list_query();
                let depth = if self.rng.random_bool(0.5) {
                    1
                } else {
                    self.rng.random_range(2..=MAX_PAGES)
                };
                (query, depth)
            }
        };
        let base = query.split("&cursor=").next().unwrap_or(&query).to_owned();
        let Some(body) = self.get(&format!("/v1/dialogs?{query}"), tally).await else {
            return;
        };
        let Ok(page) = serde_json::from_slice::<Value>(&body) else {
            return;
        };
        if let Some(items) = page["items"].as_array() {
            for item in items {
                if let Some(id) = item["dialog"].as_str()
                    && self.dialogs.len() < KEEP_DIALOGS
                {
                    self.dialogs.push(id.to_owned());
                }
            }
        }
        if pages_left > 1
            && let Some(cursor) = page["next_cursor"].as_str()
        {
            self.walk = Some((base, cursor.to_owned(), pages_left - 1));
        }
    }

    /// A tab or a folder, and 0–3 filters drawn from the project's tags, operators and statuses.
    fn new_list_query(&mut self) -> String {
        const TABS: [&str; 5] = ["all", "unanswered", "mine", "others", "free"];
        let project = &self.session.project;
        let mut fields: Vec<(&str, String)> = Vec::new();
        fields.push(("tab", TABS[self.rng.random_range(0..TABS.len())].to_owned()));
        if self.rng.random_bool(0.25) {
            let folder = if !project.folders.is_empty() && self.rng.random_bool(0.5) {
                project.folders[self.rng.random_range(0..project.folders.len())].to_string()
            } else {
                "with_operator".to_owned()
            };
            fields.push(("folder", folder));
        }
        if self.rng.random_bool(0.2) {
            fields.push(("archived", "true".to_owned()));
        }
        let filters = self.rng.random_range(0..=3);
        let mut nodes = Vec::new();
        for _ in 0..filters {
            nodes.push(self.filter_node());
        }
        if !nodes.is_empty() {
            fields.push(("filter", json!({ "all": nodes }).to_string()));
        }
        serde_urlencoded::to_string(&fields).unwrap_or_default()
    }

    fn filter_node(&mut self) -> Value {
        let project = &self.session.project;
        // Popular tags are used most (the generator's order).
        let tag = |rng: &mut StdRng| {
            let n = project.tags.len().clamp(1, 8);
            project
                .tags
                .get(rng.random_range(0..n))
                .map(|t| t.to_string())
        };
        match self.rng.random_range(0..6) {
            0 => match tag(&mut self.rng) {
                Some(t) => json!({ "tags_all": [t] }),
                None => json!("any_tag"),
            },
            1 => match tag(&mut self.rng) {
                Some(t) => json!({ "tags_none": [t] }),
                None => json!("no_tags"),
            },
            2 => {
                let everyone: Vec<_> = project.operators.iter().chain(&project.admins).collect();
                if everyone.is_empty() || self.rng.random_bool(0.3) {
                    json!({ "assignee": null })
                } else {
                    let who = everyone[self.rng.random_range(0..everyone.len())];
                    json!({ "assignee": who.to_string() })
                }
            }
            3 => json!({ "status": if self.rng.random_bool(0.7) { "open" } else { "closed" } }),
            4 => {
                json!({ "last_author": if self.rng.random_bool(0.5) { "client" } else { "operator" } })
            }
            _ => json!("any_tag"),
        }
    }

    /// A dialog this client has seen in its lists (one list page first when it has none).
    async fn some_dialog(&mut self, tally: &mut Tally) -> Option<String> {
        if self.dialogs.is_empty() {
            self.walk = None;
            let started = Instant::now();
            let outcome = self
                .conn
                .call(
                    "GET",
                    "/v1/dialogs?tab=all&limit=100",
                    Some(&self.session.token),
                    None,
                )
                .await;
            tally.record(started, &outcome);
            if let Ok((200, body)) = outcome
                && let Ok(page) = serde_json::from_slice::<Value>(&body)
            {
                for item in page["items"].as_array().into_iter().flatten() {
                    if let Some(id) = item["dialog"].as_str() {
                        self.dialogs.push(id.to_owned());
                    }
                }
            }
        }
        if self.dialogs.is_empty() {
            return None;
        }
        Some(self.dialogs[self.rng.random_range(0..self.dialogs.len())].clone())
    }

    async fn dialog(&mut self, tally: &mut Tally) {
        let Some(dialog) = self.some_dialog(tally).await else {
            return;
        };
        if self
            .get(&format!("/v1/dialogs/{dialog}"), tally)
            .await
            .is_some()
        {
            self.get(&format!("/v1/dialogs/{dialog}/timeline?limit=50"), tally)
                .await;
        }
    }

    async fn search(&mut self, tally: &mut Tally) {
        if self.words.is_empty() {
            return;
        }
        let word = self.words[self.rng.random_range(0..self.words.len())].clone();
        let query = serde_urlencoded::to_string([("q", word)]).unwrap_or_default();
        self.get(&format!("/v1/search?{query}"), tally).await;
    }

    /// A harmless mutation: read/unread, pin/unpin (alternating per dialog), or a note.
    async fn command(&mut self, tally: &mut Tally) {
        let Some(dialog) = self.some_dialog(tally).await else {
            return;
        };
        let body = match self.rng.random_range(0..5) {
            0 => json!({ "action": "mark_read" }),
            1 => json!({ "action": "mark_unread" }),
            2 | 3 => {
                if self.pinned.remove(&dialog) {
                    json!({ "action": "unpin" })
                } else {
                    self.pinned.insert(dialog.clone());
                    json!({ "action": "pin" })
                }
            }
            _ => {
                self.notes += 1;
                json!({ "action": "add_note", "text": format!("bench note {}", self.notes) })
            }
        };
        let started = Instant::now();
        let outcome = self
            .conn
            .call(
                "POST",
                &format!("/v1/dialogs/{dialog}/actions"),
                Some(&self.session.token),
                Some(body.to_string().into()),
            )
            .await;
        tally.record(started, &outcome);
    }
}

/// Words of the dataset's texts for searches: from the last messages of the first list pages
/// the sessions see (letters only, at least 4 of them).
pub fn words_of(pages: &[Value]) -> Vec<String> {
    let mut words = HashSet::new();
    for page in pages {
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(text) = item["last_message"]["preview"].as_str() {
                for word in text.split(|c: char| !c.is_alphabetic()) {
                    if word.chars().count() >= 4 {
                        words.insert(word.to_lowercase());
                    }
                }
            }
        }
    }
    let mut words: Vec<_> = words.into_iter().collect();
    words.sort();
    words
}
