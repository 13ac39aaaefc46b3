//! The load's client: one keep-alive HTTP/1.1 connection per client (hyper), closed loop, and
//! what it records per kind of request: latencies (HDR histogram, µs) and answers by status.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    send: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (send, connection) = http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { addr, send })
    }

    /// One request; the answer's status and whole body. A broken connection is replaced for
    /// the next call.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), String> {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: &[(&str, &str)] = match &bearer {
            Some(bearer) => &[("authorization", bearer)],
            None => &[],
        };
        self.call_with(method, path, headers, body).await
    }

    /// [`Conn::call`] with the request's own headers (a webhook's signature).
    pub async fn call_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), String> {
        let outcome = self.try_call(method, path, headers, body).await;
        if outcome.is_err() {
            *self = Self::connect(self.addr).await?;
        }
        outcome
    }

    async fn try_call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), String> {
        self.send.ready().await.map_err(|e| e.to_string())?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| e.to_string())?;
        let answer = self
            .send
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }
}

/// What one kind of request saw.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of each answered request, µs.
    pub latency: Histogram<u64>,
    /// Answers by status; 0 is a request that got no answer (connection error).
    pub statuses: BTreeMap<u16, u64>,
    pub bytes: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| {
                Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures"))
            }),
            statuses: BTreeMap::new(),
            bytes: 0,
        }
    }
}

impl Tally {
    pub fn record(&mut self, started: Instant, outcome: &Result<(u16, Bytes), String>) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let status = match outcome {
            Ok((status, body)) => {
                self.bytes += body.len() as u64;
                let _ = self.latency.record(micros.max(1));
                *status
            }
            Err(_) => 0,
        };
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Self) {
        let _ = self.latency.add(&other.latency);
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        self.bytes += other.bytes;
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answers that are not 2xx (and requests without an answer).
    pub fn errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status))
            .map(|(_, count)| count)
            .sum()
    }

    /// The figures of a phase that lasted `elapsed`.
    pub fn json(&self, elapsed: Duration) -> Value {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let requests = self.requests();
        json!({
            "requests": requests,
            "requests_per_sec": (requests as f64 / elapsed.as_secs_f64().max(1e-9)).round(),
            "p50_ms": ms(0.5),
            "p90_ms": ms(0.9),
            "p99_ms": ms(0.99),
            "max_ms": self.latency.max() as f64 / 1000.0,
            "mean_body_bytes": self.bytes.checked_div(requests).unwrap_or(0),
            "errors": self.errors(),
            "statuses": self.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        })
    }
}
