//! Commands a function sends to a room's coordinator through the `Platform`'s coordinator
//! stub — a message posted over HTTP, a participant removed, the room deleted — and what the
//! coordinator answers once the command is applied and durable.

use origo_shared::chat::{self as chat_rules, ChatChange, ChatRefusal};
use origo_shared::identity::MAX_IDENTITY_BYTES;
use origo_shared::signal::{ChatMessage, MAX_CHAT_CHARS, MediaAssignment};
use serde::{Deserialize, Serialize};

use super::Effect;

/// A command for one room's coordinator. The function that sends it has already checked
/// the caller's rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RoomCommand {
    /// Post a chat message on behalf of `from` (kept in the history, sent to everyone).
    PostMessage {
        from: String,
        from_name: String,
        text: String,
        /// The id of the message it answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
    /// Change a message of the room's history on behalf of `by` (a room admin when `admin`).
    /// The function has checked the change against the message's record; the room checks it
    /// again against its recent chat, and the history's record is changed where it is.
    ChangeMessage { message_id: String, by: String, admin: bool, change: ChatChange },
    /// Remove a participant (told why, then disconnected).
    Kick {
        identity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// End the room now (it was deleted): everyone is disconnected.
    Close { reason: String },
    /// Hold a seat for `identity` until `until_ms` — a join is on its way — when the room has
    /// one free under `limit` (seats are the participants plus the seats held). The room's
    /// coordinator is the one writer of its seats, so two joins racing for the last seat
    /// cannot both get it. `terms` are the meeting's terms from the plan.
    Reserve {
        identity: String,
        /// The seat id the join's token carries (its `seat` claim).
        #[serde(default)]
        seat: String,
        until_ms: u64,
        limit: u32,
        #[serde(default)]
        terms: MeetingTerms,
        /// The media nodes able to take the participant, best first for them (nearest, then
        /// least loaded). The room chooses among them ([`RoomCommandOutcome::Reserved`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        candidates: Vec<MediaAssignment>,
    },
}

/// Candidate media nodes a reservation may offer.
pub const MAX_CANDIDATES: usize = 32;

/// What the plan sets for a meeting, sent with every seat reservation (the latest apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingTerms {
    /// The meeting ends this long after it started (guest meetings): everyone is disconnected
    /// with [`close::ROOM_CLOSED`](super::close::ROOM_CLOSED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_ms: Option<u64>,
    /// Chat messages older than this are deleted (the history keeps at most
    /// [`CHAT_HISTORY_MAX`](super::storage::CHAT_HISTORY_MAX) messages in any case).
    #[serde(default = "default_chat_retention_ms")]
    pub chat_retention_ms: u64,
    /// Participant time is recorded for billing.
    #[serde(default = "yes")]
    pub bill_usage: bool,
    /// How long a participant an admin removed may not come back.
    #[serde(default = "default_kick_ban_ms")]
    pub kick_ban_ms: u64,
    /// The organisation's participant-milliseconds left this month when this reservation
    /// was made (`None`: no monthly limit). The room counts what it bills from then on; once
    /// that reaches this, its participants are warned and disconnected after
    /// `usage_grace_ms` ([`usage_quota`](super::usage_quota)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes_left_ms: Option<u64>,
    /// How long a meeting goes on once its organisation's minutes are used up.
    #[serde(default = "default_usage_grace_ms")]
    pub usage_grace_ms: u64,
    /// The organisation's plan (its id), for the warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// A meeting over its organisation's monthly minutes goes on for two minutes unless the plans
/// document says otherwise.
pub const DEFAULT_USAGE_GRACE_MS: u64 = 120_000;

fn default_usage_grace_ms() -> u64 {
    DEFAULT_USAGE_GRACE_MS
}

/// A removed participant may not rejoin the meeting for an hour unless the plan says otherwise.
pub const DEFAULT_KICK_BAN_MS: u64 = 3_600_000;

fn default_kick_ban_ms() -> u64 {
    DEFAULT_KICK_BAN_MS
}

/// Chat history is kept 30 days unless the plan says otherwise.
pub const DEFAULT_CHAT_RETENTION_MS: u64 = 30 * 86_400_000;

fn default_chat_retention_ms() -> u64 {
    DEFAULT_CHAT_RETENTION_MS
}

fn yes() -> bool {
    true
}

impl Default for MeetingTerms {
    fn default() -> Self {
        MeetingTerms {
            max_duration_ms: None,
            chat_retention_ms: DEFAULT_CHAT_RETENTION_MS,
            bill_usage: true,
            kick_ban_ms: DEFAULT_KICK_BAN_MS,
            minutes_left_ms: None,
            usage_grace_ms: DEFAULT_USAGE_GRACE_MS,
            plan: None,
        }
    }
}

impl RoomCommand {
    /// Checks a command that arrived over the network (the host's side of the stub).
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = |s: &str| !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
        match self {
            RoomCommand::PostMessage { from, from_name, text, reply_to } => {
                if !name_ok(from) || !name_ok(from_name) {
                    return Err("from and from_name must be 1-128 characters without control characters".into());
                }
                if !chat_rules::text_fits(text) {
                    return Err(format!("text must be 1-{MAX_CHAT_CHARS} characters"));
                }
                if reply_to.as_deref().is_some_and(|id| chat_rules::seq_of_id(id).is_none()) {
                    return Err("reply_to must be a message id".into());
                }
            }
            RoomCommand::ChangeMessage { message_id, by, change, .. } => {
                if chat_rules::seq_of_id(message_id).is_none() || !origo_shared::identity::fits(by) {
                    return Err("message_id must be a message id, by an identity".into());
                }
                let bad = match change {
                    ChatChange::Edited { text, .. } => !chat_rules::text_fits(text),
                    ChatChange::Reaction { reaction, .. } => !chat_rules::reaction_fits(reaction),
                    ChatChange::Deleted { .. } => false,
                };
                if bad {
                    return Err("the change's text or reaction is outside the limits".into());
                }
            }
            RoomCommand::Kick { identity, reason } => {
                if !origo_shared::identity::fits(identity) || reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
                    return Err(format!(
                        "identity must be 1-{MAX_IDENTITY_BYTES} bytes, a reason at most 200 characters"
                    ));
                }
            }
            RoomCommand::Close { reason } => {
                if reason.chars().count() > 200 {
                    return Err("a reason is at most 200 characters".into());
                }
            }
            RoomCommand::Reserve { identity, seat, limit, candidates, .. } => {
                if !origo_shared::identity::fits(identity) || *limit == 0 || *limit > 100_000 {
                    return Err(format!("identity must be 1-{MAX_IDENTITY_BYTES} bytes, limit 1-100000"));
                }
                if candidates.len() > MAX_CANDIDATES
                    || candidates
                        .iter()
                        .any(|c| !origo_shared::node::valid_node_id(&c.node_id) || c.session_url.len() > 2048)
                {
                    return Err(format!("at most {MAX_CANDIDATES} candidates, each with a valid node id"));
                }
                if seat.is_empty() || seat.len() > 64 || !seat.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err("seat must be 1-64 letters and digits".into());
                }
            }
        }
        Ok(())
    }
}

/// What the coordinator did with a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RoomCommandOutcome {
    /// The message as the room stored it (with its sequence number and time).
    Posted { message: ChatMessage },
    /// The message was changed (`seq`: the change's room sequence number; `message`: the
    /// message as it is now, when the room has it in its recent chat).
    Changed {
        seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<ChatMessage>,
    },
    /// The change was refused (`code`: a [`ChatRefusal::code`], or `unknown_message`).
    Refused { code: String, message: String },
    /// Applied (a kick of someone not in the room, or a close of an empty room, is applied too).
    Applied,
    /// A seat is held for the identity, on `media`: the room's node while it is among the
    /// candidates, else the best of them (`None` when none was offered).
    Reserved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaAssignment>,
    },
    /// Every seat is taken.
    Full { limit: u32 },
    /// The meeting has reached its time limit.
    Ended,
    /// An admin removed the identity from the room; it may join again from `until_ms`.
    Banned { until_ms: u64 },
}

impl RoomCommandOutcome {
    /// The outcome of `command`, from the effects its application produced.
    pub fn of(command: &RoomCommand, fx: &[Effect]) -> Self {
        match command {
            RoomCommand::PostMessage { .. } => fx
                .iter()
                .find_map(|e| match e {
                    Effect::StoreChat(message) => Some(RoomCommandOutcome::Posted { message: message.clone() }),
                    _ => None,
                })
                .unwrap_or(RoomCommandOutcome::Applied),
            RoomCommand::Reserve { .. } | RoomCommand::ChangeMessage { .. } => fx
                .iter()
                .find_map(|e| match e {
                    Effect::Answer(outcome) => Some(outcome.clone()),
                    _ => None,
                })
                .unwrap_or(RoomCommandOutcome::Applied),
            _ => RoomCommandOutcome::Applied,
        }
    }
}

impl RoomCommandOutcome {
    /// The answer to a refused change.
    pub fn refused(why: ChatRefusal) -> Self {
        RoomCommandOutcome::Refused { code: why.code().to_owned(), message: why.to_string() }
    }
}
