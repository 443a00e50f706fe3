//! A loopback HTTP/1.1 server for tests: records every request (arrival time, headers,
//! body) and answers each path from a script of replies, falling back to a default.
//! It stands in for the OpenClaw gateway's `/api/cron/fire`, wttr.in and generic URLs.
//!
//! Replies can misbehave on the wire ([`Wire`]): cut off by a reset or a close, never sent,
//! or a flood of bytes. A request whose body carries a marker `fault:<name>` is scripted
//! under that key instead of its path, so one endpoint can play several faults at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON request body")
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// The one `Idempotency-Key` every request carried (re-sends of one logical call); panics
/// naming the keys seen when one is missing or they differ.
pub fn single_idempotency_key(requests: &[Recorded]) -> String {
    let keys: Vec<Option<&str>> = requests
        .iter()
        .map(|r| r.header("idempotency-key"))
        .collect();
    match keys.first() {
        Some(Some(first)) if keys.iter().all(|k| k == &Some(*first)) => first.to_string(),
        _ => panic!("expected one Idempotency-Key on every request, saw {keys:?}"),
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    pub wire: Wire,
    /// The body says this request header back (`<name>: <value>`), as a careless service
    /// echoes what it was sent.
    pub echo: Option<String>,
}

/// How a reply goes over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Head and body, then close.
    Whole,
    /// Head (with the whole body's Content-Length) and the first `n` body bytes, then a TCP reset.
    ResetAfter(usize),
    /// Head (with the whole body's Content-Length) and the first `n` body bytes, then a close.
    CloseAfter(usize),
    /// Reads the request and never answers; the connection stays open until the client leaves.
    Silent,
    /// Head, then `bytes` of filler as long as the client reads; with a Content-Length if
    /// `declared`, else delimited by the close.
    Flood { bytes: u64, declared: bool },
}

/// What one reply managed to send, for tests that must know whether the client stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub body_bytes: u64,
    /// The whole body went out (the client did not hang up first).
    pub complete: bool,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.into(),
            delay: Duration::ZERO,
            wire: Wire::Whole,
            echo: None,
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            ..Reply::status(status, &body.to_string())
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn wire(mut self, wire: Wire) -> Reply {
        self.wire = wire;
        self
    }

    /// `status` with a body that echoes the request's `header`.
    pub fn echoing(status: u16, header: &str) -> Reply {
        Reply {
            echo: Some(header.to_owned()),
            ..Reply::status(status, "")
        }
    }

    /// Accepts the connection, reads the request, never answers.
    pub fn silent() -> Reply {
        Reply::ok("").wire(Wire::Silent)
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    scripts: HashMap<String, VecDeque<Reply>>,
    bearer: Option<String>,
    /// Per script key, what each reply sent.
    sent: HashMap<String, Vec<Sent>>,
}

#[derive(Clone)]
pub struct FakeHttp {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeHttp {
    pub async fn start() -> FakeHttp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fake = FakeHttp {
            port,
            state: Arc::default(),
        };
        let server = fake.clone();
        accept_forever(listener, move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replies for `path` (or a `fault:<name>` key), used in order; afterwards the default
    /// (200 "ok").
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut state = self.state.lock().unwrap();
        state
            .scripts
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Like a gateway with auth on: a missing or wrong Bearer token gets 401.
    pub fn require_bearer(&self, token: &str) {
        self.state.lock().unwrap().bearer = Some(token.to_owned());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Every request except the worker's startup probe of the gateway (`GET /readyz`).
    pub fn calls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() != "/readyz")
            .collect()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }

    /// The requests scripted under `key`: a path, or `fault:<name>` carried in the body.
    pub fn requests_for(&self, key: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| script_key(r) == key)
            .collect()
    }

    /// What each reply under `key` sent, in order.
    pub fn sent(&self, key: &str) -> Vec<Sent> {
        let state = self.state.lock().unwrap();
        state.sent.get(key).cloned().unwrap_or_default()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let reply = self.reply_for(&request);
        let sent = write_reply(&mut stream, &reply).await;
        let mut state = self.state.lock().unwrap();
        state
            .sent
            .entry(script_key(&request))
            .or_default()
            .push(sent);
    }

    fn reply_for(&self, request: &Recorded) -> Reply {
        let mut state = self.state.lock().unwrap();
        state.requests.push(request.clone());
        if let Some(expected) = &state.bearer {
            let sent = request.header("authorization").unwrap_or_default();
            if sent != format!("Bearer {expected}") {
                return Reply::json(401, serde_json::json!({"error": "unauthorized"}));
            }
        }
        let mut reply = state
            .scripts
            .get_mut(&script_key(request))
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| Reply::ok("ok"));
        if let Some(name) = &reply.echo {
            let value = request.header(name).unwrap_or_default();
            reply.body = format!("you sent {name}: {value}");
        }
        reply
    }
}

/// Serves every connection with `serve`, each on its own task, for as long as the test runs.
pub fn accept_forever<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
}

/// `fault:<name>` when the body carries that marker, else the path.
fn script_key(request: &Recorded) -> String {
    const MARKER: &str = "fault:";
    match request.body.find(MARKER) {
        Some(at) => {
            let name: String = request.body[at + MARKER.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            format!("{MARKER}{name}")
        }
        None => request.path().to_owned(),
    }
}

/// Waits `reply.delay`, then writes the reply as `reply.wire` says and ends the connection.
pub async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> Sent {
    tokio::time::sleep(reply.delay).await;
    let declared = match reply.wire {
        Wire::Flood { bytes, declared } => declared.then_some(bytes),
        _ => Some(reply.body.len() as u64),
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    if let Some(length) = declared {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let body = reply.body.as_bytes();
    let mut sent = Sent {
        body_bytes: 0,
        complete: false,
    };
    if let Wire::Silent = reply.wire {
        // Hold the connection until the client gives up.
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        return sent;
    }
    if stream.write_all(head.as_bytes()).await.is_err() {
        return sent;
    }
    match reply.wire {
        Wire::Whole => {
            sent.complete = stream.write_all(body).await.is_ok();
            sent.body_bytes = if sent.complete { body.len() as u64 } else { 0 };
        }
        Wire::ResetAfter(n) | Wire::CloseAfter(n) => {
            let part = &body[..n.min(body.len())];
            if stream.write_all(part).await.is_ok() {
                sent.body_bytes = part.len() as u64;
            }
            let _ = stream.flush().await;
            if let Wire::ResetAfter(_) = reply.wire {
                // Give the part a moment to leave, then reset instead of closing.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = stream.set_zero_linger();
                return sent;
            }
        }
        Wire::Flood { bytes, .. } => {
            let filler = vec![b'x'; 64 * 1024];
            sent.complete = true;
            while sent.body_bytes < bytes {
                let n = filler.len().min((bytes - sent.body_bytes) as usize);
                if stream.write_all(&filler[..n]).await.is_err() {
                    sent.complete = false;
                    break;
                }
                sent.body_bytes += n as u64;
            }
        }
        Wire::Silent => unreachable!("handled above"),
    }
    let _ = stream.shutdown().await;
    sent
}

/// The next request on `stream`, recorded.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Recorded> {
    let request = super::http1::read_request(stream).await?;
    Some(Recorded {
        method: request.method,
        target: request.target,
        headers: request.headers,
        body: String::from_utf8_lossy(&request.body).into_owned(),
        at: request.head_at,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        502 => "Bad Gateway",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
