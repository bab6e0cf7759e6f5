//! Time-limited TURN credentials in the "TURN REST API" scheme that coturn implements
//! (`--use-auth-secret`): `username = "<expiry unix seconds>:<user>"`,
//! `password = base64(HMAC-SHA1(secret, username))`.
//!
//! The edge issues them with the first (current) secret; a TURN server accepts any of its
//! configured secrets, so secrets rotate without breaking live sessions.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<sha1::Sha1>;

/// One ICE server entry as the browser's `RTCPeerConnection` takes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// STUN/TURN URLs that share these credentials (`turn:host:3478?transport=udp`,
    /// `turns:host:5349`).
    pub urls: Vec<String>,
    /// The TURN username, `<expiry unix seconds>:<user>`; absent for a STUN-only entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The TURN password for `username`; absent for a STUN-only entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A username/password pair and when it stops working.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnCredentials {
    /// `<expiry unix seconds>:<user>`, the username a TURN client sends.
    pub username: String,
    /// `base64(HMAC-SHA1(secret, username))` under the current secret; never logged.
    pub password: String,
    /// Unix seconds after which the TURN server refuses the pair.
    pub expires_at: u64,
}

impl fmt::Debug for TurnCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl TurnCredentials {
    /// The ICE server entry for `urls` with these credentials.
    pub fn ice_server(&self, urls: Vec<String>) -> IceServer {
        IceServer { urls, username: Some(self.username.clone()), credential: Some(self.password.clone()) }
    }
}

/// Why credentials could not be issued or were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TurnCredentialError {
    /// The deployment has no (non-empty) TURN secret.
    #[error("no TURN secret configured")]
    NoSecret,
    /// The user part to issue for is empty, over 128 bytes, or holds `:` or control characters.
    #[error("user id must be non-empty, at most 128 bytes, without ':' or control characters")]
    BadUser,
    /// The username does not start with 1-20 decimal digits and a `:`.
    #[error("username is not `<expiry>:<user>`")]
    MalformedUsername,
    /// The expiry in the username is not after `now`.
    #[error("credentials have expired")]
    Expired,
    /// The password matches none of the secrets.
    #[error("password does not match")]
    BadPassword,
}

/// The shared secrets of a deployment: the first signs, all verify.
#[derive(Clone, Default)]
pub struct TurnSecrets {
    secrets: Vec<Vec<u8>>,
}

impl fmt::Debug for TurnSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TurnSecrets({} secrets)", self.secrets.len())
    }
}

/// The password for `username` under `secret`: base64(HMAC-SHA1(secret, username)).
pub fn password_for(secret: &[u8], username: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha1::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Splits `"<expiry>:<user>"`. The user part may itself contain ':'; only the first one splits.
pub fn parse_username(username: &str) -> Result<(u64, &str), TurnCredentialError> {
    let (expiry, user) = username.split_once(':').ok_or(TurnCredentialError::MalformedUsername)?;
    if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TurnCredentialError::MalformedUsername);
    }
    let expiry = expiry.parse().map_err(|_| TurnCredentialError::MalformedUsername)?;
    Ok((expiry, user))
}

impl TurnSecrets {
    /// Secrets, current first. Empty secrets are ignored.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        TurnSecrets { secrets: secrets.into_iter().map(|s| s.as_ref().to_vec()).filter(|s| !s.is_empty()).collect() }
    }

    /// True when no secret is configured: nothing can be issued or verified.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// How many secrets verify (the current one and those kept during rotation).
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Credentials for `user`, valid from `now` for `ttl_secs` seconds.
    pub fn issue(&self, user: &str, now: u64, ttl_secs: u64) -> Result<TurnCredentials, TurnCredentialError> {
        let secret = self.secrets.first().ok_or(TurnCredentialError::NoSecret)?;
        if !crate::identity::fits(user) || user.contains(':') {
            return Err(TurnCredentialError::BadUser);
        }
        let expires_at = now.saturating_add(ttl_secs);
        let username = format!("{expires_at}:{user}");
        let password = password_for(secret, &username);
        Ok(TurnCredentials { username, password, expires_at })
    }

    /// Credentials for `user` of organisation `org` (`{expiry}:{org}:{user}`): TURN nodes
    /// bill what these relay to `org` ([`org_of`]).
    pub fn issue_in(
        &self,
        org: &str,
        user: &str,
        now: u64,
        ttl_secs: u64,
    ) -> Result<TurnCredentials, TurnCredentialError> {
        if org.is_empty() || org.len() > 64 || org.contains(':') || org.chars().any(char::is_control) {
            return Err(TurnCredentialError::BadUser);
        }
        let mut creds = self.issue(user, now, ttl_secs)?;
        creds.username = format!("{}:{org}:{user}", creds.expires_at);
        creds.password = password_for(self.secrets.first().ok_or(TurnCredentialError::NoSecret)?, &creds.username);
        Ok(creds)
    }

    /// The password a TURN server expects for `username` under each secret, after checking
    /// expiry against `now`. A TURN server derives its long-term key from these.
    pub fn passwords_for(&self, username: &str, now: u64) -> Result<Vec<String>, TurnCredentialError> {
        let (expiry, _) = parse_username(username)?;
        if expiry <= now {
            return Err(TurnCredentialError::Expired);
        }
        if self.secrets.is_empty() {
            return Err(TurnCredentialError::NoSecret);
        }
        Ok(self.secrets.iter().map(|s| password_for(s, username)).collect())
    }

    /// Checks a username/password pair at `now`, comparing in constant time against every
    /// secret (no early exit, so timing does not reveal which secret matched).
    pub fn verify(&self, username: &str, password: &str, now: u64) -> Result<(), TurnCredentialError> {
        let candidates = self.passwords_for(username, now)?;
        let mut ok = subtle::Choice::from(0u8);
        for expected in &candidates {
            ok |= expected.as_bytes().ct_eq(password.as_bytes());
        }
        if bool::from(ok) { Ok(()) } else { Err(TurnCredentialError::BadPassword) }
    }
}

/// The organisation a username of [`TurnSecrets::issue_in`] bills (`{expiry}:{org}:{user}`);
/// `None` for `{expiry}:{user}`.
pub fn org_of(username: &str) -> Option<&str> {
    let mut parts = username.splitn(3, ':');
    let (_, org, user) = (parts.next()?, parts.next()?, parts.next()?);
    (!org.is_empty() && !user.is_empty()).then_some(org)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_an_organisation_name_it_and_verify() {
        let s = TurnSecrets::new(["k1"]);
        let c = s.issue_in("org1", "ann", 1_000, 60).unwrap();
        assert_eq!(c.username, "1060:org1:ann");
        assert_eq!(org_of(&c.username), Some("org1"));
        assert!(s.verify(&c.username, &c.password, 1_001).is_ok());
        assert_eq!(org_of(&s.issue("ann", 1_000, 60).unwrap().username), None);
        assert!(s.issue_in("a:b", "ann", 1_000, 60).is_err());
    }
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn known_answer() {
        // Computed independently with: printf %s '1700000600:alice' | openssl dgst -sha1 -hmac north-star -binary | base64
        assert_eq!(password_for(b"north-star", "1700000600:alice"), "ZVN8nPSiCf0OCJ9WlZXuBbrv+VU=");
    }

    #[test]
    fn issue_has_the_rest_shape() {
        let s = TurnSecrets::new(["north-star"]);
        let c = s.issue("alice", NOW, 600).unwrap();
        assert_eq!(c.username, "1700000600:alice");
        assert_eq!(c.expires_at, NOW + 600);
        assert_eq!(c.password, password_for(b"north-star", &c.username));
        assert!(s.verify(&c.username, &c.password, NOW).is_ok());
        let ice = c.ice_server(vec!["turn:127.0.0.1:3478?transport=udp".into()]);
        let v = serde_json::to_value(&ice).unwrap();
        assert_eq!(v["username"], "1700000600:alice");
        assert!(v["credential"].is_string());
        assert!(!format!("{c:?}").contains(&c.password));
    }

    #[test]
    fn expiry_is_checked_on_every_verification() {
        let s = TurnSecrets::new(["k"]);
        let c = s.issue("bob", NOW, 60).unwrap();
        assert!(s.verify(&c.username, &c.password, NOW + 59).is_ok());
        assert_eq!(s.verify(&c.username, &c.password, NOW + 60), Err(TurnCredentialError::Expired));
    }

    #[test]
    fn rotation_accepts_every_configured_secret() {
        let old = TurnSecrets::new(["old"]);
        let c = old.issue("carol", NOW, 600).unwrap();
        let rotated = TurnSecrets::new(["new", "old"]);
        assert!(rotated.verify(&c.username, &c.password, NOW).is_ok());
        let fresh = rotated.issue("carol", NOW, 600).unwrap();
        assert_eq!(fresh.password, password_for(b"new", &fresh.username));
        assert_eq!(old.verify(&fresh.username, &fresh.password, NOW), Err(TurnCredentialError::BadPassword));
        let only_new = TurnSecrets::new(["new"]);
        assert_eq!(only_new.verify(&c.username, &c.password, NOW), Err(TurnCredentialError::BadPassword));
    }

    #[test]
    fn refusals() {
        let s = TurnSecrets::new(["k"]);
        assert_eq!(TurnSecrets::new([""]).issue("a", NOW, 1), Err(TurnCredentialError::NoSecret));
        for bad in ["", "a:b", "x\n", &"u".repeat(129)] {
            assert_eq!(s.issue(bad, NOW, 1), Err(TurnCredentialError::BadUser), "{bad:?}");
        }
        for bad in ["alice", ":alice", "12x:alice", "-5:alice", "99999999999999999999999:a", "+5:a"] {
            assert_eq!(s.verify(bad, "pw", NOW), Err(TurnCredentialError::MalformedUsername), "{bad:?}");
        }
        let c = s.issue("dave", NOW, 600).unwrap();
        assert_eq!(s.verify(&c.username, "", NOW), Err(TurnCredentialError::BadPassword));
        let mut wrong = c.password.clone();
        wrong.pop();
        assert_eq!(s.verify(&c.username, &wrong, NOW), Err(TurnCredentialError::BadPassword));
        // Changing the user (or the expiry) in the username invalidates the password.
        let forged = c.username.replace("dave", "eve");
        assert_eq!(s.verify(&forged, &c.password, NOW), Err(TurnCredentialError::BadPassword));
        let extended = format!("{}:dave", NOW + 999_999);
        assert_eq!(s.verify(&extended, &c.password, NOW), Err(TurnCredentialError::BadPassword));
    }

    #[test]
    fn user_part_may_contain_colons_when_minted_elsewhere() {
        assert_eq!(parse_username("100:room:alice"), Ok((100, "room:alice")));
    }

    proptest! {
        #[test]
        fn issue_then_verify_round_trips(user in "[a-zA-Z0-9_.@-]{1,64}", ttl in 1u64..100_000,
                                         secret in proptest::collection::vec(any::<u8>(), 1..64)) {
            let s = TurnSecrets::new([secret]);
            let c = s.issue(&user, NOW, ttl).unwrap();
            prop_assert_eq!(parse_username(&c.username), Ok((NOW + ttl, user.as_str())));
            prop_assert!(s.verify(&c.username, &c.password, NOW).is_ok());
            prop_assert_eq!(s.verify(&c.username, &c.password, NOW + ttl), Err(TurnCredentialError::Expired));
        }
    }
}
