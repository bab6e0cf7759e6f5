//! Between the Workers runtime's requests and responses and the `http` types the functions
//! take: the method, full URL, headers and body in; the status, headers and body out. The
//! headers a host sets for the functions (`spin-client-addr`, `spin-full-url`) are set here
//! from what Cloudflare established — never taken from the client — and `request.cf`'s
//! coordinates become the request's [`EdgeLocation`].

use bytes::Bytes;
use origo_functions::location::EdgeLocation;
use origo_shared::{ApiError, ErrorCode};
use worker::{Headers, Request, Response};

/// Largest request body the functions are handed.
pub const MAX_REQUEST_BODY: usize = 1 << 20;
/// Headers only the host may set.
const HOST_HEADERS: [&str; 2] = ["spin-client-addr", "spin-full-url"];

/// The request as the functions see it; a refusal as the JSON error body.
pub async fn to_http(req: &mut Request) -> Result<http::Request<Bytes>, ApiError> {
    let url = req.url().map_err(|e| ApiError::bad_request(format!("bad URL: {e}")))?;
    let method = http::Method::from_bytes(req.method().as_ref().as_bytes())
        .map_err(|_| ApiError::new(ErrorCode::MethodNotAllowed, "unknown method"))?;
    let mut builder = http::Request::builder().method(method).uri(url.as_str());
    for (name, value) in req.headers().entries() {
        if !HOST_HEADERS.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    // Cloudflare sets `CF-Connecting-IP` itself (a client's own value is replaced).
    if let Ok(Some(ip)) = req.headers().get("cf-connecting-ip") {
        builder = builder.header("spin-client-addr", ip);
    }
    builder = builder.header("spin-full-url", url.as_str());
    if let Some(cf) = req.cf()
        && let Some((lat, lon)) = cf.coordinates()
    {
        builder = builder.extension(EdgeLocation { lat: lat as f64, lon: lon as f64 });
    }
    let body = req.bytes().await.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
    if body.len() > MAX_REQUEST_BODY {
        return Err(ApiError::payload_too_large("a request body is at most 1 MiB"));
    }
    builder.body(Bytes::from(body)).map_err(|e| ApiError::bad_request(format!("bad request: {e}")))
}

/// The functions' response for the runtime.
pub fn from_http(res: http::Response<Bytes>) -> worker::Result<Response> {
    let (parts, body) = res.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers.append(name.as_str(), v)?;
        }
    }
    Ok(Response::from_bytes(body.to_vec())?.with_status(parts.status.as_u16()).with_headers(headers))
}

/// An error as the JSON error body.
pub fn error(e: ApiError) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(e.to_json())?.with_status(e.status()).with_headers(headers))
}
