//! Runs the function components on wasmtime: one engine with the pooling allocator, each
//! component compiled once (and cached on disk), a fresh instance per request from its
//! `ProxyPre`, and hard bounds on memory, CPU time, wall time and body sizes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use origo_shared::{ApiError, ErrorCode};
use tokio::sync::oneshot;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, PoolingAllocationConfig, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::fair_share::FairShare;
use crate::host_state::HostState;
use crate::kv::KvBackend;
use crate::metrics::{Metrics, RequestLabels, TrapLabels};
use crate::outbound::{InternalRouter, OutboundHooks};
use crate::spin_interfaces;
use origo_manifest::AllowedHosts;
use origo_manifest::{self as manifest, Manifest};

/// How often the epoch advances; CPU deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Guest stdout/stderr kept per request (for the log when it fails).
const GUEST_OUTPUT_LIMIT: usize = 16 * 1024;

/// Bounds on every request a component serves.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory per instance.
    pub max_memory_bytes: usize,
    /// Time the guest may spend executing (epoch interruption).
    pub cpu_timeout: Duration,
    /// Total time for a request, including host calls and outbound HTTP.
    pub wall_timeout: Duration,
    pub max_request_body: usize,
    pub max_response_body: usize,
    /// Instances alive at once (the pool size).
    pub max_instances: u32,
    /// Instances one component may hold at once (0: half the pool).
    pub max_instances_per_component: u32,
    /// Requests one client may have in flight at once.
    pub max_in_flight_per_client: u32,
    /// How long a request may wait for an instance.
    pub queue_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 128 << 20,
            cpu_timeout: Duration::from_secs(2),
            wall_timeout: Duration::from_secs(30),
            max_request_body: 1 << 20,
            max_response_body: 8 << 20,
            max_instances: 64,
            max_instances_per_component: 0,
            max_in_flight_per_client: 16,
            queue_timeout: Duration::from_secs(2),
        }
    }
}

struct Loaded {
    id: Arc<str>,
    pre: ProxyPre<HostState>,
    variables: Arc<HashMap<String, String>>,
    stores: Arc<[String]>,
    allowed: Arc<AllowedHosts>,
}

/// Advances the engine's epoch until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("origo-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Everything needed to serve requests with the manifest's components.
pub struct FunctionHost {
    engine: Engine,
    components: HashMap<String, Loaded>,
    kv: KvBackend,
    limits: Limits,
    metrics: Arc<Metrics>,
    internal: InternalRouter,
    shares: FairShare,
    guard: crate::guarded_client::GuardedClient,
    _ticker: EpochTicker,
}

/// The engine configuration every host (and the compile cache) uses.
pub fn engine(limits: &Limits) -> anyhow::Result<Engine> {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true);
    cfg.epoch_interruption(true);
    let n = limits.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 4)
        .total_tables(n * 8)
        .total_stacks(n)
        .max_memory_size(limits.max_memory_bytes)
        .max_core_instances_per_component(32)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        // Reset small memories and tables by zeroing instead of madvise: a request's instance
        // touches little memory, and the syscalls cost more than the memset.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    cfg.allocation_strategy(pool);
    Engine::new(&cfg).map_err(anyhow::Error::from).context("cannot create the wasm engine")
}

impl FunctionHost {
    /// Compiles (or loads from `cache_dir`) and pre-instantiates every component of `manifest`.
    pub fn new(
        manifest: &Manifest,
        app_variables: &HashMap<String, String>,
        kv: KvBackend,
        limits: Limits,
        cache_dir: &Path,
        metrics: Arc<Metrics>,
        internal: InternalRouter,
    ) -> anyhow::Result<Self> {
        let engine = engine(&limits)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        spin_interfaces::key_value::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        spin_interfaces::variables::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        spin_interfaces::wasi_store::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        spin_interfaces::wasi_atomics::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;

        let mut components = HashMap::new();
        for c in &manifest.components {
            let component = crate::component_cache::load(&engine, &c.id, &c.source, cache_dir)?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component {} imports something the host does not provide", c.id))?;
            let pre = ProxyPre::new(pre)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component {} does not export wasi:http/incoming-handler", c.id))?;
            let mut variables = HashMap::new();
            for (name, template) in &c.variables {
                let value = manifest::expand_template(template, app_variables)
                    .map_err(|e| anyhow::anyhow!("component {}: variable {name}: {e}", c.id))?;
                variables.insert(name.clone(), value);
            }
            for store in &c.key_value_stores {
                anyhow::ensure!(crate::kv::valid_store_label(store), "component {}: bad store label {store:?}", c.id);
            }
            components.insert(
                c.id.clone(),
                Loaded {
                    id: c.id.as_str().into(),
                    pre,
                    variables: Arc::new(variables),
                    stores: c.key_value_stores.clone().into(),
                    allowed: Arc::new(c.allowed_outbound_hosts.clone()),
                },
            );
        }
        let ticker = EpochTicker::start(engine.clone());
        let shares = FairShare::new(
            limits.max_instances as usize,
            components.keys().cloned(),
            limits.max_instances_per_component as usize,
            limits.max_in_flight_per_client,
            limits.queue_timeout,
            app_variables.get("trusted_proxies").cloned().unwrap_or_default(),
        );
        let guard = crate::guarded_client::for_deployment(
            app_variables,
            Arc::new(crate::guarded_client::SystemResolver),
            limits.max_response_body,
        )?;
        Ok(FunctionHost { engine, components, kv, limits, metrics, internal, shares, guard, _ticker: ticker })
    }

    pub fn kv(&self) -> &KvBackend {
        &self.kv
    }

    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }

    /// Serves `req` with `component`. Never panics on guest behaviour; every failure is a
    /// JSON error response.
    pub async fn handle(&self, component: &str, req: http::Request<Body>) -> http::Response<Body> {
        let started = Instant::now();
        let label = Metrics::label(component);
        self.metrics.in_flight.inc();
        let res = match self.components.get(component) {
            Some(loaded) => self.invoke(loaded, req).await.unwrap_or_else(|e| error_response(&e)),
            None => error_response(&ApiError::not_found(format!("no component {component}"))),
        };
        self.metrics.in_flight.dec();
        self.metrics.request_seconds.get_or_create(&label).observe(started.elapsed().as_secs_f64());
        self.metrics
            .requests
            .get_or_create(&RequestLabels { component: component.to_owned(), status: res.status().as_u16() })
            .inc();
        res
    }

    async fn invoke(&self, loaded: &Loaded, req: http::Request<Body>) -> Result<http::Response<Body>, ApiError> {
        let (mut parts, body) = req.into_parts();
        let body = Limited::new(body, self.limits.max_request_body).collect().await.map_err(|_| {
            ApiError::payload_too_large(format!("request bodies are limited to {} bytes", self.limits.max_request_body))
        })?;
        let body = body.to_bytes();
        let hop: u8 = parts
            .headers
            .get(crate::outbound::HOP_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let request_id: Arc<str> =
            parts.headers.get(crate::request_id::HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").into();
        // wasi:http wants an absolute URI.
        if parts.uri.authority().is_none() {
            let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let pq = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
            parts.uri = format!("http://{host}{pq}")
                .parse()
                .map_err(|_| ApiError::bad_request("the request's Host header is not a valid authority"))?;
        }
        let req = http::Request::from_parts(parts, Full::new(body).map_err(wasmtime_wasi_http::Error::from));

        let client = self.shares.client_of(req.headers());
        let permit = match self.shares.admit(&loaded.id, client).await {
            Ok(ticket) => ticket,
            Err((why, e)) => {
                tracing::debug!(component = %loaded.id, share = why.as_str(), "request turned away: {}", e.message);
                self.metrics
                    .turned_away
                    .get_or_create(&crate::metrics::ShareLabels {
                        component: loaded.id.to_string(),
                        share: why.as_str().to_owned(),
                    })
                    .inc();
                return Err(e);
            }
        };

        let stdout = MemoryOutputPipe::new(GUEST_OUTPUT_LIMIT);
        let stderr = MemoryOutputPipe::new(GUEST_OUTPUT_LIMIT);
        let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                component: loaded.id.clone(),
                allowed: loaded.allowed.clone(),
                internal: self.internal.clone(),
                hop,
                request_id: request_id.clone(),
                guard: self.guard.clone(),
            },
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.max_memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            kv: self.kv.clone(),
            stores: loaded.stores.clone(),
            open_stores: 0,
            variables: loaded.variables.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // The guest yields to the runtime at every epoch tick, so a function that computes for
        // long (a password hash) never holds a worker thread the room sockets and the media
        // node share; it is stopped once it has run for the CPU limit's worth of ticks.
        let mut ticks_left = (self.limits.cpu_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks_left = ticks_left.saturating_sub(1);
            if ticks_left == 0 { Err(Trap::Interrupt.into()) } else { Ok(wasmtime::UpdateDeadline::Yield(1)) }
        });

        let (tx, rx) = oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| ApiError::bad_request(format!("request cannot be passed to the function: {e}")))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(tx)
            .map_err(|e| ApiError::internal(format!("cannot prepare the response: {e}")))?;

        let pre = loaded.pre.clone();
        let metrics = self.metrics.clone();
        let label = Metrics::label(&loaded.id);
        let task = tokio::spawn(async move {
            let _permit = permit;
            let t0 = Instant::now();
            let proxy = pre.instantiate_async(&mut store).await?;
            metrics.instantiate_seconds.get_or_create(&label).observe(t0.elapsed().as_secs_f64());
            metrics.instantiations.get_or_create(&label).inc();
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        });

        let max_response = self.limits.max_response_body;
        let outcome = tokio::time::timeout(self.limits.wall_timeout, async {
            match rx.await {
                Ok(Ok(res)) => {
                    let (parts, body) = res.into_parts();
                    match Limited::new(body, max_response).collect().await {
                        Ok(collected) => Ok(http::Response::from_parts(parts, Body::from(collected.to_bytes()))),
                        Err(e) => {
                            let too_large = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
                            Err(Failure::Body { too_large, message: e.to_string() })
                        }
                    }
                }
                Ok(Err(code)) => Err(Failure::GuestError(format!("{code:?}"))),
                Err(_) => Err(Failure::NoResponse),
            }
        })
        .await;

        let id = &loaded.id;
        match outcome {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(Failure::NoResponse)) => {
                // The guest dropped its response: it trapped or returned without answering.
                let err = match task.await {
                    Ok(Ok(())) => ApiError::new(ErrorCode::BadGateway, "the function returned without a response"),
                    Ok(Err(e)) => self.trap_error(id, &e, &stderr),
                    Err(join) => ApiError::internal(format!("function task failed: {join}")),
                };
                Err(err)
            }
            Ok(Err(Failure::GuestError(code))) => {
                tracing::warn!(component = %id, %code, "function answered with an error code");
                Err(ApiError::new(ErrorCode::BadGateway, "the function failed to produce a response"))
            }
            Ok(Err(Failure::Body { too_large: true, .. })) => {
                task.abort();
                self.count_trap(id, "response_too_large");
                tracing::warn!(component = %id, limit = max_response, "function response too large");
                Err(ApiError::new(
                    ErrorCode::BadGateway,
                    format!("the function's response exceeds {max_response} bytes"),
                ))
            }
            Ok(Err(Failure::Body { message, .. })) => {
                // The body broke off: usually a trap after the headers went out.
                let err = match task.await {
                    Ok(Err(e)) => self.trap_error(id, &e, &stderr),
                    _ => ApiError::new(ErrorCode::BadGateway, format!("the function's response broke off: {message}")),
                };
                Err(err)
            }
            Err(_) => {
                task.abort();
                self.count_trap(id, "wall_timeout");
                tracing::warn!(component = %id, timeout_ms = self.limits.wall_timeout.as_millis() as u64, "function timed out");
                Err(ApiError::new(ErrorCode::Timeout, "the function did not answer in time"))
            }
        }
        .inspect_err(|_| {
            let out = stdout.contents();
            if !out.is_empty() {
                tracing::debug!(component = %id, stdout = %String::from_utf8_lossy(&out), "guest output");
            }
        })
    }

    fn count_trap(&self, component: &str, kind: &str) {
        self.metrics.traps.get_or_create(&TrapLabels { component: component.to_owned(), kind: kind.to_owned() }).inc();
    }

    fn trap_error(&self, component: &str, e: &wasmtime::Error, stderr: &MemoryOutputPipe) -> ApiError {
        let guest_stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
        let (kind, err) = match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => (
                "cpu_timeout",
                ApiError::new(
                    ErrorCode::Timeout,
                    format!("the function exceeded its CPU time limit ({} ms)", self.limits.cpu_timeout.as_millis()),
                ),
            ),
            Some(trap) => ("trap", ApiError::new(ErrorCode::BadGateway, format!("the function failed: {trap}"))),
            None if format!("{e:?}").contains("growing memory") => (
                "memory_limit",
                ApiError::new(
                    ErrorCode::BadGateway,
                    format!("the function exceeded its memory limit ({} MiB)", self.limits.max_memory_bytes >> 20),
                ),
            ),
            None => ("error", ApiError::new(ErrorCode::BadGateway, "the function failed")),
        };
        self.count_trap(component, kind);
        tracing::warn!(component, kind, error = %format!("{e:#}").lines().next().unwrap_or(""), stderr = %guest_stderr.trim_end(), "function trapped");
        err
    }
}

enum Failure {
    NoResponse,
    GuestError(String),
    Body { too_large: bool, message: String },
}

/// The JSON error body as an axum response.
pub fn error_response(e: &ApiError) -> http::Response<Body> {
    let mut res = http::Response::new(Body::from(Bytes::from(e.to_json())));
    *res.status_mut() = http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    if let Some(secs) = e.retry_after_secs {
        res.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    res
}
