//! Compiles a component once and keeps the compiled artifact on disk, keyed by the hash of the
//! `.wasm` and of the engine's settings. A cached artifact that no longer fits the engine (a new
//! wasmtime, other settings) is recompiled.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache file for `wasm` under `engine`.
pub fn cache_path(engine: &Engine, id: &str, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut h = Sha256::new();
    h.update(wasm);
    h.update(engine_hash.finish().to_le_bytes());
    let digest: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("{id}-{digest}.cwasm"))
}

/// The compiled component for the `.wasm` at `source`.
// Loading a precompiled component is `unsafe` in wasmtime: this is one of the two places Origo
// allows it (the other is the media node's batched UDP I/O).
#[allow(unsafe_code)]
pub fn load(engine: &Engine, id: &str, source: &Path, cache_dir: &Path) -> anyhow::Result<Component> {
    let wasm = std::fs::read(source).with_context(|| {
        format!("cannot read component {id} from {} (build it first, or run `origo dev`)", source.display())
    })?;
    let cached = cache_path(engine, id, &wasm, cache_dir);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same program into our own
        // data directory; `deserialize_file` still checks version and settings compatibility.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => {
                tracing::debug!(component = id, path = %cached.display(), "loaded compiled component from cache");
                return Ok(c);
            }
            Err(e) => tracing::info!(component = id, "cached compilation unusable ({e}); recompiling"),
        }
    }
    let t0 = Instant::now();
    let component = Component::new(engine, &wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not a valid component", source.display()))?;
    tracing::info!(component = id, ms = t0.elapsed().as_millis() as u64, "compiled component");
    if let Err(e) = store(&component, &cached) {
        tracing::warn!(component = id, "cannot cache compiled component: {e:#}");
    }
    Ok(component)
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
