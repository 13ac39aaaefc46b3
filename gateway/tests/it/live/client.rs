//! A Server-Sent Events client over a real socket (hyper's HTTP/1.1 client): what a browser's
//! `EventSource` does, event by event.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a test waits for an event before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// One event as `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{self:?}: {e}"))
    }

    pub fn seq(&self) -> u64 {
        self.id.as_deref().unwrap().parse().unwrap()
    }
}

pub struct SseClient {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    body: Incoming,
    buffer: String,
    ended: bool,
}

impl SseClient {
    /// `GET path` with the given headers.
    pub async fn connect(addr: SocketAddr, path: &str, headers: &[(&str, String)]) -> Self {
        Self::send(addr, "GET", path, headers).await
    }

    /// `method path` with the given headers and no body.
    pub async fn send(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
    ) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string())
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = sender
            .send_request(
                request
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Self {
            status,
            headers,
            body: response.into_body(),
            buffer: String::new(),
            ended: false,
        }
    }

    /// The whole body of an answer that is not a stream.
    pub async fn text(self) -> String {
        let bytes = self.body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// The next event; `None` when the server ended the stream. Fails after [`WAIT`].
    pub async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(WAIT, self.next_event())
            .await
            .unwrap_or_else(|_| panic!("no event within {WAIT:?}"))
    }

    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
                Some(Err(_)) | None => self.ended = true,
            }
        }
    }

    /// Events until one of `kind` with an id of at least `seq` (it included), skipping
    /// `counters` and `heartbeat`.
    /// Fails after [`WAIT`] in all.
    pub async fn until(&mut self, seq: u64) -> Vec<SseEvent> {
        tokio::time::timeout(WAIT, self.until_seq(seq))
            .await
            .unwrap_or_else(|_| panic!("no event of sequence {seq} within {WAIT:?}"))
    }

    async fn until_seq(&mut self, seq: u64) -> Vec<SseEvent> {
        let mut events = Vec::new();
        loop {
            let event = self.next().await.expect("the stream ended");
            if event.event == "counters" || event.event == "heartbeat" {
                continue;
            }
            let reached = event.seq() >= seq;
            events.push(event);
            if reached {
                return events;
            }
        }
    }
}

/// One event block (comments and blocks without data are not events).
fn parse(block: &str) -> Option<SseEvent> {
    let mut event = SseEvent {
        event: "message".to_owned(),
        id: None,
        data: String::new(),
    };
    let mut has_data = false;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event.event = value.to_owned(),
            "id" => event.id = Some(value.to_owned()),
            "data" => {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(event)
}
