//! The host side of `wasi:keyvalue/store` and `wasi:keyvalue/atomics@0.2.0-draft2`: buckets
//! are the same stores as `fermyon:spin/key-value` (the manifest's `key_value_stores`; the
//! bucket named `default` is the store `default`), and `increment` is atomic on both backends
//! ([`KvBackend::increment`]). Compare-and-swap is refused: nothing in Origo needs it, and a
//! component that tries gets an error rather than a swap that is not one.

use wasmtime::component::Resource;

use crate::host_state::{CasHandle, HostState, KvStoreHandle};
use crate::spin_interfaces::{wasi_atomics, wasi_store};

/// Most keys one `list-keys` page returns.
const LIST_PAGE: usize = 1000;

fn other(e: impl std::fmt::Display) -> wasi_store::Error {
    wasi_store::Error::Other(e.to_string())
}

impl HostState {
    fn bucket_label(&self, handle: &Resource<KvStoreHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.label.clone())
    }
}

impl wasi_store::Host for HostState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvStoreHandle>, wasi_store::Error>> {
        if !self.stores.contains(&identifier) {
            tracing::debug!(component = %self.hooks.component, label = identifier, "key-value bucket not allowed");
            return Ok(Err(wasi_store::Error::AccessDenied));
        }
        Ok(Ok(self.table.push(KvStoreHandle { label: identifier })?))
    }
}

impl wasi_store::HostBucket for HostState {
    async fn get(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.kv.get(&label, &key).await.map_err(other))
    }

    async fn set(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.kv.set(&label, &key, &value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.kv.delete(&label, &key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.kv.exists(&label, &key).await.map_err(other))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        let mut keys = match self.kv.keys_with_prefix(&label, "").await {
            Ok(k) => k,
            Err(e) => return Ok(Err(other(e))),
        };
        keys.sort();
        let start = cursor.map_or(0, |c| keys.partition_point(|k| *k <= c));
        let page: Vec<String> = keys.iter().skip(start).take(LIST_PAGE).cloned().collect();
        let cursor = (start + page.len() < keys.len()).then(|| page.last().cloned()).flatten();
        Ok(Ok(wasi_store::KeyResponse { keys: page, cursor }))
    }

    async fn drop(&mut self, bucket: Resource<KvStoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl wasi_atomics::Host for HostState {
    async fn increment(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.kv.increment(&label, &key, delta).await.map_err(other))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        _value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_atomics::CasError>> {
        self.table.delete(cas)?;
        Ok(Err(wasi_atomics::CasError::StoreError(other("compare-and-swap is not supported by this host"))))
    }
}

impl wasi_atomics::HostCas for HostState {
    async fn new(
        &mut self,
        bucket: Resource<KvStoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_store::Error>> {
        let label = self.bucket_label(&bucket)?;
        let seen = match self.kv.get(&label, &key).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(other(e))),
        };
        Ok(Ok(self.table.push(CasHandle { label, key, seen })?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let c = self.table.get(&cas)?;
        let _ = (&c.label, &c.key);
        Ok(Ok(c.seen.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
