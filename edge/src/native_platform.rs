//! [`Platform`] for the work `origo` does natively with the functions' logic — the webhook
//! dispatchers ([`crate::webhook_dispatchers`]): the same key-value store the components use,
//! outbound HTTP through the same policy, the manifest's variables, the clock and the OS's
//! randomness. Requests to `origo.internal` are served in-process, as a component's are.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use origo_functions::coordinator::{RoomCommand, RoomCommandOutcome};
use origo_functions::{Platform, PlatformError};
use origo_manifest::AllowedHosts;
use origo_shared::RoomKey;
use tower::ServiceExt;

use crate::guarded_client::{DestinationError, GuardedClient, SystemResolver};
use crate::kv::{DEFAULT_STORE as STORE, KvBackend};
use crate::outbound::{INTERNAL_HOST, InProcessCall, InternalRouter};

/// Largest answer read from an endpoint.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Clone)]
pub struct NativePlatform {
    kv: KvBackend,
    http: Arc<GuardedClient>,
    vars: Arc<HashMap<String, String>>,
    internal: InternalRouter,
    allowed: Arc<AllowedHosts>,
}

impl NativePlatform {
    /// `allowed`: the outbound hosts of the component whose work this is (`notify`).
    pub fn new(
        kv: KvBackend,
        vars: Arc<HashMap<String, String>>,
        internal: InternalRouter,
        allowed: AllowedHosts,
    ) -> anyhow::Result<Self> {
        // The outbound destination policy of the deployment: every address checked, no redirect
        // followed, 5 s to connect, 15 s in all.
        let http = crate::guarded_client::for_deployment(&vars, Arc::new(SystemResolver), MAX_RESPONSE_BYTES)?;
        Ok(NativePlatform { kv, http: Arc::new(http), vars, internal, allowed: Arc::new(allowed) })
    }

    async fn in_process(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        let Some(router) = self.internal.get() else {
            return Err(PlatformError::Http("in-process router is not ready".into()));
        };
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(InProcessCall);
        let res = router
            .oneshot(http::Request::from_parts(parts, axum::body::Body::from(body)))
            .await
            .map_err(|e| PlatformError::Http(e.to_string()))?;
        let (parts, body) = res.into_parts();
        let body = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|_| PlatformError::Http("the in-process answer is too large".into()))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// True when `uri` names a scheme, host and port `hosts` allows.
fn allowed(hosts: &AllowedHosts, uri: &http::Uri) -> bool {
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme @ ("http" | "https")), Some(host)) if !host.is_empty() => {
            hosts.allows(scheme, host, uri.port_u16())
        }
        _ => false,
    }
}

fn store_error(e: crate::kv::KvError) -> PlatformError {
    PlatformError::Store(e.to_string())
}

impl Platform for NativePlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        self.kv.get(STORE, key).await.map_err(store_error)
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.kv.set(STORE, key, value).await.map_err(store_error)
    }
    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError> {
        self.kv.delete(STORE, key).await.map_err(store_error)
    }
    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        self.kv.keys_with_prefix(STORE, prefix).await.map_err(store_error)
    }
    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        let delta = i64::try_from(delta).map_err(|_| PlatformError::Store("counter step too large".into()))?;
        let next = self.kv.increment(STORE, key, delta).await.map_err(store_error)?;
        if next == delta {
            origo_functions::store::expiry::expire_at(self, key, self.now_ms().saturating_add(ttl_ms))
                .await
                .map_err(|e| PlatformError::Store(e.message))?;
        }
        u64::try_from(next).map_err(|_| PlatformError::Store(format!("counter {key} is negative")))
    }
    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        if req.uri().host().is_some_and(|h| h.eq_ignore_ascii_case(INTERNAL_HOST)) {
            return self.in_process(req).await;
        }
        if !allowed(&self.allowed, req.uri()) {
            tracing::warn!(host = req.uri().host().unwrap_or(""), "outbound request denied by allowed_outbound_hosts");
            return Err(PlatformError::HostNotAllowed);
        }
        match self.http.send(req).await {
            Ok(res) => Ok(res),
            Err(DestinationError::Refused(why)) => Err(PlatformError::Http(format!("refused: {why}"))),
            Err(e) => Err(PlatformError::Http(e.to_string())),
        }
    }
    fn variable(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
    fn random(&self, buf: &mut [u8]) {
        if getrandom03::fill(buf).is_err() {
            panic!("the operating system's random source is unavailable");
        }
    }
    async fn coordinator_send(&self, room: &RoomKey, _: &RoomCommand) -> Result<RoomCommandOutcome, PlatformError> {
        Err(PlatformError::Coordinator(format!(
            "room {}:{} is not reachable from a webhook dispatcher, which never commands rooms",
            room.org, room.room
        )))
    }
    async fn dispatcher_send(
        &self,
        org: &str,
        _: &origo_functions::webhook_delivery::DispatchCommand,
    ) -> Result<origo_functions::webhook_delivery::DispatchOutcome, PlatformError> {
        Err(PlatformError::Coordinator(format!("the dispatcher of {org} does not command itself")))
    }
}
