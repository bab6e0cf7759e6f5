//! [`Platform`](origo_functions::Platform) for components built with spin-sdk: key-value from
//! the component's `default` store, variables, outbound HTTP through `wasi:http`, the WASI clock
//! and random source. Runs under Spin itself and under the `origo` host alike.
#![cfg(target_arch = "wasm32")]

use bytes::Bytes;
use origo_functions::{Platform, PlatformError, Request, Response};
use spin_sdk::key_value::Store;

/// The platform of a spin-sdk component.
pub struct SpinPlatform;

static PLATFORM: SpinPlatform = SpinPlatform;

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
