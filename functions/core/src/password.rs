//! Password hashing with Argon2id (RFC 9106), PHC strings, OWASP's baseline parameters.
//!
//! Variables: `password_hash_memory_kib` (default 19456 = 19 MiB), `password_hash_iterations`
//! (default 2); parallelism 1. Stored hashes carry their parameters, so raising them later
//! leaves old hashes verifiable.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use origo_shared::ApiError;

use crate::platform::Platform;
use crate::variables::num_var;

/// Shortest password accepted, in characters.
pub const MIN_CHARS: usize = 10;
/// Longest password accepted, in bytes (bounds the hashing work an attacker can ask for).
pub const MAX_BYTES: usize = 256;

/// Checks the password policy.
pub fn check_policy(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_CHARS || password.len() > MAX_BYTES {
        return Err(ApiError::bad_request(format!(
            "password must be at least {MIN_CHARS} characters and at most {MAX_BYTES} bytes"
        )));
    }
    Ok(())
}

fn hasher(p: &impl Platform) -> Result<Argon2<'static>, ApiError> {
    let memory = num_var(p, "password_hash_memory_kib", Params::DEFAULT_M_COST);
    let iterations = num_var(p, "password_hash_iterations", Params::DEFAULT_T_COST);
    let params = Params::new(memory, iterations, 1, None)
        .map_err(|e| ApiError::internal(format!("bad password hashing parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash(p: &impl Platform, password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    p.random(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::internal(e.to_string()))?;
    hasher(p)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("cannot hash the password: {e}")))
}

/// True when `password` matches `phc` (compared in constant time by the library).
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Does the work of a hash and throws it away: unknown emails cost what known ones do.
pub fn equalize(p: &impl Platform, password: &str) {
    let _ = hash(p, password);
}
