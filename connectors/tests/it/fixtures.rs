//! The shared fixtures: `shared/fixtures/` beside the repository (the CI clone has `shared/`
//! beside it too). A missing directory fails the test, naming the path: it is never skipped.

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    assert!(
        dir.join("README.md").is_file(),
        "the shared fixtures are missing: expected {} (shared/ beside the repository)",
        dir.display()
    );
    dir
}

pub fn read(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every messenger fixture (email is `email`'s) and the tests that read it, with what they do
/// with it. A file added to the fixtures without a test here fails.
const READ_BY: &[(&str, &str)] = &[
    (
        "telegram/webhook-examples.json",
        "telegram::every_official_example_update_is_accepted: all 13 accepted",
    ),
    (
        "telegram/bot-api-spec.json",
        "outbound::telegram_requests_fit_the_bot_api_description: every built call checked",
    ),
    (
        "vk/callback-message_new-v5.131.json",
        "vk::the_5_131_capture_is_accepted: accepted without message.version",
    ),
    (
        "vk/callback/objects.json",
        "vk_schema::every_callback_type_of_the_schema_is_accepted: every type accepted",
    ),
    (
        "vk/messages/objects.json",
        "vk_schema::every_callback_type_of_the_schema_is_accepted: the message objects",
    ),
    (
        "vk/base/objects.json",
        "vk_schema::every_callback_type_of_the_schema_is_accepted: geo, bool-ints",
    ),
    (
        "vk/messages/responses.json",
        "vk_schema::the_send_answer_of_the_schema_is_read: messages.send's answer read",
    ),
    (
        "vk/messages/methods.json",
        "outbound::vk_requests_fit_the_methods_description: every built call checked",
    ),
    (
        "vk/errors.json",
        "outbound::vk_answers_are_read_and_errors_classified: codes classified",
    ),
    (
        "whatsapp/business-messaging-api_v23.0.yaml",
        "outbound::whatsapp_requests_fit_the_openapi_description: every built call checked",
    ),
];

fn files_under(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else if let Ok(relative) = path.strip_prefix(base) {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_messenger_fixture_is_read_by_a_test() {
    let base = dir();
    let mut found = Vec::new();
    for provider in ["telegram", "vk", "whatsapp"] {
        files_under(&base.join(provider), &base, &mut found);
    }
    found.sort();
    let mut listed: Vec<String> = READ_BY.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(found, listed, "fixtures and the tests that read them");
}
