//! The node registry's endpoints: media and TURN nodes announce themselves with
//! `POST /v1/nodes/heartbeat` and media nodes report participant time with
//! `POST /v1/nodes/usage`, both authenticated by `Authorization: Bearer <node_secret>`
//! (several comma-separated secrets allow rotation). Joins read the entries
//! ([`store::node`](crate::store::node)) to choose nodes. A node is stale after
//! `node_stale_after_ms` (default 15000: three missed 5-second heartbeats).

use http::{Method, StatusCode};
use origo_shared::node::NodeHeartbeat;
use origo_shared::region::RegionCatalog;
use origo_shared::usage::UsageReport;
use origo_shared::{ApiError, ErrorCode};
use subtle::ConstantTimeEq;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::reply::{self, bearer};
use crate::store::{media_usage, node};
use crate::variables::{guest_org, selector_config, var};
use crate::{Request, Response};

/// The request carries one of the `node_secret`s (compared in constant time).
pub(crate) fn authenticate_node(req: &Request, p: &impl Platform) -> Result<(), ApiError> {
    let secrets = var(p, "node_secret")
        .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "node registration is not configured"))?;
    let presented = bearer(req)?;
    let mut ok = subtle::Choice::from(0u8);
    for s in secrets.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        ok |= s.as_bytes().ct_eq(presented.as_bytes());
    }
    if !bool::from(ok) {
        return Err(ApiError::unauthorized("invalid node token"));
    }
    Ok(())
}

/// `POST /v1/nodes/usage`: a media node's participant time per room. Idempotent per
/// (node, seq): each record remembers the last report it took, so a resent report (its
/// acknowledgement was lost, or the node restarted before seeing it) is not counted twice.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/nodes/usage", tag = "nodes",
    summary = "A media node reports participant time (bearer: the node secret)",
    request_body = origo_shared::usage::UsageReport, security(("node_secret" = [])),
    responses(
        (status = 200, description = "`{accepted, seq}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn usage_report(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(reply::method_not_allowed(req, "POST"));
    }
    authenticate_node(req, p)?;
    let report: UsageReport = reply::parse_json(req)?;
    report.validate().map_err(ApiError::bad_request)?;
    let guest = guest_org(p);
    for e in &report.entries {
        // Meeting links are not billed (their limits are per meeting).
        if e.org == guest {
            continue;
        }
        let mut record = media_usage::get(p, &e.org, &e.month, &report.node, &e.room).await?;
        if record.report_seq >= report.seq {
            continue;
        }
        // Reports carry no day yet: the day the registry takes them in.
        record.usage.add_media_ms(&crate::store::usage::day_key(p.now_ms()), e.participant_ms);
        record.report_seq = report.seq;
        media_usage::put(p, &e.org, &e.month, &report.node, &e.room, &record).await?;
    }
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "accepted": true, "seq": report.seq })))
}

/// `POST /v1/nodes/heartbeat`.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/nodes/heartbeat", tag = "nodes",
    summary = "A media or TURN node announces itself (bearer: the node secret)",
    request_body = origo_shared::node::NodeHeartbeat, security(("node_secret" = [])),
    responses(
        (status = 200, description = "`{accepted, stale_after_ms}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn heartbeat(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(reply::method_not_allowed(req, "POST"));
    }
    authenticate_node(req, p)?;
    let hb: NodeHeartbeat = reply::parse_json(req)?;
    hb.validate(&RegionCatalog::default()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let config = selector_config(p);
    let descriptor = hb.into_descriptor(p.now_ms());
    node::put(p, &descriptor).await?;
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "accepted": true, "stale_after_ms": config.stale_after_ms })))
}
