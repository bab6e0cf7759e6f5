//! The OIDC records: a sign-in in progress (`oidc_state:{sha256(state)}`: nonce, PKCE
//! verifier, redirect URI; single use) and the link from a provider identity to an account
//! (`account_oidc:{sha256(issuer "\n" subject)}` → account id).

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, keys, record};
use crate::platform::Platform;
use crate::secret_digest::secret_digest;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub nonce: String,
    pub verifier: String,
    pub redirect_uri: String,
    pub expires_at_ms: u64,
}

/// Keeps a sign-in under its `state`'s digest.
pub async fn put_pending(p: &impl Platform, state: &str, pending: &PendingSignIn) -> Result<(), ApiError> {
    let key = keys::oidc_state(&secret_digest(state));
    expiry::expire_at(p, &key, pending.expires_at_ms).await?;
    record::put(p, &key, pending).await
}

/// The sign-in of `state`, removed: a state is used once, whatever happens next.
pub async fn take_pending(p: &impl Platform, state: &str) -> Result<Option<PendingSignIn>, ApiError> {
    let key = keys::oidc_state(&secret_digest(state));
    let found = record::get(p, &key).await?;
    if found.is_some() {
        record::delete(p, &key).await?;
    }
    Ok(found)
}

/// The digest under which the identity `subject` at `issuer` is linked.
pub fn identity_digest(issuer: &str, subject: &str) -> String {
    secret_digest(&format!("{issuer}\n{subject}"))
}

/// The account linked to the identity `subject` at `issuer`.
pub async fn linked_account(p: &impl Platform, issuer: &str, subject: &str) -> Result<Option<String>, ApiError> {
    record::get_text(p, &keys::account_oidc(&identity_digest(issuer, subject))).await
}

/// Links the identity `subject` at `issuer` to `account`; returns the link's digest, which
/// the account keeps ([`Account::oidc_links`](super::account::Account::oidc_links)).
pub async fn link(p: &impl Platform, issuer: &str, subject: &str, account: &str) -> Result<String, ApiError> {
    let digest = identity_digest(issuer, subject);
    record::put_text(p, &keys::account_oidc(&digest), account).await?;
    Ok(digest)
}

/// Removes the link with digest `digest` when it still names `account`.
pub async fn unlink(p: &impl Platform, digest: &str, account: &str) -> Result<(), ApiError> {
    let key = keys::account_oidc(digest);
    if record::get_text(p, &key).await?.as_deref() == Some(account) {
        record::delete(p, &key).await?;
    }
    Ok(())
}
