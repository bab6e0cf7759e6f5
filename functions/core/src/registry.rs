//! The node registry as key-value entries: media and TURN nodes announce themselves with
//! `POST /v1/nodes/heartbeat` (authenticated by `Authorization: Bearer <node_secret>`; several
//! comma-separated secrets allow rotation), and joins read the entries to choose nodes.
//!
//! Stored as `node:{id}` → the descriptor with the time it was received. A node is stale
//! after `node_stale_after_ms` (default 15000: three missed 5-second heartbeats).

use http::{Method, StatusCode};
use origo_shared::node::{NodeDescriptor, NodeHeartbeat, SelectorConfig}; use origo_shared::usage::UsageReport;
use origo_shared::region::RegionCatalog;
use origo_shared::{ApiError, ErrorCode};
use subtle::ConstantTimeEq;

use crate::store::usage::Usage;
use crate::platform::{Platform, PlatformExt};
use crate::principal::bearer;
use crate::reply::{self, unavailable};
use crate::variables::{num_var, var};
use crate::{Request, Response};

/// Entries older than this many stale periods are removed when read.
const FORGET_AFTER_STALE_PERIODS: u64 = 20;

pub fn selector_config(p: &impl Platform) -> SelectorConfig {
    SelectorConfig { stale_after_ms: num_var(p, "node_stale_after_ms", SelectorConfig::default().stale_after_ms) }
}

/// Every registered node (stale ones included: the selector skips them).
pub async fn nodes(p: &impl Platform) -> Result<Vec<NodeDescriptor>, ApiError> {
    let forget_after = selector_config(p).stale_after_ms * FORGET_AFTER_STALE_PERIODS;
    let now = p.now_ms();
    let mut out = Vec::new();
    for k in p.kv_keys("node:").await.map_err(unavailable)? {
        if let Some(n) = p.kv_get_json::<NodeDescriptor>(&k).await.map_err(unavailable)? {
            if now.saturating_sub(n.last_heartbeat_ms) > forget_after {
                p.kv_delete(&k).await.map_err(unavailable)?;
            } else {
                out.push(n);
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The request carries one of the `node_secret`s (compared in constant time).
fn authenticate_node(req: &Request, p: &impl Platform) -> Result<(), ApiError> {
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

/// A media node's usage record for one room in one month, with the last report applied.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct MediaUsageRecord {
    #[serde(flatten)]
    usage: Usage,
    #[serde(default)]
    report_seq: u64,
}

/// `POST /v1/nodes/usage`: a media node's participant time per room. Idempotent per
/// (node, seq): each record remembers the last report it took, so a resent report (its
/// acknowledgement was lost, or the node restarted before seeing it) is not counted twice.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/nodes/usage", tag = "nodes", summary = "A media node reports participant time (bearer: the node secret)", request_body = origo_shared::usage::UsageReport, security(("node_secret" = [])), responses((status = 200, description = "`{accepted, seq}`"), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 401, description = "Missing, forged or expired credentials", body = origo_shared::ErrorBody), (status = 503, description = "Not configured, or no node available; retry", body = origo_shared::ErrorBody))))]
pub async fn usage_report(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Err(reply::method_not_allowed(req, "POST"));
    }
    authenticate_node(req, p)?;
    let report: UsageReport = reply::parse_json(req)?;
    report.validate().map_err(ApiError::bad_request)?;
    for e in &report.entries {
        let key = format!("usage:{}:{}:media:{}:{}", e.org, e.month, report.node, e.room);
        let mut record = p.kv_get_json::<MediaUsageRecord>(&key).await.map_err(unavailable)?.unwrap_or_default();
        if record.report_seq >= report.seq {
            continue;
        }
        record.usage.media_participant_ms += e.participant_ms;
        record.report_seq = report.seq;
        p.kv_set_json(&key, &record).await.map_err(unavailable)?;
    }
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "accepted": true, "seq": report.seq })))
}

/// `POST /v1/nodes/heartbeat`.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/nodes/heartbeat", tag = "nodes", summary = "A media or TURN node announces itself (bearer: the node secret)", request_body = origo_shared::node::NodeHeartbeat, security(("node_secret" = [])), responses((status = 200, description = "`{accepted, stale_after_ms}`"), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 401, description = "Missing, forged or expired credentials", body = origo_shared::ErrorBody), (status = 503, description = "Not configured, or no node available; retry", body = origo_shared::ErrorBody))))]
pub async fn heartbeat(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Err(reply::method_not_allowed(req, "POST"));
    }
    authenticate_node(req, p)?;
    let hb: NodeHeartbeat = reply::parse_json(req)?;
    hb.validate(&RegionCatalog::default()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let config = selector_config(p);
    let descriptor = hb.into_descriptor(p.now_ms());
    p.kv_set_json(&format!("node:{}", descriptor.id), &descriptor).await.map_err(unavailable)?;
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "accepted": true, "stale_after_ms": config.stale_after_ms })))
}
