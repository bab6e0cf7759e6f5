//! The whole adaptation between Lambda and the functions: an event's request (API Gateway
//! v2 or v1, ALB, as `lambda_http` decodes it) to the routed component's handler, and its
//! response back. No Lambda runtime is needed to run it.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use origo_functions::Platform;
use origo_shared::{ApiError, ErrorCode};

use crate::deployment::{ComponentConfig, Deployment};

/// Largest request body handed to a function (the same default as `origo`'s `--max-body-kb`).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Headers the host sets and a client must never supply.
const CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
const FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");

/// An error as the JSON error body.
pub fn error_response(e: &ApiError) -> http::Response<Body> {
    let mut res = http::Response::new(Body::Binary(e.to_json()));
    *res.status_mut() = http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The caller's address as the event reports it: API Gateway's `sourceIp`, or the address an
/// ALB appended last to `X-Forwarded-For`.
pub fn source_ip(req: &lambda_http::Request) -> Option<String> {
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        Some(RequestContext::Alb(_)) => req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .map(|s| s.trim().to_owned()),
        _ => None,
    }?;
    ip.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

fn body_bytes(body: Body) -> Bytes {
    match body {
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    }
}

/// A handler's response as a Lambda response body: text when it is UTF-8, else binary
/// (base64 on the wire).
fn lambda_body(body: Bytes) -> Body {
    if body.is_empty() {
        return Body::Empty;
    }
    match String::from_utf8(body.to_vec()) {
        Ok(s) => Body::Text(s),
        Err(e) => Body::Binary(e.into_bytes()),
    }
}

/// Serves one request: finds the component its path routes to, builds the platform for it
/// with `platform`, runs the handler and converts the response. Unknown paths get the JSON
/// 404, bodies over [`MAX_BODY_BYTES`] a 413.
pub async fn serve<P, F>(deployment: &Deployment, req: lambda_http::Request, platform: F) -> http::Response<Body>
where
    P: Platform,
    F: FnOnce(&Arc<ComponentConfig>) -> P,
{
    let path = req.uri().path().to_owned();
    let Some(component) = deployment.component_for_path(&path) else {
        let method = req.method().as_str().chars().take(16).collect::<String>();
        let shown: String = path.chars().take(200).collect();
        return error_response(&ApiError::not_found(format!("no route for {method} {shown}")));
    };
    let client = source_ip(&req);
    let (mut parts, body) = req.into_parts();
    let body = body_bytes(body);
    if body.len() > MAX_BODY_BYTES {
        return error_response(&ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("a request body is at most {} KiB", MAX_BODY_BYTES >> 10),
        ));
    }
    parts.headers.remove(CLIENT_ADDR);
    parts.headers.remove(FULL_URL);
    if let Some(v) = client.and_then(|ip| HeaderValue::from_str(&ip).ok()) {
        parts.headers.insert(CLIENT_ADDR, v);
    }
    let p = platform(component);
    let res = component.function.handle(http::Request::from_parts(parts, body), &p).await;
    let (parts, body) = res.into_parts();
    http::Response::from_parts(parts, lambda_body(body))
}
