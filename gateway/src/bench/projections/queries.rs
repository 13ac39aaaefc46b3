//! Phase 3 of `bench projections`: queries on the rebuilt files, each timed on its own reader
//! connection (the query, not the hop to the blocking pool): the dialog list (first pages, and
//! deep pages by following the keyset cursor) with 0, 1 and 3 filters, as an admin and as an
//! operator, with closed dialogs hidden (the default view) and shown; the header counter,
//! *Unanswered* and every folder badge of a caller together; and searches.

use super::measure::{histogram, quantiles, record};
use super::{ProjectionsArgs, model_path, say};
use crate::readmodels::Kind;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::Instant;
use switchboard_dataset::history::ProjectIds;
use switchboard_projections::dialogs::{
    self, AuthorKind, Condition, Expr, Filter, Folder, ListQuery, Order, Tab, Viewer,
};
use switchboard_projections::open_reader;
use switchboard_projections::search::{
    HitDetail, SearchOrder, SearchQuery, SearchReader, SearchTarget,
};
use switchboard_schemas::{OperatorId, ProjectId};

/// What phase 3 needs.
pub(super) struct Input<'a> {
    /// The directory of the rebuilt read models.
    pub together: &'a Path,
    /// The projects of the history, with their operators, folders and tags.
    pub projects: Vec<ProjectIds>,
    pub args: &'a ProjectionsArgs,
}

/// Phase 3's figures: the list and counter queries' (see [`queries`]) and the searches' (see
/// [`search_queries`]); null when skipped.
pub(super) struct Figures {
    pub queries: Value,
    pub search: Value,
}

impl Figures {
    pub fn skipped() -> Self {
        Self {
            queries: Value::Null,
            search: Value::Null,
        }
    }
}

/// Phase 3: the list and counter queries, then the searches, each on blocking threads.
pub(super) async fn run(input: Input<'_>) -> Result<Figures, String> {
    let Input {
        together,
        projects,
        args,
    } = input;
    let list_projects = projects.clone();
    let dialogs_path = model_path(Kind::Dialogs, together);
    let query_args = args.clone();
    let query_figures =
        tokio::task::spawn_blocking(move || queries(&dialogs_path, &list_projects, &query_args))
            .await
            .map_err(|e| e.to_string())??;
    if !args.json {
        for view in ["open", "all"] {
            for role in ["admin", "operator"] {
                for f in [0, 1, 3] {
                    let v = &query_figures["list"][view][role][format!("filters_{f}")];
                    let show = |q: &Value| match q.is_null() {
                        true => "—".to_owned(),
                        false => format!("p50 {:>5} µs p99 {:>6} µs", q["p50_us"], q["p99_us"]),
                    };
                    say(
                        args,
                        format!(
                            "list {view:<4} {role:<8} {f} filters: first page {}   deep pages {}   (deepest row {})",
                            show(&v["first_page"]),
                            show(&v["deep_pages"]),
                            v["deepest_row"]
                        ),
                    );
                }
            }
        }
        for role in ["admin", "operator"] {
            let c = &query_figures["counters"][role];
            say(
                args,
                format!(
                    "counters + every badge, {role:<8}: p50 {} µs p99 {} µs",
                    c["p50_us"], c["p99_us"]
                ),
            );
        }
    }

    let search_root = model_path(Kind::Search, together);
    let timeline_file = model_path(Kind::Timeline, together);
    let search_projects = projects;
    let samples = args.samples;
    let search_figures = tokio::task::spawn_blocking(move || {
        search_queries(&search_root, &timeline_file, &search_projects, samples)
    })
    .await
    .map_err(|e| e.to_string())??;
    for name in ["word", "substring", "newest_first"] {
        let q = &search_figures[name];
        say(
            args,
            format!(
                "search {name:<12}: p50 {} µs p99 {} µs",
                q["p50_us"], q["p99_us"]
            ),
        );
    }
    Ok(Figures {
        queries: query_figures,
        search: search_figures,
    })
}

/// Who asks, in one project.
#[derive(Debug, Clone)]
struct Asker {
    project: ProjectId,
    admin: Viewer,
    operator: Viewer,
    folders: Vec<Folder>,
    tags: Vec<switchboard_schemas::TagId>,
}

/// The projects to query: for each, its first admin and its busiest operator (not an admin).
fn askers(conn: &rusqlite::Connection, projects: &[ProjectIds]) -> Result<Vec<Asker>, String> {
    let mut out = Vec::new();
    for project in projects {
        let Some(&admin) = project.admins.first() else {
            continue;
        };
        // The assignee is stored as its `idkey` key, the key's token in `idkey`.
        let busiest: Vec<String> = conn
            .prepare(
                "SELECT k.id FROM dialog_row d JOIN idkey k ON k.key = d.assignee_key
                 WHERE d.project_key = (SELECT key FROM idkey WHERE id = ?1)
                 GROUP BY d.assignee_key ORDER BY count(*) DESC LIMIT 8",
            )
            .and_then(|mut s| {
                s.query_map([project.id.token()], |r| r.get::<_, String>(0))?
                    .collect()
            })
            .map_err(|e| e.to_string())?;
        let operator = busiest
            .iter()
            .filter_map(|token| token.parse::<OperatorId>().ok())
            .find(|id| project.operators.contains(id))
            .or_else(|| project.operators.first().copied())
            .unwrap_or(admin);
        let mut folders = vec![Folder::All, Folder::WithOperator];
        folders.extend(project.folders.iter().map(|&f| Folder::Custom(f)));
        out.push(Asker {
            project: project.id,
            admin: Viewer {
                operator: admin,
                admin: true,
            },
            operator: Viewer {
                operator,
                admin: false,
            },
            folders,
            tags: project.tags.clone(),
        });
    }
    Ok(out)
}

fn filters(count: usize, asker: &Asker) -> Filter {
    let tag = |i: usize| asker.tags.get(i).copied();
    let mut conditions = Vec::new();
    if count >= 1 {
        conditions.extend(tag(0).map(|t| Condition::TagsAll(vec![t])));
    }
    if count >= 3 {
        conditions.extend(tag(1).map(|t| Condition::TagsNone(vec![t])));
        conditions.push(Condition::LastAuthor(AuthorKind::Client));
    }
    // Up to three conditions of one value each: within every bound of `Filter::new`.
    Filter::new(Expr::all(conditions)).unwrap_or_default()
}

fn list_query(
    asker: &Asker,
    viewer: Viewer,
    filter_count: usize,
    closed: bool,
    rows: usize,
) -> ListQuery {
    ListQuery {
        project: asker.project,
        viewer,
        tab: Tab::All,
        folder: Folder::All,
        include_closed: closed,
        order: Order::Activity,
        filter: filters(filter_count, asker),
        after: None,
        limit: rows,
    }
}

/// Phase 3 on one reader connection (blocking).
fn queries(path: &Path, projects: &[ProjectIds], args: &ProjectionsArgs) -> Result<Value, String> {
    let conn = switchboard_projections::open_reader_for::<
        switchboard_projections::dialogs::DialogsProjection,
    >(path)
    .map_err(|e| e.to_string())?;
    let askers = askers(&conn, projects)?;
    if askers.is_empty() {
        return Err("no project to query".into());
    }
    let mut list = Map::new();
    let mut summary = Vec::new();
    for (view, closed) in [("open", false), ("all", true)] {
        let mut by_role = Map::new();
        for role in ["admin", "operator"] {
            let mut by_filters = Map::new();
            for filter_count in [0usize, 1, 3] {
                let viewer = |a: &Asker| if role == "admin" { a.admin } else { a.operator };
                let mut first = histogram();
                // Warm the statement cache and the pages of every project once.
                for asker in &askers {
                    let query =
                        list_query(asker, viewer(asker), filter_count, closed, args.page_rows);
                    dialogs::list_dialogs(&conn, &query).map_err(|e| e.to_string())?;
                }
                for i in 0..args.samples {
                    let asker = &askers[i % askers.len()];
                    let query =
                        list_query(asker, viewer(asker), filter_count, closed, args.page_rows);
                    let started = Instant::now();
                    dialogs::list_dialogs(&conn, &query).map_err(|e| e.to_string())?;
                    record(&mut first, started.elapsed());
                }
                let mut deep = histogram();
                let mut deepest = 0usize;
                for asker in askers.iter().take(args.walk_projects.max(1)) {
                    let mut query =
                        list_query(asker, viewer(asker), filter_count, closed, args.page_rows);
                    for page_index in 0..args.deep_pages {
                        let started = Instant::now();
                        let page =
                            dialogs::list_dialogs(&conn, &query).map_err(|e| e.to_string())?;
                        let took = started.elapsed();
                        if page_index >= args.deep_from_page {
                            record(&mut deep, took);
                        }
                        deepest = deepest.max(page_index * args.page_rows + page.rows.len());
                        match page.next {
                            Some(next) => query.after = Some(next),
                            None => break,
                        }
                    }
                }
                summary.push((view, role, filter_count, first.clone(), deep.clone()));
                by_filters.insert(
                    format!("filters_{filter_count}"),
                    json!({
                        "first_page": quantiles(&first),
                        "deep_pages": quantiles(&deep),
                        "deepest_row": deepest,
                    }),
                );
            }
            by_role.insert(role.to_owned(), Value::Object(by_filters));
        }
        list.insert(view.to_owned(), Value::Object(by_role));
    }
    let mut counters = Map::new();
    for role in ["admin", "operator"] {
        let mut h = histogram();
        for i in 0..args.samples.max(askers.len()) {
            let asker = &askers[i % askers.len()];
            let viewer = if role == "admin" {
                asker.admin
            } else {
                asker.operator
            };
            let started = Instant::now();
            dialogs::unread_dialogs(&conn, asker.project, viewer).map_err(|e| e.to_string())?;
            dialogs::unanswered_dialogs(&conn, asker.project, viewer).map_err(|e| e.to_string())?;
            for &folder in &asker.folders {
                dialogs::folder_badge(&conn, asker.project, viewer, folder)
                    .map_err(|e| e.to_string())?;
            }
            record(&mut h, started.elapsed());
        }
        counters.insert(role.to_owned(), quantiles(&h));
    }
    let list_worst = summary
        .iter()
        .flat_map(|(_, _, _, first, deep)| [first, deep])
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(0.99))
        .max();
    let counters_worst = ["admin", "operator"]
        .iter()
        .filter_map(|r| counters.get(*r).and_then(|v| v["p99_us"].as_u64()))
        .max();
    Ok(json!({
        "projects_queried": askers.len(),
        "page_rows": args.page_rows,
        "deep_from_page": args.deep_from_page,
        "list": Value::Object(list),
        "counters": Value::Object(counters),
        "list_worst_p99_us": list_worst,
        "counters_worst_p99_us": counters_worst,
    }))
}

/// Search queries on the index under `root`, across the projects: word search over message
/// texts by relevance (stemmed: `заказы` finds `заказ`), substring search over clients (names,
/// phones, emails, channel ids), and word search newest first. Each message hit is read from
/// the timeline file `timeline` (its text, author and id are there, not in the index), as a
/// caller's search does (`query::search_items`).
fn search_queries(
    root: &Path,
    timeline: &Path,
    projects: &[ProjectIds],
    samples: usize,
) -> Result<Value, String> {
    const WORDS: &[&str] = &[
        "заказы",
        "доставку",
        "скидки",
        "курьером",
        "refunds",
        "ordered",
    ];
    const SUBSTRINGS: &[&str] = &["ова", "1988", "ivan", "gmail", "791", "petrov"];
    const NEWEST: &[&str] = &["заказ", "доставка", "order", "возврат"];
    let reader = SearchReader::open(root).map_err(|e| e.to_string())?;
    let timeline = open_reader(timeline).map_err(|e| e.to_string())?;
    let mut out = Map::new();
    let mut worst = 0u64;
    let mut hits = 0usize;
    for (name, target, order, texts) in [
        (
            "word",
            SearchTarget::Messages,
            SearchOrder::Relevance,
            WORDS,
        ),
        (
            "substring",
            SearchTarget::Clients,
            SearchOrder::Newest,
            SUBSTRINGS,
        ),
        (
            "newest_first",
            SearchTarget::Messages,
            SearchOrder::Newest,
            NEWEST,
        ),
    ] {
        let mut h = histogram();
        for i in 0..samples.max(texts.len()) {
            let project = projects[i % projects.len().max(1)].id;
            let mut query = SearchQuery::new(project, target, texts[i % texts.len()]);
            query.order = order;
            let started = Instant::now();
            let page = reader.search(&query).map_err(|e| e.to_string())?;
            for hit in &page.hits {
                if let HitDetail::Message(m) = &hit.detail {
                    let item = switchboard_projections::timeline::item_at(&timeline, m.place)
                        .map_err(|e| e.to_string())?;
                    if item.is_none() {
                        return Err(format!("no timeline item at {} for a hit", m.place));
                    }
                }
            }
            record(&mut h, started.elapsed());
            hits += page.hits.len();
        }
        worst = worst.max(h.value_at_quantile(0.99));
        out.insert(name.to_owned(), quantiles(&h));
    }
    out.insert("hits".to_owned(), json!(hits));
    out.insert("worst_p99_us".to_owned(), json!(worst));
    Ok(Value::Object(out))
}
