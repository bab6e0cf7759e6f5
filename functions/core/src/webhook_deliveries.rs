//! The partner's view of what was sent to an endpoint: its delivery log
//! (`GET /v1/webhooks/{id}/deliveries`), one message with every attempt
//! (`GET …/deliveries/{message}`), a manual redelivery (`POST …/deliveries/{message}/redeliver`)
//! and the recovery of every failed message since a time (`POST /v1/webhooks/{id}/recover`).
//! Reads come from the dispatcher's records; changes are commands to the organisation's
//! dispatcher (`Platform::dispatcher_send`), the one writer of its deliveries.

use http::StatusCode;
use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::reply;
use crate::store::index;
use crate::store::keys;
use crate::store::record;
use crate::store::webhook::StoredWebhook;
use crate::webhook_delivery::delivery_record::{Attempt, DeliveryStatus, StoredDelivery};
use crate::webhook_delivery::{DispatchCommand, DispatchOutcome};
use crate::{Request, Response};

/// True for message ids (`msg_` and 24 lowercase hex digits).
pub fn valid_message_id(id: &str) -> bool {
    id.len() == 28
        && id.starts_with("msg_")
        && id[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One message in the log.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliverySummary {
    pub message_id: String,
    pub event: String,
    pub room: String,
    pub seq: u64,
    pub created_at_ms: u64,
    pub status: DeliveryStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<u64>,
    pub attempts: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

fn summary(d: &StoredDelivery) -> DeliverySummary {
    DeliverySummary {
        message_id: d.id.clone(),
        event: d.event.clone(),
        room: d.room.clone(),
        seq: d.seq,
        created_at_ms: d.created_at_ms,
        status: d.status,
        next_attempt_ms: d.next_attempt_ms,
        attempts: d.attempts.len(),
        last_attempt: d.attempts.last().cloned(),
        failure: d.failure.clone(),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", operation_id = "deliveries_list", tag = "webhooks",
    summary = "The endpoint's delivery log, newest first",
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 100, description = "Page size (default 50)"),
        ("before" = Option<String>, Query, description = "The `next` of the previous page"),
        ("status" = Option<DeliveryStatus>, Query, description = "Only messages in this state"),
        crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{deliveries: [...], next}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn list(req: &Request, p: &impl Platform, org: &str, hook: &StoredWebhook) -> Result<Response, ApiError> {
    let limit = reply::page_limit(req, 50, 100)?;
    let status = match reply::query_param(req, "status") {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<DeliveryStatus>(serde_json::Value::String(s.to_owned()))
                .map_err(|_| ApiError::bad_request("status must be pending, delivered or failed"))?,
        ),
    };
    let before = reply::query_param(req, "before").unwrap_or("");
    let log = index::load(p, &keys::webhook_log(org, &hook.id)).await?;
    let mut out = Vec::new();
    let mut next = None;
    let names = log.entries.keys().rev().filter(|n| before.is_empty() || n.as_str() < before);
    for name in names {
        if out.len() == limit {
            next = out.last().map(|(n, _): &(String, DeliverySummary)| n.clone());
            break;
        }
        let Some((_, message)) = name.split_once(':') else { continue };
        let Some(d) = record::get::<StoredDelivery>(p, &keys::webhook_delivery(org, &hook.id, message)).await? else {
            continue;
        };
        if status.is_some_and(|s| s != d.status) {
            continue;
        }
        out.push((name.clone(), summary(&d)));
    }
    let deliveries: Vec<DeliverySummary> = out.into_iter().map(|(_, s)| s).collect();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "deliveries": deliveries, "next": next })))
}

async fn load(p: &impl Platform, org: &str, hook: &StoredWebhook, message: &str) -> Result<StoredDelivery, ApiError> {
    let missing = || ApiError::not_found(format!("no message {message} for webhook {}", hook.id));
    if !valid_message_id(message) {
        return Err(missing());
    }
    record::get(p, &keys::webhook_delivery(org, &hook.id, message)).await?.ok_or_else(missing)
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/webhooks/{id}/deliveries/{message}", operation_id = "delivery_get", tag = "webhooks",
    summary = "One message: its body and every attempt (time, status, latency, the answer's first bytes)",
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"),
        ("message" = String, Path, pattern = "^msg_[0-9a-f]{24}$", description = "Message id (`webhook-id`)"),
        crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The message"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn get(p: &impl Platform, org: &str, hook: &StoredWebhook, message: &str) -> Result<Response, ApiError> {
    let d = load(p, org, hook, message).await?;
    let payload: serde_json::Value = serde_json::from_str(&d.body).unwrap_or(serde_json::Value::Null);
    Ok(reply::json(
        StatusCode::OK,
        &serde_json::json!({
            "message_id": d.id, "event": d.event, "room": d.room, "seq": d.seq,
            "created_at_ms": d.created_at_ms, "status": d.status, "next_attempt_ms": d.next_attempt_ms,
            "failure": d.failure, "attempts": d.attempts, "payload": payload,
        }),
    ))
}

async fn command(p: &impl Platform, org: &str, cmd: DispatchCommand) -> Result<usize, ApiError> {
    match p.dispatcher_send(org, &cmd).await.map_err(reply::unavailable)? {
        DispatchOutcome::Done { queued } => Ok(queued),
        DispatchOutcome::NotFound => Err(ApiError::not_found("no such message or webhook")),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{message}/redeliver", tag = "webhooks",
    summary = "Send one message to the endpoint again, now (same `webhook-id`)",
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"),
        ("message" = String, Path, pattern = "^msg_[0-9a-f]{24}$", description = "Message id (`webhook-id`)"),
        crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "Queued"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn redeliver(
    p: &impl Platform,
    org: &str,
    hook: &StoredWebhook,
    message: &str,
) -> Result<Response, ApiError> {
    let d = load(p, org, hook, message).await?;
    let queued = command(p, org, DispatchCommand::Redeliver { endpoint: hook.id.clone(), message: d.id }).await?;
    Ok(reply::json(StatusCode::ACCEPTED, &serde_json::json!({ "queued": queued })))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// Messages created at or after this time (Unix ms) that failed are sent again.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub since_ms: u64,
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/webhooks/{id}/recover", tag = "webhooks",
    summary = "Send every message that failed since a time again",
    request_body = Recover,
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"), crate::principal::OrgHeader),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "`{queued}`: how many were queued"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn recover(req: &Request, p: &impl Platform, org: &str, hook: &StoredWebhook) -> Result<Response, ApiError> {
    let body: Recover = reply::parse_json(req)?;
    let queued =
        command(p, org, DispatchCommand::Recover { endpoint: hook.id.clone(), since_ms: body.since_ms }).await?;
    Ok(reply::json(StatusCode::ACCEPTED, &serde_json::json!({ "queued": queued })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids() {
        assert!(valid_message_id(&crate::webhook_delivery::event_payload::message_id("o", "r", 1)));
        for bad in ["", "msg_", "msg_XYZ", "msg_0123456789abcdef0123456", "wh_0123456789abcdef01234567"] {
            assert!(!valid_message_id(bad), "{bad}");
        }
    }
}
