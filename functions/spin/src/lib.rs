//! [`Platform`](origo_functions::Platform) for components built with spin-sdk: key-value from
//! the component's `default` store, variables, outbound HTTP through `wasi:http`, the WASI clock
//! and random source. Runs under Spin itself and under the `origo` host alike.
//!
//! The coordinator stub is an HTTP call to [`COORDINATOR_BASE`]: the `origo` host serves
//! `http://origo.internal` in-process and hands the command to the room's coordinator (the
//! component's manifest must allow that host).
#![cfg(target_arch = "wasm32")]

use bytes::Bytes;
use origo_functions::coordinator::{RoomCommand, RoomCommandOutcome};
use origo_functions::{Platform, PlatformError, Request, Response};
use origo_shared::RoomKey;
use spin_sdk::key_value::Store;

/// The platform of a spin-sdk component.
pub struct SpinPlatform;

static PLATFORM: SpinPlatform = SpinPlatform;

/// Where room commands go: `{COORDINATOR_BASE}/{org}/{room}/commands`.
pub const COORDINATOR_BASE: &str = "http://origo.internal/internal/v1/rooms";

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

    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, body.to_vec());
        match spin_sdk::http::send::<_, http::Response<Vec<u8>>>(req).await {
            Ok(res) => Ok(res.map(Bytes::from)),
            Err(spin_sdk::http::SendError::Http(spin_sdk::http::ErrorCode::HttpRequestDenied)) => {
                Err(PlatformError::HostNotAllowed)
            }
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
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("{COORDINATOR_BASE}/{}/{}/commands", room.org, room.room))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body))
            .map_err(|e| failed(e.to_string()))?;
        let res = self.http_send(req).await?;
        if !res.status().is_success() {
            return Err(failed(format!("answered {}: {}", res.status(), String::from_utf8_lossy(res.body()))));
        }
        serde_json::from_slice(res.body()).map_err(|e| failed(format!("bad answer: {e}")))
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
