//! Invitations: how an account joins an organisation, with its consent.
//!
//! * `POST /v1/orgs/{org}/invitations {email, role}` (admin; at most one's own role) → `202`
//!   with the invitation, the same whether or not the address has an account, and the address
//!   receives a link `{public_url}/#invitation={token}`. Inviting an address again replaces its
//!   pending invitation. At most [`MAX_PENDING`] are pending per organisation (`403
//!   limit_exceeded` beyond); each expires after [`TTL_MS`] (7 days).
//! * `GET /v1/orgs/{org}/invitations` (admin) lists the pending ones;
//!   `DELETE /v1/orgs/{org}/invitations/{id}` (admin) revokes one.
//! * `POST /v1/invitations/lookup {token}` → what the link offers (organisation, role,
//!   address), for the page that shows it; `POST /v1/invitations/accept {token}`, signed in as
//!   the verified account of the invited address, makes it a member (single use). Someone
//!   without an account signs up with the address first, confirms it, and opens the link again.
//!
//! The token is `inv_<id>_<secret>`; only the secret's digest is kept
//! ([`store::invitation`](crate::store::invitation)). It travels in request bodies and in the
//! link's fragment, never in a path or query, so no access log holds it; on its own it grants
//! nothing (only the invited address's account can accept).

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::email_address::normalize as normalize_email;
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::org_caller::{grantable, in_org};
use crate::platform::{Platform, PlatformExt};
use crate::rate_limit;
use crate::rbac::{Action, Role};
use crate::reply;
use crate::secret_digest::{digest_eq, secret_digest};
use crate::store::account as accounts;
use crate::store::invitation::{self as stored, Invitation};
use crate::store::org::{self as orgs, Membership};
use crate::variables::var;
use crate::{Request, Response, email, session};

/// How long an invitation can be accepted.
pub const TTL_MS: u64 = 7 * 86_400_000;
/// Most pending invitations of one organisation.
pub const MAX_PENDING: usize = 100;
/// Longest token accepted in a path.
pub const MAX_TOKEN_BYTES: usize = 128;

const PREFIX: &str = "inv_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 48;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::email))]
    pub email: String,
    pub role: Role,
}

/// An invitation as its organisation's admins see it (never its token).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationView {
    pub id: String,
    pub org: String,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

impl InvitationView {
    fn of(i: &Invitation) -> Self {
        InvitationView {
            id: i.id.clone(),
            org: i.org.clone(),
            email: i.email.clone(),
            role: i.role,
            invited_by: i.invited_by.clone(),
            created_at_ms: i.created_at_ms,
            expires_at_ms: i.expires_at_ms,
        }
    }
}

/// What an invitation link offers.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationOffer {
    pub org: String,
    pub org_name: String,
    pub email: String,
    pub role: Role,
    pub expires_at_ms: u64,
}

/// Serves `/v1/orgs/{org}/invitations[/{id}]` (`rest` is what follows `invitations`).
pub async fn route_org(req: &Request, p: &impl Platform, org: &str, rest: &[&str]) -> Result<Response, ApiError> {
    match (rest, req.method()) {
        ([], &Method::POST) => invite(req, p, org).await,
        ([], &Method::GET) => list(req, p, org).await,
        ([], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        ([id], &Method::DELETE) => revoke(req, p, org, id).await,
        ([_], _) => Ok(reply::method_not_allowed(req, "DELETE")),
        _ => Err(reply::not_found(req)),
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The token from the link (`inv_…`); any other is refused with `400`.
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub token: String,
}

/// Serves `/v1/invitations/{lookup,accept}`.
pub async fn route_link(req: &Request, p: &impl Platform, action: &str) -> Result<Response, ApiError> {
    match (action, req.method()) {
        ("lookup", &Method::POST) => offer(req, p).await,
        ("accept", &Method::POST) => accept(req, p).await,
        ("lookup" | "accept", _) => Ok(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/orgs/{org}/invitations", tag = "orgs", operation_id = "invite",
    summary = "Invite an address (admin; at most one's own role); the same answer whether or not it has an account",
    request_body = InviteBody, params(crate::input_schemas::OrgPath), security(("bearer" = [])),
    responses(
        (status = 202, body = InvitationView),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 429, response = errors::RateLimited),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
    )))]
async fn invite(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    let caller = in_org(req, p, org).await?;
    caller.require(Action::MembersManage)?;
    rate_limit::hit(p, &rate_limit::INVITE_PER_ORG, org).await?;
    let body: InviteBody = reply::parse_json(req)?;
    let email_addr = normalize_email(&body.email)?;
    grantable(&caller, body.role)?;
    if !email::configured(p) {
        return Err(ApiError::new(ErrorCode::Unavailable, "invitations need email delivery (email_api_url)"));
    }
    let now = p.now_ms();
    let pending = stored::pending(p, org, now).await?;
    // Inviting an address again replaces its pending invitation.
    let earlier: Vec<&Invitation> = pending.iter().filter(|i| i.email == email_addr).collect();
    if pending.len() - earlier.len() >= MAX_PENDING {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("at most {MAX_PENDING} invitations are pending at once; revoke some or wait for them to expire"),
        ));
    }
    for old in earlier {
        stored::delete(p, org, &old.id).await?;
    }
    let id = format!("{PREFIX}{}", p.random_hex(ID_HEX / 2));
    let secret = p.random_hex(SECRET_HEX / 2);
    let token = format!("{id}_{secret}");
    let inv = Invitation {
        id,
        org: org.to_owned(),
        email: email_addr.clone(),
        role: body.role,
        invited_by: caller.identity().to_owned(),
        created_at_ms: now,
        expires_at_ms: now + TTL_MS,
        secret_sha256: secret_digest(&secret),
    };
    stored::put(p, &inv).await?;
    let org_name = orgs::get(p, org).await?.map(|o| o.name).unwrap_or_else(|| org.to_owned());
    let link = match var(p, "public_url") {
        Some(b) => format!("{}/#invitation={token}", b.trim_end_matches('/')),
        None => format!("invitation code: {token}"),
    };
    let text = format!(
        "{} invited you to the organisation \"{org_name}\" on Origo, as {}.\n\n\
         Open this link within 7 days to accept:\n\n{link}\n\n\
         Sign in with this address ({email_addr}), or sign up with it first. \
         If you do not want to join, ignore this message.",
        caller.display_name(),
        inv.role.as_str(),
    );
    email::send(p, &email_addr, &format!("Invitation to {org_name} on Origo"), &text).await?;
    Ok(reply::json(StatusCode::ACCEPTED, &InvitationView::of(&inv)))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/orgs/{org}/invitations", tag = "orgs", operation_id = "list_invitations",
    summary = "Pending invitations (admin)",
    params(crate::input_schemas::OrgPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "`{invitations: [InvitationView]}`"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list(req: &Request, p: &impl Platform, org: &str) -> Result<Response, ApiError> {
    in_org(req, p, org).await?.require(Action::MembersManage)?;
    let pending = stored::pending(p, org, p.now_ms()).await?;
    let views: Vec<InvitationView> = pending.iter().map(InvitationView::of).collect();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "invitations": views })))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/orgs/{org}/invitations/{id}", tag = "orgs", operation_id = "revoke_invitation",
    summary = "Revoke a pending invitation (admin)",
    params(crate::input_schemas::OrgPath, ("id" = String, Path, max_length = 64, description = "Invitation id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn revoke(req: &Request, p: &impl Platform, org: &str, id: &str) -> Result<Response, ApiError> {
    in_org(req, p, org).await?.require(Action::MembersManage)?;
    let found = if id.len() <= 64 { stored::get(p, id).await? } else { None };
    match found {
        Some(inv) if inv.org == org => {
            stored::delete(p, org, id).await?;
            Ok(reply::no_content())
        }
        _ => Err(ApiError::not_found(format!("no pending invitation {}", id.chars().take(64).collect::<String>()))),
    }
}

fn invalid_link() -> ApiError {
    ApiError::bad_request("this invitation link is invalid, was already used or was revoked")
}

/// The pending invitation a token names, or a `400`.
async fn from_token(p: &impl Platform, token: &str) -> Result<Invitation, ApiError> {
    let parsed = token.strip_prefix(PREFIX).filter(|_| token.len() <= MAX_TOKEN_BYTES).and_then(|t| t.split_once('_'));
    let Some((id_hex, secret)) = parsed else { return Err(invalid_link()) };
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(id_hex, ID_HEX) || !hex(secret, SECRET_HEX) {
        return Err(invalid_link());
    }
    let found = stored::get(p, &format!("{PREFIX}{id_hex}")).await?;
    // Compare against a digest even for unknown ids, so both refusals take the same time.
    let expected = found.as_ref().map(|i| i.secret_sha256.clone()).unwrap_or_else(|| "0".repeat(64));
    let matches = digest_eq(&secret_digest(secret), &expected);
    let inv = found.filter(|_| matches).ok_or_else(invalid_link)?;
    if inv.expires_at_ms <= p.now_ms() {
        return Err(ApiError::bad_request("this invitation has expired; ask for a new one"));
    }
    Ok(inv)
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/invitations/lookup", tag = "orgs", operation_id = "look_up_invitation",
    summary = "What an invitation link offers",
    request_body = TokenBody, security(),
    responses(
        (status = 200, body = InvitationOffer),
        (status = 400, response = errors::BadRequest),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn offer(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: TokenBody = reply::parse_json(req)?;
    let inv = from_token(p, &body.token).await?;
    let org = orgs::get(p, &inv.org).await?.ok_or_else(invalid_link)?;
    let offer = InvitationOffer {
        org: inv.org,
        org_name: org.name,
        email: inv.email,
        role: inv.role,
        expires_at_ms: inv.expires_at_ms,
    };
    Ok(reply::json(StatusCode::OK, &offer))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/invitations/accept", tag = "orgs", operation_id = "accept_invitation",
    summary = "Accept an invitation, signed in as the verified account of the invited address",
    request_body = TokenBody, security(("bearer" = [])),
    responses(
        (status = 200, body = Membership),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 409, response = errors::Conflict),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn accept(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let claims = session::account_claims(req, p, "an invitation is accepted by a signed-in account").await?;
    let body: TokenBody = reply::parse_json(req)?;
    let inv = from_token(p, &body.token).await?;
    let account = accounts::load(p, &claims.sub).await?.ok_or_else(|| ApiError::unauthorized("no such account"))?;
    if !account.verified || account.email != inv.email {
        return Err(ApiError::forbidden(
            "this invitation is for another address: sign in with the verified account of the address it was sent to",
        ));
    }
    // The invitation is used up whatever follows.
    stored::delete(p, &inv.org, &inv.id).await?;
    if !orgs::exists(p, &inv.org).await? {
        return Err(invalid_link());
    }
    // The inviter must still be able to grant the role.
    let inviter = orgs::membership(p, &inv.org, &inv.invited_by).await?;
    if !inviter.is_some_and(|m| m.role.at_least(inv.role) && crate::rbac::allows(m.role, Action::MembersManage)) {
        return Err(ApiError::forbidden(
            "whoever sent this invitation may no longer grant its role; ask for a new one",
        ));
    }
    if orgs::is_member(p, &inv.org, &account.id).await? {
        return Err(ApiError::new(ErrorCode::Conflict, "already a member; an admin changes the role with PATCH"));
    }
    let m = Membership { org: inv.org, account: account.id, role: inv.role, added_at_ms: p.now_ms() };
    orgs::put_member(p, &m).await?;
    Ok(reply::json(StatusCode::OK, &m))
}
