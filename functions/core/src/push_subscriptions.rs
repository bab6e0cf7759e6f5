//! A signed-in account's browsers that receive web push: register a subscription (what
//! `PushSubscription.toJSON()` gives in the browser), list and remove them, and the
//! deployment's VAPID public key the browser subscribes with.
//!
//! * `GET /v1/push/vapid-public-key` (no sign-in) → `{public_key}` (base64url, 65 bytes);
//! * `POST /v1/me/push-subscriptions {endpoint, keys: {p256dh, auth}}` → 201 the subscription;
//!   the same endpoint again replaces it and pushes its lifetime on;
//! * `GET /v1/me/push-subscriptions` → `{subscriptions: [...]}`;
//! * `DELETE /v1/me/push-subscriptions/{id}`;
//! * `POST /v1/me/push-subscriptions/{id}/test` sends a test notification now.
//!
//! Endpoints must be `https`. An account has at most `push_subscriptions_per_account`
//! (default 10) browsers; each subscription lives `push_subscription_ttl_days` (default 90).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::push_delivery::{self, Urgency};
use crate::rate_limit;
use crate::reply;
use crate::store::push_subscription::{self as stored, StoredPushSubscription};
use crate::variables::num_var;
use crate::web_push::encryption::{AUTH_SECRET_BYTES, PUBLIC_KEY_BYTES};
use crate::web_push::request::Outcome;
use crate::{Request, Response};

/// Longest endpoint URL, in bytes.
pub const MAX_ENDPOINT_BYTES: usize = 2048;
/// Browsers per account unless `push_subscriptions_per_account` says otherwise.
pub const DEFAULT_PER_ACCOUNT: usize = 10;
/// Days a subscription lives unless `push_subscription_ttl_days` says otherwise.
pub const DEFAULT_TTL_DAYS: u64 = 90;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key, uncompressed (65 bytes), base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = "^B[A-Za-z0-9_-]{86}=?$"))]
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{22}(==)?$"))]
    pub auth: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// The push service URL the browser was given: `https`, at most 2048 bytes.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$", max_length = 2048)
    )]
    pub endpoint: String,
    pub keys: SubscriptionKeys,
    /// What the browser says of the subscription's end (ignored: Origo keeps its own lifetime).
    #[serde(default, rename = "expirationTime")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub expiration_time: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicSubscription {
    pub id: String,
    pub endpoint: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

fn public(s: &StoredPushSubscription) -> PublicSubscription {
    PublicSubscription {
        id: s.id.clone(),
        endpoint: s.endpoint.clone(),
        created_at_ms: s.created_at_ms,
        expires_at_ms: s.expires_at_ms,
    }
}

/// Serves `/v1/push/vapid-public-key` and `/v1/me/push-subscriptions…`.
pub async fn route(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match (segments, req.method()) {
        (["v1", "push", "vapid-public-key"], &Method::GET) => vapid_public_key(p).await,
        (["v1", "push", "vapid-public-key"], _) => Ok(reply::method_not_allowed(req, "GET")),
        (["v1", "me", "push-subscriptions"], &Method::POST) => register(req, p).await,
        (["v1", "me", "push-subscriptions"], &Method::GET) => list(req, p).await,
        (["v1", "me", "push-subscriptions"], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "me", "push-subscriptions", id], &Method::DELETE) => remove(req, p, id).await,
        (["v1", "me", "push-subscriptions", _], _) => Ok(reply::method_not_allowed(req, "DELETE")),
        (["v1", "me", "push-subscriptions", id, "test"], &Method::POST) => test(req, p, id).await,
        (["v1", "me", "push-subscriptions", _, "test"], _) => Ok(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

async fn account(req: &Request, p: &impl Platform) -> Result<String, ApiError> {
    Ok(Principal::from_request(req, p).await?.account()?.to_owned())
}

/// True for `https://host[:port]/…` URLs of at most [`MAX_ENDPOINT_BYTES`].
pub fn valid_endpoint(url: &str) -> bool {
    url.len() <= MAX_ENDPOINT_BYTES
        && url.strip_prefix("https://").is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.parse::<http::Uri>().is_ok_and(|u| {
            u.host().is_some_and(|h| !h.is_empty()) && !u.authority().is_some_and(|a| a.as_str().contains('@'))
        })
}

fn decode_key(value: &str, len: usize, what: &str) -> Result<Vec<u8>, ApiError> {
    B64.decode(value.trim_end_matches('='))
        .ok()
        .filter(|b| b.len() == len)
        .ok_or_else(|| ApiError::bad_request(format!("keys.{what} must be {len} bytes, base64url")))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/push/vapid-public-key", tag = "notifications",
    summary = "The key browsers subscribe to web push with (applicationServerKey)", security(),
    responses(
        (status = 200, description = "`{public_key}`: the VAPID public key, uncompressed P-256, base64url"),
        (status = 503, response = errors::Unavailable),
    )))]
async fn vapid_public_key(p: &impl Platform) -> Result<Response, ApiError> {
    let key = push_delivery::vapid_key(p)?;
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "public_key": key.public_key() })))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/me/push-subscriptions", tag = "notifications",
    summary = "Register this browser's web push subscription (the same endpoint again replaces it)",
    request_body = NewSubscription, security(("bearer" = [])),
    responses(
        (status = 201, body = PublicSubscription),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn register(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let body: NewSubscription = reply::parse_json(req)?;
    if !valid_endpoint(&body.endpoint) {
        return Err(ApiError::bad_request("endpoint must be an https URL with a host, at most 2048 bytes"));
    }
    let p256dh = decode_key(&body.keys.p256dh, PUBLIC_KEY_BYTES, "p256dh")?;
    if p256::PublicKey::from_sec1_bytes(&p256dh).is_err() || p256dh[0] != 4 {
        return Err(ApiError::bad_request("keys.p256dh is not an uncompressed P-256 public key"));
    }
    decode_key(&body.keys.auth, AUTH_SECRET_BYTES, "auth")?;
    let id = stored::id_of(&body.endpoint);
    let existing = stored::of_account(p, &account).await?;
    let cap = num_var(p, "push_subscriptions_per_account", DEFAULT_PER_ACCOUNT);
    if existing.len() >= cap && !existing.iter().any(|s| s.id == id) {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("an account has at most {cap} push subscriptions; remove one first"),
        ));
    }
    let now = p.now_ms();
    let ttl_ms = num_var(p, "push_subscription_ttl_days", DEFAULT_TTL_DAYS).max(1) * 86_400_000;
    let sub = StoredPushSubscription {
        v: crate::store::format::current(),
        id,
        account,
        endpoint: body.endpoint,
        p256dh: B64.encode(&p256dh),
        auth: B64.encode(decode_key(&body.keys.auth, AUTH_SECRET_BYTES, "auth")?),
        created_at_ms: now,
        expires_at_ms: now + ttl_ms,
    };
    stored::put(p, &sub).await?;
    Ok(reply::json(StatusCode::CREATED, &public(&sub)))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/me/push-subscriptions", operation_id = "push_subscriptions_list", tag = "notifications",
    summary = "This account's web push subscriptions", security(("bearer" = [])),
    responses(
        (status = 200, description = "`{subscriptions: [...]}`"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let subs: Vec<PublicSubscription> = stored::of_account(p, &account).await?.iter().map(public).collect();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "subscriptions": subs })))
}

async fn load(p: &impl Platform, account: &str, id: &str) -> Result<StoredPushSubscription, ApiError> {
    stored::get(p, account, id).await?.ok_or_else(|| ApiError::not_found(format!("no push subscription {id}")))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/me/push-subscriptions/{id}", operation_id = "push_subscription_remove", tag = "notifications",
    summary = "Remove a web push subscription",
    params(("id" = String, Path, pattern = "^ps_[0-9a-f]{24}$", description = "Subscription id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn remove(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let sub = load(p, &account, id).await?;
    stored::delete(p, &account, &sub.id).await?;
    Ok(reply::no_content())
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/me/push-subscriptions/{id}/test", tag = "notifications",
    summary = "Send a test notification to this browser now",
    params(("id" = String, Path, pattern = "^ps_[0-9a-f]{24}$", description = "Subscription id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "`{delivered, outcome}`: `accepted`, `gone` (the subscription was removed), `retry` or `refused`"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 429, response = errors::RateLimited),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
    )))]
async fn test(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    rate_limit::hit(p, &rate_limit::PUSH_TEST, &account).await?;
    let sub = load(p, &account, id).await?;
    let payload = serde_json::json!({ "kind": "test", "title": "Origo", "body": "Notifications reach this browser." });
    let outcome = push_delivery::send_push(p, &sub, payload.to_string().as_bytes(), 60, Urgency::Normal).await?;
    let name = match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Gone => "gone",
        Outcome::Retry { .. } => "retry",
        Outcome::Refused => "refused",
    };
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "delivered": outcome == Outcome::Accepted, "outcome": name })))
}
