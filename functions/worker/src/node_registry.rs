//! The node registry on Workers: one Durable Object holding every media and TURN node's last
//! heartbeat (`node:{id}`). Heartbeats arrive every few seconds from each node and every join
//! reads the registry, so it needs what Workers KV cannot give — reads that see the last write
//! at once, and more than one write per second to a key — and one object gives both.

use worker::{DurableObject, Env, Method, Request, Response, State, durable_object};

use crate::http_bridge::error;
use crate::object_storage;
use crate::storage_protocol::StorageOp;
use origo_functions::store::home::{Home, home};
use origo_shared::ApiError;

#[durable_object]
pub struct NodeRegistry {
    state: State,
}

impl DurableObject for NodeRegistry {
    fn new(state: State, _env: Env) -> Self {
        NodeRegistry { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() != Method::Post || req.path() != object_storage::PATH {
            return error(ApiError::not_found("no such route"));
        }
        let op: StorageOp = match req.json().await {
            Ok(op) => op,
            Err(e) => return error(ApiError::bad_request(format!("not a storage operation: {e}"))),
        };
        object_storage::serve(&self.state.storage(), op, |key| home(key) == Home::Registry).await
    }
}
