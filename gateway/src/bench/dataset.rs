//! `switchboard bench dataset`: the generated inbox history of [`switchboard_dataset`] written
//! as JSON lines for other systems to load:
//!
//! - `events.jsonl`: every event, one per line, exactly as `switchboard events tail` prints the
//!   log the same history fills (`seq`, `subject`, `index`, then the event's JSON form);
//! - `messages.jsonl`: every message, inbound and outbound, with its text;
//! - `dialogs.jsonl`: every dialog as it ends up (assignee, flags, tags, folders, counts);
//! - `clients.jsonl`: every client (profile, identities, source, variables; erased for a
//!   deleted client, F4.8);
//! - `manifest.json`: the size, the seed and the counts.
//!
//! The files are streamed (memory stays bounded by the window of dialogs under way), and the
//! same size and seed give the same bytes.

use super::{SizeArgs, size_json, stats_json};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use switchboard_dataset::history::{Append, DialogSummary, Generator, Item, Size, Stats};
use switchboard_dataset::log_record;
use switchboard_schemas::*;

#[derive(clap::Args, Debug, Clone)]
pub struct DatasetArgs {
    /// Directory to write the files into (created if missing; files are overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub size: SizeArgs,
    /// Print only the JSON summary line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct MessageLine<'a> {
    message: MessageId,
    dialog: String,
    project: ProjectId,
    seq: u64,
    at: String,
    direction: &'static str,
    author: &'static str,
    operator: Option<OperatorId>,
    channel: ChannelId,
    channel_kind: Option<&'static str>,
    text: &'a str,
    attachments: usize,
    template: Option<TemplateId>,
}

#[derive(Serialize)]
struct DialogLine {
    dialog: DialogId,
    project: ProjectId,
    client: DialogId,
    created_at: String,
    last_activity_at: String,
    language: &'static str,
    channels: Vec<&'static str>,
    assignee: Option<OperatorId>,
    closed: bool,
    pinned: bool,
    blocked: bool,
    blacklisted: bool,
    bot_paused: bool,
    deleted: bool,
    unanswered: bool,
    messages: u32,
    messages_in: u32,
    messages_out: u32,
    notes: u32,
    tags: Vec<TagId>,
    folders: Vec<FolderId>,
    lists: Vec<ListId>,
    deal_stage: Option<StageId>,
}

#[derive(Serialize)]
struct IdentityLine<'a> {
    channel: ChannelId,
    kind: &'static str,
    external_id: &'a str,
}

#[derive(Serialize)]
struct ClientLine<'a> {
    client: DialogId,
    dialog: DialogId,
    project: ProjectId,
    created_at: String,
    /// F4.8: a deleted client's personal data is erased.
    erased: bool,
    name: Option<&'a str>,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    avatar_url: Option<&'a str>,
    country: Option<&'a str>,
    language: Option<&'a str>,
    identities: Vec<IdentityLine<'a>>,
    source: &'a Source,
    variables: &'a std::collections::BTreeMap<String, String>,
}

/// Writes a history as the dataset files.
struct Writer {
    events: BufWriter<File>,
    messages: BufWriter<File>,
    dialogs: BufWriter<File>,
    clients: BufWriter<File>,
    channel_kinds: HashMap<ChannelId, ChannelKind>,
}

fn create(dir: &Path, name: &str) -> Result<BufWriter<File>, String> {
    let path = dir.join(name);
    File::create(&path)
        .map(|file| BufWriter::with_capacity(1 << 20, file))
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn io(error: std::io::Error) -> String {
    format!("cannot write the dataset: {error}")
}

impl Writer {
    fn append(&mut self, append: &Append) -> Result<(), String> {
        let record = log_record(append)?;
        crate::events::write_record(&mut self.events, &record).map_err(io)?;
        for envelope in &append.events {
            let dialog = match &envelope.aggregate {
                AggregateId::Dialog(dialog) => dialog.to_string(),
                _ => String::new(),
            };
            let line = match &envelope.payload {
                Event::ChannelConnected(e) => {
                    self.channel_kinds.insert(e.channel, e.kind);
                    continue;
                }
                Event::MessageReceived(e) => MessageLine {
                    message: e.message,
                    dialog,
                    project: envelope.project,
                    seq: append.seq,
                    at: envelope.occurred_at.to_rfc3339(),
                    direction: "inbound",
                    author: "client",
                    operator: None,
                    channel: e.channel,
                    channel_kind: self.channel_kinds.get(&e.channel).map(|k| k.as_str()),
                    text: &e.text,
                    attachments: e.attachments.len(),
                    template: None,
                },
                Event::MessageQueued(e) => {
                    let (author, operator) = match e.author {
                        MessageAuthor::Operator(id) => ("operator", Some(id)),
                        MessageAuthor::Bot => ("bot", None),
                        MessageAuthor::Client => ("client", None),
                    };
                    MessageLine {
                        message: e.message,
                        dialog,
                        project: envelope.project,
                        seq: append.seq,
                        at: envelope.occurred_at.to_rfc3339(),
                        direction: "outbound",
                        author,
                        operator,
                        channel: e.channel,
                        channel_kind: self.channel_kinds.get(&e.channel).map(|k| k.as_str()),
                        text: &e.text,
                        attachments: e.attachments.len(),
                        template: e.template,
                    }
                }
                _ => continue,
            };
            serde_json::to_writer(&mut self.messages, &line).map_err(|e| io(e.into()))?;
            self.messages.write_all(b"\n").map_err(io)?;
        }
        Ok(())
    }

    fn dialog(&mut self, d: &DialogSummary) -> Result<(), String> {
        let state = &d.state;
        let line = DialogLine {
            dialog: d.dialog,
            project: d.project,
            client: d.dialog,
            created_at: d.created_at.to_rfc3339(),
            last_activity_at: d.last_activity_at.to_rfc3339(),
            language: d.lang.code(),
            channels: state.identities.iter().map(|i| i.kind.as_str()).collect(),
            assignee: state.assignee,
            closed: state.closed,
            pinned: state.pinned,
            blocked: state.blocked,
            blacklisted: state.blacklisted,
            bot_paused: state.bot_paused,
            deleted: state.deleted,
            unanswered: state.unanswered,
            messages: d.messages_in + d.messages_out,
            messages_in: d.messages_in,
            messages_out: d.messages_out,
            notes: d.notes,
            tags: state.tags.iter().copied().collect(),
            folders: state.folders.iter().copied().collect(),
            lists: state.lists.iter().copied().collect(),
            deal_stage: state.deal_stage.map(|(_, stage)| stage),
        };
        serde_json::to_writer(&mut self.dialogs, &line).map_err(|e| io(e.into()))?;
        self.dialogs.write_all(b"\n").map_err(io)?;
        let erased = state.deleted;
        let personal = |value: &'_ Option<String>| -> Option<String> {
            if erased { None } else { value.clone() }
        };
        let (name, phone, email, avatar) = (
            personal(&d.profile.name),
            personal(&d.profile.phone),
            personal(&d.profile.email),
            personal(&d.profile.avatar_url),
        );
        let client = ClientLine {
            client: d.dialog,
            dialog: d.dialog,
            project: d.project,
            created_at: d.created_at.to_rfc3339(),
            erased,
            name: name.as_deref(),
            phone: phone.as_deref(),
            email: email.as_deref(),
            avatar_url: avatar.as_deref(),
            country: d.profile.country.as_deref(),
            language: d.profile.language.as_deref(),
            identities: state
                .identities
                .iter()
                .map(|i| IdentityLine {
                    channel: i.channel,
                    kind: i.kind.as_str(),
                    external_id: &i.external_id,
                })
                .collect(),
            source: &d.source,
            variables: &state.variables,
        };
        serde_json::to_writer(&mut self.clients, &client).map_err(|e| io(e.into()))?;
        self.clients.write_all(b"\n").map_err(io)
    }

    fn finish(self) -> Result<(), String> {
        for mut file in [self.events, self.messages, self.dialogs, self.clients] {
            file.flush().map_err(io)?;
        }
        Ok(())
    }
}

/// The dataset files this command writes.
pub const FILES: [&str; 5] = [
    "events.jsonl",
    "messages.jsonl",
    "dialogs.jsonl",
    "clients.jsonl",
    "manifest.json",
];

/// Writes the history of `size` into `dir`; answers the counts.
pub fn write_dataset(dir: &Path, size: Size) -> Result<Stats, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut writer = Writer {
        events: create(dir, FILES[0])?,
        messages: create(dir, FILES[1])?,
        dialogs: create(dir, FILES[2])?,
        clients: create(dir, FILES[3])?,
        channel_kinds: HashMap::new(),
    };
    let mut generator = Generator::new(size, 1);
    for item in generator.by_ref() {
        match item {
            Item::Append(append) => writer.append(&append)?,
            Item::DialogDone(dialog) => writer.dialog(&dialog)?,
        }
    }
    writer.finish()?;
    let stats = generator.stats().clone();
    let manifest = json!({
        "generator": "switchboard bench dataset",
        "size": size_json(size),
        "counts": stats_json(&stats),
        "files": &FILES[..4],
    });
    let mut file = create(dir, FILES[4])?;
    serde_json::to_writer_pretty(&mut file, &manifest).map_err(|e| io(e.into()))?;
    file.write_all(b"\n").map_err(io)?;
    file.flush().map_err(io)?;
    Ok(stats)
}

/// `switchboard bench dataset`.
pub fn dataset(args: DatasetArgs) -> Result<(), String> {
    let size = args.size.size()?;
    let started = Instant::now();
    let stats = write_dataset(&args.out, size)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut bytes = 0u64;
    for name in FILES {
        bytes += std::fs::metadata(args.out.join(name)).map_or(0, |m| m.len());
    }
    if !args.json {
        eprintln!(
            "wrote {} events ({} messages, {} dialogs) into {} in {seconds:.1} s: {:.0} events/s, {:.1} MB",
            stats.events,
            stats.messages,
            stats.dialogs,
            args.out.display(),
            stats.events as f64 / seconds.max(1e-9),
            bytes as f64 / 1e6
        );
    }
    println!(
        "{}",
        json!({
            "bench": "dataset",
            "out": args.out.display().to_string(),
            "size": size_json(size),
            "counts": stats_json(&stats),
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "events_per_sec": (stats.events as f64 / seconds.max(1e-9)).round(),
            "bytes": bytes,
        })
    );
    Ok(())
}
