//! Outbound: every request the builders make is checked against the provider's own description
//! (`spec`), the checkers are shown to catch what is wrong, and providers' answers (success
//! and errors) are read and classified.

use crate::{fixtures, spec};
use serde_json::json;
use switchboard_connectors::attachments::BlobHash;
use switchboard_connectors::outbound::{
    BuildError, FileSource, Outgoing, OutgoingFile, ProviderRequest, split_text,
};
use switchboard_connectors::outcome::ErrorClass;
use switchboard_connectors::{telegram, vk, whatsapp};
use switchboard_schemas::{AttachmentKind, MessageId};

const M: MessageId = MessageId::from_u128(0x0194_0000_0000_7000_8000_1234_5678_9abc);

fn file(kind: AttachmentKind, source: FileSource) -> OutgoingFile {
    OutgoingFile {
        kind,
        source,
        file_name: Some("счёт.pdf".into()),
    }
}

fn id(text: &str) -> FileSource {
    FileSource::ProviderId(text.into())
}

fn url(text: &str) -> FileSource {
    FileSource::Url(text.into())
}

fn outgoing(to: &str, text: &str, files: Vec<OutgoingFile>, reply_to: Option<&str>) -> Outgoing {
    Outgoing {
        message: M,
        to: to.into(),
        text: text.into(),
        files,
        reply_to: reply_to.map(str::to_owned),
    }
}

fn assert_fits(requests: &[ProviderRequest], check: fn(&ProviderRequest) -> Vec<String>) {
    assert!(!requests.is_empty());
    for request in requests {
        let problems = check(request);
        assert!(problems.is_empty(), "{request:?}: {problems:?}");
    }
}

fn operations(requests: &[ProviderRequest]) -> Vec<&str> {
    requests.iter().map(|r| r.operation).collect()
}

#[test]
fn telegram_requests_fit_the_bot_api_description() {
    use AttachmentKind::*;
    let long = "слово ".repeat(1000);
    let cases = [
        (
            outgoing("42", "Здравствуйте", vec![], Some("42:1365")),
            vec!["sendMessage"],
        ),
        (
            outgoing("42", &long, vec![], None),
            vec!["sendMessage", "sendMessage"],
        ),
        (
            outgoing("42", "чек", vec![file(Image, id("AgAD"))], Some("42:7")),
            vec!["sendPhoto"],
        ),
        (
            outgoing(
                "-100123",
                "",
                vec![file(File, url("https://x.example/a.pdf"))],
                None,
            ),
            vec!["sendDocument"],
        ),
        (
            outgoing(
                "42",
                "",
                vec![file(Voice, id("v")), file(File, id("d"))],
                None,
            ),
            vec!["sendVoice", "sendDocument"],
        ),
        (
            outgoing(
                "42",
                "альбом",
                vec![
                    file(Image, id("a")),
                    file(Video, id("b")),
                    file(Image, url("https://x.example/c.jpg")),
                ],
                None,
            ),
            vec!["sendMediaGroup"],
        ),
        (
            outgoing(
                "@channel",
                &long,
                vec![file(Audio, id("a")), file(Audio, id("b"))],
                None,
            ),
            vec!["sendMessage", "sendMessage", "sendMediaGroup"],
        ),
    ];
    for (message, expected) in cases {
        let requests = telegram::outbound::build(&message).expect("built");
        assert_eq!(operations(&requests), expected);
        assert_fits(&requests, spec::telegram);
        // Nothing of the text is lost or doubled.
        let sent: String = requests
            .iter()
            .flat_map(|r| {
                [r.params.get("text"), r.params.get("caption")]
                    .into_iter()
                    .flatten()
                    .chain(r.params.get("media").and_then(|m| m[0].get("caption")))
            })
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(sent, message.text);
    }
    let reply = &telegram::outbound::build(&outgoing("42", "x", vec![], Some("42:1365")))
        .expect("built")[0];
    assert_eq!(reply.params["reply_parameters"]["message_id"], json!(1365));
    assert_eq!(reply.params["chat_id"], json!(42));
    assert_eq!(
        telegram::outbound::build(&outgoing("not a chat", "x", vec![], None)),
        Err(BuildError::BadRecipient("not a chat".into()))
    );
    assert_eq!(
        telegram::outbound::build(&outgoing("42", " ", vec![], None)),
        Err(BuildError::Empty)
    );
}

fn stored(bytes: &[u8], mime_type: &str) -> FileSource {
    FileSource::Stored {
        hash: BlobHash::of(bytes),
        mime_type: mime_type.into(),
    }
}

#[test]
fn files_of_ours_go_to_telegram_as_multipart_parts_the_call_names() {
    use AttachmentKind::*;
    let one = outgoing(
        "42",
        "чек",
        vec![file(Image, stored(b"a", "image/png"))],
        None,
    );
    let requests = telegram::outbound::build(&one).expect("built");
    assert_eq!(operations(&requests), ["sendPhoto"]);
    assert_fits(&requests, spec::telegram);
    assert_eq!(requests[0].params.get("photo"), None, "the file is a part");
    assert_eq!(requests[0].files.len(), 1);
    assert_eq!(requests[0].files[0].name, "photo");
    assert_eq!(requests[0].files[0].hash, BlobHash::of(b"a"));
    assert_eq!(requests[0].files[0].file_name, "счёт.pdf");
    assert_eq!(requests[0].files[0].mime_type, "image/png");

    let album = outgoing(
        "42",
        "альбом",
        vec![
            file(Image, stored(b"a", "image/png")),
            file(Image, id("AgAD")),
            file(Video, stored(b"b", "video/mp4")),
        ],
        None,
    );
    let requests = telegram::outbound::build(&album).expect("built");
    assert_eq!(operations(&requests), ["sendMediaGroup"]);
    assert_fits(&requests, spec::telegram);
    let media = &requests[0].params["media"];
    assert_eq!(media[0]["media"], "attach://file0");
    assert_eq!(media[1]["media"], "AgAD");
    assert_eq!(media[2]["media"], "attach://file2");
    let names: Vec<&str> = requests[0].files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["file0", "file2"]);

    // A part nothing refers to is caught.
    let mut unused = requests[0].clone();
    unused.files[0].name = "elsewhere".into();
    assert!(!spec::telegram(&unused).is_empty());
}

#[test]
fn files_of_ours_go_to_whatsapp_as_a_media_upload_the_message_names() {
    let message = outgoing(
        "79990001122",
        "договор",
        vec![file(
            AttachmentKind::File,
            stored(b"%PDF", "application/pdf"),
        )],
        None,
    );
    let requests = whatsapp::outbound::build("106540352242922", &message).expect("built");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].files.len(), 1);
    assert_eq!(requests[0].files[0].name, whatsapp::outbound::MEDIA_PART);
    let named = whatsapp::outbound::with_media_id(&requests[0], "1037543291543636");
    assert!(named.files.is_empty());
    assert_eq!(named.params["document"]["id"], "1037543291543636");
    assert_eq!(named.params["document"]["filename"], "счёт.pdf");
    assert_eq!(named.params["document"]["caption"], "договор");
    assert_fits(&[named], spec::whatsapp);
    assert_eq!(
        whatsapp::outbound::uploaded(br#"{"id":"1037543291543636"}"#).unwrap(),
        "1037543291543636"
    );
    assert!(whatsapp::outbound::uploaded(b"{}").is_err());
}

#[test]
fn files_of_ours_go_to_vk_as_documents_the_message_attaches() {
    let message = outgoing(
        "2000000001",
        "фото",
        vec![
            file(AttachmentKind::Image, id("photo-1_2")),
            file(AttachmentKind::Image, stored(b"png", "image/png")),
        ],
        None,
    );
    let requests = vk::outbound::build(&message).expect("built");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].params["attachment"], "photo-1_2,attach://file1");
    assert_eq!(requests[0].files.len(), 1);
    assert_eq!(requests[0].files[0].name, "file1");
    let saved = vk::outbound::saved_doc(
        br#"{"response":{"type":"doc","doc":{"id":7,"owner_id":-1,"title":"x"}}}"#,
    )
    .unwrap();
    assert_eq!(saved, "doc-1_7");
    let named = vk::outbound::with_attachment(&requests[0], "file1", &saved);
    assert_eq!(named.params["attachment"], "photo-1_2,doc-1_7");
    assert!(named.files.is_empty());
    assert_fits(&[named], spec::vk);
    assert_eq!(
        vk::outbound::upload_url(br#"{"response":{"upload_url":"https://pu.vk.com/x"}}"#).unwrap(),
        "https://pu.vk.com/x"
    );
    assert_eq!(
        vk::outbound::uploaded_file(br#"{"file":"abc"}"#).unwrap(),
        "abc"
    );
    assert!(vk::outbound::uploaded_file(br#"{"error":"bad"}"#).is_err());
    let refused = vk::outbound::saved_doc(br#"{"error":{"error_code":5,"error_msg":"auth"}}"#);
    assert!(refused.is_err());
}

#[test]
fn whatsapp_requests_fit_the_openapi_description() {
    use AttachmentKind::*;
    let long = "слово ".repeat(800);
    let cases = [
        (
            outgoing("79991234567", "Здравствуйте", vec![], Some("wamid.q")),
            vec!["text"],
        ),
        (
            outgoing("+79991234567", &long, vec![], None),
            vec!["text", "text"],
        ),
        (
            outgoing("79991234567", "чек", vec![file(Image, id("1234"))], None),
            vec!["image"],
        ),
        (
            outgoing(
                "79991234567",
                "",
                vec![
                    file(File, url("https://x.example/a.pdf")),
                    file(Video, id("v")),
                ],
                None,
            ),
            vec!["document", "video"],
        ),
        (
            outgoing("79991234567", "голос", vec![file(Voice, id("a"))], None),
            vec!["audio", "text"],
        ),
    ];
    for (message, expected) in cases {
        let requests = whatsapp::outbound::build("106540352242922", &message).expect("built");
        let kinds: Vec<&str> = requests
            .iter()
            .map(|r| r.params["type"].as_str().expect("type"))
            .collect();
        assert_eq!(kinds, expected);
        assert!(
            requests
                .iter()
                .all(|r| r.path == "/v23.0/106540352242922/messages")
        );
        assert_fits(&requests, spec::whatsapp);
    }
    let reply = &whatsapp::outbound::build("1", &outgoing("7999", "x", vec![], Some("wamid.q")))
        .expect("built")[0];
    assert_eq!(reply.params["context"], json!({"message_id": "wamid.q"}));
    let document =
        &whatsapp::outbound::build("1", &outgoing("7999", "", vec![file(File, id("d"))], None))
            .expect("built")[0];
    assert_eq!(
        document.params["document"],
        json!({"id": "d", "filename": "счёт.pdf"})
    );

    // A user known only by a business-scoped user id gets `recipient`, which Meta added after
    // the v23.0 description: the checker names exactly that difference.
    let by_user =
        whatsapp::outbound::build("1", &outgoing("RU.13491208655302741918", "x", vec![], None))
            .expect("built");
    assert_eq!(
        by_user[0].params["recipient"],
        json!("RU.13491208655302741918")
    );
    assert_eq!(spec::whatsapp(&by_user[0]), ["body: missing required to"]);
}

#[test]
fn vk_requests_fit_the_methods_description() {
    use AttachmentKind::*;
    let long = "слово ".repeat(2000);
    let photos: Vec<OutgoingFile> = (0..12)
        .map(|n| file(Image, id(&format!("photo5001_{n}"))))
        .collect();
    let cases = [
        (outgoing("5001", "Здравствуйте", vec![], Some("5001_77")), 1),
        (outgoing("2000000066", &long, vec![], None), 2),
        (outgoing("5001", "фото", photos, None), 2),
        (
            outgoing("5001", "", vec![file(File, id("doc5001_9"))], None),
            1,
        ),
    ];
    for (message, count) in cases {
        let requests = vk::outbound::build(&message).expect("built");
        assert_eq!(requests.len(), count);
        assert_fits(&requests, spec::vk);
        let randoms: std::collections::BTreeSet<_> = requests
            .iter()
            .map(|r| r.params["random_id"].as_i64().expect("random_id"))
            .collect();
        assert_eq!(randoms.len(), count, "each piece its own random_id");
        assert!(randoms.iter().all(|r| *r > 0));
        // The same message builds the same requests: a retry is deduplicated by VK.
        assert_eq!(vk::outbound::build(&message).expect("built"), requests);
    }
    let reply =
        &vk::outbound::build(&outgoing("5001", "x", vec![], Some("5001_77"))).expect("built")[0];
    let forward: serde_json::Value =
        serde_json::from_str(reply.params["forward"].as_str().expect("a JSON string"))
            .expect("json");
    assert_eq!(
        forward,
        json!({"peer_id": 5001, "conversation_message_ids": [77], "is_reply": true})
    );
    assert!(matches!(
        vk::outbound::build(&outgoing(
            "5001",
            "",
            vec![file(Image, url("https://x.example/p.jpg"))],
            None
        )),
        Err(BuildError::Unsupported(_))
    ));
}

#[test]
fn the_checkers_catch_what_does_not_fit() {
    let mut request = telegram::outbound::build(&outgoing("42", "x", vec![], None))
        .expect("built")
        .remove(0);
    request
        .params
        .insert("reply_to_message_idd".into(), json!(1));
    request.params.remove("chat_id");
    request.params.insert("text".into(), json!(5));
    let problems = spec::telegram(&request);
    assert_eq!(problems.len(), 3, "{problems:?}");
    let mut group = telegram::outbound::build(&outgoing(
        "42",
        "",
        vec![
            file(AttachmentKind::Image, id("a")),
            file(AttachmentKind::Image, id("b")),
        ],
        None,
    ))
    .expect("built")
    .remove(0);
    group.params["media"][0]["type"] = json!("video_note");
    assert!(
        !spec::telegram(&group).is_empty(),
        "an InputMedia of no such type"
    );
    let mut too_long = telegram::outbound::build(&outgoing("42", "x", vec![], None))
        .expect("built")
        .remove(0);
    too_long.params["text"] = json!("я".repeat(4097));
    assert!(
        !spec::telegram(&too_long).is_empty(),
        "over 4096 characters"
    );

    let mut wa = whatsapp::outbound::build("1", &outgoing("7999", "x", vec![], None))
        .expect("built")
        .remove(0);
    wa.params
        .insert("biz_opaque_callback_data".into(), json!("x"));
    assert_eq!(
        spec::whatsapp(&wa),
        ["body: unknown biz_opaque_callback_data"]
    );
    let mut wa = whatsapp::outbound::build(
        "1",
        &outgoing("7999", "", vec![file(AttachmentKind::Image, id("m"))], None),
    )
    .expect("built")
    .remove(0);
    wa.params["image"] = json!({"caption": "no id, no link"});
    assert!(!spec::whatsapp(&wa).is_empty());

    let mut vk_request = vk::outbound::build(&outgoing("5001", "x", vec![], None))
        .expect("built")
        .remove(0);
    vk_request
        .params
        .insert("message".into(), json!("я".repeat(9001)));
    vk_request.params.insert("peer".into(), json!(1));
    vk_request.params.insert("intent".into(), json!("spam"));
    assert_eq!(
        spec::vk(&vk_request).len(),
        3,
        "{:?}",
        spec::vk(&vk_request)
    );
}

#[test]
fn telegram_answers_are_read_and_errors_classified() {
    let one =
        br#"{"ok":true,"result":{"message_id":5,"date":1,"chat":{"id":42,"type":"private"}}}"#;
    assert_eq!(telegram::outbound::sent(one), Ok(vec!["42:5".to_owned()]));
    let group = br#"{"ok":true,"result":[{"message_id":5,"chat":{"id":42}},{"message_id":6,"chat":{"id":42}}]}"#;
    assert_eq!(
        telegram::outbound::sent(group),
        Ok(vec!["42:5".to_owned(), "42:6".to_owned()])
    );
    let limited = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
    let error = telegram::outbound::classify(429, limited);
    assert_eq!(
        error.class,
        ErrorClass::RateLimited {
            retry_after_secs: Some(7)
        }
    );
    assert_eq!(error.failure().retry_after_secs, Some(7));
    assert_eq!(
        telegram::outbound::sent(limited).map_err(|e| e.class),
        Err(error.class)
    );
    for (status, body, class) in [
        (403, &br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#[..], ErrorClass::Blocked),
        (403, br#"{"ok":false,"error_code":403,"description":"Forbidden: user is deactivated"}"#, ErrorClass::Blocked),
        (400, br#"{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}"#, ErrorClass::TooLarge),
        (400, br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#, ErrorClass::Permanent),
        (401, br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#, ErrorClass::NoRights),
        (502, b"<html>Bad Gateway</html>", ErrorClass::Transient),
    ] {
        assert_eq!(telegram::outbound::classify(status, body).class, class, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn whatsapp_answers_are_read_and_errors_classified() {
    let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"79991234567","wa_id":"79991234567"}],"messages":[{"id":"wamid.HBgL"}]}"#;
    assert_eq!(whatsapp::outbound::sent(ok), Ok("wamid.HBgL".into()));
    for (code, class) in [
        (
            130429,
            ErrorClass::RateLimited {
                retry_after_secs: None,
            },
        ),
        (
            131056,
            ErrorClass::RateLimited {
                retry_after_secs: None,
            },
        ),
        (
            131048,
            ErrorClass::RateLimited {
                retry_after_secs: None,
            },
        ),
        (131047, ErrorClass::OutsideWindow),
        (131026, ErrorClass::Blocked),
        (190, ErrorClass::NoRights),
        (131000, ErrorClass::Transient),
        (100, ErrorClass::Permanent),
    ] {
        let body = json!({"error": {"message": "(#x) something", "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "details"}, "fbtrace_id": "A"}});
        let error = whatsapp::outbound::classify(400, body.to_string().as_bytes());
        assert_eq!((error.code, error.class), (code, class));
        assert_eq!(
            error.class.retryable(),
            matches!(
                class,
                ErrorClass::RateLimited { .. } | ErrorClass::Transient
            )
        );
    }
    assert_eq!(
        whatsapp::outbound::classify(503, b"unavailable").class,
        ErrorClass::Transient
    );
}

#[test]
fn vk_answers_are_read_and_errors_classified() {
    let ok = br#"{"response":[{"peer_id":5001,"message_id":0,"conversation_message_id":79}]}"#;
    assert_eq!(vk::outbound::sent(ok), Ok("5001_79".into()));
    let errors = fixtures::json("vk/errors.json");
    let codes: std::collections::BTreeMap<i64, String> = errors["errors"]
        .as_object()
        .expect("errors")
        .iter()
        .map(|(name, e)| (e["code"].as_i64().expect("code"), name.clone()))
        .collect();
    for (code, class) in [
        (
            6,
            ErrorClass::RateLimited {
                retry_after_secs: Some(1),
            },
        ),
        (
            9,
            ErrorClass::RateLimited {
                retry_after_secs: None,
            },
        ),
        (900, ErrorClass::Blocked),
        (901, ErrorClass::Blocked),
        (902, ErrorClass::Blocked),
        (914, ErrorClass::TooLarge),
        (5, ErrorClass::NoRights),
        (10, ErrorClass::Transient),
        (100, ErrorClass::Permanent),
    ] {
        assert!(codes.contains_key(&code), "{code} is one of VK's codes");
        let body =
            json!({"error": {"error_code": code, "error_msg": codes[&code], "request_params": []}});
        assert_eq!(
            vk::outbound::classify(200, body.to_string().as_bytes()).class,
            class,
            "{}",
            codes[&code]
        );
        assert_eq!(
            vk::outbound::sent(body.to_string().as_bytes()).map_err(|e| e.class),
            Err(class)
        );
    }
}

#[test]
fn text_is_split_without_losing_any() {
    for (text, max) in [
        ("", 5),
        ("abc", 5),
        ("hello world again", 6),
        ("ааааааааааа", 4),
        ("a\nb c", 2),
    ] {
        let pieces = split_text(text, max);
        assert_eq!(pieces.concat(), text);
        assert!(
            pieces
                .iter()
                .all(|p| p.chars().count() <= max && !p.is_empty()),
            "{pieces:?}"
        );
    }
    assert_eq!(
        split_text("hello world again", 12),
        ["hello world ", "again"]
    );
}

#[test]
fn the_set_up_call_of_a_telegram_channel_fits_the_bot_api() {
    let secret = switchboard_connectors::Secret::new("0123456789abcdef".repeat(4));
    let params = switchboard_connectors::setup::telegram_set_webhook(
        "https://inbox.example.com/v1/webhooks/telegram/0194e2a0-0000-7000-8000-000000000001",
        &secret,
    );
    let request = switchboard_connectors::outbound::ProviderRequest {
        operation: "setWebhook",
        path: "setWebhook".to_owned(),
        params: params.as_object().expect("an object").clone(),
        files: Vec::new(),
    };
    let problems = spec::telegram(&request);
    assert!(problems.is_empty(), "{problems:?}");
    // Every update asked for is one the Bot API has.
    let described = fixtures::json("telegram/bot-api-spec.json");
    let fields: Vec<&str> = described["types"]["Update"]["fields"]
        .as_array()
        .expect("Update's fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for update in switchboard_connectors::setup::TELEGRAM_UPDATES {
        assert!(fields.contains(&update), "{update} is not an Update field");
    }
}
