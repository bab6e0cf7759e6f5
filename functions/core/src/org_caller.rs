//! The caller of an organisation's endpoints (`/v1/orgs/{org}/…`): a signed-in account acting
//! in the organisation the path names, with its role there; and the rule that a caller grants
//! at most its own role.

use origo_shared::ApiError;

use crate::names::valid_org_id;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rbac::Role;
use crate::store::org as stored;
use crate::{Request, session};

/// The caller as an account acting in `org` (named by the path).
pub async fn in_org(req: &Request, p: &impl Platform, org: &str) -> Result<Principal, ApiError> {
    let claims = session::account_claims(req, p, "organisations are managed by signed-in accounts").await?;
    if !valid_org_id(org) || !stored::exists(p, org).await? {
        return Err(ApiError::not_found(format!("no organisation {org}")));
    }
    match stored::membership(p, org, &claims.sub).await? {
        Some(m) => Ok(Principal::Account { id: claims.sub, name: claims.name, org: Some((org.to_owned(), m.role)) }),
        // Outsiders learn nothing about the organisation.
        None => Err(ApiError::not_found(format!("no organisation {org}"))),
    }
}

/// A caller grants at most its own role.
pub fn grantable(caller: &Principal, role: Role) -> Result<(), ApiError> {
    match caller.role() {
        Some(mine) if mine.at_least(role) => Ok(()),
        Some(mine) => Err(ApiError::forbidden(format!("the {} role may not grant {}", mine.as_str(), role.as_str()))),
        None => Err(ApiError::forbidden("no role")),
    }
}
