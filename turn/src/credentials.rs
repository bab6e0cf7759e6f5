//! Long-term credentials (RFC 8489 §9.2) with passwords from the TURN REST scheme: the
//! password for `"<expiry>:<user>"` is derived from a shared secret, so the edge can hand out
//! credentials without telling the TURN server about each user.

use md5::{Digest, Md5};
use origo_shared::turn_credentials::{TurnCredentialError, TurnSecrets};

/// The long-term key: MD5(username ":" realm ":" password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> Vec<u8> {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().to_vec()
}

/// The candidate keys for `username` at `now` (one per configured secret), or why there are none.
/// Expiry is checked here, at every authentication.
pub fn candidate_keys(
    secrets: &TurnSecrets,
    realm: &str,
    username: &str,
    now_unix: u64,
) -> Result<Vec<Vec<u8>>, TurnCredentialError> {
    let passwords = secrets.passwords_for(username, now_unix)?;
    Ok(passwords.iter().map(|p| long_term_key(username, realm, p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_md5_of_the_triple() {
        // printf %s 'user:realm:pass' | md5sum
        let key = long_term_key("user", "realm", "pass");
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "8493fbc53ba582fb4c044c456bdc40eb");
    }

    #[test]
    fn rest_usernames_yield_one_key_per_secret_until_expiry() {
        let secrets = TurnSecrets::new(["new", "old"]);
        let creds = secrets.issue("alice", 1000, 60).unwrap();
        let keys = candidate_keys(&secrets, "origo", &creds.username, 1000).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], long_term_key(&creds.username, "origo", &creds.password));
        assert_eq!(candidate_keys(&secrets, "origo", &creds.username, 1060), Err(TurnCredentialError::Expired));
        assert_eq!(candidate_keys(&secrets, "origo", "alice", 1000), Err(TurnCredentialError::MalformedUsername));
    }
}
