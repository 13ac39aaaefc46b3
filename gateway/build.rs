//! Builds the web inbox (`web/`, TypeScript + Vite) into `OUT_DIR/web` and writes
//! `OUT_DIR/web_assets.rs`: one `include_bytes!` table of the built files, each with its
//! content type and a gzip copy made here once, which `src/web.rs` serves at `/`.
//!
//! - `npm ci` runs only when `web/node_modules` is missing or `web/package-lock.json` changed
//!   since the last install (a copy of the lockfile is kept in `node_modules` as the stamp);
//! - `SWITCHBOARD_SKIP_UI=1` skips the UI; so does a machine without `npm`, and a failed build
//!   prints a `cargo:warning`: the binary then embeds a page that says how to build the UI, so
//!   `cargo build` never needs Node.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

/// What the build reads: a change to any of these rebuilds the UI.
const INPUTS: [&str; 7] = [
    "web/src",
    "web/public",
    "web/index.html",
    "web/package.json",
    "web/package-lock.json",
    "web/vite.config.ts",
    "web/tsconfig.json",
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let web = manifest.join("web");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_SKIP_UI");
    println!("cargo:rerun-if-changed=src/web/fallback.html");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    let dist = out.join("web");
    let built = if env::var_os("SWITCHBOARD_SKIP_UI").is_some_and(|v| !v.is_empty() && v != "0") {
        Err("SWITCHBOARD_SKIP_UI is set".to_owned())
    } else {
        build(&web, &dist)
    };
    let files = match built {
        Ok(()) => collect(&dist),
        Err(reason) => {
            println!(
                "cargo:warning=the web inbox is not built ({reason}); `/` will say how to build it"
            );
            Vec::new()
        }
    };
    let table = table(&out, &manifest, &files);
    fs::write(out.join("web_assets.rs"), table).expect("OUT_DIR is writable");
}

/// `npm ci` when needed, then `vite build` into `dist`; the reason when it cannot.
fn build(web: &Path, dist: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    match Command::new(npm).arg("--version").output() {
        Ok(found) if found.status.success() => {}
        _ => return Err("npm was not found: install Node.js 20 or newer".to_owned()),
    }
    let lockfile = fs::read(web.join("package-lock.json"))
        .map_err(|e| format!("cannot read web/package-lock.json: {e}"))?;
    let stamp = web.join("node_modules").join(".switchboard-lockfile");
    if fs::read(&stamp).ok().as_deref() != Some(lockfile.as_slice()) {
        run(Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(web))?;
        fs::write(&stamp, &lockfile)
            .map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    }
    let vite = web.join("node_modules").join(".bin").join("vite");
    run(Command::new(vite)
        .arg("build")
        .arg("--outDir")
        .arg(dist)
        .args(["--emptyOutDir", "--logLevel", "warn"])
        .current_dir(web))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{:?} failed ({}): {}",
        command.get_program(),
        output.status,
        tail.join(" | ")
    ))
}

/// Every file under `dist`, as (URL path, file).
fn collect(dist: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let mut pending = vec![dist.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dist) {
                let url = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push((format!("/{url}"), path));
            }
        }
    }
    files.sort();
    files
}

/// The content type of a built file; the UI's build makes only these kinds.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a gzip copy is worth serving (text that compresses).
fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("image/svg")
}

fn gzip(out: &Path, index: usize, bytes: &[u8]) -> Option<PathBuf> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let packed = encoder.finish().ok()?;
    if packed.len() >= bytes.len() {
        return None;
    }
    let path = out.join(format!("web-gz-{index}"));
    fs::write(&path, packed).ok()?;
    Some(path)
}

fn table(out: &Path, manifest: &Path, files: &[(String, PathBuf)]) -> String {
    let mut code = String::from("// Generated by build.rs: the web inbox's files.\n");
    let built = !files.is_empty();
    let _ = writeln!(code, "pub const BUILT: bool = {built};");
    code.push_str("pub static ASSETS: &[Asset] = &[\n");
    let fallback = manifest.join("src/web/fallback.html");
    let entries: Vec<(String, PathBuf)> = if built {
        files.to_vec()
    } else {
        vec![("/index.html".to_owned(), fallback)]
    };
    for (index, (url, file)) in entries.iter().enumerate() {
        let content_type = content_type(url);
        let bytes = fs::read(file).expect("a file just built or shipped");
        let gz = compressible(content_type)
            .then(|| gzip(out, index, &bytes))
            .flatten();
        let _ = writeln!(
            code,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, body: include_bytes!({file:?}), gzip: {gz} }},",
            file = file.display().to_string(),
            gz = gz.map_or("None".to_owned(), |p| format!(
                "Some(include_bytes!({:?}))",
                p.display().to_string()
            )),
        );
    }
    code.push_str("];\n");
    code
}
