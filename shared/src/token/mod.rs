//! Participant and account tokens: JWT claims with room grants, issued and verified with
//! `jsonwebtoken`.
//!
//! * HS256 is the default; EdDSA (Ed25519) and RS256 are accepted when the token names a key by
//!   `kid` that the verifier holds (asymmetric public keys are published as a JWKS).
//! * Verification is strict: the header's `alg` must be one we support **and** the one bound to
//!   the key its `kid` names (no algorithm confusion: an HS256 token "signed" with a public key
//!   is refused), `alg: none` is refused, as are a wrong signature, a wrong issuer or audience, an
//!   expired token and one not valid yet.
//! * No clock is read: callers pass `now` as Unix seconds.

mod claims;
mod config;
mod error;
mod grants;
mod id_token;
mod jwk;
mod key;
mod key_set;
mod participant;
mod verify;

pub use claims::{Claims, TokenKind};
pub use config::{AUDIENCE, TokenConfig, parse_signing_key};
pub use error::TokenError;
pub use grants::{ANY_ROOM, Grants};
pub use id_token::{IdTokenClaims, verify_id_token};
pub use jwk::{Jwks, PublicJwk};
pub use key::{KeyAlgorithm, MIN_HMAC_SECRET_LEN, TokenKey};
pub use key_set::KeySet;
pub use participant::{ParticipantGrant, participant_grant, participant_org, socket_grant};
pub use verify::{Expectations, verify};

#[cfg(test)]
mod tests;
