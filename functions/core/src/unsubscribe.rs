//! One-click unsubscribe from notification email (RFC 8058). Every non-transactional
//! notification email carries
//!
//! ```text
//! List-Unsubscribe: <{public_url}/v1/notifications/unsubscribe?token=…>
//! List-Unsubscribe-Post: List-Unsubscribe=One-Click
//! ```
//!
//! and a mail client's `POST` to that URL — no sign-in, the token is the proof — turns the
//! account's non-transactional email off (`email_unsubscribed` in its preferences; the
//! account turns it on again with `PUT /v1/me/notification-preferences`). Transactional mail
//! never asks.
//!
//! The token is `u1.<account, base64url>.<HMAC-SHA256, base64url>` under a key derived from
//! the deployment's signing secrets (`token_signing_keys`, `token_secret`), so it needs no
//! record and works on every instance; rotating every signing key voids earlier links.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use sha2::Sha256;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::reply;
use crate::store::account as accounts;
use crate::store::notification_preferences as stored;
use crate::variables::var;
use crate::{Request, Response};

const VERSION: &str = "u1";

fn mac(p: &impl Platform, account: &str) -> Result<Hmac<Sha256>, ApiError> {
    let signing = [var(p, "token_signing_keys"), var(p, "token_secret")];
    if signing.iter().all(Option::is_none) {
        return Err(ApiError::new(ErrorCode::Unavailable, "set token_signing_keys (or token_secret)"));
    }
    let mut key = Hmac::<Sha256>::new_from_slice(b"origo unsubscribe key v1").expect("any key length");
    for s in &signing {
        key.update(s.as_deref().unwrap_or("").as_bytes());
        key.update(&[0]);
    }
    let key = key.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(b"unsubscribe\0");
    mac.update(account.as_bytes());
    Ok(mac)
}

/// The unsubscribe token of `account`.
pub fn token(p: &impl Platform, account: &str) -> Result<String, ApiError> {
    let tag = mac(p, account)?.finalize().into_bytes();
    Ok(format!("{VERSION}.{}.{}", B64.encode(account), B64.encode(tag)))
}

/// The account a token names, when its signature holds.
pub fn verify(p: &impl Platform, token: &str) -> Result<Option<String>, ApiError> {
    let mut parts = token.split('.');
    let (Some(VERSION), Some(account), Some(tag), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let (Ok(account), Ok(tag)) = (B64.decode(account), B64.decode(tag)) else { return Ok(None) };
    let Ok(account) = String::from_utf8(account) else { return Ok(None) };
    Ok(mac(p, &account)?.verify_slice(&tag).is_ok().then_some(account))
}

/// The one-click URL of `account` under `base` (the public URL).
pub fn url(p: &impl Platform, base: &str, account: &str) -> Result<String, ApiError> {
    Ok(format!("{}/v1/notifications/unsubscribe?token={}", base.trim_end_matches('/'), token(p, account)?))
}

/// Serves `/v1/notifications/unsubscribe`.
pub async fn route(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match (segments, req.method()) {
        (["v1", "notifications", "unsubscribe"], &Method::POST) => unsubscribe(req, p).await,
        (["v1", "notifications", "unsubscribe"], _) => Ok(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/notifications/unsubscribe", tag = "notifications",
    summary = "One-click unsubscribe from notification email (RFC 8058); the token is the proof",
    params(("token" = String, Query, pattern = "^u1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}$", description = "The token of the email's List-Unsubscribe URL")),
    security(),
    responses(
        (status = 200, description = "`{unsubscribed: true}`"),
        (status = 400, response = errors::BadRequest),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn unsubscribe(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let refused = || ApiError::bad_request("this unsubscribe link is not valid");
    let token = reply::query_param(req, "token").filter(|t| t.len() <= 512).ok_or_else(refused)?;
    let account = verify(p, token)?.ok_or_else(refused)?;
    if accounts::load(p, &account).await?.is_none() {
        return Err(ApiError::not_found("the account of this link is gone"));
    }
    let mut prefs = stored::get(p, &account).await?;
    if !prefs.email_unsubscribed {
        prefs.email_unsubscribed = true;
        stored::put(p, &account, &prefs).await?;
    }
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "unsubscribed": true })))
}
