//! Reading one HTTP/1.1 request off a stream: the one reader behind the loopback fakes
//! (`fake_http`, `fake_openclaw`) and the real gateway's recording proxy
//! (`tests/openclaw/harness.rs`), so all of them parse what the worker sends the same way.

use std::collections::HashMap;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A request as it arrived.
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    /// The body, de-chunked when it was sent chunked.
    pub body: Vec<u8>,
    /// When the head was complete: what timing assertions (retry back-off) measure.
    pub head_at: Instant,
}

/// The next request on `stream`, or `None` when the peer closes (or sends garbage) first.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Request> {
    let mut reader = Reader {
        stream,
        buffer: Vec::new(),
    };
    let head_end = reader.until(b"\r\n\r\n", 0).await? + 4;
    let head_at = Instant::now();
    let head = String::from_utf8_lossy(&reader.buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    reader.buffer.drain(..head_end);
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        reader.chunked_body().await?
    } else {
        let length = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        reader.exactly(length).await?
    };
    Some(Request {
        method,
        target,
        headers,
        body,
        head_at,
    })
}

struct Reader<'s, S> {
    stream: &'s mut S,
    buffer: Vec<u8>,
}

impl<S: AsyncRead + Unpin> Reader<'_, S> {
    /// Reads more bytes into the buffer; `None` at end of stream or on an error.
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.ok()?;
        (n > 0).then(|| self.buffer.extend_from_slice(&chunk[..n]))
    }

    /// The position of `needle` in the buffer at or after `from`, reading until it is there.
    async fn until(&mut self, needle: &[u8], from: usize) -> Option<usize> {
        loop {
            if let Some(pos) = self.buffer[from..]
                .windows(needle.len())
                .position(|w| w == needle)
            {
                return Some(from + pos);
            }
            self.fill().await?;
        }
    }

    /// The next `length` bytes, taken off the buffer.
    async fn exactly(&mut self, length: usize) -> Option<Vec<u8>> {
        while self.buffer.len() < length {
            self.fill().await?;
        }
        Some(self.buffer.drain(..length).collect())
    }

    /// A `Transfer-Encoding: chunked` body, up to and including its last (empty) chunk.
    async fn chunked_body(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = self.until(b"\r\n", 0).await?;
            let size_line = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            self.buffer.drain(..line_end + 2);
            let chunk = self.exactly(size + 2).await?;
            body.extend_from_slice(&chunk[..size]);
            if size == 0 {
                return Some(body);
            }
        }
    }
}
