//! Who may open a session: a participant token the edge issued for this room **and this node**
//! (`node` claim), with the `join` grant for its room. Verified with the deployment's public keys:
//! from the edge's JWKS (`{--edge-url}/.well-known/jwks.json`, refreshed every minute and when an unknown `kid` shows
//! up) or given directly (`--token-signing-keys`, the edge variable's format; `origo dev`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use origo_shared::token::{self, Claims, Expectations, Jwks, KeySet, TokenKey, TokenKind};
use tokio::sync::RwLock;

/// Where the keys come from.
pub enum KeySource {
    Fixed(KeySet),
    Jwks { url: String, client: reqwest::Client },
}

/// Token checks for one node.
pub struct Verifier {
    node_id: String,
    expect: Expectations,
    source: KeySource,
    keys: RwLock<(KeySet, Option<Instant>)>,
}

/// A verified session owner.
#[derive(Debug, Clone)]
pub struct Participant {
    pub org: String,
    pub room: String,
    pub identity: String,
    pub may_publish: bool,
    pub may_subscribe: bool,
    /// The room's session cap on this node, when the token says (`room_sessions` claim).
    pub room_sessions: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
}

impl Verifier {
    pub fn new(node_id: String, issuer: String, source: KeySource) -> Arc<Self> {
        let initial = match &source {
            KeySource::Fixed(k) => k.clone(),
            KeySource::Jwks { .. } => KeySet::new(),
        };
        Arc::new(Verifier {
            node_id,
            expect: Expectations::new(issuer, "origo"),
            source,
            keys: RwLock::new((initial, None)),
        })
    }

    async fn refresh(&self) {
        let KeySource::Jwks { url, client } = &self.source else { return };
        match client.get(url).send().await {
            Ok(res) if res.status().is_success() => match res.json::<Jwks>().await {
                Ok(jwks) => {
                    let mut set = KeySet::new();
                    for jwk in &jwks.keys {
                        if let Ok(k) = TokenKey::from_public_jwk(jwk) {
                            set.insert(k);
                        }
                    }
                    *self.keys.write().await = (set, Some(Instant::now()));
                }
                Err(e) => tracing::warn!(%url, "bad JWKS: {e}"),
            },
            Ok(res) => tracing::warn!(%url, status = res.status().as_u16(), "cannot fetch the JWKS"),
            Err(e) => tracing::warn!(%url, "cannot fetch the JWKS: {e}"),
        }
    }

    async fn claims(&self, raw: &str) -> Result<Claims, token::TokenError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if matches!(self.source, KeySource::Jwks { .. }) {
            let stale = self.keys.read().await.1.is_none_or(|at| at.elapsed() > Duration::from_secs(60));
            if stale {
                self.refresh().await;
            }
        }
        let result = token::verify(raw, &self.keys.read().await.0, &self.expect, now);
        match result {
            // A key published since the last fetch: fetch once more (rotation).
            Err(token::TokenError::UnknownKey) if matches!(self.source, KeySource::Jwks { .. }) => {
                let recent = self.keys.read().await.1.is_some_and(|at| at.elapsed() < Duration::from_secs(5));
                if !recent {
                    self.refresh().await;
                }
                token::verify(raw, &self.keys.read().await.0, &self.expect, now)
            }
            other => other,
        }
    }

    /// Checks a bearer token for a session on this node.
    pub async fn participant(&self, raw: &str) -> Result<Participant, AuthError> {
        let c = self.claims(raw.trim()).await.map_err(|e| AuthError::Unauthorized(e.to_string()))?;
        if c.kind == TokenKind::Participant && c.node.as_deref() != Some(self.node_id.as_str()) {
            return Err(AuthError::Forbidden("this token was issued for another media node; join again".into()));
        }
        let token::ParticipantGrant { org, room } = token::participant_grant(&c, None).map_err(|e| match e.code {
            origo_shared::ErrorCode::Unauthorized => AuthError::Unauthorized(e.message),
            _ => AuthError::Forbidden(e.message),
        })?;
        Ok(Participant {
            org,
            room,
            identity: c.sub,
            may_publish: c.grants.publish,
            may_subscribe: c.grants.subscribe,
            room_sessions: c.room_sessions,
        })
    }
}

/// The keys of the edge's `token_signing_keys` / `token_secret` variables (the same parser).
pub fn keys_from_variables(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<KeySet> {
    origo_shared::token::TokenConfig::from_variables(lookup)
        .map(|c| c.keys)
        .map_err(|e| anyhow::anyhow!("{}", e.message))
}
