//! Reading and classifying HTTP responses, shared by the gateway protocols and the
//! `http_request` / `check_weather` activities, so "what is worth retrying" is decided once.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// What a status code means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseClass {
    Success,
    /// 401, 403: the credentials are wrong; retrying cannot help.
    Unauthorized,
    /// 404: the thing asked for does not exist.
    NotFound,
    /// Other 4xx (400, 405, 422, ...): the request itself is wrong.
    Rejected,
    /// 429: slow down, then retry.
    Throttled,
    /// 408, 409, 5xx and anything unexpected: a transient server-side condition.
    Unavailable,
}

impl ResponseClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, ResponseClass::Throttled | ResponseClass::Unavailable)
    }
}

pub fn classify_status(status: StatusCode) -> ResponseClass {
    match status.as_u16() {
        200..=299 => ResponseClass::Success,
        401 | 403 => ResponseClass::Unauthorized,
        404 => ResponseClass::NotFound,
        429 => ResponseClass::Throttled,
        408 | 409 => ResponseClass::Unavailable,
        400..=499 => ResponseClass::Rejected,
        _ => ResponseClass::Unavailable,
    }
}

/// A response read to the end (up to a cap), with what callers classify on.
pub struct Captured {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Captured {
    pub fn class(&self) -> ResponseClass {
        classify_status(self.status)
    }

    /// `<what>: HTTP 404 Not Found: <body excerpt>`.
    pub fn describe(&self, what: &str) -> String {
        format!("{what}: HTTP {}{}", self.status, body_excerpt(&self.body))
    }
}

/// The most of a response body the worker reads and keeps when it needs the whole body (gateway
/// answers, weather reports). Every OpenClaw answer it uses is a few KiB, and no activity result
/// may exceed Temporal's 2 MB payload limit anyway: a longer body means a wrong URL, a proxy's
/// page or a runaway server. Reading stops at the limit and the call fails, naming the URL and
/// the limit, instead of buffering without bound.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How much of a body to read, and what a longer one means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// The whole body is needed (e.g. to parse it): more than this many bytes is an error.
    Whole(usize),
    /// Only the beginning is used: read at most this many bytes and drop the rest unread.
    Prefix(usize),
}

/// Why no usable response arrived.
#[derive(Debug)]
pub enum ResponseError {
    /// No status line: connecting, sending or waiting for the answer failed or timed out.
    NoAnswer(reqwest::Error),
    /// The status line arrived, then the body broke off (reset, closed early, timed out).
    BodyBroken {
        status: StatusCode,
        error: reqwest::Error,
    },
    /// The body is longer than the caller's [`BodyLimit::Whole`]; reading stopped there.
    TooLarge { status: StatusCode, limit: usize },
}

impl ResponseError {
    pub fn is_timeout(&self) -> bool {
        match self {
            ResponseError::NoAnswer(error) | ResponseError::BodyBroken { error, .. } => {
                error.is_timeout()
            }
            ResponseError::TooLarge { .. } => false,
        }
    }

    /// What went wrong, in words a person can act on; callers prefix `<method> <url>: `.
    pub fn describe(&self) -> String {
        match self {
            ResponseError::NoAnswer(error) => describe_transport_error(error),
            ResponseError::BodyBroken { status, error } => format!(
                "HTTP {status}, then the response body broke off: {}",
                describe_transport_error(error)
            ),
            ResponseError::TooLarge { status, limit } => format!(
                "HTTP {status} with a response body larger than the {} the worker reads \
                 (MAX_BODY_BYTES); stopped reading there. Is the URL right?",
                format_bytes(*limit)
            ),
        }
    }
}

/// `2 MiB`, `64 KiB`, `100 bytes`.
pub fn format_bytes(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Sends the request and reads the body within `limit`.
pub async fn send(
    request: reqwest::RequestBuilder,
    limit: BodyLimit,
) -> Result<Captured, ResponseError> {
    let response = request.send().await.map_err(ResponseError::NoAnswer)?;
    capture(response, limit).await
}

/// Reads the body of a response that already arrived within `limit`.
pub async fn capture(
    response: reqwest::Response,
    limit: BodyLimit,
) -> Result<Captured, ResponseError> {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = read_body(response, limit).await?;
    Ok(Captured {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` as delta-seconds or an HTTP date; `None` when absent or unparsable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads the body chunk by chunk as (lossy) UTF-8, never keeping more than the limit: a
/// [`BodyLimit::Prefix`] drops the rest unread, a [`BodyLimit::Whole`] fails as soon as the
/// body (or its declared `Content-Length`) exceeds it.
async fn read_body(
    mut response: reqwest::Response,
    limit: BodyLimit,
) -> Result<String, ResponseError> {
    let status = response.status();
    let (max, whole) = match limit {
        BodyLimit::Whole(max) => (max, true),
        BodyLimit::Prefix(max) => (max, false),
    };
    let too_large = || ResponseError::TooLarge { status, limit: max };
    let declared = response.content_length().unwrap_or(0);
    if whole && declared > max as u64 {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => return Err(ResponseError::BodyBroken { status, error }),
        };
        let room = max - body.len();
        if whole && chunk.len() > room {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if !whole && body.len() == max {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A short, single-line excerpt of a response body for error messages.
pub fn body_excerpt(body: &str) -> String {
    const MAX_CHARS: usize = 300;
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return String::new();
    }
    let mut excerpt: String = flat.chars().take(MAX_CHARS).collect();
    if flat.chars().count() > MAX_CHARS {
        excerpt.push('…');
    }
    format!(": {excerpt}")
}

/// A transport failure in words a person can act on (without the error's long source chain).
pub fn describe_transport_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "response body failed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_follow_the_contract() {
        let class = |code| classify_status(StatusCode::from_u16(code).unwrap());
        assert_eq!(class(200), ResponseClass::Success);
        assert_eq!(class(204), ResponseClass::Success);
        for code in [401, 403] {
            assert_eq!(class(code), ResponseClass::Unauthorized);
        }
        assert_eq!(class(404), ResponseClass::NotFound);
        for code in [400, 405, 422] {
            assert_eq!(class(code), ResponseClass::Rejected);
        }
        assert_eq!(class(429), ResponseClass::Throttled);
        for code in [408, 409, 500, 502, 503, 504] {
            assert!(class(code).is_retryable(), "{code}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        assert_eq!(
            retry_after_at(&headers, now),
            Some(Duration::from_secs(120))
        );
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn excerpt_is_one_short_line() {
        assert_eq!(body_excerpt(""), "");
        assert_eq!(body_excerpt("Not\n Found"), ": Not Found");
        assert!(body_excerpt(&"x".repeat(1000)).chars().count() < 310);
    }
}
