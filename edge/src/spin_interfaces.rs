//! The host side of `fermyon:spin/key-value@2.0.0` and `fermyon:spin/variables@2.0.0`; the
//! bindings of `wasi:keyvalue@0.2.0-draft2` are generated here too and implemented in
//! [`crate::wasi_keyvalue`].

use wasmtime::component::Resource;

use crate::host_state::{HostState, KvStoreHandle};

wasmtime::component::bindgen!({
    path: "wit",
    world: "origo-host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::host_state::KvStoreHandle,
        "wasi:keyvalue/store.bucket": crate::host_state::KvStoreHandle,
        "wasi:keyvalue/atomics.cas": crate::host_state::CasHandle,
    },
});

pub use fermyon::spin::{key_value, variables};
pub use wasi::keyvalue::{atomics as wasi_atomics, store as wasi_store};

/// Most stores one instance may hold open at once.
const MAX_OPEN_STORES: usize = 16;

fn other(e: impl std::fmt::Display) -> key_value::Error {
    key_value::Error::Other(e.to_string())
}

impl HostState {
    fn store_label(&self, handle: &Resource<KvStoreHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.label.clone())
    }
}

impl key_value::HostStore for HostState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvStoreHandle>, key_value::Error>> {
        if !self.stores.contains(&label) {
            tracing::debug!(component = %self.hooks.component, label, "key-value store not allowed");
            return Ok(Err(key_value::Error::AccessDenied));
        }
        if self.open_stores >= MAX_OPEN_STORES {
            return Ok(Err(key_value::Error::StoreTableFull));
        }
        self.open_stores += 1;
        Ok(Ok(self.table.push(KvStoreHandle { label })?))
    }

    async fn get(
        &mut self,
        store: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, key_value::Error>> {
        let label = self.store_label(&store)?;
        Ok(self.kv.get(&label, &key).await.map_err(other))
    }

    async fn set(
        &mut self,
        store: Resource<KvStoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        let label = self.store_label(&store)?;
        Ok(self.kv.set(&label, &key, &value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        store: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        let label = self.store_label(&store)?;
        Ok(self.kv.delete(&label, &key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        store: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, key_value::Error>> {
        let label = self.store_label(&store)?;
        Ok(self.kv.exists(&label, &key).await.map_err(other))
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, key_value::Error>> {
        let label = self.store_label(&store)?;
        Ok(self.kv.keys(&label).await.map_err(other))
    }

    async fn drop(&mut self, store: Resource<KvStoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.open_stores = self.open_stores.saturating_sub(1);
        Ok(())
    }
}

impl key_value::Host for HostState {}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(self.variables.get(&name).cloned().ok_or(variables::Error::Undefined(name)))
    }
}
