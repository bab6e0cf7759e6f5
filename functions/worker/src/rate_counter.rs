//! Rate-limit counters on Workers: one Durable Object per counter (`rate:…` key), so every
//! Worker isolate counts into the same place, one at a time — Workers KV could do neither (it
//! is eventually consistent and takes one write a second per key). The object keeps its count
//! in storage and deletes everything at its alarm, when the counter's window is over.

use worker::{DurableObject, Env, Method, Request, Response, ScheduledTime, State, durable_object};

use crate::http_bridge::error;
use crate::object_storage;
use crate::storage_protocol::{StorageOp, StorageReply};
use origo_shared::ApiError;

const COUNT: &str = "count";

#[durable_object]
pub struct RateCounter {
    state: State,
}

impl DurableObject for RateCounter {
    fn new(state: State, _env: Env) -> Self {
        RateCounter { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() != Method::Post || req.path() != object_storage::PATH {
            return error(ApiError::not_found("no such route"));
        }
        let Ok(StorageOp::Increment { key, delta, ttl_ms }) = req.json::<StorageOp>().await else {
            return error(ApiError::bad_request("a counter object takes only increments"));
        };
        if !key.starts_with("rate:") || key.len() > 256 {
            return error(ApiError::bad_request("not a counter key"));
        }
        let storage = self.state.storage();
        let current: u64 = storage.get::<u64>(COUNT).await?.unwrap_or(0);
        let next = current.saturating_add(delta);
        storage.put(COUNT, next).await?;
        if storage.get_alarm().await?.is_none() {
            let at = worker::Date::now().as_millis().saturating_add(ttl_ms.max(1_000));
            let date = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at as f64));
            storage.set_alarm(ScheduledTime::new(date)).await?;
        }
        Response::from_json(&StorageReply::Count { value: next })
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.state.storage().delete_all().await?;
        Response::ok("")
    }
}
