//! The room's chat as its coordinator keeps it: a message sent (kept in the recent chat and
//! the history, sent to everyone, raised as a webhook event with the people it mentions who
//! are not in the room), and the changes made to a message afterwards — an edit, a deletion,
//! a reaction — checked against the message, applied to the recent chat and to the history's
//! record, and sent to everyone.

use origo_shared::WebhookEvent;
use origo_shared::chat::{ChatChange, ChatRefusal, seq_of_id};
use origo_shared::signal::{ChatMessage, ServerMessage};

use super::{ConnId, Effect, RoomCommandOutcome, RoomState};

/// Why a change to a message was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// The message breaks a rule of the change.
    Rules(ChatRefusal),
    /// The room has no such message in its recent chat (`unknown_message`).
    Unknown,
    /// The participant may not write in the chat (`forbidden`).
    MayNotWrite,
}

impl ChangeRefusal {
    /// The machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            ChangeRefusal::Rules(why) => why.code(),
            ChangeRefusal::Unknown => "unknown_message",
            ChangeRefusal::MayNotWrite => "forbidden",
        }
    }

    /// What went wrong, for people.
    pub fn message(self) -> String {
        match self {
            ChangeRefusal::Rules(why) => why.to_string(),
            ChangeRefusal::Unknown => {
                "no such message in the room's recent chat (older messages are changed through the API)".into()
            }
            ChangeRefusal::MayNotWrite => "this participant may not write in the chat".into(),
        }
    }

    /// The answer to the command that asked for the change.
    pub fn outcome(self) -> RoomCommandOutcome {
        RoomCommandOutcome::Refused { code: self.code().to_owned(), message: self.message() }
    }
}

/// A message about to be sent: who writes it, and what.
pub(super) struct Draft {
    pub from: String,
    pub from_name: String,
    pub text: String,
    /// The id of the message it answers.
    pub reply_to: Option<String>,
}

impl RoomState {
    /// Adds a chat message to the room: kept in the recent chat and the history, sent to
    /// everyone (the sender's own connection, when it has one, gets it with its `client_id`).
    /// `reply_to` is kept when it names an earlier message of the room.
    pub(super) fn post_chat(
        &mut self,
        Draft { from, from_name, text, reply_to }: Draft,
        sender: Option<(ConnId, Option<String>)>,
        now: u64,
        fx: &mut Vec<Effect>,
    ) -> ChatMessage {
        let earlier = self.seq;
        let seq = self.next_seq();
        let mut message = ChatMessage::new(seq, from, from_name, text, now);
        message.reply_to = reply_to.filter(|id| seq_of_id(id).is_some_and(|s| s >= 1 && s <= earlier));
        self.chat.push_back(message.clone());
        while self.chat.len() > self.settings.chat_tail {
            self.chat.pop_front();
        }
        fx.push(Effect::Persist);
        fx.push(Effect::StoreChat(message.clone()));
        fx.push(Effect::Broadcast {
            msg: ServerMessage::Chat { message: message.clone(), client_id: None },
            except: sender.as_ref().map(|(conn, _)| *conn),
        });
        if let Some((conn, client_id)) = sender {
            fx.push(Effect::Send { conn, msg: ServerMessage::Chat { message: message.clone(), client_id } });
        }
        // Who is mentioned but not here now hears of it through their notification channels
        // (the organisation's webhook dispatcher sends those, from this event).
        let absent: Vec<&String> = message
            .mentions
            .iter()
            .filter(|id| **id != message.from && self.members.get(*id).is_none_or(|m| m.conn.is_none()))
            .collect();
        fx.push(Effect::Webhook {
            event: WebhookEvent::ChatMessage,
            data: serde_json::json!({
                "room": self.room, "org": self.org, "seq": seq, "id": message.id, "from": message.from,
                "from_name": message.from_name, "text": message.text, "sent_at_ms": message.sent_at_ms,
                "reply_to": message.reply_to, "mentions": message.mentions, "mentioned_absent": absent,
            }),
        });
        message
    }

    /// A change a participant asked for over the room socket: refused (with an `error` to
    /// that connection) when they may not write, or the change breaks a rule.
    pub(super) fn change_from_client(
        &mut self,
        conn: ConnId,
        identity: &str,
        message_id: String,
        change: ChatChange,
        fx: &mut Vec<Effect>,
    ) {
        let Some(m) = self.members.get(identity) else { return };
        let result = if !m.publish_data || m.hidden {
            Err(ChangeRefusal::MayNotWrite)
        } else {
            let admin = m.admin;
            self.change_chat(identity, admin, &message_id, change, false, fx).map(|_| ())
        };
        if let Err(why) = result {
            fx.push(Self::error(conn, why.code(), &why.message()));
        }
    }

    /// Makes `change` to message `message_id` on behalf of `by` (a room admin when `admin`).
    /// A message in the recent chat is checked and changed here; one older than that only
    /// when `checked` (a function checked it against the history's record), in its record
    /// alone. Returns the change's room sequence number and the message as it is now, when
    /// the room has it. A change that changes nothing (a reaction given twice) is no event.
    pub(super) fn change_chat(
        &mut self,
        by: &str,
        admin: bool,
        message_id: &str,
        change: ChatChange,
        checked: bool,
        fx: &mut Vec<Effect>,
    ) -> Result<(u64, Option<ChatMessage>), ChangeRefusal> {
        let next = self.seq + 1;
        let message = match self.chat.iter_mut().find(|m| m.id == message_id) {
            Some(m) => {
                if !m.apply(&change, by, admin, next).map_err(ChangeRefusal::Rules)? {
                    return Ok((m.last_seq(), Some(m.clone())));
                }
                Some(m.clone())
            }
            None if checked && seq_of_id(message_id).is_some_and(|s| s <= self.seq) => None,
            None => return Err(ChangeRefusal::Unknown),
        };
        let seq = self.next_seq();
        fx.push(Effect::Persist);
        // The recent chat's copy is the message as it is: written whole. An older message is
        // changed in its record.
        fx.push(match &message {
            Some(m) => Effect::StoreChat(m.clone()),
            None => Effect::ChangeChat {
                message_id: message_id.to_owned(),
                by: by.to_owned(),
                admin,
                change: change.clone(),
                seq,
            },
        });
        fx.push(Effect::Broadcast {
            msg: ServerMessage::ChatChanged {
                seq,
                message_id: message_id.to_owned(),
                by: by.to_owned(),
                change: change.clone(),
                message: message.clone(),
            },
            except: None,
        });
        fx.push(Effect::Webhook {
            event: WebhookEvent::ChatMessageChanged,
            data: serde_json::json!({
                "room": self.room, "org": self.org, "seq": seq, "id": message_id, "by": by, "change": change,
            }),
        });
        Ok((seq, message))
    }
}
