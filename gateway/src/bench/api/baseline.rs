//! The HTTP limit of this machine: a tiny axum server inside the bench process that answers
//! `GET /static` with a fixed JSON body of the size of a typical list page. Same HTTP stack
//! (hyper under axum) and machine as `serve`; no route is added to the API for it.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use bytes::Bytes;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves `body` on `127.0.0.1:<any>/static` until the bench process ends.
pub async fn start(body: Bytes) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the static server: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new().route(
        "/static",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}
