//! The HTTP server: binds, wires the function host into the router, and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use origo_shared::ApiError;
use serde_json::json;
use tokio::net::TcpListener;

use crate::config::{CoordinatorOptions, Mode, RoomOptions, ServeOptions};
use crate::function_host::{FunctionHost, error_response};
use crate::http_error::HttpError;
use crate::kv::KvBackend;
use crate::metrics::Metrics;
use crate::metrics_listener::MetricsListener;
use crate::outbound::InternalRouter;
use origo_manifest::Manifest;
use origo_manifest::RouteTable;

/// What the handlers share.
struct AppState {
    mode: Mode,
    turn: Option<crate::dev_nodes::turn::TurnNode>,
    media: Option<origo_media_node::node::Running>,
    started: Instant,
    /// `None` for `origo coordinator`, which keeps nothing on disk.
    data_dir: Option<PathBuf>,
    kv: KvBackend,
    /// `None` for `origo coordinator`, which serves no function.
    functions: Option<FunctionHost>,
    routes: RouteTable,
    /// What the request URL given to the functions (`spin-full-url`) is built on.
    request_base: crate::public_url::RequestBase,
    /// The sweep's timer, when the functions run here and a node secret is set.
    sweep: Option<crate::sweep_timer::SweepTimer>,
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    /// `/metrics`, on its own address (`--metrics-listen`), when asked for.
    metrics: Option<MetricsListener>,
    router: Router,
    state: Arc<AppState>,
}

impl Server {
    /// Prepares the data directory, storage and the function components, then binds.
    pub async fn bind(mode: Mode, opts: &ServeOptions) -> anyhow::Result<Self> {
        opts.rooms.check_advertise(opts.listen, opts.redis.is_some()).map_err(anyhow::Error::msg)?;
        let data_dir = opts.data_dir.clone();
        tokio::fs::create_dir_all(&data_dir)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;

        let manifest = Manifest::load(&opts.manifest)?;
        if mode == Mode::Dev && !opts.no_build {
            let m = manifest.clone();
            tokio::task::spawn_blocking(move || crate::component_build::build_stale(&m)).await??;
        }
        let mut variables = crate::variables::provided(&opts.vars);
        if mode == Mode::Dev {
            crate::variables::fill_dev_secrets(&manifest, &data_dir, &mut variables)?;
            crate::variables::fill_dev_operator(&data_dir, &mut variables)?;
        }
        let provided = variables.clone();
        let mut variables = manifest.resolve_variables(&variables)?;
        let turn = match (mode, variables.get("turn_secret"), opts.turn_listen.as_str()) {
            (Mode::Dev, Some(secret), listen) if listen != "off" => {
                let addr: SocketAddr = listen.parse().with_context(|| format!("--turn-listen {listen:?}"))?;
                let node = crate::dev_nodes::turn::start(addr, secret, &data_dir)?;
                tracing::info!(udp = ?node.listening.udp, "in-process TURN server ready");
                Some(node)
            }
            _ => None,
        };
        // The host's own setting, whether or not the manifest declares it for its components.
        let trusted = origo_shared::outbound_destination::TRUSTED_HOSTS_VARIABLE;
        if let Some(v) = provided.get(trusted) {
            variables.entry(trusted.to_owned()).or_insert_with(|| v.clone());
        }
        let mut dev_mail = false;
        if mode == Mode::Dev {
            dev_mail = crate::variables::dev_defaults(
                &manifest,
                &provided,
                &mut variables,
                turn.as_ref().map(|t| &t.listening),
            );
        }

        let kv = match &opts.redis {
            Some(url) => KvBackend::connect_redis(url, opts.redis_ca_file.as_deref(), opts.redis_layout).await?,
            None => KvBackend::open_embedded(&data_dir.join("kv.redb"))?,
        };

        // Bound before the functions start: `origo dev` gives them its address as `public_url`.
        let listener = listen(opts.listen).await?;
        let request_base = crate::public_url::settle(mode, &manifest, &mut variables, listener.local_addr()?)
            .map_err(anyhow::Error::msg)?;
        let metrics = Arc::new(Metrics::default());
        let internal = InternalRouter::default();
        let limits = opts.limits();
        let cache_dir =
            std::path::absolute(opts.cache_dir.clone().unwrap_or_else(|| data_dir.join("cache/components")))?;
        let (m, vars, kv2, metrics2, internal2) =
            (manifest.clone(), variables.clone(), kv.clone(), metrics.clone(), internal.clone());
        let functions = tokio::task::spawn_blocking(move || {
            FunctionHost::new(&m, &vars, kv2, limits, &cache_dir, metrics2, internal2)
        })
        .await??;
        tracing::info!(
            components = functions.component_ids().count(),
            kv = kv.kind(),
            manifest = %manifest.path.display(),
            "function host ready"
        );

        let metrics_listener = match opts.metrics_listen.0 {
            Some(addr) => Some(MetricsListener::bind(addr, metrics.clone()).await?),
            None => None,
        };
        let media = match (mode, opts.media_listen.as_str()) {
            // Only for applications that issue tokens (the media node verifies them).
            (Mode::Dev, listen)
                if listen != "off" && variables.get("token_signing_keys").is_some_and(|k| !k.is_empty()) =>
            {
                let addr: SocketAddr = listen.parse().with_context(|| format!("--media-listen {listen:?}"))?;
                let edge = format!("http://{}", listener.local_addr()?);
                let node = crate::dev_nodes::media::start(addr, &variables, edge, &data_dir)
                    .await
                    .with_context(|| format!("the in-process media node cannot start on {addr}: move it with --media-listen ADDR (ORIGO_DEV_MEDIA_LISTEN), or --media-listen off"))?;
                tracing::info!(control = %node.control, udp = %node.udp, "in-process media node ready");
                Some(node)
            }
            _ => None,
        };
        let sweep = crate::sweep_timer::SweepTimer::from_variables(&variables);
        if sweep.is_none() {
            tracing::warn!("no node_secret (or sweep_interval_secs=0): expired records are not swept");
        }
        let sockets =
            start_rooms(&kv, &listener, &opts.rooms, variables, internal.clone(), &manifest, metrics.clone()).await?;

        let state = Arc::new(AppState {
            mode,
            turn,
            media,
            started: Instant::now(),
            data_dir: Some(data_dir),
            kv,
            functions: Some(functions),
            routes: RouteTable::new(manifest.routes.clone()),
            request_base,
            sweep,
        });
        let mailbox = dev_mail.then(crate::dev_mailbox::DevMailbox::new);
        let router = router(state.clone(), sockets, mailbox);
        internal.set(router.clone());
        Ok(Server { listener, metrics: metrics_listener, router, state })
    }

    /// `origo coordinator`: the room coordinators on Redis, with the manifest's variables and
    /// none of its components.
    pub async fn bind_coordinator(opts: &CoordinatorOptions) -> anyhow::Result<Self> {
        opts.rooms.check_advertise(opts.listen, true).map_err(anyhow::Error::msg)?;
        let manifest = Manifest::load(&opts.manifest)?;
        let variables = manifest.resolve_variables(&crate::variables::provided(&opts.vars))?;
        let kv = KvBackend::connect_redis(&opts.redis, opts.redis_ca_file.as_deref(), opts.redis_layout).await?;
        tracing::info!(layout = opts.redis_layout.as_str(), manifest = %manifest.path.display(), "room coordinators on Redis");
        let listener = listen(opts.listen).await?;
        let coordinator_metrics = Arc::new(Metrics::default());
        let metrics_listener = match opts.metrics_listen.0 {
            Some(addr) => Some(MetricsListener::bind(addr, coordinator_metrics.clone()).await?),
            None => None,
        };
        let internal = InternalRouter::default();
        let sockets =
            start_rooms(&kv, &listener, &opts.rooms, variables, internal.clone(), &manifest, coordinator_metrics)
                .await?;
        let state = Arc::new(AppState {
            mode: Mode::Coordinator,
            turn: None,
            media: None,
            started: Instant::now(),
            data_dir: None,
            kv,
            functions: None,
            routes: RouteTable::new(Vec::new()),
            request_base: crate::public_url::RequestBase::Fixed(format!("http://{}", listener.local_addr()?)),
            sweep: None,
        });
        let router = router(state.clone(), sockets, None);
        internal.set(router.clone());
        Ok(Server { listener, metrics: metrics_listener, router, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served (`--metrics-listen`), if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|m| m.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // Small frames (room events, API answers) must not wait for Nagle's algorithm.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        if self.state.sweep.is_some() {
            tokio::spawn(sweep_loop(Arc::downgrade(&self.state)));
        }
        // Metrics are served while the public listener is; aborted when it has stopped.
        let metrics = self.metrics.map(|m| {
            tokio::spawn(async move {
                if let Err(e) = m.serve().await {
                    tracing::warn!("the metrics listener stopped: {e}");
                }
            })
        });
        let _stop_metrics = metrics.map(|task| AbortOnDrop(task.abort_handle()));
        // The in-process media node reports its last usage while this server still answers.
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            if let Some(media) = &state.media {
                media.flush_usage().await;
            }
        };
        axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Calls the sweep on its timer while the server lives.
async fn sweep_loop(state: std::sync::Weak<AppState>) {
    let Some(every) = state.upgrade().and_then(|s| s.sweep.as_ref().map(|t| t.every)) else { return };
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        let (Some(timer), Some(functions)) = (&state.sweep, &state.functions) else { return };
        let Some(component) = state.routes.lookup(crate::sweep_timer::PATH) else {
            tracing::warn!(
                "the manifest routes no component to {}: expired records are not swept",
                crate::sweep_timer::PATH
            );
            return;
        };
        let res = functions.handle(component, timer.request()).await;
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 64 * 1024).await.unwrap_or_default();
        if status.is_success() {
            tracing::debug!(report = %String::from_utf8_lossy(&body), "sweep");
        } else {
            tracing::warn!(%status, answer = %String::from_utf8_lossy(&body), "the sweep failed; retried at the next tick");
        }
    }
}

async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e}; choose another address with --listen ADDR (ORIGO_LISTEN)")
    })
}

/// Starts the room coordinators: with Redis, owning rooms through leases that name the
/// advertised URL (checked at start by `RoomOptions::check_advertise`).
async fn start_rooms(
    kv: &KvBackend,
    listener: &TcpListener,
    rooms: &RoomOptions,
    variables: std::collections::HashMap<String, String>,
    internal: InternalRouter,
    manifest: &Manifest,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Arc<crate::room_socket::RoomSockets>> {
    let advertise = rooms.advertise_url_for(listener.local_addr()?);
    let lease = kv.redis_connection().map(|c| crate::room_lease::Lease::new(c, advertise));
    let dispatcher_lease = lease.clone();
    let selector_config = origo_shared::node::SelectorConfig {
        stale_after_ms: variables.get("node_stale_after_ms").and_then(|v| v.parse().ok()).unwrap_or(15_000),
    };
    let orders = crate::node_orders::NodeOrders::new(variables.get("node_secret").cloned());
    let hub =
        crate::room_actor::Coordinators::start(kv.clone(), rooms.settings(), selector_config, lease, orders).await;
    let variables = Arc::new(variables);
    // Deliveries reach what the notify component may reach.
    let allowed = manifest
        .component("notify")
        .map(|c| c.allowed_outbound_hosts.clone())
        .unwrap_or_else(|| origo_manifest::AllowedHosts::parse(&[]).unwrap_or_default());
    let platform = crate::native_platform::NativePlatform::new(kv.clone(), variables.clone(), internal, allowed)?;
    let webhooks = crate::webhook_dispatchers::WebhookDispatchers::new(
        platform,
        dispatcher_lease,
        variables
            .get("node_secret")
            .and_then(|s| s.split(',').map(str::trim).find(|s| !s.is_empty()))
            .map(str::to_owned),
        metrics,
    );
    hub.set_webhooks(webhooks.clone());
    webhooks.resume().await;
    Ok(Arc::new(crate::room_socket::RoomSockets { hub, variables }))
}

fn router(
    state: Arc<AppState>,
    sockets: Arc<crate::room_socket::RoomSockets>,
    mailbox: Option<Arc<crate::dev_mailbox::DevMailbox>>,
) -> Router {
    let mut r = Router::new();
    if let Some(mailbox) = mailbox {
        use crate::dev_mailbox::{DELIVER_PATH, LIST_PATH, deliver, list};
        r = r
            .route(DELIVER_PATH, axum::routing::post(deliver).with_state(mailbox.clone()))
            .route(LIST_PATH, get(list).with_state(mailbox));
    }
    r.route("/v1/rooms/{room}/ws", get(crate::room_socket::handler).with_state(sockets.clone()))
        .route(
            crate::room_commands::PATH,
            axum::routing::post(crate::room_commands::handler).with_state(sockets.clone()),
        )
        .route(crate::webhook_commands::PATH, axum::routing::post(crate::webhook_commands::handler).with_state(sockets))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/", get(crate::web::index))
        .route("/web/{file}", get(crate::web::file))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(dispatch)
        .layer(axum::middleware::from_fn(crate::request_id::middleware))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let data_dir_ok = match &state.data_dir {
        Some(dir) => Some(tokio::fs::metadata(dir).await.map(|m| m.is_dir()).unwrap_or(false)),
        None => None,
    };
    let kv_ok = state.kv.ping().await.is_ok();
    let ok = data_dir_ok != Some(false) && kv_ok;
    let status = if ok { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    let mut components: Vec<&str> = state.functions.iter().flat_map(FunctionHost::component_ids).collect();
    components.sort();
    (
        status,
        Json(json!({
            "status": if ok { "ok" } else { "degraded" },
            "service": "origo",
            "mode": state.mode.as_str(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": state.started.elapsed().as_secs(),
            "checks": { "data_dir": data_dir_ok, "kv": kv_ok, "kv_backend": state.kv.kind(), "redis_layout": state.kv.redis_layout().map(|l| l.as_str()) },
            "components": components,
            "turn": state.turn.as_ref().map(|t| json!({ "udp": t.listening.udp, "tcp": t.listening.tcp })),
            "media": state.media.as_ref().map(|m| json!({ "node_id": crate::dev_nodes::media::DEV_NODE_ID, "control_url": m.control_url, "udp": m.udp })),
        })),
    )
}

/// The OpenAPI 3.1 document of the function endpoints, generated from their code.
async fn openapi() -> impl IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(origo_functions::openapi::json);
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}

/// Sets the headers Spin gives components (`spin-client-addr`, `spin-full-url`) from what the
/// server saw, after removing any `spin-*` header the client sent: functions trust these. The
/// full URL is built on the deployment's base ([`crate::public_url`]), not on `Host`.
fn set_spin_headers(req: &mut Request, base: &crate::public_url::RequestBase) {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0);
    let headers = req.headers_mut();
    let forged: Vec<header::HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("spin-")).cloned().collect();
    for name in forged {
        headers.remove(name);
    }
    if let Some(peer) = peer
        && let Ok(v) = header::HeaderValue::from_str(&peer.to_string())
    {
        headers.insert("spin-client-addr", v);
    }
    let base = match base {
        crate::public_url::RequestBase::Fixed(base) => base.clone(),
        crate::public_url::RequestBase::DevHost => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let pq = req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/").to_owned();
    if let Ok(v) = header::HeaderValue::from_str(&format!("{base}{pq}")) {
        req.headers_mut().insert("spin-full-url", v);
    }
}

/// Everything that is not a built-in route goes to the component the manifest routes it to.
async fn dispatch(State(state): State<Arc<AppState>>, mut req: Request) -> Response {
    set_spin_headers(&mut req, &state.request_base);
    let path = req.uri().path().to_owned();
    match (state.routes.lookup(&path), &state.functions) {
        (Some(component), Some(functions)) => {
            let component = component.to_owned();
            functions.handle(&component, req).await
        }
        _ => {
            tracing::debug!(method = %req.method(), %path, "no route");
            error_response(&ApiError::not_found(format!("no route for {} {path}", req.method())))
        }
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> HttpError {
    tracing::debug!(%method, path = uri.path(), "method not allowed");
    ApiError::method_not_allowed(format!("{method} is not allowed on {}", uri.path())).into()
}
