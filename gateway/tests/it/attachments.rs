//! Files end to end over real sockets (issue 17, F3.4, F3.7): an operator uploads a file to a
//! real `serve`, sends it, the local Telegram server receives the same bytes as a multipart
//! upload (WhatsApp's as a media upload its message names, VK's as a document it attaches, the
//! SMTP receiver's as a MIME attachment); downloads answer ranges to whoever may see
//! the dialog and nothing to anyone else; a file over its channel's limit is refused and
//! nothing of it stays in `<data>/attachments`.

use crate::channels::{
    BOT_TOKEN, PASSWORD, ROOT, VK_SECRET, VK_TOKEN, WA_APP_SECRET, WA_NUMBER, WA_TOKEN, World,
    eventually, hub_signature, telegram_update, vk_capture, whatsapp_message,
};
use crate::operator_api::exchange_raw;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use switchboard_tests::providers::{FakeProvider, Provider, Received};

/// `len` bytes that start as a PNG (so the store sniffs `image/png`) and do not repeat.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    let mut state = 0x2545_f491_u32;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.push(state as u8);
    }
    bytes.truncate(len);
    bytes
}

fn sha256_ref(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The files under `dir` (a blob, a temporary part).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| entry.unwrap().path())
        .map(|path| if path.is_dir() { files_under(&path) } else { 1 })
        .sum()
}

/// Status, head and body of a request of `token` with `headers` and a raw `body`.
fn send(
    world: &World,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let auth = format!("Bearer {token}");
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    exchange_raw(world.api.addr, method, path, &all, body)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// Uploads `bytes` as `content_type`: status and answer.
fn upload(
    world: &World,
    token: &str,
    query: &str,
    content_type: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let path = format!("/v1/attachments?{query}");
    let (status, _, body) = send(
        world,
        token,
        "POST",
        &path,
        &[("Content-Type", content_type)],
        bytes,
    );
    (status, json_of(&body))
}

/// Adds an operator to the world's project and signs them in: (operator id, token).
fn operator(world: &World, name: &str, email: &str) -> (String, String) {
    let body = json!({"name": name, "email": email, "password": PASSWORD});
    let created = world
        .api
        .ok(&world.admin, "POST", "/v1/operators", Some(body));
    let token = world.api.login(email, PASSWORD)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (created["operator"].as_str().unwrap().to_owned(), token)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
}

/// The first dialog of the project (the one the test's webhook made).
fn first_dialog(world: &World) -> String {
    eventually("the dialog", || {
        world
            .dialogs()
            .first()
            .map(|d| d["dialog"].as_str().unwrap().to_owned())
    })
}

/// What the fake provider received, once it has received something.
fn first_requests(fake: &FakeProvider, what: &str) -> Vec<Received> {
    eventually(what, || {
        let received = fake.received();
        (!received.is_empty()).then_some(received)
    })
}

/// A dialog action as the project's admin.
fn send_as_admin(world: &World, dialog: &str, action: Value) {
    world.api.ok(
        &world.admin,
        "POST",
        &format!("/v1/dialogs/{dialog}/actions"),
        Some(action),
    );
}

#[test]
fn an_uploaded_file_goes_out_by_telegram_and_downloads_in_ranges_to_who_may_see_it() {
    let world = World::start();
    let fake = world.fake(Provider::Telegram, BOT_TOKEN);
    let connected = world.connect(json!({
        "kind": "telegram", "name": "Support bot", "bot_token": BOT_TOKEN, "api_base": fake.base_url(),
    }));
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let secret = fake.webhook().unwrap()["secret_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = telegram_update(2001, 9, "Пришлите счёт, пожалуйста");
    let (status, _, _) = exchange_raw(
        world.api.addr,
        "POST",
        &format!("/v1/webhooks/telegram/{channel}"),
        &[
            ("X-Telegram-Bot-Api-Secret-Token", secret.as_str()),
            ("Content-Type", "application/json"),
        ],
        update.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let dialog = first_dialog(&world);
    let (olga_id, olga) = operator(&world, "Olga", "olga@shop.test");
    let (_, pavel) = operator(&world, "Pavel", "pavel@shop.test");
    let assign = json!({"action": "assign", "operator": olga_id});
    let actions = format!("/v1/dialogs/{dialog}/actions");
    world.api.ok(&world.admin, "POST", &actions, Some(assign));
    let attachments = Path::new(&world.data).join("attachments");
    let before = files_under(&attachments);

    // Olga uploads a picture for the Telegram channel: stored by its hash, its type sniffed.
    let bytes = png(300_000);
    let name = "счёт №7.png";
    let query = format!(
        "file_name={}&channel={channel}",
        crate::operator_api::encoded(name)
    );
    let (status, uploaded) = upload(&world, &olga, &query, "application/octet-stream", &bytes);
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["storage_ref"], sha256_ref(&bytes));
    assert_eq!(uploaded["mime_type"], "image/png");
    assert_eq!(uploaded["kind"], "image");
    assert_eq!(uploaded["size_bytes"], 300_000);
    assert_eq!(uploaded["file_name"], name);
    assert_eq!(files_under(&attachments), before + 1);
    let hash = uploaded["storage_ref"].as_str().unwrap().to_owned();

    // Before it is sent, only its uploader sees it.
    let own = format!("/v1/attachments/{hash}");
    let (status, _, body) = send(&world, &olga, "GET", &own, &[], b"");
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    let (status, _, body) = send(&world, &pavel, "GET", &own, &[], b"");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    // Nobody else may send it by its hash before it is in the dialog (not even an admin).
    let stranger = json!({"action": "send_message", "channel": channel, "text": "x",
                          "attachments": [{"kind": "image", "file_name": "x.png", "mime_type": "image/png",
                                           "size_bytes": 1, "storage_ref": hash}]});
    let (status, refused) = world
        .api
        .call(&world.admin, "POST", &actions, Some(stranger));
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["field"], "attachments[0].storage_ref");

    // She sends it (the size she claims is not believed): Telegram receives the same bytes.
    let mut file = uploaded.clone();
    file["size_bytes"] = json!(1);
    let message = json!({"action": "send_message", "channel": channel, "text": "Ваш счёт",
                         "attachments": [file]});
    let sent = world.api.ok(&olga, "POST", &actions, Some(message));
    let received = first_requests(&fake, "the photo at the provider");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "sendPhoto");
    assert_eq!(received[0].text, "Ваш счёт");
    assert_eq!(received[0].files.len(), 1, "{:?}", received[0].params);
    let photo = &received[0].files[0];
    assert_eq!(photo.name, "photo");
    assert_eq!(photo.file_name.as_deref(), Some(name));
    assert_eq!(photo.content_type.as_deref(), Some("image/png"));
    assert_eq!(sha256_ref(&photo.bytes), hash);
    let seq = sent["seq"].as_u64().unwrap();
    world.timeline_until(&dialog, "the photo marked sent", |i| {
        i["direction"] == "outbound" && i["delivery"] == "sent"
    });
    let listed = world.api.ok(
        &olga,
        "GET",
        &format!("/v1/dialogs/{dialog}/attachments?min_seq={seq}"),
        None,
    );
    assert_eq!(
        listed["items"][0]["attachment"]["size_bytes"], 300_000,
        "{listed}"
    );
    assert_eq!(
        listed["items"][0]["attachment"]["storage_ref"], hash,
        "{listed}"
    );

    // The dialog's file, for who may see the dialog: a range, then the whole with its headers.
    let path = format!("/v1/dialogs/{dialog}/attachments/{hash}?min_seq={seq}");
    let (status, head, body) = send(
        &world,
        &olga,
        "GET",
        &path,
        &[("Range", "bytes=1000-1999")],
        b"",
    );
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, &bytes[1000..2000]);
    assert_eq!(
        header(&head, "content-range"),
        Some("bytes 1000-1999/300000")
    );
    let (status, head, body) = send(&world, &olga, "GET", &path, &[("Range", "bytes=-10")], b"");
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, &bytes[bytes.len() - 10..]);
    let (status, head, body) = send(&world, &olga, "GET", &path, &[], b"");
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, bytes);
    let etag = format!("\"{}\"", &hash["sha256:".len()..]);
    assert_eq!(header(&head, "etag"), Some(etag.as_str()));
    assert_eq!(header(&head, "content-type"), Some("image/png"));
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"));
    let disposition = header(&head, "content-disposition").unwrap();
    assert!(
        disposition.contains("filename*=utf-8''%d1%81%d1%87%d1%91%d1%82%20%e2%84%967.png"),
        "{disposition}"
    );
    let (status, _, body) = send(
        &world,
        &olga,
        "GET",
        &path,
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(status, 304);
    assert!(body.is_empty());
    // A range past the end: 416 saying the size, in the one error shape.
    let (status, head, body) = send(
        &world,
        &olga,
        "GET",
        &path,
        &[("Range", "bytes=300000-")],
        b"",
    );
    assert_eq!(status, 416, "{head}");
    assert_eq!(header(&head, "content-range"), Some("bytes */300000"));
    let error = json_of(&body);
    assert_eq!(error["error"]["field"], "Range", "{error}");
    // The admin sees every dialog; Pavel not Olga's; another project nothing at all.
    let (status, _, body) = send(&world, &world.admin, "GET", &path, &[], b"");
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    let (status, _, _) = send(&world, &pavel, "GET", &path, &[], b"");
    assert_eq!(status, 403);
    let other = json!({"name": "Other", "admin": {"name": "Eve", "email": "eve@other.test", "password": PASSWORD}});
    world.api.ok(ROOT, "POST", "/v1/projects", Some(other));
    let eve = world.api.login("eve@other.test", PASSWORD)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = send(&world, &eve, "GET", &path, &[], b"");
    assert_eq!(status, 404);
    let (status, _, _) = send(&world, &eve, "GET", &own, &[], b"");
    assert_eq!(status, 404);
    // A hash the dialog never carried: nothing, even to its assignee.
    let unknown = format!(
        "/v1/dialogs/{dialog}/attachments/{}",
        sha256_ref(b"another file")
    );
    let (status, _, _) = send(&world, &olga, "GET", &unknown, &[], b"");
    assert_eq!(status, 404);

    // Over Telegram's 10 MB for a picture: refused, nothing kept. Declared up front, before
    // a byte is read…
    let stored = files_under(&attachments);
    let over = 10 * 1024 * 1024 + 1;
    let length = over.to_string();
    let path = format!("/v1/attachments?file_name=big.png&channel={channel}");
    let (status, _, body) = send(
        &world,
        &olga,
        "POST",
        &path,
        &[("Content-Type", "image/png"), ("Content-Length", &length)],
        b"",
    );
    assert_eq!(status, 413);
    assert_eq!(json_of(&body)["error"]["field"], "body");
    // … or found from the bytes: said to be a document (50 MB), sniffed a picture.
    let query = format!("file_name=big.pdf&channel={channel}");
    let (status, refused) = upload(&world, &olga, &query, "application/pdf", &png(over));
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["error"]["code"], "too_large");
    assert_eq!(refused["error"]["field"], "body");
    assert_eq!(
        files_under(&attachments),
        stored,
        "nothing of a refused file is kept"
    );
    // A name with a path is refused by name.
    let (status, refused) = upload(
        &world,
        &olga,
        "file_name=..%2Fx.png",
        "image/png",
        &png(100),
    );
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["field"], "file_name");
}

#[test]
fn an_uploaded_file_goes_out_as_a_mail_attachment() {
    let dovecot = switchboard_tests::mail::DovecotServer::start();
    let smtp = switchboard_tests::mail::SmtpReceiver::start();
    let world = World::start();
    let imap = json!({"host": "127.0.0.1", "port": dovecot.port(), "security": "plain",
                      "username": "support", "password": switchboard_tests::mail::IMAP_PASSWORD});
    let smtp_server = json!({"host": "127.0.0.1", "port": smtp.port(), "security": "plain",
                             "username": "", "password": ""});
    let connected = world.connect(json!({
        "kind": "email", "name": "Mail", "address": "support@shop.test",
        "imap": imap, "smtp": smtp_server,
    }));
    assert_eq!(connected["state"], "connected", "{connected}");
    let channel = connected["channel"].as_str().unwrap();
    dovecot.deliver(
        "support",
        b"From: Petr <petr@client.test>\r\nTo: support@shop.test\r\nSubject: Invoice\r\n\
          Message-ID: <inv@client.test>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nPlease send the invoice\r\n",
    );
    let dialog = eventually("the mail's dialog", || {
        world
            .dialogs()
            .first()
            .map(|d| d["dialog"].as_str().unwrap().to_owned())
    });

    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend((0..50_000u32).map(|i| (i % 251) as u8));
    let (status, uploaded) = upload(
        &world,
        &world.admin,
        &format!("file_name=invoice.pdf&channel={channel}"),
        "application/pdf",
        &pdf,
    );
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["mime_type"], "application/pdf");
    assert_eq!(uploaded["kind"], "file");
    let message = json!({"action": "send_message", "channel": channel, "text": "The invoice",
                         "attachments": [uploaded]});
    send_as_admin(&world, &dialog, message);
    let received = smtp.wait_for(1);
    let mail = switchboard_connectors::email::parse(&received[0]).unwrap();
    assert!(mail.text.contains("The invoice"), "{}", mail.text);
    assert_eq!(mail.attachments.len(), 1, "{:?}", mail.attachments);
    let attached = &mail.attachments[0];
    assert_eq!(attached.file_name.as_deref(), Some("invoice.pdf"));
    assert_eq!(attached.mime_type, "application/pdf");
    assert_eq!(attached.bytes, pdf);
    world.timeline_until(&dialog, "the mail marked sent", |i| {
        i["direction"] == "outbound" && i["delivery"] == "sent"
    });
}

#[test]
fn an_uploaded_file_goes_to_whatsapp_as_a_media_upload_its_message_names() {
    let world = World::start();
    let fake = world.fake(Provider::Whatsapp, WA_TOKEN);
    let connected = world.connect(json!({
        "kind": "whatsapp", "name": "WhatsApp", "phone_number_id": WA_NUMBER,
        "access_token": WA_TOKEN, "app_secret": WA_APP_SECRET, "verify_token": "verify-me",
        "api_base": fake.base_url(),
    }));
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let body = whatsapp_message("wamid.IN-7", "79990001122", "Send the contract please");
    let (status, _, _) = exchange_raw(
        world.api.addr,
        "POST",
        &format!("/v1/webhooks/whatsapp/{channel}"),
        &[
            ("X-Hub-Signature-256", hub_signature(&body).as_str()),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let dialog = first_dialog(&world);
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend((0..40_000u32).map(|i| (i % 241) as u8));
    let query = format!("file_name=contract.pdf&channel={channel}");
    let (status, uploaded) = upload(&world, &world.admin, &query, "application/pdf", &pdf);
    assert_eq!(status, 201, "{uploaded}");
    let message = json!({"action": "send_message", "channel": channel, "text": "The contract",
                         "attachments": [uploaded]});
    send_as_admin(&world, &dialog, message);
    let received = first_requests(&fake, "the document at the provider");
    assert_eq!(received.len(), 1);
    let sent = &received[0];
    assert_eq!(sent.params["type"], "document", "{}", sent.params);
    assert_eq!(sent.params["document"]["filename"], "contract.pdf");
    assert_eq!(sent.params["document"]["caption"], "The contract");
    assert_eq!(
        sent.files.len(),
        1,
        "the message names the uploaded media: {}",
        sent.params
    );
    assert_eq!(
        sent.files[0].content_type.as_deref(),
        Some("application/pdf")
    );
    assert_eq!(sent.files[0].bytes, pdf);
    world.timeline_until(&dialog, "the document marked sent", |i| {
        i["direction"] == "outbound" && i["delivery"] == "sent"
    });
}

#[test]
fn an_uploaded_file_goes_to_vk_as_a_document_the_message_attaches() {
    let world = World::start();
    let fake = world.fake(Provider::Vk, VK_TOKEN);
    let capture = vk_capture(VK_SECRET);
    let connected = world.connect(json!({
        "kind": "vk", "name": "Community", "group_id": capture["group_id"], "access_token": VK_TOKEN,
        "secret": VK_SECRET, "confirmation": "a1b2c3d4", "api_base": fake.base_url(),
    }));
    let channel = connected["channel"].as_str().unwrap().to_owned();
    let (status, _, _) = exchange_raw(
        world.api.addr,
        "POST",
        &format!("/v1/webhooks/vk/{channel}"),
        &[("Content-Type", "application/json")],
        capture.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let dialog = first_dialog(&world);
    let bytes = png(20_000);
    let query = format!("file_name=photo.png&channel={channel}");
    let (status, uploaded) = upload(&world, &world.admin, &query, "image/png", &bytes);
    assert_eq!(status, 201, "{uploaded}");
    let message = json!({"action": "send_message", "channel": channel, "text": "Фото",
                         "attachments": [uploaded]});
    send_as_admin(&world, &dialog, message);
    let received = first_requests(&fake, "the message at the provider");
    assert_eq!(received.len(), 1);
    let sent = &received[0];
    assert_eq!(sent.method, "messages.send");
    assert_eq!(sent.text, "Фото");
    let attachment = sent.params["attachment"].as_str().unwrap();
    assert!(attachment.starts_with("doc-1_"), "{attachment}");
    assert_eq!(
        sent.files.len(),
        1,
        "the saved document is attached: {}",
        sent.params
    );
    assert_eq!(sent.files[0].bytes, bytes);
    assert_eq!(sent.files[0].file_name.as_deref(), Some("photo.png"));
    world.timeline_until(&dialog, "the message marked sent", |i| {
        i["direction"] == "outbound" && i["delivery"] == "sent"
    });
}
