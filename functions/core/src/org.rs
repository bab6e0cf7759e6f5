//! Organisations and their members: `/v1/orgs`, `/v1/orgs/{org}`, `/v1/orgs/{org}/members[/{account}]`.
//! Accounts become members only by accepting an invitation ([`invitation`](crate::invitation)).
//!
//! The records are in [`store::org`](crate::store::org). A caller grants at most its own role, never changes a member
//! stronger than itself, and an organisation always keeps an owner.

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::Deserialize;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::MAX_LABEL_CHARS;
pub use crate::names::valid_org_id;
use crate::org_caller::{grantable, in_org};
use crate::platform::{Platform, PlatformExt};
use crate::rbac::{Action, Role};
use crate::reply;
use crate::store::org::{self as stored, Membership, Org, memberships_of};
use crate::store::{api_key as stored_keys, invitation as stored_invitations, room as stored_rooms};
use crate::{Request, Response, invitation, session};

/// Most organisations one account may create.
pub const MAX_ORGS_PER_ACCOUNT: usize = 20;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrgBody {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::label))]
    pub name: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    pub role: Role,
}

fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_LABEL_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("name must be 1..={MAX_LABEL_CHARS} printable characters")));
    }
    Ok(name.to_owned())
}

/// Serves `/v1/orgs…`.
pub async fn route(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match (segments, req.method()) {
        (["v1", "orgs"], &Method::POST) => create(req, p).await,
        (["v1", "orgs"], &Method::GET) => list(req, p).await,
        (["v1", "orgs"], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "orgs", org], &Method::GET) => get_org(req, p, org).await,
        (["v1", "orgs", org], &Method::PATCH) => update(req, p, org).await,
        (["v1", "orgs", org], &Method::DELETE) => delete(req, p, org).await,
        (["v1", "orgs", _], _) => Ok(reply::method_not_allowed(req, "GET, PATCH, DELETE")),
        (["v1", "orgs", org, "members"], &Method::GET) => list_members(req, p, org).await,
        // Members join by accepting an invitation (`invitation`), never added directly.
        (["v1", "orgs", _, "members"], _) => Ok(reply::method_not_allowed(req, "GET")),
        (["v1", "orgs", org, "invitations", rest @ ..], _) => invitation::route_org(req, p, org, rest).await,
        (["v1", "orgs", org, "members", account], &Method::PATCH) => set_role(req, p, org, account).await,
        (["v1", "orgs", org, "members", account], &Method::DELETE) => remove(req, p, org, account).await,
        (["v1", "orgs", _, "members", _], _) => Ok(reply::method_not_allowed(req, "PATCH, DELETE")),
        _ => Err(reply::not_found(req)),
    }
}

fn gone(org: &str) -> ApiError {
    ApiError::not_found(format!("no organisation {org}"))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/orgs", tag = "orgs",
    summary = "Create an organisation (the caller becomes its owner)",
    request_body = OrgBody, security(("bearer" = [])),
    responses(
        (status = 201, body = Org),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn create(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let claims = session::account_claims(req, p, "organisations are created by signed-in accounts").await?;
    let body: OrgBody = reply::parse_json(req)?;
    let name = valid_name(&body.name)?;
    if memberships_of(p, &claims.sub).await?.len() >= MAX_ORGS_PER_ACCOUNT {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("an account belongs to at most {MAX_ORGS_PER_ACCOUNT} organisations"),
        ));
    }
    let now = p.now_ms();
    let org = Org { id: format!("org_{}", p.random_hex(8)), name, created_at_ms: now, created_by: claims.sub.clone() };
    stored::put(p, &org).await?;
    stored::put_member(
        p,
        &Membership { org: org.id.clone(), account: claims.sub, role: Role::Owner, added_at_ms: now },
    )
    .await?;
    Ok(reply::json(StatusCode::CREATED, &org))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/orgs", tag = "orgs",
    summary = "The caller's organisations and roles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{orgs: [{id, name, role, created_at_ms}]}`"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let claims = session::account_claims(req, p, "only signed-in accounts belong to organisations").await?;
    let mut out = Vec::new();
    for (id, role) in memberships_of(p, &claims.sub).await? {
        if let Some(o) = stored::get(p, &id).await? {
            out.push(serde_json::json!({ "id": o.id, "name": o.name, "role": role, "created_at_ms": o.created_at_ms }));
        }
    }
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "orgs": out })))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs",
    summary = "An organisation",
    params(crate::input_schemas::OrgPath), security(("bearer" = [])),
    responses(
        (status = 200, body = Org),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn get_org(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    in_org(req, p, org).await?.require(Action::OrgRead)?;
    let o = stored::get(p, org).await?.ok_or_else(|| gone(org))?;
    Ok(reply::json(StatusCode::OK, &o))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs",
    summary = "Members and roles (member)",
    params(crate::input_schemas::OrgPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "`{members: [Membership]}`"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list_members(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    in_org(req, p, org).await?.require(Action::MembersRead)?;
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "members": stored::members(p, org).await? })))
}

#[cfg_attr(feature = "openapi", utoipa::path(patch, path = "/v1/orgs/{org}", tag = "orgs",
    summary = "Rename (admin)",
    request_body = OrgBody, params(crate::input_schemas::OrgPath), security(("bearer" = [])),
    responses(
        (status = 200, body = Org),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn update(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    in_org(req, p, org).await?.require(Action::OrgUpdate)?;
    let body: OrgBody = reply::parse_json(req)?;
    let mut o = stored::get(p, org).await?.ok_or_else(|| gone(org))?;
    o.name = valid_name(&body.name)?;
    stored::put(p, &o).await?;
    Ok(reply::json(StatusCode::OK, &o))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs",
    summary = "Delete with its rooms and API keys (owner)",
    params(crate::input_schemas::OrgPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn delete(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    in_org(req, p, org).await?.require(Action::OrgDelete)?;
    // Keys first, so nothing can act in the organisation while it is being removed.
    stored_keys::delete_of_org(p, org).await?;
    // Every meeting ends (its participants are disconnected with 4010), then its room goes.
    let close = crate::coordinator::RoomCommand::Close { reason: "the organisation was deleted".into() };
    for name in stored_rooms::names(p, org).await?.entries.keys() {
        if stored_rooms::meeting_running(p, org, name).await? {
            let key = origo_shared::RoomKey::new(org, name);
            p.coordinator_send(&key, &close).await.map_err(crate::reply::unavailable)?;
        }
    }
    stored_rooms::delete_of_org(p, org).await?;
    for hook in crate::store::webhook::of_org(p, org).await? {
        crate::store::webhook::delete(p, org, &hook.id).await?;
    }
    crate::store::record::delete(p, &crate::store::keys::live_rooms(org)).await?;
    stored_invitations::delete_of_org(p, org).await?;
    for m in stored::members(p, org).await? {
        stored::remove_member(p, org, &m.account).await?;
    }
    stored::delete(p, org).await?;
    Ok(reply::no_content())
}

async fn target(p: &impl Platform, org: &str, account: &str) -> Result<Membership, ApiError> {
    let found = if account.len() <= 64 { stored::membership(p, org, account).await? } else { None };
    found.ok_or_else(|| ApiError::not_found(format!("{account} is not a member")))
}

async fn owners(p: &impl Platform, org: &str) -> Result<usize, ApiError> {
    Ok(stored::members(p, org).await?.iter().filter(|m| m.role == Role::Owner).count())
}

#[cfg_attr(feature = "openapi", utoipa::path(patch, path = "/v1/orgs/{org}/members/{account}", tag = "orgs",
    summary = "Change a member's role",
    request_body = SetRole, params(crate::input_schemas::OrgPath, ("account" = String, Path, max_length = 64, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, body = Membership),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn set_role(req: &Request, p: &impl Platform, org: &str, account: &str) -> Result<Response, ApiError> {
    let caller = in_org(req, p, org).await?;
    caller.require(Action::MembersManage)?;
    let body: SetRole = reply::parse_json(req)?;
    let mut m = target(p, org, account).await?;
    grantable(&caller, m.role)?;
    grantable(&caller, body.role)?;
    if m.role == Role::Owner && body.role != Role::Owner && owners(p, org).await? == 1 {
        return Err(ApiError::new(ErrorCode::Conflict, "an organisation keeps at least one owner"));
    }
    m.role = body.role;
    stored::put_member(p, &m).await?;
    Ok(reply::json(StatusCode::OK, &m))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/orgs/{org}/members/{account}", tag = "orgs",
    summary = "Remove a member (or leave)",
    params(crate::input_schemas::OrgPath, ("account" = String, Path, max_length = 64, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 503, response = errors::Unavailable),
    )))]
async fn remove(req: &Request, p: &impl Platform, org: &str, account: &str) -> Result<Response, ApiError> {
    let caller = in_org(req, p, org).await?;
    let m = target(p, org, account).await?;
    // Anyone may leave; removing others needs the role and at least the target's strength.
    if caller.identity() != account {
        caller.require(Action::MembersManage)?;
        grantable(&caller, m.role)?;
    }
    if m.role == Role::Owner && owners(p, org).await? == 1 {
        return Err(ApiError::new(ErrorCode::Conflict, "an organisation keeps at least one owner"));
    }
    stored::remove_member(p, org, account).await?;
    Ok(reply::no_content())
}
