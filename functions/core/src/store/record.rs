//! Reading and writing single records: JSON values (or short text values such as an index's
//! id) in the key-value store, a host failure becoming a 503 so every caller can `?` it.

use origo_shared::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::platform::{Platform, PlatformExt};
use crate::reply::unavailable;

/// The JSON record at `key`.
pub async fn get<T: DeserializeOwned>(p: &impl Platform, key: &str) -> Result<Option<T>, ApiError> {
    p.kv_get_json(key).await.map_err(unavailable)
}

/// Writes the JSON record at `key`.
pub async fn put<T: Serialize>(p: &impl Platform, key: &str, value: &T) -> Result<(), ApiError> {
    p.kv_set_json(key, value).await.map_err(unavailable)
}

/// The text value at `key` (an index entry).
pub async fn get_text(p: &impl Platform, key: &str) -> Result<Option<String>, ApiError> {
    Ok(p.kv_get(key).await.map_err(unavailable)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Writes a text value at `key`.
pub async fn put_text(p: &impl Platform, key: &str, value: &str) -> Result<(), ApiError> {
    p.kv_set(key, value.as_bytes()).await.map_err(unavailable)
}

/// True when something is stored at `key`.
pub async fn exists(p: &impl Platform, key: &str) -> Result<bool, ApiError> {
    Ok(p.kv_get(key).await.map_err(unavailable)?.is_some())
}

/// Deletes `key` (no error when absent).
pub async fn delete(p: &impl Platform, key: &str) -> Result<(), ApiError> {
    p.kv_delete(key).await.map_err(unavailable)
}

/// Every key under `prefix`, sorted.
pub async fn keys(p: &impl Platform, prefix: &str) -> Result<Vec<String>, ApiError> {
    let mut keys = p.kv_keys(prefix).await.map_err(unavailable)?;
    keys.sort();
    Ok(keys)
}
