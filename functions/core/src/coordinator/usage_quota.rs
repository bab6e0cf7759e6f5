//! A meeting that uses up its organisation's monthly participant-minutes: the room counts
//! what it bills from its latest reservation on, against the minutes the organisation had
//! left then ([`MeetingTerms::minutes_left_ms`](super::MeetingTerms)). When that is used up,
//! at the next sweep (every 15 s by default), everyone is told (`usage_limit`, with the time
//! the meeting ends) and a `usage_grace_ms` later (two minutes by default, `usage_grace_secs`
//! in the plans document) everyone is disconnected with close code
//! [`close::USAGE_LIMIT`](super::close::USAGE_LIMIT).
//!
//! Each join reads the organisation's usage afresh and refuses with a 402 once nothing is
//! left, so rooms running at once share the remainder as of their latest join: together they
//! can pass it by what they bill between two joins, never by more than one sweep each after
//! it is gone. A join after the operator moved the organisation to a larger plan lifts a
//! warning.

use origo_shared::signal::ServerMessage;
use serde::{Deserialize, Serialize};

use super::{Effect, LeaveReason, RoomState, close};

/// What the room billed against the organisation's minutes left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaWatch {
    /// Participant-milliseconds billed since the latest reservation's terms.
    #[serde(default)]
    pub billed_ms: u64,
    /// When the room ends for want of minutes (set when it warned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at_ms: Option<u64>,
}

impl QuotaWatch {
    pub fn is_idle(&self) -> bool {
        self.billed_ms == 0 && self.ends_at_ms.is_none()
    }

    /// Counts `ms` billed.
    pub fn billed(&mut self, ms: u64) {
        self.billed_ms = self.billed_ms.saturating_add(ms);
    }

    /// New terms from a reservation: counting starts again from their allowance, and a
    /// warning is lifted when minutes are left again.
    pub fn renewed(&mut self, minutes_left_ms: Option<u64>) {
        self.billed_ms = 0;
        if minutes_left_ms.is_none_or(|left| left > 0) {
            self.ends_at_ms = None;
        }
    }
}

impl RoomState {
    /// After a sweep billed: warns everyone once the organisation's minutes are used up.
    pub(super) fn check_quota(&mut self, now: u64, fx: &mut Vec<Effect>) {
        let Some(left) = self.terms.minutes_left_ms else { return };
        if !self.terms.bill_usage || self.quota.ends_at_ms.is_some() || self.quota.billed_ms < left {
            return;
        }
        let end = now.saturating_add(self.terms.usage_grace_ms);
        self.quota.ends_at_ms = Some(end);
        let seq = self.next_seq();
        let grace = self.terms.usage_grace_ms;
        let when = match grace {
            0..60_000 => format!("{} seconds", grace.div_ceil(1000)),
            60_000..120_000 => "1 minute".to_owned(),
            _ => format!("{} minutes", grace / 60_000),
        };
        let message = format!(
            "This organisation has used all the participant-minutes of its plan for this month. The meeting ends in {when}; an owner can ask the operator for a larger plan."
        );
        fx.push(Effect::Persist);
        fx.push(Effect::Broadcast {
            msg: ServerMessage::UsageLimit {
                seq,
                limit: "participant_minutes".into(),
                plan: self.terms.plan.clone(),
                disconnect_at_ms: end,
                message,
            },
            except: None,
        });
    }

    /// The grace ended: everyone leaves and is disconnected.
    pub(super) fn end_for_quota(&mut self, now: u64, fx: &mut Vec<Effect>) {
        let members: Vec<_> = self.members.iter().map(|(id, m)| (id.clone(), m.conn)).collect();
        for (id, conn) in members {
            self.leave(&id, LeaveReason::RoomClosed, now, fx);
            if let Some(conn) = conn {
                let reason = "the organisation's monthly minutes are used up".to_owned();
                fx.push(Effect::Close { conn, code: close::USAGE_LIMIT, reason });
            }
        }
        self.quota.ends_at_ms = None;
        fx.push(Effect::Persist);
    }
}
