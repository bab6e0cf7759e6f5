//! Outbound HTTP from the functions: only to the routed component's
//! `allowed_outbound_hosts`, and then through the guarded client (`origo-guarded-client`):
//! `https` unless the host is in `outbound_trusted_hosts`, every resolved address checked and
//! the connection made only to a checked address. Requests to the URLs the deployment itself
//! configured (the coordinators, [`Outbound::fetch`]) go out directly. Neither follows
//! redirects (a redirect could lead anywhere); both have a timeout and a limit on the
//! response's size.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use origo_functions::PlatformError;
use origo_guarded_client::{DestinationError, GuardedClient, SystemResolver, TrustedHosts};
use origo_manifest::AllowedHosts;

/// Largest response body read (the same default as `origo`'s `--max-response-kb`).
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// Whole-request timeout.
pub const TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// True when `uri` names a scheme, host and port that `allowed` lets a component call.
pub fn allowed(allowed: &AllowedHosts, uri: &http::Uri) -> bool {
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme @ ("http" | "https")), Some(host)) if !host.is_empty() => {
            allowed.allows(scheme, host, uri.port_u16())
        }
        _ => false,
    }
}

/// The HTTP client of one Lambda instance.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    guard: GuardedClient,
}

impl Outbound {
    /// The client of a deployment trusting `trusted`.
    pub fn new(trusted: TrustedHosts) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let guard = GuardedClient::new(trusted, Arc::new(SystemResolver))
            .map_err(anyhow::Error::msg)?
            .with_max_response_bytes(MAX_RESPONSE_BYTES);
        Ok(Outbound { client, guard })
    }

    /// Sends `req` for a component that may reach `hosts`, if the destination policy allows it
    /// (refusals are [`PlatformError::HostNotAllowed`]).
    pub async fn send(
        &self,
        hosts: &AllowedHosts,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, PlatformError> {
        if !allowed(hosts, req.uri()) {
            tracing::warn!(host = req.uri().host().unwrap_or(""), "outbound request denied by allowed_outbound_hosts");
            return Err(PlatformError::HostNotAllowed);
        }
        self.guard.send(req).await.map_err(|e| match e {
            DestinationError::Refused(_) => PlatformError::HostNotAllowed,
            other => PlatformError::Http(other.to_string()),
        })
    }

    /// Sends `req` to a URL the deployment itself configured (the coordinators).
    pub(crate) async fn fetch(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        let failed = |e: reqwest::Error| PlatformError::Http(e.without_url().to_string());
        let req = reqwest::Request::try_from(req).map_err(failed)?;
        let mut res = self.client.execute(req).await.map_err(failed)?;
        if res.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(PlatformError::Http(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        let mut builder = http::Response::builder().status(res.status().as_u16());
        for (name, value) in res.headers() {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = res.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(PlatformError::Http(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body.freeze()).map_err(|e| PlatformError::Http(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts_with_a_scheme() {
        let hosts = AllowedHosts::parse(&["https://*.partner.test".to_owned()]).unwrap();
        assert!(allowed(&hosts, &"https://hooks.partner.test/x".parse().unwrap()));
        assert!(!allowed(&hosts, &"http://hooks.partner.test/x".parse().unwrap()));
        assert!(!allowed(&hosts, &"https://partner.test/x".parse().unwrap()));
        assert!(!allowed(&hosts, &"/relative".parse().unwrap()));
        assert!(!allowed(&AllowedHosts::default(), &"https://example.com".parse().unwrap()));
    }
}
