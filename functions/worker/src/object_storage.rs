//! Both ends of [`StorageOp`]s: the Worker's client, which sends one to the object that owns
//! the record, and the objects' side, which applies it to their transactional storage.

use worker::{Headers, Method, Request, RequestInit, Response, Storage, Stub};

use crate::bindings::OBJECT_BASE;
use crate::storage_protocol::{MAX_LIST, StorageOp, StorageReply};

/// The path objects serve storage operations on.
pub const PATH: &str = "/storage";

/// Sends `op` to the object behind `stub`; `headers` name the room, when it is a room's.
pub async fn call(stub: &Stub, headers: Headers, op: &StorageOp) -> Result<StorageReply, String> {
    let body = serde_json::to_string(op).map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("{OBJECT_BASE}{PATH}"), &init).map_err(|e| e.to_string())?;
    let mut res = stub.fetch_with_request(req).await.map_err(|e| e.to_string())?;
    let text = res.text().await.map_err(|e| e.to_string())?;
    if res.status_code() != 200 {
        return Err(format!("storage answered {}: {}", res.status_code(), text.chars().take(200).collect::<String>()));
    }
    serde_json::from_str(&text).map_err(|e| format!("bad storage answer: {e}"))
}

/// Applies `op` to `storage` when `owns(key)` (the object holds that record kind).
pub async fn serve(storage: &Storage, op: StorageOp, owns: impl Fn(&str) -> bool) -> worker::Result<Response> {
    if let Err(why) = op.validate() {
        return crate::http_bridge::error(origo_shared::ApiError::bad_request(why));
    }
    if !owns(op.key()) {
        return crate::http_bridge::error(origo_shared::ApiError::bad_request("this object does not hold that record"));
    }
    let reply = match op {
        StorageOp::Get { key } => StorageReply::Value { value: storage.get::<String>(&key).await? },
        StorageOp::Put { key, value } => {
            storage.put(&key, value).await?;
            StorageReply::Done
        }
        StorageOp::Delete { key } => {
            storage.delete(&key).await?;
            StorageReply::Done
        }
        StorageOp::List { prefix } => StorageReply::Entries { entries: list(storage, &prefix).await? },
        StorageOp::Increment { .. } => {
            return crate::http_bridge::error(origo_shared::ApiError::bad_request(
                "counters live in RateCounter objects",
            ));
        }
    };
    Response::from_json(&reply)
}

/// Every entry under `prefix`, in key order; refused beyond [`MAX_LIST`].
pub async fn list(storage: &Storage, prefix: &str) -> worker::Result<Vec<(String, String)>> {
    let opts = worker::ListOptions::new().prefix(prefix).limit(MAX_LIST + 1);
    let map = storage.list_with_options(opts).await?;
    let mut entries = Vec::with_capacity(map.size() as usize);
    for item in map.entries() {
        let pair: worker::js_sys::Array = item?.into();
        let (Some(key), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else { continue };
        entries.push((key, value));
    }
    if entries.len() > MAX_LIST {
        return Err(worker::Error::RustError(format!("more than {MAX_LIST} records under {prefix}")));
    }
    Ok(entries)
}
