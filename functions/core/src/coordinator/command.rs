//! Commands a function sends to a room's coordinator through the `Platform`'s coordinator
//! stub — a message posted over HTTP, a participant removed, the room deleted — and what the
//! coordinator answers once the command is applied and durable.

use origo_shared::signal::{ChatMessage, MAX_CHAT_CHARS};
use serde::{Deserialize, Serialize};

use super::Effect;

/// A command for one room's coordinator. The function that sends it has already checked
/// the caller's rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RoomCommand {
    /// Post a chat message on behalf of `from` (kept in the history, sent to everyone).
    PostMessage { from: String, from_name: String, text: String },
    /// Remove a participant (told why, then disconnected).
    Kick {
        identity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// End the room now (it was deleted): everyone is disconnected.
    Close { reason: String },
}

impl RoomCommand {
    /// Checks a command that arrived over the network (the host's side of the stub).
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = |s: &str| !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
        match self {
            RoomCommand::PostMessage { from, from_name, text } => {
                if !name_ok(from) || !name_ok(from_name) {
                    return Err("from and from_name must be 1-128 characters without control characters".into());
                }
                if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS {
                    return Err(format!("text must be 1-{MAX_CHAT_CHARS} characters"));
                }
            }
            RoomCommand::Kick { identity, reason } => {
                if !name_ok(identity) || reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
                    return Err("identity must be 1-128 characters, a reason at most 200".into());
                }
            }
            RoomCommand::Close { reason } => {
                if reason.chars().count() > 200 {
                    return Err("a reason is at most 200 characters".into());
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
    /// Applied (a kick of someone not in the room, or a close of an empty room, is applied too).
    Applied,
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
            _ => RoomCommandOutcome::Applied,
        }
    }
}
