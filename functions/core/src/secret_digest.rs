//! The digest under which Origo keeps high-entropy secrets (API key secrets, refresh and
//! verification tokens, OIDC states) and the identifiers it must not store as typed (email
//! addresses, OIDC subjects): SHA-256 as lowercase hex, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of `secret`, lowercase hex.
pub fn secret_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality of two digests.
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex() {
        assert_eq!(secret_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(digest_eq(&secret_digest("x"), &secret_digest("x")));
        assert!(!digest_eq(&secret_digest("x"), &secret_digest("y")));
        assert!(!digest_eq("ab", "abc"));
    }
}
