//! The organisation records: the organisation (`org:{id}`), its memberships
//! (`member:{org}:{account}` → the role) and the index of an account's organisations
//! (`account_org:{account}:{org}`), written and removed together.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{keys, record};
use crate::platform::Platform;
use crate::rbac::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    pub id: String,
    pub name: String,
    pub created_at_ms: u64,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub org: String,
    pub account: String,
    pub role: Role,
    pub added_at_ms: u64,
}

/// The organisation `id`.
pub async fn get(p: &impl Platform, id: &str) -> Result<Option<Org>, ApiError> {
    record::get(p, &keys::org(id)).await
}

/// True when organisation `id` exists.
pub async fn exists(p: &impl Platform, id: &str) -> Result<bool, ApiError> {
    record::exists(p, &keys::org(id)).await
}

pub async fn put(p: &impl Platform, org: &Org) -> Result<(), ApiError> {
    record::put(p, &keys::org(&org.id), org).await
}

/// Removes the organisation record (its memberships, keys and rooms are removed by the caller).
pub async fn delete(p: &impl Platform, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::org(id)).await
}

/// The membership of `account` in `org`.
pub async fn membership(p: &impl Platform, org: &str, account: &str) -> Result<Option<Membership>, ApiError> {
    record::get(p, &keys::member(org, account)).await
}

/// True when `account` is a member of `org`.
pub async fn is_member(p: &impl Platform, org: &str, account: &str) -> Result<bool, ApiError> {
    record::exists(p, &keys::member(org, account)).await
}

/// Writes a membership and its index entry.
pub async fn put_member(p: &impl Platform, m: &Membership) -> Result<(), ApiError> {
    record::put(p, &keys::member(&m.org, &m.account), m).await?;
    record::put_text(p, &keys::account_org(&m.account, &m.org), m.role.as_str()).await
}

/// Removes a membership and its index entry.
pub async fn remove_member(p: &impl Platform, org: &str, account: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::member(org, account)).await?;
    record::delete(p, &keys::account_org(account, org)).await
}

/// Every membership of `org`, sorted by account.
pub async fn members(p: &impl Platform, org: &str) -> Result<Vec<Membership>, ApiError> {
    let mut out = Vec::new();
    for k in record::keys(p, &keys::member_prefix(org)).await? {
        if let Some(m) = record::get::<Membership>(p, &k).await? {
            out.push(m);
        }
    }
    Ok(out)
}

/// Every organisation `account` belongs to, with its role, sorted by id.
pub async fn memberships_of(p: &impl Platform, account: &str) -> Result<Vec<(String, Role)>, ApiError> {
    let prefix = keys::account_org_prefix(account);
    let mut out = Vec::new();
    for k in record::keys(p, &prefix).await? {
        let org = &k[prefix.len()..];
        if let Some(m) = membership(p, org, account).await? {
            out.push((org.to_owned(), m.role));
        }
    }
    Ok(out)
}
