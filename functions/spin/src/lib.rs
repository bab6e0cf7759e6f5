//! [`Platform`](origo_functions::Platform) for components built with spin-sdk: key-value from
//! the component's `default` store, variables, outbound HTTP through `wasi:http`, the WASI clock
//! and random source. Runs under Spin itself and under the `origo` host alike.
//!
//! The coordinator stub is an HTTP call to the room coordinators' command route. Under `origo`
//! that is [`IN_PROCESS_COORDINATORS`], which the host serves in-process. Under Spin, which runs
//! no coordinators, the `coordinator_internal_url` variable names the `origo coordinator`
//! processes beside it, and the call carries the deployment's `node_secret` as a bearer token.
//! The component's manifest must allow the host either way.
#![cfg(target_arch = "wasm32")]

use bytes::Bytes;
use origo_functions::coordinator::{RoomCommand, RoomCommandOutcome};
use origo_functions::webhook_delivery::{DispatchCommand, DispatchOutcome};
use origo_functions::{Platform, PlatformError, Request, Response};
use origo_shared::RoomKey;
use spin_sdk::key_value::Store;

/// The platform of a spin-sdk component.
pub struct SpinPlatform;

static PLATFORM: SpinPlatform = SpinPlatform;

/// The coordinators of the `origo` host, in-process.
pub const IN_PROCESS_COORDINATORS: &str = "http://origo.internal";

/// The command route of a room's coordinator, under the coordinators' base URL.
fn command_url(base: &str, room: &RoomKey) -> String {
    format!("{}/internal/v1/rooms/{}/{}/commands", base.trim_end_matches('/'), room.org, room.room)
}

/// A variable that is set and not blank.
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn store() -> Result<Store, PlatformError> {
    Store::open_default().map_err(|e| PlatformError::Store(e.to_string()))
}

impl Platform for SpinPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        store()?.get(key).map_err(|e| PlatformError::Store(e.to_string()))
    }

    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        store()?.set(key, value).map_err(|e| PlatformError::Store(e.to_string()))
    }

    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError> {
        store()?.delete(key).map_err(|e| PlatformError::Store(e.to_string()))
    }

    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        let keys = store()?.get_keys().map_err(|e| PlatformError::Store(e.to_string()))?;
        Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
    }

    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        // `wasi:keyvalue/atomics` (Spin 3, and `origo`): one atomic increment on the default
        // store; it has no expiry, so a new counter is given to the sweep.
        use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};
        let failed = |e: wasi_store::Error| PlatformError::Store(format!("{e:?}"));
        let bucket = wasi_store::open("default").map_err(failed)?;
        let delta_i = i64::try_from(delta).map_err(|_| PlatformError::Store("counter delta too large".into()))?;
        let next = atomics::increment(&bucket, key, delta_i).map_err(failed)?;
        if next == delta_i {
            origo_functions::store::expiry::expire_at(self, key, self.now_ms().saturating_add(ttl_ms))
                .await
                .map_err(|e| PlatformError::Store(e.message))?;
        }
        Ok(u64::try_from(next).unwrap_or(0))
    }

    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, body.to_vec());
        match spin_sdk::http::send::<_, http::Response<Vec<u8>>>(req).await {
            Ok(res) => Ok(res.map(Bytes::from)),
            // Denied by the manifest, or by the host's destination policy (`origo`).
            Err(spin_sdk::http::SendError::Http(
                spin_sdk::http::ErrorCode::HttpRequestDenied | spin_sdk::http::ErrorCode::DestinationIpProhibited,
            )) => Err(PlatformError::HostNotAllowed),
            Err(e) => Err(PlatformError::Http(e.to_string())),
        }
    }

    fn variable(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }

    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    async fn coordinator_send(
        &self,
        room: &RoomKey,
        command: &RoomCommand,
    ) -> Result<RoomCommandOutcome, PlatformError> {
        let failed = |e: String| PlatformError::Coordinator(e);
        let body = serde_json::to_vec(command).map_err(|e| failed(e.to_string()))?;
        let base = non_empty(self.variable("coordinator_internal_url"));
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(command_url(base.as_deref().unwrap_or(IN_PROCESS_COORDINATORS), room))
            .header(http::header::CONTENT_TYPE, "application/json");
        if base.is_some() {
            // Coordinators in other processes take commands only from the deployment.
            let secret = non_empty(self.variable("node_secret"))
                .ok_or_else(|| failed("coordinator_internal_url is set but node_secret is not".into()))?;
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {secret}"));
        }
        let req = req.body(Bytes::from(body)).map_err(|e| failed(e.to_string()))?;
        let res = self.http_send(req).await?;
        origo_functions::platform::coordinator_answer(res.status().as_u16(), res.body())
    }

    async fn dispatcher_send(&self, org: &str, command: &DispatchCommand) -> Result<DispatchOutcome, PlatformError> {
        let failed = |e: String| PlatformError::Coordinator(e);
        let body = serde_json::to_vec(command).map_err(|e| failed(e.to_string()))?;
        // The dispatchers run where the coordinators do.
        let base = non_empty(self.variable("coordinator_internal_url"));
        let url = format!(
            "{}{}",
            base.as_deref().unwrap_or(IN_PROCESS_COORDINATORS).trim_end_matches('/'),
            origo_functions::webhook_delivery::command::path(org)
        );
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(url)
            .header(http::header::CONTENT_TYPE, "application/json");
        if base.is_some() {
            let secret = non_empty(self.variable("node_secret"))
                .ok_or_else(|| failed("coordinator_internal_url is set but node_secret is not".into()))?;
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {secret}"));
        }
        let req = req.body(Bytes::from(body)).map_err(|e| failed(e.to_string()))?;
        let res = self.http_send(req).await?;
        origo_functions::platform::dispatcher_answer(res.status().as_u16(), res.body())
    }

    fn random(&self, buf: &mut [u8]) {
        // wasi:random never fails on a conforming host; a failure leaves no safe fallback.
        if getrandom03::fill(buf).is_err() {
            panic!("wasi:random is unavailable");
        }
    }
}

/// Adapts a spin-sdk request to an origo-functions handler and back.
pub async fn serve<F, Fut>(req: http::Request<Vec<u8>>, handler: F) -> http::Response<Vec<u8>>
where
    F: FnOnce(Request, &'static SpinPlatform) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let (parts, body) = req.into_parts();
    let res = handler(http::Request::from_parts(parts, Bytes::from(body)), &PLATFORM).await;
    res.map(|b| b.to_vec())
}
