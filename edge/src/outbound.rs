//! Outbound HTTP from components: only to the hosts the manifest allows
//! (`allowed_outbound_hosts`); requests to `origo.internal` are served in-process by this
//! same server, without a socket, and every other request goes through the
//! [`GuardedClient`](crate::guarded_client::GuardedClient): `https` unless the deployment
//! trusts the host, every resolved address checked and the connection made to it, no
//! redirect followed, 5 s to connect, 15 s in all, the response body capped.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use origo_manifest::AllowedHosts;
use origo_shared::outbound_destination::Refusal;
use tower::ServiceExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::guarded_client::{DestinationError, GuardedClient};

/// The host name a component uses to reach this server in-process.
pub const INTERNAL_HOST: &str = "origo.internal";
/// Header counting nested in-process calls; requests beyond [`MAX_HOPS`] are refused.
pub const HOP_HEADER: &str = "x-origo-hop";
pub const MAX_HOPS: u8 = 4;
/// Marks a request a component of this process made in-process (a request extension, so no
/// request from the network can carry it).
#[derive(Debug, Clone, Copy)]
pub struct InProcessCall;

/// Largest body carried on an in-process call, either way.
const INTERNAL_BODY_LIMIT: usize = 4 << 20;
/// Largest request body a component sends out.
const OUTBOUND_REQUEST_BODY_LIMIT: usize = 4 << 20;

/// The server's own router, for in-process calls. Set once the router exists.
#[derive(Clone, Default)]
pub struct InternalRouter(Arc<OnceLock<Router>>);

impl InternalRouter {
    pub fn set(&self, router: Router) {
        let _ = self.0.set(router);
    }

    pub fn get(&self) -> Option<Router> {
        self.0.get().cloned()
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// Per-request outbound policy of one component instance.
pub struct OutboundHooks {
    pub component: Arc<str>,
    pub allowed: Arc<AllowedHosts>,
    pub internal: InternalRouter,
    /// How deep in a chain of in-process calls this request is.
    pub hop: u8,
    pub request_id: Arc<str>,
    /// Sends every request that leaves the process.
    pub guard: GuardedClient,
}

fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes).map_err(HttpError::from).boxed_unsync()
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _io: IoFuture,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri.host().unwrap_or("").to_owned();
        let port = uri.port_u16();
        if !self.allowed.allows(&scheme, &host, port) {
            tracing::warn!(component = %self.component, %scheme, %host, "outbound request denied by allowed_outbound_hosts");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // Only plain http names the in-process server; `https://origo.internal` is a name like
        // any other, which the guard refuses.
        if host.eq_ignore_ascii_case(INTERNAL_HOST) && scheme == "http" {
            return self.internal_call(request);
        }
        tracing::debug!(component = %self.component, %scheme, %host, "outbound request");
        let guard = self.guard.clone();
        let component = self.component.clone();
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = Limited::new(body, OUTBOUND_REQUEST_BODY_LIMIT)
                .collect()
                .await
                .map_err(|_| HttpError::HttpRequestBodySize(Some(OUTBOUND_REQUEST_BODY_LIMIT as u64)))?
                .to_bytes();
            let res = guard.send(http::Request::from_parts(parts, body)).await.map_err(|e| {
                tracing::debug!(%component, "outbound request failed: {e}");
                wasi_error(e)
            })?;
            Ok((res.map(full), Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// The wasi:http error code for a failed guarded request.
fn wasi_error(e: DestinationError) -> HttpError {
    match e {
        DestinationError::Refused(Refusal::Address(_)) => HttpError::DestinationIpProhibited,
        DestinationError::Refused(_) => HttpError::HttpRequestDenied,
        DestinationError::Timeout => HttpError::ConnectionTimeout,
        DestinationError::ResponseTooLarge(n) => HttpError::HttpResponseBodySize(Some(n as u64)),
        DestinationError::Network(text) => HttpError::InternalError(Some(text)),
    }
}

impl OutboundHooks {
    fn internal_call(&self, request: http::Request<WasiBody>) -> SendFuture {
        let router = self.internal.get();
        let next_hop = self.hop.saturating_add(1);
        let request_id = self.request_id.clone();
        Box::new(async move {
            let Some(router) = router else {
                return Err(HttpError::InternalError(Some("in-process router is not ready".into())));
            };
            if next_hop > MAX_HOPS {
                let res = http::Response::builder()
                    .status(508)
                    .header("content-type", "application/json")
                    .body(full(Bytes::from_static(
                        br#"{"error":{"code":"loop_detected","message":"too many nested in-process calls"}}"#,
                    )))
                    .map_err(|e| HttpError::InternalError(Some(e.to_string())))?;
                return Ok((res, Box::new(async { Ok(()) }) as IoFuture));
            }
            let (mut parts, body) = request.into_parts();
            let body = Limited::new(body, INTERNAL_BODY_LIMIT)
                .collect()
                .await
                .map_err(|_| HttpError::HttpRequestBodySize(Some(INTERNAL_BODY_LIMIT as u64)))?
                .to_bytes();
            parts.headers.insert(HOP_HEADER, http::HeaderValue::from(i32::from(next_hop)));
            parts.extensions.insert(InProcessCall);
            if let Ok(v) = http::HeaderValue::from_str(&request_id) {
                parts.headers.insert(crate::request_id::HEADER, v);
            }
            let req = http::Request::from_parts(parts, axum::body::Body::from(body));
            let res = router.oneshot(req).await.map_err(|e| HttpError::InternalError(Some(e.to_string())))?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, INTERNAL_BODY_LIMIT)
                .collect()
                .await
                .map_err(|_| HttpError::HttpResponseBodySize(Some(INTERNAL_BODY_LIMIT as u64)))?
                .to_bytes();
            Ok((http::Response::from_parts(parts, full(body)), Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
