//! Building responses and reading requests the same way in every handler.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use origo_shared::{ApiError, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::platform::PlatformError;
use crate::{Request, Response};

/// Largest JSON body a function accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, body, "application/json"),
        Err(e) => error(&ApiError::internal(format!("cannot serialise response: {e}"))),
    }
}

fn with_type(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut res = http::Response::new(Bytes::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The JSON error body for `e`.
pub fn error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = with_type(status, e.to_json(), "application/json");
    if let Some(secs) = e.retry_after_secs {
        res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    res
}

/// 204 No Content.
pub fn no_content() -> Response {
    let mut res = http::Response::new(Bytes::new());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// Runs a handler body that returns `Result<Response, ApiError>` and renders the error.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|e| error(&e))
}

/// Parses a JSON object body, refusing wrong content types, oversized bodies and unknown shapes.
pub fn parse_json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !ct.starts_with("application/json") {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send application/json"));
        }
    }
    if req.body().len() > MAX_JSON_BODY {
        return Err(ApiError::payload_too_large(format!("JSON bodies are limited to {MAX_JSON_BODY} bytes")));
    }
    // Every body is an object; serde would also take a struct's fields as an array.
    if req.body().iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(ErrorCode::InvalidJson, "invalid JSON body: expected a JSON object"));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))
}

/// A `405` naming what is allowed, in the message and in the `Allow` header (RFC 9110 §15.5.6).
pub fn method_not_allowed(req: &Request, allowed: &'static str) -> Response {
    let e =
        ApiError::method_not_allowed(format!("{} is not allowed on {}; use {allowed}", req.method(), req.uri().path()));
    let mut res = error(&e);
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allowed));
    res
}

/// A `404` for a path the function does not serve.
pub fn not_found(req: &Request) -> ApiError {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.uri().path()))
}

/// The raw bearer credential of the request (`Authorization: Bearer …`), or a 401.
pub fn bearer(req: &Request) -> Result<&str, ApiError> {
    origo_shared::bearer(req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes()))
}

/// Host failures become a 503: the request may be retried.
pub fn unavailable(e: PlatformError) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, e.to_string())
}

/// The value of query parameter `name`, percent-decoding not needed for the simple values used.
pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// The `limit` of a page: `default` when absent, else 1..=`max` or a 400.
pub fn page_limit(req: &Request, default: usize, max: usize) -> Result<usize, ApiError> {
    match query_param(req, "limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be 1..={max}"))),
    }
}

/// The path split into segments, without empty ones.
pub fn segments(req: &Request) -> Vec<&str> {
    req.uri().path().split('/').filter(|s| !s.is_empty()).collect()
}

/// The caller's IP address as the host saw it (`spin-client-addr`, which hosts set and never
/// take from the client), without the port.
pub fn client_ip(req: &Request) -> Option<String> {
    let raw = req.headers().get("spin-client-addr")?.to_str().ok()?;
    let ip = match raw.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip(),
        Err(_) => raw.parse::<std::net::IpAddr>().ok()?,
    };
    Some(ip.to_string())
}

/// The deployment's public base URL (`https://host`): the `public_url` variable, else the URL
/// the host received the request on (`spin-full-url`), else the `Host` header over http.
pub fn public_base(req: &Request, public_url: Option<String>) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let full =
        req.headers().get("spin-full-url").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<http::Uri>().ok());
    if let Some(uri) = full.as_ref().filter(|u| u.authority().is_some()) {
        let scheme = uri.scheme_str().unwrap_or("http");
        return format!("{scheme}://{}", uri.authority().map(|a| a.as_str()).unwrap_or(""));
    }
    if let (Some(scheme), Some(authority)) = (req.uri().scheme_str(), req.uri().authority()) {
        return format!("{scheme}://{authority}");
    }
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}
