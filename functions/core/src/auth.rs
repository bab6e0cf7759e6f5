//! Auth: guest sign-in, the signing keys, and checking bearer tokens for the other functions.
//!
//! Variables: `token_secret` (HS256 secret, at least 32 bytes; required), `token_kid`
//! (default `primary`), `token_issuer` (default `origo`), `guest_ttl_secs` (default 900).

use http::{Method, StatusCode, header};
use origo_shared::token::{self, Claims, Expectations, KeySet, TokenKey};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::platform::{Platform, PlatformExt};
use crate::reply::{self, respond};
use crate::{Request, Response};

/// The audience of every token the auth function issues.
pub const AUDIENCE: &str = "origo";
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The signing keys and token settings, read from variables.
pub struct TokenConfig {
    pub keys: KeySet,
    pub issuer: String,
    pub guest_ttl_secs: u64,
}

impl TokenConfig {
    pub fn from_platform(p: &impl Platform) -> Result<Self, ApiError> {
        let secret = p
            .variable("token_secret")
            .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "auth is not configured: token_secret is unset"))?;
        let kid = p.variable("token_kid").unwrap_or_else(|| "primary".into());
        let key = TokenKey::hs256(kid, secret.as_bytes())
            .map_err(|e| ApiError::new(ErrorCode::Unavailable, format!("auth is misconfigured: {e}")))?;
        let guest_ttl_secs = p.variable("guest_ttl_secs").and_then(|v| v.parse().ok()).unwrap_or(900);
        Ok(TokenConfig {
            keys: KeySet::new().with_key(key),
            issuer: p.variable("token_issuer").unwrap_or_else(|| "origo".into()),
            guest_ttl_secs,
        })
    }

    pub fn expectations(&self) -> Expectations {
        Expectations::new(self.issuer.clone(), AUDIENCE)
    }
}

/// The claims of the request's `Authorization: Bearer` token, or a 401.
pub fn authenticate(req: &Request, p: &impl Platform) -> Result<Claims, ApiError> {
    let config = TokenConfig::from_platform(p)?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    let raw = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
    token::verify(raw.trim(), &config.keys, &config.expectations(), p.now_secs())
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestRequest {
    name: String,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    identity: String,
}

/// Serves `/v1/auth/*` and `/.well-known/jwks.json`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    match req.uri().path() {
        "/v1/auth/guest" => match *req.method() {
            Method::POST => guest(req, p),
            _ => Err(reply::method_not_allowed(req, "POST")),
        },
        "/.well-known/jwks.json" => match *req.method() {
            Method::GET => {
                let config = TokenConfig::from_platform(p)?;
                Ok(reply::json(StatusCode::OK, &config.keys.jwks()))
            }
            _ => Err(reply::method_not_allowed(req, "GET")),
        },
        _ => Err(reply::not_found(req)),
    }
}

fn guest(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: GuestRequest = reply::parse_json(req)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("name must be 1..={MAX_NAME_CHARS} printable characters")));
    }
    let config = TokenConfig::from_platform(p)?;
    let identity = format!("guest-{}", p.random_hex(8));
    let claims = Claims::new(&config.issuer, AUDIENCE, &identity, p.now_secs(), config.guest_ttl_secs)
        .with_name(name)
        .with_jti(p.random_hex(12));
    let access_token = config.keys.issue(&claims).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(reply::json(
        StatusCode::OK,
        &TokenResponse { access_token, token_type: "Bearer", expires_in: config.guest_ttl_secs, identity },
    ))
}
