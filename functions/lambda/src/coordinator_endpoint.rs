//! Where the coordinator stub sends room commands: the internal base URL of the `origo`
//! coordinator processes and the node secret they accept. Building the request and reading
//! the answer are pure; [`crate::platform`] sends it.

use bytes::Bytes;
use origo_functions::PlatformError;
use origo_functions::coordinator::{RoomCommand, RoomCommandOutcome};
use origo_functions::webhook_delivery::DispatchCommand;
use origo_shared::RoomKey;

/// The coordinators' internal endpoint.
#[derive(Clone)]
pub struct CoordinatorEndpoint {
    base: String,
    node_secret: String,
}

impl std::fmt::Debug for CoordinatorEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorEndpoint").field("base", &self.base).finish_non_exhaustive()
    }
}

impl CoordinatorEndpoint {
    /// Checks `base` (`http(s)://host[:port][/path]`, no query or fragment) and keeps it
    /// without a trailing slash. The node secret must not be empty.
    pub fn new(base: &str, node_secret: &str) -> Result<Self, String> {
        let uri: http::Uri = base.trim().parse().map_err(|e| format!("coordinator_internal_url {base:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("coordinator_internal_url {base:?} must be an http:// or https:// URL"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("coordinator_internal_url {base:?} has no host"));
        }
        if uri.query().is_some() || base.contains('#') {
            return Err(format!("coordinator_internal_url {base:?} must not have a query or fragment"));
        }
        if node_secret.is_empty() {
            return Err("node_secret is empty: the coordinators accept commands only with it".to_owned());
        }
        Ok(CoordinatorEndpoint {
            base: base.trim().trim_end_matches('/').to_owned(),
            node_secret: node_secret.to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The `POST …/internal/v1/rooms/{org}/{room}/commands` carrying `command`.
    pub fn request(&self, room: &RoomKey, command: &RoomCommand) -> Result<http::Request<Bytes>, PlatformError> {
        let failed = |e: String| PlatformError::Coordinator(e);
        let body = serde_json::to_vec(command).map_err(|e| failed(e.to_string()))?;
        http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("{}/internal/v1/rooms/{}/{}/commands", self.base, room.org, room.room))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, format!("Bearer {}", self.node_secret))
            .body(Bytes::from(body))
            .map_err(|e| failed(e.to_string()))
    }

    /// The `POST …/internal/v1/webhooks/{org}/commands` carrying `command` to the
    /// organisation's webhook dispatcher, which runs in the same processes.
    pub fn dispatcher_request(
        &self,
        org: &str,
        command: &DispatchCommand,
    ) -> Result<http::Request<Bytes>, PlatformError> {
        let failed = |e: String| PlatformError::Coordinator(e);
        let body = serde_json::to_vec(command).map_err(|e| failed(e.to_string()))?;
        http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("{}{}", self.base, origo_functions::webhook_delivery::command::path(org)))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, format!("Bearer {}", self.node_secret))
            .body(Bytes::from(body))
            .map_err(|e| failed(e.to_string()))
    }

    /// The outcome in the coordinator's answer.
    pub fn outcome(res: &http::Response<Bytes>) -> Result<RoomCommandOutcome, PlatformError> {
        origo_functions::platform::coordinator_answer(res.status().as_u16(), res.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host() {
        assert_eq!(CoordinatorEndpoint::new("http://10.0.0.5:8080/", "s").unwrap().base(), "http://10.0.0.5:8080");
        assert!(CoordinatorEndpoint::new("https://rooms.internal/base", "s").is_ok());
        for bad in ["", "rooms.internal", "ftp://x", "file:///etc/passwd", "http://x?y=1", "http://x/#f", "http:///p"] {
            assert!(CoordinatorEndpoint::new(bad, "s").is_err(), "{bad}");
        }
        assert!(CoordinatorEndpoint::new("http://x", "").is_err());
    }

    #[test]
    fn request_and_outcome() {
        let e = CoordinatorEndpoint::new("http://c:1", "sekret").unwrap();
        let cmd = RoomCommand::Close { reason: "deleted".into() };
        let req = e.request(&RoomKey::new("public", "standup"), &cmd).unwrap();
        assert_eq!(req.uri(), "http://c:1/internal/v1/rooms/public/standup/commands");
        assert_eq!(req.headers()["authorization"], "Bearer sekret");
        assert!(!format!("{e:?}").contains("sekret"), "the secret is never printed");
        let ok = http::Response::new(Bytes::from_static(br#"{"outcome":"applied"}"#));
        assert_eq!(CoordinatorEndpoint::outcome(&ok).unwrap(), RoomCommandOutcome::Applied);
        let mut refused = http::Response::new(Bytes::from_static(b"{}"));
        *refused.status_mut() = http::StatusCode::NOT_FOUND;
        assert!(CoordinatorEndpoint::outcome(&refused).is_err());
        assert!(CoordinatorEndpoint::outcome(&http::Response::new(Bytes::from_static(b"nope"))).is_err());
    }
}
