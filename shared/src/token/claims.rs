//! The claims of an Origo token and who it speaks for.

use serde::{Deserialize, Serialize};

use super::grants::Grants;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A participant of rooms (guest sign-in, partner-minted, or the token `join` returns).
    #[default]
    Participant,
    /// A signed-in account: acts in its organisations with the role it holds there.
    Account,
}

impl TokenKind {
    fn is_participant(&self) -> bool {
        *self == TokenKind::Participant
    }
}

/// The claims of an Origo token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the Origo deployment, or a partner's API key id for partner-minted tokens.
    pub iss: String,
    /// Audience: the service the token is meant for.
    pub aud: String,
    /// The participant's identity (stable per user).
    pub sub: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form metadata the application attaches to the participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Unique token id (for revocation lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Room grants.
    #[serde(default)]
    pub grants: Grants,
    /// Who the token speaks for (absent: a participant).
    #[serde(default, skip_serializing_if = "TokenKind::is_participant")]
    pub kind: TokenKind,
    /// The organisation the token acts in (participant tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The media node a participant token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The seat `join` holds for this token in its room's coordinator: only tokens with a seat
    /// open the room's socket, and only while the room still holds that seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    /// The most media sessions the token's room may hold on that node (the plan's participant
    /// limit); absent: the node's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_sessions: Option<u32>,
}

impl Claims {
    /// Claims for `identity`, valid from `now` for `ttl_secs`.
    pub fn new(
        iss: impl Into<String>,
        aud: impl Into<String>,
        identity: impl Into<String>,
        now: u64,
        ttl_secs: u64,
    ) -> Self {
        Claims {
            iss: iss.into(),
            aud: aud.into(),
            sub: identity.into(),
            name: None,
            metadata: None,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl_secs),
            jti: None,
            grants: Grants::default(),
            kind: TokenKind::Participant,
            org: None,
            node: None,
            seat: None,
            room_sessions: None,
        }
    }

    /// Sets the display name (`name`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the free-form participant metadata (`metadata`).
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// Sets the unique token id (`jti`).
    pub fn with_jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    /// Replaces the room grants.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Sets who the token speaks for (a participant unless set).
    pub fn with_kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the organisation the token acts in (`org`).
    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Sets the media node the participant token is for (`node`); other media nodes refuse it.
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Sets the seat `join` holds for the token (`seat`).
    pub fn with_seat(mut self, seat: impl Into<String>) -> Self {
        self.seat = Some(seat.into());
        self
    }

    /// Sets the room's media session cap on the node (`room_sessions`).
    pub fn with_room_sessions(mut self, cap: u32) -> Self {
        self.room_sessions = Some(cap);
        self
    }

    /// The participant identity (`sub`).
    pub fn identity(&self) -> &str {
        &self.sub
    }
}
