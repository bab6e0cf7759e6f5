//! Standby sessions: a second transport a participant keeps open to the node, through another
//! TURN server, so that losing the relay its media goes through costs a renegotiation on a
//! transport that is already up, not a new allocation, ICE and DTLS over a long relayed path.
//!
//! A standby is opened like any session (`POST /v1/sessions` with `"standby": true`) but
//! carries nothing until it takes over: it publishes nothing, receives nothing, is not counted
//! as the participant's time and does not replace the participant's session. Taking over
//! (`PATCH … {"take_over": true}`) gives it the token's grants back and closes the session it
//! stands by for, which is how a reconnect through it replaces the old one. A participant holds
//! at most one standby per room: a newer one replaces it, and a new session that is not a
//! standby replaces both.

use std::time::Instant;

use super::error::SfuError;
use super::{SessionId, Sfu};

/// What the participant's token grants, held back while its session stands by.
#[derive(Debug, Clone, Copy)]
pub(super) struct Standby {
    pub may_publish: bool,
    pub may_subscribe: bool,
}

impl Sfu {
    /// Refuses what only a session in use may do (publish, subscribe, set quality) on a standby.
    pub(super) fn in_use(&self, id: SessionId) -> Result<(), SfuError> {
        match self.sessions.get(&id) {
            None => Err(SfuError::NoSession),
            Some(s) if s.standby.is_some() => Err(SfuError::Standby),
            Some(_) => Ok(()),
        }
    }

    /// A standby session takes over: it gets its token's grants, its participant's time is
    /// counted from now if its transport is up, and the participant's other session in the room
    /// (the one it stood by for) is closed. A session already in use is left as it is.
    pub fn take_over(&mut self, id: SessionId, now: Instant) -> Result<(), SfuError> {
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        let Some(grants) = s.standby.take() else { return Ok(()) };
        s.may_publish = grants.may_publish;
        s.may_subscribe = grants.may_subscribe;
        if s.connected {
            s.accounted_at = Some(now);
        }
        let (room, identity) = (s.room.clone(), s.identity.clone());
        let replaced: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(other, s)| **other != id && s.room == room && s.identity == identity && !s.is_relay())
            .map(|(other, _)| *other)
            .collect();
        for old in replaced {
            self.remove_session(old, now);
        }
        self.counters.standby_takeovers += 1;
        self.drain(id, now);
        Ok(())
    }

    /// Standby sessions open (each also counted in [`Sfu::session_count`]).
    pub fn standby_count(&self) -> usize {
        self.sessions.values().filter(|s| s.standby.is_some()).count()
    }
}
