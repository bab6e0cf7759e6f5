//! What a proof of owning an email address does to the account registered with it. The proofs
//! are the verification link of the address's latest sign-up, a password reset link, and an
//! OIDC sign-in whose provider vouches for the address.
//!
//! An account that was never verified may have been made by anyone, with anyone's address
//! (a sign-up with someone else's email): once the owner proves the address, it is theirs. It
//! becomes verified; a password set before the proof is gone (replaced by the one the proof
//! carries, or by none); every session it had is revoked; the provider identities linked to it
//! while it was unverified are unlinked. A password reset also revokes the sessions of a
//! verified account.

use origo_shared::ApiError;

use crate::platform::Platform;
use crate::session;
use crate::store::account::{self as stored, Account};
use crate::store::oidc as stored_oidc;

/// The password an account has once its address is proved.
pub enum Password {
    /// The one the account holds: the latest sign-up's, whose link was the proof.
    Keep,
    /// None: the proof was an OIDC sign-in, which carries no password.
    Clear,
    /// This Argon2id PHC string: the proof was a password reset link.
    Set(String),
}

/// Applies the proof of `account`'s address to it and saves it.
pub async fn proved(p: &impl Platform, mut account: Account, password: Password) -> Result<Account, ApiError> {
    let claimed = !account.verified;
    match password {
        Password::Keep => {}
        Password::Clear if claimed => account.password_hash = None,
        Password::Clear => {}
        Password::Set(phc) => {
            account.password_hash = Some(phc);
            session::revoke_all(p, &mut account);
        }
    }
    if claimed {
        session::revoke_all(p, &mut account);
        for digest in std::mem::take(&mut account.oidc_links) {
            stored_oidc::unlink(p, &digest, &account.id).await?;
        }
    }
    account.verified = true;
    account.pending_signup = None;
    stored::save(p, &account).await?;
    Ok(account)
}
