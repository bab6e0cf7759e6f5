//! The `auth` function: guest sign-in, accounts, OIDC, organisations, API keys, participant
//! tokens, and the public signing keys.
//!
//! Guest sign-in (`POST /v1/auth/guest {name, room?}`) gives a participant token in the
//! deployment's public organisation (variable `guest_org`, default `public`) with the participant
//! grants for `room`, or for every room of that organisation when none is named. Set
//! `guest_signin = "off"` to turn it off.

use http::{Method, StatusCode};
use origo_shared::ApiError;
use origo_shared::token::{ANY_ROOM, AUDIENCE, Claims, Grants};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::{MAX_NAME_CHARS, valid_room_name};
use crate::platform::{Platform, PlatformExt};
use crate::rate_limit;
use crate::reply::{self, respond};
use crate::variables::{guest_org, token_config, var};
use crate::{Request, Response, account, api_key, invitation, oidc, org, password_reset};

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    /// The name others see.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::display_name))]
    pub name: String,
    /// The one room the token may join; without it, every room of the public organisation.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_room_name))]
    pub room: Option<String>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub identity: String,
    pub org: String,
}

/// Serves `/v1/auth/*`, `/v1/orgs…`, `/v1/invitations/…`, `/v1/api-keys…`, `/v1/tokens` and
/// `/.well-known/jwks.json`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    match segments.as_slice() {
        ["v1", "auth", "guest"] => match *req.method() {
            Method::POST => guest(req, p).await,
            _ => Ok(reply::method_not_allowed(req, "POST")),
        },
        ["v1", "auth", "oidc", action] => oidc::route(req, p, action).await,
        ["v1", "auth", "password-reset", rest @ ..] => password_reset::route(req, p, rest).await,
        ["v1", "auth", action] => account::route(req, p, action).await,
        [".well-known", "jwks.json"] => match *req.method() {
            Method::GET => {
                let config = token_config(p)?;
                let mut res = reply::json(StatusCode::OK, &config.keys.jwks());
                res.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("max-age=300"));
                Ok(res)
            }
            _ => Ok(reply::method_not_allowed(req, "GET")),
        },
        ["v1", "orgs", ..] => org::route(req, p, &segments).await,
        ["v1", "api-keys", ..] => api_key::route_keys(req, p, &segments).await,
        ["v1", "tokens"] => api_key::mint(req, p).await,
        ["v1", "invitations", action] => invitation::route_link(req, p, action).await,
        _ => Err(reply::not_found(req)),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/guest", tag = "auth",
    summary = "Guest sign-in: a participant token in the public organisation",
    request_body = GuestRequest, security(),
    responses(
        (status = 200, body = GuestToken),
        (status = 400, response = errors::BadRequest),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
        (status = 429, response = errors::RateLimited),
    )))]
async fn guest(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if var(p, "guest_signin").as_deref() == Some("off") {
        return Err(ApiError::forbidden("guest sign-in is turned off on this deployment"));
    }
    rate_limit::hit(p, &rate_limit::GUEST_SIGN_IN, &rate_limit::address_of(req, p)).await?;
    let body: GuestRequest = reply::parse_json(req)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("name must be 1..={MAX_NAME_CHARS} printable characters")));
    }
    let room = match body.room {
        Some(r) if !valid_room_name(&r) => {
            return Err(ApiError::bad_request("room must be 1-64 characters of a-z, 0-9, '-' or '_'"));
        }
        Some(r) => r,
        None => ANY_ROOM.to_owned(),
    };
    let config = token_config(p)?;
    let org = guest_org(p);
    let identity = format!("guest-{}", p.random_hex(8));
    let claims = Claims::new(&config.issuer, AUDIENCE, &identity, p.now_secs(), config.guest_ttl_secs)
        .with_name(name)
        .with_org(&org)
        .with_grants(Grants::participant(room))
        .with_jti(p.random_hex(12));
    let access_token = config.issue(&claims)?;
    Ok(reply::json(
        StatusCode::OK,
        &GuestToken { access_token, token_type: "Bearer", expires_in: config.guest_ttl_secs, identity, org },
    ))
}
