//! Invitations to an organisation: the invitation (`invitation:{id}`, holding the digest of
//! its secret, never the secret) and the index of an organisation's pending ones
//! (`invitations:{org}`, id → when it expires). The index entry is written before the
//! invitation and removed after it; each invitation is given to the sweep for when it expires.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, index, keys, record};
use crate::platform::Platform;
use crate::rbac::Role;

/// A pending invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub org: String,
    /// The invited address, normalised.
    pub email: String,
    pub role: Role,
    /// The account that invited.
    pub invited_by: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    /// SHA-256 of the secret part of the link's token.
    pub secret_sha256: String,
}

/// The invitation `id`.
pub async fn get(p: &impl Platform, id: &str) -> Result<Option<Invitation>, ApiError> {
    record::get(p, &keys::invitation(id)).await
}

/// Stores an invitation and its index entry (the entry first).
pub async fn put(p: &impl Platform, inv: &Invitation) -> Result<(), ApiError> {
    index::add(p, &keys::invitation_index(&inv.org), &inv.id, inv.expires_at_ms).await?;
    let key = keys::invitation(&inv.id);
    expiry::expire_at(p, &key, inv.expires_at_ms).await?;
    record::put(p, &key, inv).await
}

/// Removes an invitation and its index entry (the invitation first).
pub async fn delete(p: &impl Platform, org: &str, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::invitation(id)).await?;
    index::remove(p, &keys::invitation_index(org), id).await
}

/// The pending invitations of `org` at `now`, sorted by id; index entries of invitations that
/// expired or are gone are dropped from the index.
pub async fn pending(p: &impl Platform, org: &str, now: u64) -> Result<Vec<Invitation>, ApiError> {
    let key = keys::invitation_index(org);
    let ix = index::load(p, &key).await?;
    let mut out = Vec::new();
    let mut stale = Vec::new();
    for (id, expires_at_ms) in &ix.entries {
        match get(p, id).await? {
            Some(inv) if inv.org != org => stale.push(id.clone()),
            Some(inv) if *expires_at_ms > now && inv.expires_at_ms > now => out.push(inv),
            Some(_) => {
                record::delete(p, &keys::invitation(id)).await?;
                stale.push(id.clone());
            }
            None => stale.push(id.clone()),
        }
    }
    index::remove_all(p, &key, &stale).await?;
    Ok(out)
}

/// Expires the invitation at `key` (the sweep's part): false while it is still pending.
pub async fn expire(p: &impl Platform, key: &str, now: u64) -> Result<bool, ApiError> {
    let Some(inv) = record::get::<Invitation>(p, key).await? else { return Ok(true) };
    if inv.expires_at_ms > now {
        return Ok(false);
    }
    delete(p, &inv.org, &inv.id).await?;
    Ok(true)
}

/// Removes every invitation of `org` (the organisation is being deleted).
pub async fn delete_of_org(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    let key = keys::invitation_index(org);
    for id in index::load(p, &key).await?.entries.keys() {
        record::delete(p, &keys::invitation(id)).await?;
    }
    record::delete(p, &key).await
}
