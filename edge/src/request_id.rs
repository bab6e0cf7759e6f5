//! A request id per request: the caller's `x-request-id` when it is sane, else a fresh one.
//! It is echoed on the response and recorded on the request's tracing span.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

fn acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh random id, 16 hex characters.
pub fn fresh() -> String {
    let mut buf = [0u8; 8];
    // The OS random source failing is not recoverable in any meaningful way for an id; fall
    // back to the time so requests still get distinct ids.
    if getrandom03::fill(&mut buf).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        buf = (nanos as u64).to_be_bytes();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(fresh);
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert(HEADER, value.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut res = next.run(req).instrument(span.clone()).await;
    // Refused requests leave a line at the default level; the path never carries the query,
    // where verification tokens and OIDC codes travel.
    // A 503 with `Retry-After` is load shedding (a full share of the function pool): logged
    // where it is decided, not once more per request at warning level.
    let status = res.status().as_u16();
    let shed = status == 503 && res.headers().contains_key(axum::http::header::RETRY_AFTER);
    span.in_scope(|| match status {
        _ if shed => tracing::debug!(status, "shed"),
        500.. => tracing::warn!(status, "failed"),
        400..500 => tracing::info!(status, "refused"),
        _ => tracing::debug!(status, "done"),
    });
    res.headers_mut().insert(HEADER, value);
    res
}
