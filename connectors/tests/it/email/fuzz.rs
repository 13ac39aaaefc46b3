//! The mail parser never panics, and what it answers keeps its invariants: arbitrary bytes,
//! MIME-shaped messages assembled from tricky fragments, and mutated fixtures. The case counts
//! bound the run (a few seconds in a debug build).

use proptest::prelude::*;
use std::sync::OnceLock;
use switchboard_connectors::email::parse::{
    EXTERNAL_ID_MAX_CHARS, TEXT_MAX_CHARS, THREAD_KEYS_MAX,
};
use switchboard_connectors::email::{InboundMail, parse};

fn check_invariants(raw: &[u8]) -> Result<(), TestCaseError> {
    let outcome = std::panic::catch_unwind(|| parse(raw));
    prop_assert!(
        outcome.is_ok(),
        "parse panicked on {:?}",
        String::from_utf8_lossy(raw)
    );
    if let Ok(Ok(mail)) = outcome {
        check_mail(&mail)?;
    }
    Ok(())
}

fn check_mail(mail: &InboundMail) -> Result<(), TestCaseError> {
    prop_assert!(!mail.external_id.is_empty());
    prop_assert!(mail.external_id.chars().count() <= EXTERNAL_ID_MAX_CHARS.max(71));
    prop_assert!(!mail.external_id.chars().any(char::is_control));
    prop_assert!(mail.text.chars().count() <= TEXT_MAX_CHARS);
    prop_assert!(mail.in_reply_to.len() <= THREAD_KEYS_MAX);
    prop_assert!(mail.references.len() <= THREAD_KEYS_MAX);
    for attachment in &mail.attachments {
        prop_assert_eq!(attachment.size_bytes, attachment.bytes.len() as u64);
        prop_assert_eq!(
            attachment.mime_type.to_ascii_lowercase(),
            attachment.mime_type.clone()
        );
    }
    if let Some(key) = mail.identity_key() {
        prop_assert_eq!(key.to_lowercase(), key.clone());
        prop_assert!(!key.is_empty());
    }
    Ok(())
}

/// Pieces of headers and bodies that exercise the decoders: encoded-words in several charsets
/// and both encodings, broken ones, quoted-printable and base64 bodies, nested multiparts with
/// and without their boundaries, message/rfc822 parts, odd line ends.
const FRAGMENTS: &[&str] = &[
    "From: =?koi8-r?B?8NLJ18XU?= <a@b.c>\r\n",
    "From: \"Иван\" <IVAN@Example.com>, b@c.d\r\n",
    "From: undisclosed-recipients:;\r\n",
    "From: <>\r\n",
    "Subject: =?windows-1251?Q?=CF=F0=E8=E2=E5=F2?=\r\n",
    "Subject: =?utf-8?B?0J/RgNC40LLQtdGC?= =?utf-8?Q?_=D0=BC=D0=B8=D1=80?=\r\n",
    "Subject: =?unknown-charset?X?broken?=\r\n",
    "Subject: =?utf-8?B?####?=\r\n",
    "Subject: folded\r\n  line\r\n",
    "Message-ID: <id@x>\r\n",
    "Message-ID: <>\r\n",
    "In-Reply-To: <a@x> <b@x>\r\n",
    "References: <1@x>\r\n\t<2@x> junk <3@x\r\n",
    "Date: Mon, 7 Dec 2026 10:00:00 +0300\r\n",
    "Date: 99 Foo 99999 99:99:99 +9999\r\n",
    "MIME-Version: 1.0\r\n",
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
    "Content-Type: multipart/alternative; boundary=b2\r\n",
    "Content-Type: text/plain; charset=koi8-r\r\n",
    "Content-Type: text/plain; charset=\"windows-1251\"\r\n",
    "Content-Type: text/html; charset=utf-8\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: application/pdf; name=\"=?utf-8?B?0YTQsNC50Ls=?=.pdf\"\r\n",
    "Content-Type: text/plain; charset*=utf-8''%D0%B6\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Disposition: attachment; filename*0*=utf-8''a; filename*1=b.txt\r\n",
    "\r\n",
    "\n",
    "\r\n--b1\r\n",
    "\r\n--b2\r\n",
    "\r\n--b1--\r\n",
    "\r\n--b2--\r\n",
    "=D0=9F=D1=80=D0=B8=\r\n=D0=B2",
    "=ZZ=\r\n=",
    "0J/RgNC40LLQtdGC\r\n",
    "!!!not base64===\r\n",
    "<html><body><p>Hi &amp; &#1078; <br>there<script>x</script></p>",
    "plain text line\r\n",
    "\u{0}\u{1}\u{ff}",
];

fn mime_shaped() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..FRAGMENTS.len(), 0..40).prop_map(|picks| {
        picks
            .into_iter()
            .flat_map(|i| FRAGMENTS[i].bytes())
            .collect()
    })
}

/// The fixtures' bytes, read once.
fn fixtures() -> &'static [Vec<u8>] {
    static FIXTURES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/email/eml");
        let mut all = Vec::new();
        for sub in ["legacy", "malformed", "rfc", "thirdparty"] {
            let sub = dir.join(sub);
            let entries = std::fs::read_dir(&sub).unwrap_or_else(|e| {
                panic!("the email fixtures are missing at {}: {e}", sub.display())
            });
            for entry in entries {
                let path = entry.expect("an entry").path();
                if path.extension().is_some_and(|e| e == "eml") {
                    all.push(std::fs::read(&path).expect("readable fixture"));
                }
            }
        }
        assert!(!all.is_empty(), "no fixtures found under {}", dir.display());
        all
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Cut { at: usize },
    Splice { at: usize, fragment: usize },
    Remove { at: usize, len: usize },
}

fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let mutation = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
        (any::<usize>(), 0..FRAGMENTS.len())
            .prop_map(|(at, fragment)| Mutation::Splice { at, fragment }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ];
    (any::<usize>(), prop::collection::vec(mutation, 1..8)).prop_map(|(pick, mutations)| {
        let all = fixtures();
        let mut bytes = all[pick % all.len()].clone();
        for mutation in mutations {
            let len = bytes.len().max(1);
            match mutation {
                Mutation::Flip { at, byte } => {
                    if let Some(b) = bytes.get_mut(at % len) {
                        *b = byte;
                    }
                }
                Mutation::Cut { at } => bytes.truncate(at % len),
                Mutation::Splice { at, fragment } => {
                    let at = (at % len).min(bytes.len());
                    bytes.splice(at..at, FRAGMENTS[fragment].bytes());
                }
                Mutation::Remove { at, len: n } => {
                    let at = (at % len).min(bytes.len());
                    let end = (at + n).min(bytes.len());
                    bytes.drain(at..end);
                }
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_invariants(&raw)?;
    }

    #[test]
    fn mime_shaped_messages_never_panic(raw in mime_shaped()) {
        check_invariants(&raw)?;
    }

    #[test]
    fn mutated_fixtures_never_panic(raw in mutated_fixture()) {
        check_invariants(&raw)?;
    }
}
