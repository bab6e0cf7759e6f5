//! The guarded client: one `send` for every outbound request whose destination a customer or
//! a configuration chose.
//!
//! 1. The URL is judged without resolving ([`check_url`]): `https` unless the host is
//!    trusted, no local names, hosts written as addresses judged as the addresses they are.
//! 2. A name is resolved by the client's [`NameResolver`]; every address must pass the policy
//!    ([`check_resolved`]), else nothing is connected. The connector is given only the
//!    addresses that were checked, so what is connected to is what was judged (no second
//!    resolution in between). Trusted hosts resolve through the same resolver, unchecked,
//!    on a client of their own, so no pooled connection crosses from one to the other.
//! 3. Redirects are answered to the caller, never followed; no proxy from the environment
//!    is used; a connection gets 5 s, the whole request 15 s; the response body is read up to
//!    a cap.
//!
//! A refusal logs one warning with the scheme, host and reason (never the path, the query
//! or a header).

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use origo_shared::outbound_destination::{Refusal, TrustedHosts, check_resolved, check_url};

use crate::destination_error::DestinationError;
use crate::name_resolver::NameResolver;

/// Time to set up a connection (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for the whole request, from the first byte sent to the last byte of the body.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// Default cap on a response body (the same as `origo`'s `--max-response-kb`).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 << 20;

/// An HTTP client that reaches only destinations the outbound policy allows.
#[derive(Clone)]
pub struct GuardedClient {
    /// For destinations that are not trusted: its resolver checks every address.
    checked: reqwest::Client,
    /// For trusted destinations: the same resolver, no check.
    trusted_client: reqwest::Client,
    trusted: Arc<TrustedHosts>,
    max_response_bytes: usize,
}

impl std::fmt::Debug for GuardedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedClient")
            .field("trusted", &self.trusted)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl GuardedClient {
    /// A client trusting `trusted` and resolving names with `resolver`.
    pub fn new(trusted: TrustedHosts, resolver: Arc<dyn NameResolver>) -> Result<Self, DestinationError> {
        let build = |check: bool| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(CheckedResolve { inner: resolver.clone(), check }))
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(TIMEOUT)
                .build()
                .map_err(|e| DestinationError::Network(format!("cannot build the HTTP client: {e}")))
        };
        Ok(GuardedClient {
            checked: build(true)?,
            trusted_client: build(false)?,
            trusted: Arc::new(trusted),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// Reads response bodies up to `bytes` ([`DEFAULT_MAX_RESPONSE_BYTES`] otherwise).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The hosts this client trusts.
    pub fn trusted_hosts(&self) -> &TrustedHosts {
        &self.trusted
    }

    /// Sends `req` (an absolute URL) if the policy allows its destination, and reads the whole
    /// response. A redirect is returned as it came.
    pub async fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, DestinationError> {
        let uri = req.uri().clone();
        let destination = check_url(&uri.to_string(), &self.trusted).map_err(|r| refused(&uri, r))?;
        let client = if destination.trusted { &self.trusted_client } else { &self.checked };
        let (parts, body) = req.into_parts();
        let request = client
            .request(parts.method, destination.url)
            .headers(parts.headers)
            .body(body)
            .build()
            .map_err(|e| DestinationError::Network(e.without_url().to_string()))?;
        let mut res = client.execute(request).await.map_err(|e| failed(&uri, e))?;
        if res.content_length().is_some_and(|n| n > self.max_response_bytes as u64) {
            return Err(DestinationError::ResponseTooLarge(self.max_response_bytes));
        }
        let mut builder = http::Response::builder().status(res.status().as_u16());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(res.headers_mut());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| failed(&uri, e))? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(DestinationError::ResponseTooLarge(self.max_response_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body.freeze()).map_err(|e| DestinationError::Network(e.to_string()))
    }
}

/// Logs a refusal (scheme, host and reason only) and makes it the error.
fn refused(uri: &http::Uri, refusal: Refusal) -> DestinationError {
    tracing::warn!(
        scheme = uri.scheme_str().unwrap_or(""),
        host = uri.host().unwrap_or(""),
        reason = refusal.as_str(),
        "outbound request refused by the destination policy"
    );
    DestinationError::Refused(refusal)
}

/// Sorts a failed request into a refusal found by the resolver, a timeout or a network error.
fn failed(uri: &http::Uri, e: reqwest::Error) -> DestinationError {
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(PolicyRefusal(refusal)) = cause.downcast_ref::<PolicyRefusal>() {
            return refused(uri, refusal.clone());
        }
        source = cause.source();
    }
    if e.is_timeout() {
        return DestinationError::Timeout;
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    DestinationError::Network(text)
}

/// A resolved address the policy refuses, carried through the connector's error.
#[derive(Debug)]
struct PolicyRefusal(Refusal);

impl std::fmt::Display for PolicyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for PolicyRefusal {}

/// The connector's resolver: the client's [`NameResolver`], and, for untrusted destinations,
/// the policy over every address before any is handed to the connector.
struct CheckedResolve {
    inner: Arc<dyn NameResolver>,
    check: bool,
}

impl reqwest::dns::Resolve for CheckedResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.inner.resolve(name.as_str());
        let check = self.check;
        Box::pin(async move {
            let addrs = lookup.await?;
            if addrs.is_empty() {
                return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address").into());
            }
            if check {
                check_resolved(addrs.iter().copied()).map_err(PolicyRefusal)?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
