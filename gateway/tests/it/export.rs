//! The clients export (F8) over a real socket on a real `serve`: the CSV's rows are the list's
//! selection for a filter and for one list, in the list's order; the XLSX (read back with
//! `calamine`) holds the same rows; a column per variable, defined or not; an operator exports
//! only what their list shows; bad parameters answer 400 naming the field.

use crate::common::*;
use crate::operator_api::{Api, encoded, ids};
use calamine::{Data, Reader, Xlsx};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use switchboard_schemas::{ListId, TagId};

const ROOT: &str = "root-token-of-the-export-test";

/// `GET path` through hyper's client (which undoes the chunked encoding of a streamed body):
/// status, headers, body bytes.
async fn download(addr: SocketAddr, path: &str, token: &str) -> (u16, hyper::HeaderMap, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

/// A CSV export: its header and rows (the byte order mark checked and dropped).
fn csv_rows(body: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let text = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("a CSV export starts with a byte order mark");
    let mut reader = csv::Reader::from_reader(text);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Every dialog id of the list for `query` (`order=created`), page after page.
fn listed(api: &Api, token: &str, query: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api.ok(
            token,
            "GET",
            &format!("/v1/dialogs?order=created&limit=3{query}{cursor}"),
            None,
        );
        all.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={}", encoded(next)),
            None => return all,
        }
    }
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// A cell of the XLSX as the CSV writes it: numbers as integers, date-times as RFC 3339 (UTC,
/// whole seconds, as the XLSX keeps them).
fn as_csv_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Float(number) => format!("{number}"),
        Data::Int(number) => number.to_string(),
        Data::DateTime(at) => {
            let seconds = ((at.as_f64() - 25_569.0) * 86_400.0).round() as i64;
            chrono::DateTime::from_timestamp(seconds, 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }
        other => panic!("unexpected cell {other:?}"),
    }
}

/// An RFC 3339 time cut to whole seconds, as the XLSX keeps it.
fn whole_seconds(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_export_as_csv_and_xlsx_holds_the_lists_selection() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // `serve`'s own temporary directory: the XLSX's work files must be gone after each export.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut command = bin();
    command
        .current_dir(dir.path())
        .env("SWITCHBOARD_ROOT_TOKEN", ROOT)
        .env("TMPDIR", &tmp)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let mut server = Running::spawn(&mut command, dir.path().join("serve.stderr"));
    let addr: SocketAddr = server
        .next_line()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    // The JSON calls are blocking exchanges: run them off the test's async threads.
    let setup = tokio::task::spawn_blocking(move || set_up(addr))
        .await
        .unwrap();
    let api = Api { addr };
    let Setup {
        admin,
        operator,
        dialogs,
        vip,
        newsletter,
        seq,
    } = setup;

    // Everything, as the admin: the list's rows in its order, the F8.1 columns, then one
    // column per variable (the defined ones in their order, then the others by name).
    let (status, headers, body) = download(
        addr,
        &format!("/v1/clients/export?format=csv&min_seq={seq}"),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"clients-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let (header, rows) = csv_rows(&body);
    assert_eq!(
        header,
        [
            "client_id",
            "dialog_id",
            "name",
            "messenger",
            "channel",
            "channel_user_id",
            "first_contact",
            "last_activity",
            "avatar_url",
            "funnel_block",
            "funnel_history",
            "tags",
            "size",
            "city",
            "nickname",
        ]
    );
    let all = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || listed(&Api { addr }, &admin, "")
    })
    .await
    .unwrap();
    assert_eq!(all.len(), dialogs.len());
    let dialog_id = column(&header, "dialog_id");
    let exported: Vec<String> = rows.iter().map(|r| r[dialog_id].clone()).collect();
    assert_eq!(exported, all, "the export is the list, in its order");
    let row_of = |dialog: &str| {
        rows.iter()
            .find(|r| r[dialog_id] == dialog)
            .unwrap_or_else(|| panic!("no row of {dialog}"))
    };
    let first = row_of(&dialogs[0].0);
    assert_eq!(first[column(&header, "name")], dialogs[0].1);
    assert_eq!(first[column(&header, "name")], "Мария, \"VIP\"");
    assert_eq!(first[column(&header, "tags")], "hot; vip");
    assert_eq!(first[column(&header, "size")], "XS");
    assert_eq!(first[column(&header, "city")], "Казань");
    assert_eq!(first[column(&header, "nickname")], "masha");
    let card = api.ok(
        &admin,
        "GET",
        &format!("/v1/dialogs/{}/card", dialogs[0].0),
        None,
    );
    assert_eq!(
        first[column(&header, "client_id")],
        card["number"].to_string()
    );
    assert_eq!(
        first[column(&header, "first_contact")],
        card["created_at"].as_str().unwrap()
    );
    let plain = row_of(&dialogs[5].0);
    assert_eq!(plain[column(&header, "tags")], "");
    assert_eq!(plain[column(&header, "size")], "");

    // A filter: the list's rows for the same filter.
    let filter = json!({"tags_all": [vip]}).to_string();
    let query = format!("&filter={}", encoded(&filter));
    let (status, _, body) = download(
        addr,
        &format!("/v1/clients/export?format=csv{query}"),
        &admin,
    )
    .await;
    assert_eq!(status, 200);
    let (_, tagged) = csv_rows(&body);
    let tagged: Vec<String> = tagged.iter().map(|r| r[dialog_id].clone()).collect();
    let expected = tokio::task::spawn_blocking({
        let (admin, query) = (admin.clone(), query.clone());
        move || listed(&Api { addr }, &admin, &query)
    })
    .await
    .unwrap();
    assert_eq!(tagged, expected);
    assert_eq!(tagged.len(), 4, "{tagged:?}");

    // One list: its members, as the list's `lists_any` filter shows them.
    let (status, _, body) = download(
        addr,
        &format!("/v1/clients/export?format=csv&list={newsletter}"),
        &admin,
    )
    .await;
    assert_eq!(status, 200);
    let (_, members) = csv_rows(&body);
    let members: Vec<String> = members.iter().map(|r| r[dialog_id].clone()).collect();
    let in_list = format!(
        "&filter={}",
        encoded(&json!({"lists_any": [newsletter]}).to_string())
    );
    let expected = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || listed(&Api { addr }, &admin, &in_list)
    })
    .await
    .unwrap();
    assert_eq!(members, expected);
    assert_eq!(members.len(), 3, "{members:?}");

    // The XLSX of the filter holds the CSV's rows, cell for cell (times to the second).
    let (status, headers, body) = download(
        addr,
        &format!("/v1/clients/export?format=xlsx{query}"),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    let mut workbook = Xlsx::new(std::io::Cursor::new(body)).unwrap();
    let sheet = workbook.worksheet_range("clients").unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| row.iter().map(as_csv_text).collect())
        .collect();
    let (_, csv_tagged) = csv_rows(
        &download(
            addr,
            &format!("/v1/clients/export?format=csv{query}"),
            &admin,
        )
        .await
        .2,
    );
    assert_eq!(cells[0], header);
    assert_eq!(cells.len(), csv_tagged.len() + 1);
    let times = [
        column(&header, "first_contact"),
        column(&header, "last_activity"),
    ];
    for (xlsx_row, csv_row) in cells[1..].iter().zip(&csv_tagged) {
        for (index, (from_xlsx, from_csv)) in xlsx_row.iter().zip(csv_row).enumerate() {
            let from_csv = if times.contains(&index) {
                whole_seconds(from_csv)
            } else {
                from_csv.clone()
            };
            assert_eq!(from_xlsx, &from_csv, "column {}", header[index]);
        }
    }

    // The workbook's temporary directory went with the answer.
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::fs::read_dir(&tmp).unwrap().next().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "left in serve's temporary directory: {:?}",
            std::fs::read_dir(&tmp).unwrap().collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // An operator exports what their list shows: their dialogs and the free ones.
    let (status, _, body) = download(addr, "/v1/clients/export?format=csv", &operator).await;
    assert_eq!(status, 200);
    let (_, theirs) = csv_rows(&body);
    let theirs: Vec<String> = theirs.iter().map(|r| r[dialog_id].clone()).collect();
    let expected = tokio::task::spawn_blocking({
        let operator = operator.clone();
        move || listed(&Api { addr }, &operator, "")
    })
    .await
    .unwrap();
    assert_eq!(theirs, expected);
    assert_eq!(
        theirs.len(),
        dialogs.len() - 2,
        "the admin's two are hidden"
    );
    for (dialog, _) in &dialogs[..2] {
        assert!(!theirs.contains(dialog), "{dialog} is the admin's");
    }

    // The document names both formats and both types of file.
    let document = api.ok(&admin, "GET", "/v1/openapi.json", None);
    let operation = &document["paths"]["/v1/clients/export"]["get"];
    let format = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "format")
        .unwrap();
    assert_eq!(format["required"], true);
    assert_eq!(format["schema"]["enum"], json!(["csv", "xlsx"]), "{format}");
    let content = operation["responses"]["200"]["content"]
        .as_object()
        .unwrap();
    assert!(content.contains_key("text/csv"), "{content:?}");
    assert!(
        content.contains_key("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "{content:?}"
    );

    // Bad input: 400 naming the field, before any file starts.
    let other_list = ListId::new();
    for (query, field) in [
        ("format=pdf".to_owned(), "format"),
        (String::new(), "format"),
        (
            "format=csv&filter=%7B%22colour%22%3A1%7D".to_owned(),
            "filter",
        ),
        (
            format!(
                "format=csv&filter={}",
                encoded(&json!({"all": [{"tags_all": ["nope"]}]}).to_string())
            ),
            "filter.all[0].tags_all[0]",
        ),
        ("format=xlsx&list=nope".to_owned(), "list"),
        (format!("format=csv&list={other_list}"), "list"),
        ("format=csv&folder=nope".to_owned(), "folder"),
        ("format=csv&cursor=x".to_owned(), "cursor"),
    ] {
        let (status, bad) = api.call(&admin, "GET", &format!("/v1/clients/export?{query}"), None);
        assert_eq!(status, 400, "{query}: {bad}");
        assert_eq!(bad["error"]["field"], field, "{query}: {bad}");
    }
    drop(server);
}

struct Setup {
    admin: String,
    operator: String,
    /// (dialog id, client name), in registration order.
    dialogs: Vec<(String, String)>,
    vip: TagId,
    newsletter: ListId,
    /// The last command's sequence.
    seq: u64,
}

/// A project with an admin and an operator, two tags, a list, a choice variable and a free one,
/// and eight clients: the first two assigned to the admin, the next two to the operator.
fn set_up(addr: SocketAddr) -> Setup {
    let api = Api { addr };
    let created = api.ok(
        ROOT,
        "POST",
        "/v1/projects",
        Some(json!({"name": "Shop", "admin": {"name": "Ada", "email": "ada@shop.test", "password": "correct horse battery"}})),
    );
    let admin_id = created["admin"].as_str().unwrap().to_owned();
    let admin = api.login("ada@shop.test", "correct horse battery")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let added = api.ok(
        &admin,
        "POST",
        "/v1/operators",
        Some(json!({"name": "Oleg", "email": "oleg@shop.test", "password": "another long secret"})),
    );
    let operator_id = added["operator"].as_str().unwrap().to_owned();
    let operator = api.login("oleg@shop.test", "another long secret")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (vip, hot, newsletter) = (TagId::new(), TagId::new(), ListId::new());
    for action in [
        json!({"action": "define_tag", "tag": vip, "name": "vip", "color": "#ff0000"}),
        json!({"action": "define_tag", "tag": hot, "name": "hot", "color": "#00ff00"}),
        json!({"action": "define_list", "list": newsletter, "name": "Newsletter"}),
        json!({"action": "define_variable", "name": "size", "choices": ["XS", "S", "M"]}),
        json!({"action": "define_variable", "name": "city", "choices": []}),
    ] {
        api.ok(&admin, "POST", "/v1/project/actions", Some(action));
    }
    let names = [
        "Мария, \"VIP\"",
        "Admin's second",
        "Oleg's first",
        "Oleg's second",
        "Free one",
        "Free two",
        "Free three",
        "Free four",
    ];
    let mut dialogs = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let created = api.ok(
            &admin,
            "POST",
            "/v1/dialogs",
            Some(json!({"name": name, "phone": format!("+1555000{n:04}")})),
        );
        dialogs.push((
            created["dialog"].as_str().unwrap().to_owned(),
            (*name).to_owned(),
        ));
    }
    let mut seq = 0;
    let mut act = |n: usize, action: Value| {
        let answer = api.ok(
            &admin,
            "POST",
            &format!("/v1/dialogs/{}/actions", dialogs[n].0),
            Some(action),
        );
        seq = answer["seq"].as_u64().unwrap();
    };
    for n in 0..2 {
        act(n, json!({"action": "assign", "operator": admin_id}));
    }
    for n in 2..4 {
        act(n, json!({"action": "assign", "operator": operator_id}));
    }
    for n in [0, 2, 4, 6] {
        act(n, json!({"action": "add_tags", "tags": [vip]}));
    }
    act(0, json!({"action": "add_tags", "tags": [hot]}));
    for n in [1, 3, 4] {
        act(n, json!({"action": "join_lists", "lists": [newsletter]}));
    }
    act(
        0,
        json!({"action": "set_variable", "name": "size", "value": "XS"}),
    );
    act(
        0,
        json!({"action": "set_variable", "name": "city", "value": "Казань"}),
    );
    // A variable the project does not define (F7.2) is a column too.
    act(
        0,
        json!({"action": "set_variable", "name": "nickname", "value": "masha"}),
    );
    act(
        7,
        json!({"action": "set_variable", "name": "size", "value": "M"}),
    );
    Setup {
        admin,
        operator,
        dialogs,
        vip,
        newsletter,
        seq,
    }
}
