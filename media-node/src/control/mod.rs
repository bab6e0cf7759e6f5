//! The control API (axum): WebRTC sessions are created, renegotiated and closed over HTTP with
//! the participant token the edge issued for this node ([`sessions`]); `/health` and
//! `/metrics` ([`observability`]); the room coordinators' calls that close and mute
//! participants, with the node secret ([`moderation`], [`node_secret`]); links between nodes
//! serving one room ([`links`]); this API's OpenAPI 3.1
//! document at `/openapi.json` ([`openapi`]); JSON 404/405 for anything else. Handlers only
//! parse and authorise: they reach the SFU shards through [`Command`](crate::command::Command)s.

mod error_response;
mod json_body;
pub mod links;
pub mod moderation;
mod node_secret;
pub mod observability;
pub mod openapi;
pub mod schema;
pub mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use origo_shared::ErrorCode;

use crate::auth::Verifier;
use crate::command::Shards;
use crate::session_capacity::SessionCapacity;
use crate::sfu::Limits;

/// What the handlers share.
pub struct Api {
    pub shards: Shards,
    pub verifier: Arc<Verifier>,
    pub node_id: String,
    /// The node's session cap.
    pub capacity: SessionCapacity,
    /// Each shard's UDP address as clients reach it (sessions are prepared for it).
    pub candidates: Vec<std::net::SocketAddr>,
    pub limits: Limits,
    /// Session set-ups running at once (off the shards' tasks), at most.
    pub setups: tokio::sync::Semaphore,
    /// What the control calls must present (none configured: they are refused).
    pub node_secret: Option<String>,
    /// How often one participant may open a session.
    pub create_rate: crate::create_rate::CreateRate,
    /// Whether the node is stopping (it then opens no session).
    pub drain: crate::drain::Drain,
    /// For the calls this node makes to other nodes (opening links).
    pub http: reqwest::Client,
}

/// Every route of the control API.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/sessions", post(sessions::create))
        .route("/v1/sessions/{id}", patch(sessions::update).delete(sessions::remove))
        .route("/v1/sessions/{id}/tracks", get(sessions::tracks))
        .route("/v1/rooms/{org}/{room}/participants/{identity}/close", post(moderation::close))
        .route("/v1/rooms/{org}/{room}/participants/{identity}/mute", put(moderation::mute))
        .route("/v1/rooms/{org}/{room}/links", post(links::open).get(links::list))
        .route("/v1/rooms/{org}/{room}/relays", post(links::accept))
        .route("/health", get(observability::health))
        .route("/metrics", get(observability::metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(cors))
        .with_state(api)
}

/// Browsers call the control API from the web client's origin (the edge): any origin may, since
/// every call carries its bearer token (no cookies). Preflights are answered here.
async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    res
}

async fn not_found() -> Response {
    error_response::error(404, ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> Response {
    error_response::error(405, ErrorCode::MethodNotAllowed, "this route does not take that method")
}
