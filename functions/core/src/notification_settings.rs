//! `GET/PUT /v1/me/notification-preferences`: a signed-in account's channels per kind, quiet
//! hours and email unsubscribe ([`notification_preferences`](crate::notification_preferences)).

use http::{Method, StatusCode};
use origo_shared::ApiError;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::notification_preferences::Preferences;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::reply;
use crate::store::notification_preferences as stored;
use crate::{Request, Response};

/// Serves `/v1/me/notification-preferences`.
pub async fn route(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match (segments, req.method()) {
        (["v1", "me", "notification-preferences"], &Method::GET) => show(req, p).await,
        (["v1", "me", "notification-preferences"], &Method::PUT) => replace(req, p).await,
        (["v1", "me", "notification-preferences"], _) => Ok(reply::method_not_allowed(req, "GET, PUT")),
        _ => Err(reply::not_found(req)),
    }
}

async fn account(req: &Request, p: &impl Platform) -> Result<String, ApiError> {
    Ok(Principal::from_request(req, p).await?.account()?.to_owned())
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/me/notification-preferences", operation_id = "preferences_show", tag = "notifications",
    summary = "This account's notification preferences, every kind with its channels", security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn show(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    Ok(reply::json(StatusCode::OK, &stored::get(p, &account).await?.resolved()))
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/v1/me/notification-preferences", operation_id = "preferences_replace", tag = "notifications",
    summary = "Replace this account's notification preferences (kinds left out get their defaults)",
    request_body = Preferences, security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn replace(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let prefs: Preferences = reply::parse_json(req)?;
    prefs.validate()?;
    stored::put(p, &account, &prefs).await?;
    Ok(reply::json(StatusCode::OK, &prefs.resolved()))
}
