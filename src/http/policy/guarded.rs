//! The HTTP client `http` steps go through: it resolves every host itself, checks every
//! address against the [`Policy`], and connects only to the addresses it checked — for the
//! first URL and for each redirect, which it follows itself (at most [`MAX_REDIRECTS`]).
//!
//! How "the address checked is the address connected" holds: reqwest resolves names through a
//! resolver we install, and that resolver answers only from the addresses pinned for the
//! request in flight (a task-local set around `send`); it never looks anything up, so a DNS
//! answer cannot change between the check and the connection. An IP-literal URL is not
//! resolved at all, and its literal is what was checked. There is no proxy (a proxy would
//! resolve and connect on its own) and no connection pool (a pooled connection was checked for
//! another URL), so every request opens its own connection to its own checked addresses.

use super::{Policy, Refusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Redirects followed per request, as reqwest's default policy did before.
pub const MAX_REDIRECTS: usize = 10;

/// The client `http` steps use; cheap to clone.
#[derive(Clone)]
pub struct GuardedClient {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

/// Why no response came back.
#[derive(Debug)]
pub struct GuardedError {
    pub kind: ErrorKind,
    /// The redirect target the error happened at; `None` for the URL asked for.
    pub redirected_to: Option<Url>,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// The policy refuses an address the URL leads to; nothing was sent there.
    Refused(Refusal),
    /// The host did not resolve.
    Unresolved { host: String, detail: String },
    /// The time given ran out before an answer (while resolving or waiting).
    TimedOut,
    /// Connecting, sending or waiting for the status line failed.
    NoAnswer(reqwest::Error),
    /// A redirect the client will not follow: too many, or not to an http(s) URL.
    BadRedirect(String),
}

impl GuardedError {
    /// In words a person can act on; callers prefix `<method> <url>: `.
    pub fn describe(&self) -> String {
        let detail = match &self.kind {
            ErrorKind::Refused(refusal) => {
                format!("refused by the http-step policy ([http] in the config): {refusal}")
            }
            ErrorKind::Unresolved { host, detail } => {
                format!("could not resolve {host} ({detail})")
            }
            ErrorKind::TimedOut => "timed out".to_owned(),
            ErrorKind::NoAnswer(err) => crate::http::response::describe_transport_error(err),
            ErrorKind::BadRedirect(detail) => detail.clone(),
        };
        match &self.redirected_to {
            Some(url) => format!("redirected to {url}: {detail}"),
            None => detail,
        }
    }
}

tokio::task_local! {
    /// The checked addresses of the request being sent on this task.
    static PINNED: Pinned;
}

struct Pinned {
    host: String,
    addrs: Vec<SocketAddr>,
}

/// Answers only with the addresses pinned for the request in flight; anything else is an
/// error, never a lookup.
struct PinnedResolver;

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_owned();
        let pinned = PINNED
            .try_with(|pinned| (pinned.host == name).then(|| pinned.addrs.clone()))
            .ok()
            .flatten();
        Box::pin(async move {
            let addrs = pinned.ok_or_else(|| {
                format!("{name}: no checked address to connect to (the http-step client resolves names itself)")
            })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A request body and its content type.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub content_type: &'static str,
    pub text: String,
}

impl GuardedClient {
    pub fn new(policy: Policy, user_agent: &str) -> reqwest::Result<GuardedClient> {
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .dns_resolver(Arc::new(PinnedResolver))
            .build()?;
        Ok(GuardedClient {
            http,
            policy: Arc::new(policy),
        })
    }

    /// Sends `method url` with its headers and body and returns the first response that is
    /// not a redirect, all within `timeout` (except reading the body, which the response's own
    /// timeout bounds).
    ///
    /// A redirect to another origin (scheme, host or port) drops `Authorization`, `Cookie` and
    /// every header marked sensitive (a step's header that carries a secret): a secret meant
    /// for one service must not follow a redirect to another, as curl and browsers do.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<RequestBody>,
        timeout: Duration,
    ) -> Result<reqwest::Response, GuardedError> {
        let deadline = Instant::now() + timeout;
        let (mut method, mut url, mut headers, mut body) = (method, url, headers, body);
        for hop in 0..=MAX_REDIRECTS {
            let at = |kind| GuardedError {
                kind,
                redirected_to: (hop > 0).then(|| url.clone()),
            };
            let response = self
                .send_once(method.clone(), &url, &headers, body.as_ref(), deadline)
                .await
                .map_err(at)?;
            let Some(next) = redirect_target(&url, &response).map_err(at)? else {
                return Ok(response);
            };
            let next_method = redirected_method(response.status(), method.clone());
            // A redirect that turns the request into a GET drops the body (as browsers and
            // curl do); 307/308 repeat the request, body included.
            if next_method != method {
                body = None;
            }
            if next.origin() != url.origin() {
                headers = without_credentials(headers);
            }
            method = next_method;
            url = next;
        }
        Err(GuardedError {
            kind: ErrorKind::BadRedirect(format!("more than {MAX_REDIRECTS} redirects")),
            redirected_to: Some(url),
        })
    }

    async fn send_once(
        &self,
        method: Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&RequestBody>,
        deadline: Instant,
    ) -> Result<reqwest::Response, ErrorKind> {
        let addrs = self.checked_addresses(url, deadline).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut);
        }
        let pinned = Pinned {
            host: url.host_str().unwrap_or_default().to_owned(),
            addrs,
        };
        let mut request = self.http.request(method, url.clone()).timeout(left);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, body.content_type)
                .body(body.text.clone());
        }
        // After the body's Content-Type: `headers` replaces a name already set, so a step's
        // own Content-Type wins.
        request = request.headers(headers.clone());
        PINNED
            .scope(pinned, request.send())
            .await
            .map_err(ErrorKind::NoAnswer)
    }

    /// Every address `url` leads to, each allowed by the policy; the first refusal otherwise.
    async fn checked_addresses(
        &self,
        url: &Url,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, ErrorKind> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(literal) => vec![SocketAddr::new(literal, port)],
            Err(_) => tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| ErrorKind::TimedOut)?
                .map_err(|err| ErrorKind::Unresolved {
                    host: host.to_owned(),
                    detail: err.to_string(),
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(ErrorKind::Unresolved {
                host: host.to_owned(),
                detail: "no addresses".into(),
            });
        }
        for addr in &addrs {
            self.policy
                .check(url, addr.ip())
                .map_err(ErrorKind::Refused)?;
        }
        Ok(addrs)
    }
}

/// The headers that may follow a redirect to another origin.
fn without_credentials(headers: HeaderMap) -> HeaderMap {
    headers
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .filter(|(name, value)| {
            !(value.is_sensitive() || *name == AUTHORIZATION || *name == COOKIE)
        })
        .collect()
}

/// Where a redirect response points, resolved against the URL it came from; `None` for a
/// response that is not one to follow (as reqwest: 301, 302, 303, 307, 308 with a Location).
fn redirect_target(from: &Url, response: &reqwest::Response) -> Result<Option<Url>, ErrorKind> {
    let followed = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308);
    let Some(location) = response.headers().get(LOCATION).filter(|_| followed) else {
        return Ok(None);
    };
    let status = response.status();
    let bad = |why: String| ErrorKind::BadRedirect(format!("HTTP {status}, {why}"));
    let location = location
        .to_str()
        .map_err(|_| bad("with a Location that is not text".into()))?;
    let next = from
        .join(location)
        .map_err(|err| bad(format!("to {location:?}, which is not a URL ({err})")))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(bad(format!("to {next}, which is not an http(s) URL")));
    }
    Ok(Some(next))
}

/// 301, 302 and 303 turn anything but GET and HEAD into a GET (what browsers and reqwest do);
/// 307 and 308 keep the method.
fn redirected_method(status: StatusCode, method: Method) -> Method {
    let keeps = matches!(status.as_u16(), 307 | 308) || method == Method::HEAD;
    if keeps { method } else { Method::GET }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_method_only_where_http_says_so() {
        let status = |code| StatusCode::from_u16(code).unwrap();
        assert_eq!(redirected_method(status(302), Method::POST), Method::GET);
        assert_eq!(redirected_method(status(303), Method::PUT), Method::GET);
        assert_eq!(redirected_method(status(301), Method::HEAD), Method::HEAD);
        assert_eq!(redirected_method(status(307), Method::POST), Method::POST);
        assert_eq!(
            redirected_method(status(308), Method::DELETE),
            Method::DELETE
        );
    }

    #[tokio::test]
    async fn the_resolver_never_answers_outside_a_checked_request() {
        let resolve = |name: &str| PinnedResolver.resolve(name.parse().unwrap());
        assert!(resolve("localhost").await.is_err());
        let pinned = Pinned {
            host: "localhost".into(),
            addrs: vec!["127.0.0.1:9".parse().unwrap()],
        };
        let (same, other) = PINNED
            .scope(pinned, async { (resolve("localhost"), resolve("other")) })
            .await;
        let addrs: Vec<SocketAddr> = same.await.unwrap().collect();
        assert_eq!(addrs, ["127.0.0.1:9".parse().unwrap()]);
        assert!(other.await.is_err());
    }
}
