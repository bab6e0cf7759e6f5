//! Partner API keys (`/v1/api-keys`) and participant tokens minted with them (`/v1/tokens`).
//!
//! A key is `osk_<id>_<secret>` ([`api_key_credential`](crate::api_key_credential)): shown
//! once at creation; stored with the SHA-256 of the secret (a 256-bit random secret needs no
//! slow hash), indexed per organisation ([`store::api_key`](crate::store::api_key)). Owners and admins create keys with a role no
//! stronger than their own (`admin` or `member`); revoking deletes the key at once.
//!
//! `POST /v1/tokens` (API key, or an account with `admin`): a participant token for the key's
//! organisation with LiveKit-style grants.

use http::{Method, StatusCode};
use origo_shared::token::{AUDIENCE, Claims, Grants};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::api_key_credential;
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::{MAX_IDENTITY_BYTES, MAX_LABEL_CHARS, MAX_NAME_CHARS, valid_room_name};
use crate::platform::{Platform, PlatformExt};
use crate::principal::Principal;
use crate::rate_limit;
use crate::rbac::{Action, Role};
use crate::reply;
use crate::secret_digest::secret_digest;
use crate::store::api_key::{self as stored, StoredApiKey};
use crate::variables::token_config;
use crate::{Request, Response};

/// Most live keys per organisation.
pub const MAX_KEYS_PER_ORG: usize = 50;
/// Longest participant token a partner may mint (24 h).
pub const MAX_TOKEN_TTL_SECS: u64 = 24 * 3600;
/// Largest metadata a participant token may carry, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

#[cfg(feature = "openapi")]
fn metadata_schema() -> utoipa::openapi::schema::Schema {
    crate::input_schemas::bytes_up_to(MAX_METADATA_BYTES, true)
}

#[cfg(feature = "openapi")]
fn ttl_schema() -> utoipa::openapi::schema::Schema {
    crate::input_schemas::integer(1, MAX_TOKEN_TTL_SECS, true)
}

/// An API key as listed (never with its secret).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at_ms: u64,
    pub created_by: String,
    /// The full key (`osk_…`); only in the response that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::label))]
    pub name: String,
    /// `admin` (default) or `member`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ApiKeyRole>))]
    pub role: Option<Role>,
}

/// The roles an API key may have (an owner is a person; a guest key would mint nothing).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyRole {
    Admin,
    Member,
}

/// The grants a partner may put in a participant token: at least one of `join`, `publish`,
/// `subscribe`, `publish_data`, `room_admin`, `room_create`; `room` is required with `join`
/// or `room_admin`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsBody {
    pub room: Option<String>,
    #[serde(default)]
    pub join: bool,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub subscribe: bool,
    #[serde(default)]
    pub publish_data: bool,
    #[serde(default)]
    pub room_admin: bool,
    #[serde(default)]
    pub room_create: bool,
    #[serde(default)]
    pub hidden: bool,
}

/// The grants that give a token something to do.
#[cfg(feature = "openapi")]
const GRANTS: [&str; 6] = ["join", "publish", "subscribe", "publish_data", "room_admin", "room_create"];

/// `GrantsBody`'s schema says what [`mint`] checks: the fields, at least one grant, and a
/// room with `join` or `room_admin`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for GrantsBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type};
        let boolean = || ObjectBuilder::new().schema_type(Type::Boolean);
        let is = |value: bool| boolean().enum_values(Some([value]));
        let mut fields = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("room", crate::input_schemas::optional_room_name())
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)));
        for name in GRANTS.iter().chain(&["hidden"]) {
            fields = fields.property(*name, boolean());
        }
        let one_grant = GRANTS
            .iter()
            .fold(AnyOfBuilder::new(), |any, g| any.item(ObjectBuilder::new().property(*g, is(true)).required(*g)));
        let room_when_needed = AnyOfBuilder::new()
            .item(ObjectBuilder::new().property("join", is(false)).property("room_admin", is(false)))
            .item(
                ObjectBuilder::new().property("room", ObjectBuilder::new().schema_type(Type::String)).required("room"),
            );
        let all = AllOfBuilder::new()
            .item(fields)
            .item(one_grant)
            .item(room_when_needed)
            .description(Some(
                "At least one of `join`, `publish`, `subscribe`, `publish_data`, `room_admin`, \
                 `room_create`; `room` is required with `join` or `room_admin`.",
            ))
            .build();
        utoipa::openapi::schema::Schema::AllOf(all).into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for GrantsBody {}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// The participant's stable id in the partner's system.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::participant_identity))]
    pub identity: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_token_name))]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = metadata_schema))]
    pub metadata: Option<String>,
    /// Lifetime in seconds (default `participant_ttl_secs`, at most 86400).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = ttl_schema))]
    pub ttl_secs: Option<u64>,
    pub grants: GrantsBody,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MintedToken {
    pub token: String,
    pub identity: String,
    pub expires_in: u64,
}

/// What a listing shows of `k`, with the full key only when it was just created.
fn view(k: &StoredApiKey, secret: Option<String>) -> ApiKeyView {
    ApiKeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        role: k.role,
        created_at_ms: k.created_at_ms,
        created_by: k.created_by.clone(),
        secret,
    }
}

/// Serves `/v1/api-keys` and `/v1/api-keys/{id}`.
pub async fn route_keys(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match (segments, req.method()) {
        (["v1", "api-keys"], &Method::POST) => create(req, p).await,
        (["v1", "api-keys"], &Method::GET) => list(req, p).await,
        (["v1", "api-keys"], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "api-keys", id], &Method::DELETE) => revoke(req, p, id).await,
        (["v1", "api-keys", _], _) => Ok(reply::method_not_allowed(req, "DELETE")),
        _ => Err(reply::not_found(req)),
    }
}

/// The caller as an account allowed to manage keys.
async fn manager(req: &Request, p: &impl Platform) -> Result<Principal, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.account()?;
    caller.require(Action::ApiKeysManage)?;
    Ok(caller)
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/api-keys", tag = "api-keys",
    summary = "Create a partner API key; the secret is in this response only",
    request_body = CreateApiKey, params(crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 201, body = ApiKeyView),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
        (status = 429, response = errors::RateLimited),
    )))]
async fn create(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    let org = caller.org()?.to_owned();
    rate_limit::hit(p, &rate_limit::KEY_CREATION, &org).await?;
    let body: CreateApiKey = reply::parse_json(req)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_LABEL_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("name must be 1..={MAX_LABEL_CHARS} printable characters")));
    }
    let role = body.role.unwrap_or(Role::Admin);
    if role == Role::Owner || role == Role::Guest {
        return Err(ApiError::bad_request("an API key's role is admin or member"));
    }
    if !caller.role().is_some_and(|r| r.at_least(role)) {
        return Err(ApiError::forbidden("an API key cannot be stronger than its creator"));
    }
    if stored::of_org(p, &org).await?.len() >= MAX_KEYS_PER_ORG {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("at most {MAX_KEYS_PER_ORG} API keys per organisation"),
        ));
    }
    let id = p.random_hex(8);
    let secret = {
        use base64::Engine;
        let mut raw = [0u8; 32];
        p.random(&mut raw);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    let key = StoredApiKey {
        id: id.clone(),
        org: org.clone(),
        name: name.to_owned(),
        role,
        secret_sha256: secret_digest(&secret),
        created_at_ms: p.now_ms(),
        created_by: caller.identity().to_owned(),
    };
    stored::insert(p, &key).await?;
    Ok(reply::json(StatusCode::CREATED, &view(&key, Some(api_key_credential::compose(&id, &secret)))))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    summary = "The organisation's API keys (never their secrets)",
    params(crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, description = "`{api_keys: [ApiKeyView]}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    let keys: Vec<ApiKeyView> = stored::of_org(p, caller.org()?).await?.iter().map(|k| view(k, None)).collect();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "api_keys": keys })))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    summary = "Revoke a key at once",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Key id: 16 lowercase hex digits"), crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn revoke(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    let org = caller.org()?;
    match stored::get(p, id).await? {
        Some(k) if k.org == org => {
            stored::delete(p, org, id).await?;
            Ok(reply::no_content())
        }
        _ => Err(ApiError::not_found(format!("no API key {id}"))),
    }
}

/// `POST /v1/tokens`.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/tokens", tag = "api-keys",
    summary = "Mint a participant token with grants (API key or admin)",
    request_body = MintToken, params(crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = MintedToken),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn mint(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(reply::method_not_allowed(req, "POST"));
    }
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::TokensMint)?;
    let org = caller.org()?.to_owned();
    let body: MintToken = reply::parse_json(req)?;
    let identity = body.identity.trim();
    if identity.is_empty()
        || identity.len() > MAX_IDENTITY_BYTES
        || identity.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ApiError::bad_request(format!(
            "identity must be 1..={MAX_IDENTITY_BYTES} characters without spaces"
        )));
    }
    if body.name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control)) {
        return Err(ApiError::bad_request(format!("name must be at most {MAX_NAME_CHARS} printable characters")));
    }
    if body.metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA_BYTES) {
        return Err(ApiError::bad_request(format!("metadata is limited to {MAX_METADATA_BYTES} bytes")));
    }
    let g = body.grants;
    match g.room.as_deref() {
        Some(r) if !valid_room_name(r) => {
            return Err(ApiError::bad_request("grants.room must be 1-64 characters of a-z, 0-9, '-' or '_'"));
        }
        None if g.join || g.room_admin => {
            return Err(ApiError::bad_request("grants.room is required with join or room_admin"));
        }
        _ => {}
    }
    if !(g.join || g.publish || g.subscribe || g.publish_data || g.room_admin || g.room_create) {
        return Err(ApiError::bad_request("a token needs at least one grant"));
    }
    let config = token_config(p)?;
    let ttl = body.ttl_secs.unwrap_or(config.participant_ttl_secs);
    if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
        return Err(ApiError::bad_request(format!("ttl_secs must be 1..={MAX_TOKEN_TTL_SECS}")));
    }
    let grants = Grants {
        room: g.room,
        join: g.join,
        publish: g.publish,
        subscribe: g.subscribe,
        publish_data: g.publish_data,
        room_admin: g.room_admin,
        room_create: g.room_create,
        hidden: g.hidden,
    };
    let mut claims = Claims::new(&config.issuer, AUDIENCE, identity, p.now_secs(), ttl)
        .with_grants(grants)
        .with_org(org)
        .with_jti(p.random_hex(12));
    if let Some(n) = body.name {
        claims = claims.with_name(n.trim());
    }
    if let Some(m) = body.metadata {
        claims = claims.with_metadata(m);
    }
    let token = config.issue(&claims)?;
    Ok(reply::json(StatusCode::CREATED, &MintedToken { token, identity: identity.to_owned(), expires_in: ttl }))
}
