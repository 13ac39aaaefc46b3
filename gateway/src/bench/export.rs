//! `switchboard bench export`: the clients export (F8) of the first project of the dataset,
//! through the real `serve` (set up as `bench api` sets it up: the dataset's log and read
//! models, an account for one admin), once per format. For each: the time to the last byte,
//! rows per second, bytes, and how far `serve`'s resident memory rose above what it was before
//! the export, sampled every 10 ms while the body is read (the body is counted and dropped,
//! never kept): all of it (`VmRSS`) and its anonymous part (`RssAnon`: the heap and stacks,
//! what the export allocates), apart from the read models' pages mapped from their files
//! (`RssFile`, the page cache's, which the kernel takes back under pressure). The last stdout
//! line is one JSON object.

use super::SizeArgs;
use super::api::ApiArgs;
use super::api::setup;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// The size of the dataset (as `bench api` takes it; `--projects 1` puts every client in
    /// the one project exported).
    #[command(flatten)]
    pub size: SizeArgs,
    /// Data directory: one left by `bench api` or an earlier `bench export`, or an empty one to
    /// fill (default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The formats to export, in order.
    #[arg(long, value_delimiter = ',', default_value = "csv,xlsx")]
    pub formats: Vec<String>,
    /// Print only the JSON line.
    #[arg(long)]
    pub json: bool,
}

/// `switchboard bench export`.
pub async fn export(args: ExportArgs) -> Result<(), String> {
    let size = args.size.size()?;
    for format in &args.formats {
        if format != "csv" && format != "xlsx" {
            return Err(format!("--formats: {format:?} is neither csv nor xlsx"));
        }
    }
    let temp;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| e.to_string())?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let setup_args = ApiArgs {
        size: args.size.clone(),
        data: Some(dir.clone()),
        clients: 1,
        seconds: 0.0,
        warmup: 0.0,
        accounts: 1,
        phases: Vec::new(),
        live_streams: Vec::new(),
        live_accounts: None,
        live_rate: 0.0,
        json: args.json,
    };
    let dataset = setup::prepare(&setup_args, &dir, size).await?;
    // The generator spreads clients over the projects evenly; `--projects 1` exports them all.
    let project = dataset
        .projects
        .first()
        .ok_or("the dataset has no project")?;
    let admin = dataset
        .people
        .iter()
        .find(|p| p.project == project.id && p.admin)
        .ok_or("the first project has no admin")?
        .clone();
    setup::accounts(&dir, std::slice::from_ref(&admin)).await?;
    let server = setup::Server::start(&dir).await?;
    let outcome = measure(&args, &server, &admin, &dataset.projects).await;
    server.stop().await;
    let formats = outcome?;
    let report = json!({
        "bench": "export",
        "size": super::size_json(size),
        "formats": formats,
    });
    println!("{report}");
    Ok(())
}

async fn measure(
    args: &ExportArgs,
    server: &setup::Server,
    admin: &setup::Person,
    projects: &[switchboard_dataset::history::ProjectIds],
) -> Result<Value, String> {
    let session = setup::sign_in(server.addr, std::slice::from_ref(admin), projects)
        .await?
        .pop()
        .ok_or("no session")?;
    let mut figures = serde_json::Map::new();
    for format in &args.formats {
        // Settle: what the sign-in and the start left behind is not the export's.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = memory(server.pid);
        let peak = Arc::new([AtomicU64::new(before[0]), AtomicU64::new(before[1])]);
        let done = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn({
            let (peak, done, pid) = (Arc::clone(&peak), Arc::clone(&done), server.pid);
            async move {
                while !done.load(Ordering::Relaxed) {
                    for (max, now) in peak.iter().zip(memory(pid)) {
                        max.fetch_max(now, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        let started = Instant::now();
        let read = download(
            server.addr,
            &format!("/v1/clients/export?format={format}&archived=true"),
            &session.token,
        )
        .await;
        let seconds = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        let (bytes, lines) = read?;
        let [rss, anon] = [0, 1].map(|i| peak[i].load(Ordering::Relaxed));
        let mut entry = json!({
            "seconds": seconds,
            "bytes": bytes,
            "serve_rss_before_mib": mib(before[0]),
            "serve_rss_peak_mib": mib(rss),
            "serve_rss_growth_mib": mib(rss.saturating_sub(before[0])),
            "serve_anon_before_mib": mib(before[1]),
            "serve_anon_peak_mib": mib(anon),
            "serve_anon_growth_mib": mib(anon.saturating_sub(before[1])),
        });
        if format == "csv" {
            // One line per client after the header (no value of the dataset holds a newline).
            let rows = lines.saturating_sub(1);
            entry["rows"] = json!(rows);
            entry["rows_per_second"] = json!((rows as f64 / seconds).round());
        }
        if !args.json {
            eprintln!("{format}: {entry}");
        }
        figures.insert(format.clone(), entry);
    }
    // Both formats export the same rows.
    let rows = figures
        .get("csv")
        .and_then(|csv| csv["rows"].as_u64())
        .map(|rows| rows as f64);
    if let (Some(rows), Some(xlsx)) = (rows, figures.get_mut("xlsx")) {
        let seconds = xlsx["seconds"].as_f64().unwrap_or(f64::NAN);
        xlsx["rows_per_second"] = json!((rows / seconds).round());
    }
    Ok(Value::Object(figures))
}

/// `serve`'s resident memory now: [all of it, its anonymous part], in bytes.
fn memory(pid: u32) -> [u64; 2] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    [
        setup::status_bytes(&status, "VmRSS:"),
        setup::status_bytes(&status, "RssAnon:"),
    ]
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

/// Reads the whole answer, counting bytes and newlines, keeping none.
async fn download(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
) -> Result<(u64, u64), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let mut body = response.into_body();
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the export broke off: {e}"))?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
            lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    if !status.is_success() {
        return Err(format!("{path} answered {status}"));
    }
    Ok((bytes, lines))
}
