//! The node registry's endpoints: media and TURN nodes announce themselves with
//! `POST /v1/nodes/heartbeat`; media nodes report participant time, and TURN nodes the
//! bytes they relayed per organisation, with `POST /v1/nodes/usage` (each report applied once
//! per record, by its journal's epoch and sequence number); both are authenticated by `Authorization: Bearer <node_secret>`
//! (several comma-separated secrets allow rotation). Joins read the entries
//! ([`store::node`](crate::store::node)) to choose nodes. A node is stale after
//! `node_stale_after_ms` (default 15000: three missed 5-second heartbeats).

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use origo_shared::node::NodeHeartbeat;
use origo_shared::region::RegionCatalog;
use origo_shared::usage::{RelayEntry, UsageEntry, UsageReport};
use origo_shared::{ApiError, ErrorCode};
use subtle::ConstantTimeEq;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::reply::{self, bearer};
use crate::store::{media_usage, node, turn_usage};
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

/// `POST /v1/nodes/usage`: a media node's participant time per room, a TURN node's bytes
/// relayed per organisation. Idempotent per record and report: each record
/// (`usage:{org}:{month}:media:{node}:{room}`, `usage:{org}:{month}:turn:{node}`) remembers
/// the reports it took by the node's journal epoch and number
/// ([`AppliedReports`](origo_shared::usage::AppliedReports)), so a resent report (its
/// acknowledgement was lost, or the node restarted before seeing it) is not counted twice, and
/// the reports of a node that lost its state directory (a new epoch, numbered from 1 again)
/// count. Each entry is counted on its own day (1-31, the node's clock), or today when it names
/// none. The guest organisation is not billed.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/nodes/usage", tag = "nodes",
    summary = "A media or TURN node reports usage (bearer: the node secret)",
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
    let today = crate::store::usage::day_key(p.now_ms());
    let day = |d: u32| if (1..=31).contains(&d) { format!("{d:02}") } else { today.clone() };
    // One report may name a record more than once (days apart): each record takes all of its
    // entries at once, then notes the report as taken.
    let mut media: BTreeMap<(&str, &str, &str), Vec<&UsageEntry>> = BTreeMap::new();
    // Meeting links are not billed (their limits are per meeting).
    for e in report.entries.iter().filter(|e| e.org != guest) {
        media.entry((&e.org, &e.month, &e.room)).or_default().push(e);
    }
    for ((org, month, room), days) in media {
        let mut record = media_usage::get(p, org, month, &report.node, room).await?;
        if !record.applied.is_new(&report.epoch, report.seq) {
            continue;
        }
        for e in days {
            record.usage.add_media_ms(&day(e.day), e.participant_ms);
        }
        record.applied.take(&report.epoch, report.seq);
        media_usage::put(p, org, month, &report.node, room, &record).await?;
    }
    let mut relayed: BTreeMap<(&str, &str), Vec<&RelayEntry>> = BTreeMap::new();
    for r in report.relayed.iter().filter(|r| r.org != guest) {
        relayed.entry((&r.org, &r.month)).or_default().push(r);
    }
    for ((org, month), days) in relayed {
        let mut record = turn_usage::get(p, org, month, &report.node).await?;
        if !record.applied.is_new(&report.epoch, report.seq) {
            continue;
        }
        for r in days {
            record.usage.add_relayed(&day(r.day), r.relayed_bytes, r.framing_bytes);
        }
        record.applied.take(&report.epoch, report.seq);
        turn_usage::put(p, org, month, &report.node, &record).await?;
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
