//! What one component instance sees of the host during one request: WASI, wasi:http with the
//! outbound policy, the key-value stores it may open, its variables and its resource limits.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::KvBackend;
use crate::outbound::OutboundHooks;

/// An open `fermyon:spin/key-value` store handle.
pub struct KvStoreHandle {
    pub label: String,
}

/// A `wasi:keyvalue/atomics` compare-and-swap handle: the key and the value it saw.
pub struct CasHandle {
    pub label: String,
    pub key: String,
    pub seen: Option<Vec<u8>>,
}

pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub kv: KvBackend,
    /// Store labels this component may open.
    pub stores: Arc<[String]>,
    /// Store handles currently open.
    pub open_stores: usize,
    /// This component's variables, already expanded.
    pub variables: Arc<HashMap<String, String>>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
