//! A plaintext loopback relay in front of the dev server that decodes the HTTP/2 request
//! headers clients send — to see what a gRPC client really puts on the wire (e.g. an API
//! key), which HPACK compression hides from a plain byte search.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

pub struct HeaderSniffer {
    pub port: u16,
    headers: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HeaderSniffer {
    pub async fn start(upstream_port: u16) -> HeaderSniffer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let headers = Arc::new(Mutex::new(Vec::new()));
        let seen = headers.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream_port, seen.clone()));
            }
        });
        HeaderSniffer {
            port,
            headers,
            task,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request header seen so far, lower-case names.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.headers.lock().unwrap().clone()
    }
}

impl Drop for HeaderSniffer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, upstream_port: u16, seen: Arc<Mutex<Vec<(String, String)>>>) {
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let to_client = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
    });
    let mut decoder = FrameReader::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for header in decoder.feed(&buf[..n]) {
                    seen.lock().unwrap().push(header);
                }
                if upstream_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    to_client.abort();
}

/// Splits the client's byte stream into frames and HPACK-decodes its header blocks.
#[derive(Default)]
struct FrameReader {
    pending: Vec<u8>,
    preface_skipped: bool,
    block: Vec<u8>,
    hpack: Option<hpack::Decoder<'static>>,
}

impl FrameReader {
    fn feed(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.pending.extend_from_slice(bytes);
        if !self.preface_skipped {
            if self.pending.len() < PREFACE.len() {
                return vec![];
            }
            self.pending.drain(..PREFACE.len());
            self.preface_skipped = true;
        }
        let mut decoded = Vec::new();
        while self.pending.len() >= 9 {
            let len =
                u32::from_be_bytes([0, self.pending[0], self.pending[1], self.pending[2]]) as usize;
            if self.pending.len() < 9 + len {
                break;
            }
            let kind = self.pending[3];
            let flags = self.pending[4];
            let payload: Vec<u8> = self.pending[9..9 + len].to_vec();
            self.pending.drain(..9 + len);
            if kind == HEADERS || kind == CONTINUATION {
                self.block
                    .extend_from_slice(fragment(kind, flags, &payload));
                if flags & END_HEADERS != 0 {
                    let block = std::mem::take(&mut self.block);
                    let hpack = self.hpack.get_or_insert_with(hpack::Decoder::new);
                    if let Ok(headers) = hpack.decode(&block) {
                        decoded.extend(headers.into_iter().map(|(name, value)| {
                            (
                                String::from_utf8_lossy(&name).to_lowercase(),
                                String::from_utf8_lossy(&value).into_owned(),
                            )
                        }));
                    }
                }
            }
        }
        decoded
    }
}

/// The header block fragment of a HEADERS/CONTINUATION frame (padding and priority removed).
fn fragment(kind: u8, flags: u8, payload: &[u8]) -> &[u8] {
    if kind != HEADERS {
        return payload;
    }
    let mut start = 0;
    let mut end = payload.len();
    if flags & PADDED != 0 {
        let pad = payload[0] as usize;
        start += 1;
        end -= pad;
    }
    if flags & PRIORITY != 0 {
        start += 5;
    }
    &payload[start..end]
}
