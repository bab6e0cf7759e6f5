//! The organisation records: the organisation (`org:{id}`), its memberships
//! (`member:{org}:{account}` → the role), the index of its members (`members:{org}`) and the
//! index of an account's organisations (`account_orgs:{account}`). Index entries are written
//! before the membership and removed after it, so no crash leaves a membership unlisted.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{index, keys, record};
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
    super::org_plan::delete(p, id).await?;
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

/// Writes a membership and its index entries (the entries first).
pub async fn put_member(p: &impl Platform, m: &Membership) -> Result<(), ApiError> {
    index::add(p, &keys::member_index(&m.org), &m.account, m.added_at_ms).await?;
    index::add(p, &keys::account_org_index(&m.account), &m.org, m.added_at_ms).await?;
    record::put(p, &keys::member(&m.org, &m.account), m).await
}

/// Removes a membership and its index entries (the membership first).
pub async fn remove_member(p: &impl Platform, org: &str, account: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::member(org, account)).await?;
    index::remove(p, &keys::member_index(org), account).await?;
    index::remove(p, &keys::account_org_index(account), org).await
}

/// Every membership of `org`, sorted by account.
pub async fn members(p: &impl Platform, org: &str) -> Result<Vec<Membership>, ApiError> {
    let ix = index::load(p, &keys::member_index(org)).await?;
    let mut out = Vec::new();
    for account in ix.entries.keys() {
        if let Some(m) = record::get::<Membership>(p, &keys::member(org, account)).await? {
            out.push(m);
        }
    }
    Ok(out)
}

/// Every organisation `account` belongs to, with its role, sorted by id.
pub async fn memberships_of(p: &impl Platform, account: &str) -> Result<Vec<(String, Role)>, ApiError> {
    let ix = index::load(p, &keys::account_org_index(account)).await?;
    let mut out = Vec::new();
    for org in ix.entries.keys() {
        if let Some(m) = membership(p, org, account).await? {
            out.push((org.clone(), m.role));
        }
    }
    Ok(out)
}
