//! `GET /health` (liveness, sessions open, shards) and `GET /metrics` (OpenMetrics text of
//! every shard's counters, added up).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};

use super::Api;
use super::error_response::unavailable;
use super::schema::Health;

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "node", summary = "Liveness, sessions open, shards", security(),
    responses((status = 200, description = "`{status: ok, …}`", body = Health)))]
pub async fn health(State(api): State<Arc<Api>>) -> Response {
    Json(serde_json::json!({ "status": "ok", "service": "origo-media-node", "node_id": api.node_id,
        "sessions": api.shards.session_count(), "shards": api.shards.len() }))
    .into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "node", summary = "Prometheus / OpenMetrics text", security(),
    responses(
        (status = 200, description = "OpenMetrics text (`origo_media_*`)", body = String, content_type = "application/openmetrics-text"),
        (status = 503, description = "The node is stopping", body = origo_shared::ErrorBody)))]
pub async fn metrics(State(api): State<Arc<Api>>) -> Response {
    match api.shards.stats().await {
        Ok(st) => (
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            crate::metrics::encode(&st),
        )
            .into_response(),
        Err(_) => unavailable("stopping"),
    }
}
