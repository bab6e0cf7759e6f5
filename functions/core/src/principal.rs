//! Who is calling: a signed-in account acting in one of its organisations, a partner's API
//! key, or a participant token. Every handler resolves the caller here and asks
//! [`Principal::require`] before acting.
//!
//! Credentials, all as `Authorization: Bearer …`:
//! * an **account** access token (from signup/login/OIDC): the organisation comes from the
//!   `X-Origo-Org` header, or is the account's only organisation; the role is read from the
//!   membership on every request, so a demotion takes effect at once;
//! * a **partner API key** `osk_<id>_<secret>`: bound to one organisation with one role;
//! * a **participant token** (guest sign-in, `POST /v1/tokens`, or the one `join` returns):
//!   its grants decide, LiveKit-style; its organisation is in the `org` claim.

use origo_shared::ApiError;
use origo_shared::token::{self, Claims, TokenKind};

use crate::Request;
use crate::api_key_credential;
use crate::names::valid_org_id;
use crate::platform::{Platform, PlatformExt};
use crate::rbac::{Action, Role, allows};
use crate::reply::bearer;
use crate::secret_digest::{digest_eq, secret_digest};
use crate::store::api_key::{self as stored_keys, StoredApiKey};
use crate::store::org as stored_orgs;
use crate::variables::token_config;

/// The header naming the organisation an account acts in.
pub const ORG_HEADER: &str = "x-origo-org";

/// The [`ORG_HEADER`] as an OpenAPI parameter of the operations that act in the caller's
/// organisation.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct OrgHeader {
    /// The organisation an account token acts in: needed when the account is in several
    /// organisations (else `400`); an organisation the account is not in is a `403`. Ignored
    /// for API keys and participant tokens, whose organisation is their own.
    #[param(rename = "X-Origo-Org", value_type = String, required = false, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub org: Option<String>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    Account { id: String, name: Option<String>, org: Option<(String, Role)> },
    ApiKey { id: String, org: String, role: Role },
    Participant(Box<Claims>),
}

/// Verifies a token the deployment issued.
pub fn verify_token(raw: &str, p: &impl Platform) -> Result<Claims, ApiError> {
    token_config(p)?.verify(raw, p.now_secs())
}

impl Principal {
    /// Resolves the caller of `req`.
    pub async fn from_request(req: &Request, p: &impl Platform) -> Result<Principal, ApiError> {
        let raw = bearer(req)?;
        if raw.starts_with(api_key_credential::PREFIX) {
            let key = authenticate_api_key(raw, p).await?;
            return Ok(Principal::ApiKey { id: key.id, org: key.org, role: key.role });
        }
        let claims = verify_token(raw, p)?;
        match claims.kind {
            TokenKind::Participant => {
                token::participant_org(&claims)?;
                Ok(Principal::Participant(Box::new(claims)))
            }
            TokenKind::Account => {
                crate::session::check_account_token(p, &claims).await?;
                let org = account_org(req, p, &claims.sub).await?;
                Ok(Principal::Account { id: claims.sub, name: claims.name, org })
            }
        }
    }

    /// The caller's stable identity.
    pub fn identity(&self) -> &str {
        match self {
            Principal::Account { id, .. } | Principal::ApiKey { id, .. } => id,
            Principal::Participant(c) => &c.sub,
        }
    }

    /// A name to show for the caller.
    pub fn display_name(&self) -> String {
        match self {
            Principal::Account { id, name, .. } => name.clone().unwrap_or_else(|| id.clone()),
            Principal::ApiKey { id, .. } => id.clone(),
            Principal::Participant(c) => c.name.clone().unwrap_or_else(|| c.sub.clone()),
        }
    }

    /// The organisation the caller acts in.
    pub fn org(&self) -> Result<&str, ApiError> {
        match self {
            Principal::Account { org: Some((org, _)), .. } => Ok(org),
            Principal::Account { org: None, .. } => Err(ApiError::bad_request(format!(
                "name the organisation to act in with the {ORG_HEADER} header (the account is in none or several)"
            ))),
            Principal::ApiKey { org, .. } => Ok(org),
            Principal::Participant(c) => c.org.as_deref().ok_or_else(|| ApiError::unauthorized("no organisation")),
        }
    }

    /// The caller's role in its organisation (participants have none: their grants decide).
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Account { org: Some((_, role)), .. } => Some(*role),
            Principal::ApiKey { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// The account id, or a 403 for other callers.
    pub fn account(&self) -> Result<&str, ApiError> {
        match self {
            Principal::Account { id, .. } => Ok(id),
            _ => Err(ApiError::forbidden("only a signed-in account may do this")),
        }
    }

    /// True when the caller may do `action` in its organisation.
    pub fn may(&self, action: Action<'_>) -> bool {
        match self {
            Principal::Account { org: Some((_, role)), .. } | Principal::ApiKey { role, .. } => allows(*role, action),
            Principal::Account { org: None, .. } => false,
            Principal::Participant(c) => {
                let g = &c.grants;
                let room = |r: &str| g.room.as_deref() == Some(r) || g.room.as_deref() == Some(token::ANY_ROOM);
                match action {
                    Action::RoomJoin(r) => g.join && room(r),
                    Action::RoomRead(r) | Action::ChatRead(r) => (g.join || g.subscribe) && room(r),
                    Action::ChatPost(r) => g.publish_data && room(r),
                    Action::RoomCreate => g.room_create,
                    Action::RoomUpdate(r) => g.room_admin && g.room.as_deref() == Some(r),
                    _ => false,
                }
            }
        }
    }

    /// `Ok` when the caller may do `action`, else a 403 naming what is missing.
    pub fn require(&self, action: Action<'_>) -> Result<(), ApiError> {
        self.org()?;
        if self.may(action) {
            return Ok(());
        }
        let why = match self.role() {
            Some(role) => format!(
                "the {} role may not {} (needs {} or above)",
                role.as_str(),
                action.describe(),
                action.minimum_role().as_str()
            ),
            None => format!("this token's grants do not allow it to {}", action.describe()),
        };
        Err(ApiError::forbidden(why))
    }
}

async fn account_org(req: &Request, p: &impl Platform, account: &str) -> Result<Option<(String, Role)>, ApiError> {
    let named = req.headers().get(ORG_HEADER).map(|v| v.to_str().unwrap_or("").trim().to_owned());
    if let Some(org_id) = named {
        if !valid_org_id(&org_id) {
            return Err(ApiError::bad_request(format!("{ORG_HEADER} is not an organisation id")));
        }
        return match stored_orgs::membership(p, &org_id, account).await? {
            Some(m) => Ok(Some((org_id, m.role))),
            None => Err(ApiError::forbidden(format!("not a member of organisation {org_id}"))),
        };
    }
    let orgs = stored_orgs::memberships_of(p, account).await?;
    Ok(match orgs.as_slice() {
        [(org, role)] => Some((org.clone(), *role)),
        _ => None,
    })
}

async fn authenticate_api_key(raw: &str, p: &impl Platform) -> Result<StoredApiKey, ApiError> {
    let refused = || ApiError::unauthorized("invalid API key");
    let (id, secret) = api_key_credential::split(raw).ok_or_else(refused)?;
    let stored = stored_keys::get(p, id).await?;
    // Compare against a digest even for unknown ids, so both refusals take the same time.
    let expected = stored.as_ref().map(|k| k.secret_sha256.clone()).unwrap_or_else(|| "0".repeat(64));
    let matches = digest_eq(&secret_digest(secret), &expected);
    match stored {
        Some(k) if matches => Ok(k),
        _ => Err(refused()),
    }
}
