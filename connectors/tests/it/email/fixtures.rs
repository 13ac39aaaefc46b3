//! Every `.eml` of `shared/fixtures/email/eml/` (stalwartlabs/mail-parser's own test messages)
//! parses without a panic, and its subject, sender and first text part match the `.json` beside
//! it (mail-parser's expected parse). As mail-parser's own test does, each fixture is parsed twice:
//! with every CR removed (expected: `NNN.json`) and with every line ending made CRLF (expected:
//! `NNN.crlf.json`). A fixture we refuse must be listed in [`REFUSED`] with the reason; one refused
//! and not listed, or listed and not refused, fails the test.

use serde_json::Value;
use std::path::{Path, PathBuf};
use switchboard_connectors::email::{InboundMail, ParseError, parse};

/// The fixtures, from `connectors/`: the repo sits at `/work/main` beside `/work/shared`.
fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/email/eml");
    assert!(
        dir.is_dir(),
        "the email fixtures are missing: expected them at {} (shared/fixtures/email/eml beside \
         the repository)",
        dir.display()
    );
    dir
}

/// Fixtures the parser refuses, each with the reason. Empty: every fixture parses.
const REFUSED: &[(&str, ParseError, &str)] = &[];

const FIXTURE_COUNT: usize = 107;

/// The line-ending forms mail-parser's authors wrote expectations for: the bytes and the suffix
/// of the expected file.
fn line_ending_forms(raw: &[u8]) -> [(Vec<u8>, &'static str); 2] {
    let lf: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r').collect();
    let mut crlf = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut last = 0u8;
    for &b in raw {
        if b == b'\n' && last != b'\r' {
            crlf.push(b'\r');
        }
        crlf.push(b);
        last = b;
    }
    [(lf, "json"), (crlf, "crlf.json")]
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "eml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// What mail-parser's expected parse says about the fields we compare.
#[derive(Debug, PartialEq)]
struct Expected {
    subject: Option<String>,
    sender_name: Option<String>,
    sender_address: Option<String>,
    text: String,
}

/// The value of the last top-level header called `name` (mail-parser answers the last one when
/// a header is repeated, as in `malformed/019`).
fn header<'a>(json: &'a Value, name: &str) -> Option<&'a Value> {
    json["parts"][0]["headers"]
        .as_array()?
        .iter()
        .rev()
        .find(|h| h["name"].as_str() == Some(name))
        .map(|h| &h["value"])
}

fn trimmed(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn expected(json: &Value) -> Expected {
    let subject = header(json, "subject").and_then(|v| v["Text"].as_str().map(str::to_owned));
    let first_sender = header(json, "from").and_then(|v| {
        let list = &v["Address"]["List"];
        if list.is_array() {
            list.get(0).cloned()
        } else {
            v["Address"]["Group"][0]["addresses"].get(0).cloned()
        }
    });
    let (sender_name, sender_address) = match &first_sender {
        Some(addr) => (trimmed(&addr["name"]), trimmed(&addr["address"])),
        None => (None, None),
    };
    let text = match json["text_body"][0].as_u64() {
        Some(index) => {
            let body = &json["parts"][index as usize]["body"];
            if let Some(text) = body["Text"].as_str() {
                text.to_owned()
            } else if let Some(html) = body["Html"].as_str() {
                // mail-parser's own HTML → text conversion, which `body_text` applies.
                mail_parser::decoders::html::html_to_text(html)
            } else {
                String::new() // a binary part in the text body has no text
            }
        }
        None => String::new(),
    };
    Expected {
        subject,
        sender_name,
        sender_address,
        text,
    }
}

fn actual(mail: &InboundMail) -> Expected {
    Expected {
        subject: mail.subject.clone(),
        sender_name: mail.from.as_ref().and_then(|f| f.name.clone()),
        sender_address: mail.from.as_ref().and_then(|f| f.address.clone()),
        text: mail.text.clone(),
    }
}

#[test]
fn every_fixture_parses_and_matches_mail_parsers_expected_fields() {
    let dir = fixtures_dir();
    let files = eml_files(&dir);
    assert_eq!(
        files.len(),
        FIXTURE_COUNT,
        "fixture count in {}",
        dir.display()
    );
    let mut mismatches = Vec::new();
    let mut refused = Vec::new();
    let mut matched = 0;
    for eml in &files {
        let name = eml
            .strip_prefix(&dir)
            .expect("under the fixtures dir")
            .to_string_lossy()
            .into_owned();
        let original = std::fs::read(eml).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        for (raw, suffix) in line_ending_forms(&original) {
            let name = format!("{name} ({suffix})");
            let json_path = eml.with_extension(suffix);
            let json: Value = serde_json::from_slice(
                &std::fs::read(&json_path).unwrap_or_else(|e| panic!("no expected json: {e}")),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", json_path.display()));
            let parsed = std::panic::catch_unwind(|| parse(&raw))
                .unwrap_or_else(|_| panic!("parsing {name} panicked"));
            let mail = match parsed {
                Ok(mail) => mail,
                Err(error) => {
                    refused.push((name, error));
                    continue;
                }
            };
            let want = expected(&json);
            let got = actual(&mail);
            assert!(!mail.text_truncated, "{name}: no fixture is that long");
            if got == want {
                matched += 1;
            } else {
                mismatches.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
            }
        }
    }
    let listed: Vec<(String, ParseError)> = REFUSED
        .iter()
        .map(|(name, error, _reason)| ((*name).to_owned(), error.clone()))
        .collect();
    assert_eq!(refused, listed, "refused fixtures differ from REFUSED");
    assert!(
        mismatches.is_empty(),
        "{} of {} fixtures differ:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
    assert_eq!(matched + refused.len(), 2 * FIXTURE_COUNT);
    println!(
        "{matched} of {} parses (each fixture with LF and CRLF line ends) matched, {} refused",
        2 * FIXTURE_COUNT,
        refused.len()
    );
}

#[test]
fn fixtures_with_a_message_id_keep_it_as_the_external_id() {
    let dir = fixtures_dir();
    let mut with_id = 0;
    for eml in eml_files(&dir) {
        let raw = std::fs::read(&eml).expect("readable");
        let Ok(mail) = parse(&raw) else { continue };
        match &mail.message_id {
            Some(id) if id.chars().count() <= 200 => {
                with_id += 1;
                assert_eq!(&mail.external_id, id, "{}", eml.display());
            }
            _ => assert!(mail.external_id.starts_with("sha256:"), "{}", eml.display()),
        }
    }
    assert!(
        with_id > 50,
        "only {with_id} fixtures kept their Message-ID"
    );
}
