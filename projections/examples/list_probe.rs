//! CPU time of one list page (`list_dialogs`, in-process, one thread) by shape, on a dialogs
//! read model file of a bench dataset: 14 shapes (tabs, the archive, the built-in and a custom
//! folder, tag and other filters) for an admin and an operator of the first project, each page
//! read N times (first page, then a page two pages deep). CPU from `/proc/thread-self/schedstat`
//! (less sensitive to a loaded machine than wall time).
//!
//! `cargo run --release -p switchboard-projections --example list_probe -- FILE [N]`
//! (FILE: e.g. a copy of `DIR/read/dialogs/g00000N.sqlite` after `bench api --data DIR`; it is
//! only read).
use rusqlite::Connection;
use std::path::Path;
use switchboard_projections::dialogs::*;
use switchboard_projections::runtime::open_reader_for;
use switchboard_schemas::*;

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn tag(b: Vec<u8>) -> TagId {
    TagId::from_uuid(uuid::Uuid::from_slice(&b).unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = Path::new(&args[1]);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let conn: Connection = open_reader_for::<DialogsProjection>(path).unwrap();
    let project: String = conn
        .query_row("SELECT id FROM idkey WHERE key = 1", [], |r| r.get(0))
        .unwrap();
    let project: ProjectId = project.parse().unwrap();
    let ops: Vec<String> = conn
        .prepare("SELECT DISTINCT (SELECT id FROM idkey WHERE key = assignee_key) FROM dialog_row WHERE project_key = 1 AND assignee_key IS NOT NULL ORDER BY 1 LIMIT 3")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let op: OperatorId = ops[0].parse().unwrap();
    let tags: Vec<TagId> = conn
        .prepare("SELECT t.tag FROM dialog_tag t JOIN dialog_row d ON d.rowid = t.dialog WHERE d.project_key = 1 GROUP BY t.tag ORDER BY count(*) DESC LIMIT 8")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| tag(r.unwrap()))
        .collect();
    let folder: Vec<u8> = conn
        .query_row("SELECT f.folder FROM dialog_folder f JOIN dialog_row d ON d.rowid = f.dialog WHERE d.project_key = 1 LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let folder = FolderId::from_uuid(uuid::Uuid::from_slice(&folder).unwrap());
    let mut shapes: Vec<(String, ListQuery)> = Vec::new();
    for admin in [true, false] {
        let viewer = Viewer {
            operator: op,
            admin,
        };
        let base = ListQuery {
            project,
            viewer,
            tab: Tab::All,
            folder: Folder::All,
            include_closed: false,
            order: Order::Activity,
            filter: Filter::new(Expr::All(vec![])).unwrap(),
            after: None,
            limit: 50,
        };
        let who = if admin { "admin" } else { "op" };
        for (name, tab) in [
            ("all", Tab::All),
            ("unanswered", Tab::Unanswered),
            ("mine", Tab::Mine),
            ("free", Tab::Free),
            ("others", Tab::Others),
        ] {
            shapes.push((
                format!("{who} {name}"),
                ListQuery {
                    tab,
                    ..base.clone()
                },
            ));
        }
        shapes.push((
            format!("{who} archived"),
            ListQuery {
                include_closed: true,
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} with_operator"),
            ListQuery {
                folder: Folder::WithOperator,
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} custom folder"),
            ListQuery {
                folder: Folder::Custom(folder),
                ..base.clone()
            },
        ));
        let f = |c: Vec<Condition>| Filter::new(Expr::all(c)).unwrap();
        shapes.push((
            format!("{who} tag0"),
            ListQuery {
                filter: f(vec![Condition::TagsAll(vec![tags[0]])]),
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} tag7"),
            ListQuery {
                filter: f(vec![Condition::TagsAll(vec![tags[7]])]),
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} notag0"),
            ListQuery {
                filter: f(vec![Condition::TagsNone(vec![tags[0]])]),
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} free filter"),
            ListQuery {
                filter: f(vec![Condition::Assignee(None)]),
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} last client"),
            ListQuery {
                filter: f(vec![Condition::LastAuthor(AuthorKind::Client)]),
                ..base.clone()
            },
        ));
        shapes.push((
            format!("{who} 3 filters"),
            ListQuery {
                filter: f(vec![
                    Condition::TagsNone(vec![tags[1]]),
                    Condition::Status(DialogStatus::Open),
                    Condition::AnyTag,
                ]),
                ..base.clone()
            },
        ));
    }
    let mut total_first = 0u64;
    let mut total_deep = 0u64;
    let mut rows_total = 0usize;
    for (name, q) in &shapes {
        // warm
        let first = list_dialogs(&conn, q).unwrap();
        let c0 = cpu_ns();
        for _ in 0..n {
            let p = list_dialogs(&conn, q).unwrap();
            rows_total += p.rows.len();
        }
        let first_ns = (cpu_ns() - c0) / n as u64;
        let mut deep_ns = 0;
        if let Some(next) = first.next.clone() {
            let mut q2 = q.clone();
            q2.after = Some(next);
            let second = list_dialogs(&conn, &q2).unwrap();
            if let Some(next) = second.next {
                q2.after = Some(next);
            }
            let c0 = cpu_ns();
            for _ in 0..n {
                list_dialogs(&conn, &q2).unwrap();
            }
            deep_ns = (cpu_ns() - c0) / n as u64;
        }
        total_first += first_ns;
        total_deep += deep_ns;
        println!(
            "{:8.1} µs  deep {:8.1} µs  rows {:3}  {name}",
            first_ns as f64 / 1000.0,
            deep_ns as f64 / 1000.0,
            first.rows.len()
        );
    }
    println!(
        "mean first {:.1} µs, mean deep {:.1} µs ({} rows)",
        total_first as f64 / shapes.len() as f64 / 1000.0,
        total_deep as f64 / shapes.len() as f64 / 1000.0,
        rows_total
    );
}
