//! Stateless nonces: the server keeps no per-client nonce state. A nonce carries its expiry and
//! a MAC over the expiry and the client's IP address under a key only this server knows, so a
//! nonce cannot be forged, moved to another client, or used after it expires.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// How long a nonce stays valid.
pub const NONCE_LIFETIME_SECS: u64 = 600;

/// Issues and checks nonces.
#[derive(Clone)]
pub struct NonceKey {
    key: [u8; 32],
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(<redacted>)")
    }
}

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceError {
    /// Not one of ours (or for another client): treat as unauthenticated.
    Invalid,
    /// Ours, but expired: answer 438 Stale Nonce.
    Stale,
}

impl NonceKey {
    pub fn new(key: [u8; 32]) -> Self {
        NonceKey { key }
    }

    fn mac(&self, expiry: u64, ip: IpAddr) -> [u8; 8] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC key"));
        mac.update(&expiry.to_be_bytes());
        match ip {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// A nonce for `ip`, valid from `now` (Unix seconds) for [`NONCE_LIFETIME_SECS`].
    pub fn issue(&self, ip: IpAddr, now: u64) -> String {
        let expiry = now + NONCE_LIFETIME_SECS;
        let mac = self.mac(expiry, ip);
        let mut s = format!("{expiry:016x}");
        for b in mac {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Checks a nonce presented by `ip` at `now`.
    pub fn check(&self, nonce: &str, ip: IpAddr, now: u64) -> Result<(), NonceError> {
        if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NonceError::Invalid);
        }
        let expiry = u64::from_str_radix(&nonce[..16], 16).map_err(|_| NonceError::Invalid)?;
        let mut given = [0u8; 8];
        for (i, g) in given.iter_mut().enumerate() {
            *g = u8::from_str_radix(&nonce[16 + 2 * i..18 + 2 * i], 16).map_err(|_| NonceError::Invalid)?;
        }
        if !bool::from(self.mac(expiry, ip).ct_eq(&given)) {
            return Err(NonceError::Invalid);
        }
        if expiry <= now { Err(NonceError::Stale) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_bind_to_client_and_expire() {
        let k = NonceKey::new([3; 32]);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let n = k.issue(ip, 1000);
        assert_eq!(k.check(&n, ip, 1000), Ok(()));
        assert_eq!(k.check(&n, ip, 1000 + NONCE_LIFETIME_SECS), Err(NonceError::Stale));
        assert_eq!(k.check(&n, "198.51.100.8".parse().unwrap(), 1000), Err(NonceError::Invalid));
        assert_eq!(NonceKey::new([4; 32]).check(&n, ip, 1000), Err(NonceError::Invalid));
        // Extending the expiry breaks the MAC.
        let forged = format!("{:016x}{}", 1_000_000u64, &n[16..]);
        assert_eq!(k.check(&forged, ip, 1000), Err(NonceError::Invalid));
        for bad in ["", "zz", &"g".repeat(32), &n[..31]] {
            assert_eq!(k.check(bad, ip, 1000), Err(NonceError::Invalid));
        }
    }
}
