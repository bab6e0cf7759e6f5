//! A set of keys: one signs, all verify (rotation).

use jsonwebtoken::Header;

use super::claims::Claims;
use super::error::TokenError;
use super::jwk::Jwks;
use super::key::TokenKey;

/// A set of keys: one active key signs, every key verifies (rotation keeps the old ones around
/// until the tokens they signed have expired).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub(super) keys: Vec<TokenKey>,
    active: Option<usize>,
}

impl KeySet {
    /// An empty set: nothing verifies and nothing can be signed until a key is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; the first key able to sign becomes the active one. A key with the `kid` of a
    /// key already present replaces it.
    pub fn with_key(mut self, key: TokenKey) -> Self {
        self.insert(key);
        self
    }

    /// Adds a key in place, with the same rules as [`KeySet::with_key`].
    pub fn insert(&mut self, key: TokenKey) {
        let can_sign = key.encoding.is_some();
        let index = match self.keys.iter().position(|k| k.kid == key.kid) {
            Some(i) => {
                self.keys[i] = key;
                i
            }
            None => {
                self.keys.push(key);
                self.keys.len() - 1
            }
        };
        if self.active.is_none() && can_sign {
            self.active = Some(index);
        }
    }

    /// Makes the key `kid` the one that signs new tokens.
    pub fn activate(&mut self, kid: &str) -> Result<(), TokenError> {
        let i = self.keys.iter().position(|k| k.kid == kid).ok_or(TokenError::UnknownKey)?;
        if self.keys[i].encoding.is_none() {
            return Err(TokenError::CannotSign("verify-only key"));
        }
        self.active = Some(i);
        Ok(())
    }

    /// Drops the key `kid` (tokens it signed stop verifying).
    pub fn retire(&mut self, kid: &str) {
        let active_kid = self.active_key().map(|k| k.kid.clone());
        self.keys.retain(|k| k.kid != kid);
        self.active = active_kid.and_then(|a| self.keys.iter().position(|k| k.kid == a));
    }

    /// The key that signs new tokens; `None` when the set holds only verify-only keys.
    pub fn active_key(&self) -> Option<&TokenKey> {
        self.active.and_then(|i| self.keys.get(i))
    }

    /// The key named `kid`, if the set holds it.
    pub fn get(&self, kid: &str) -> Option<&TokenKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: self.keys.iter().filter_map(|k| k.public.clone()).collect() }
    }

    /// Signs `claims` with the active key; the header carries its `kid`.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        let key = self.active_key().ok_or(TokenError::CannotSign("no signing key"))?;
        let encoding = key.encoding.as_ref().ok_or(TokenError::CannotSign("verify-only key"))?;
        let mut header = Header::new(key.alg.jwt());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, encoding).map_err(|e| TokenError::InvalidKey(e.to_string()))
    }
}
