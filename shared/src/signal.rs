//! Signalling between the browser and its room coordinator: JSON messages over the WebSocket
//! `GET /v1/rooms/{room}/ws`, one object per text frame, tagged by `"type"`.
//!
//! The client opens with [`ClientMessage::Join`] naming the protocol version it speaks; the
//! coordinator answers [`ServerMessage::Joined`] with the room's state, then streams events.
//! Every server event that changes room state carries a room-wide sequence number `seq`, so a
//! client that reconnects can say what it has seen.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this build still accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
pub use crate::chat::{ChatChange, ChatMessage, MAX_CHAT_CHARS};
/// Longest client-chosen id (`client_id`), in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Largest WebSocket text frame a coordinator accepts from a client, in bytes.
pub const MAX_CLIENT_FRAME_BYTES: usize = 32 * 1024;

/// What kind of media a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    /// Microphone audio (`"audio"`).
    Audio,
    /// Camera video (`"video"`).
    Video,
    /// A screen share, sent as video (`"screen"`).
    Screen,
}

/// A published track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    /// The track id the media node uses (the SDP `msid` track id).
    pub id: String,
    /// Microphone, camera or screen share; an admin's `mute` applies to every track of a kind.
    pub kind: TrackKind,
    /// True while the track is muted, by its owner (`set_muted`) or by an admin (`mute`);
    /// false when absent.
    #[serde(default)]
    pub muted: bool,
    /// True when the track is sent as several simulcast layers.
    #[serde(default)]
    pub simulcast: bool,
}

/// What a participant is doing, as shown to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    /// In the call with the meeting in view; the state of a participant who has just joined.
    Active,
    /// Still connected, but the meeting is in a background tab or window.
    Away,
    /// Writing a chat message (shown to the others as "… is typing").
    Typing,
}

/// A participant as the others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Identity from the participant token (`sub`).
    pub id: String,
    /// Display name: the participant token's `name`, or the identity when the token has none.
    pub name: String,
    /// The participant token's `metadata`, passed through unchanged; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// When they joined (Unix milliseconds).
    pub joined_at_ms: u64,
    /// True while their hand is raised (`raise_hand`); false when absent.
    #[serde(default)]
    pub hand_raised: bool,
    /// Their presence; `active` when absent.
    #[serde(default = "PresenceState::active")]
    pub presence: PresenceState,
    /// The tracks they publish now (at most 16), in the order they were announced.
    #[serde(default)]
    pub tracks: Vec<TrackInfo>,
    /// The media node serving them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

impl PresenceState {
    fn active() -> Self {
        PresenceState::Active
    }
}

/// The media node a participant should use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaAssignment {
    /// The node's id in the registry (1-64 of `a-z`, `0-9`, `-`, `_`, `.`); the participant
    /// token names it in its `node` claim.
    pub node_id: String,
    /// The id of the region the node runs in (`eu-west`).
    pub region: String,
    /// `POST` an SDP offer here (with the participant token) to open the WebRTC session.
    pub session_url: String,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They left on purpose.
    Left,
    /// Their connection dropped and did not come back in time.
    Disconnected,
    /// An admin removed them.
    Kicked,
    /// The room was closed.
    RoomClosed,
    /// They joined again from another connection.
    Replaced,
}

/// Browser → coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a connection.
    Join {
        /// The protocol version the client speaks, in
        /// [`MIN_PROTOCOL_VERSION`]`..=`[`PROTOCOL_VERSION`].
        protocol: u32,
        /// On reconnect: the last `seq` the client saw, so the coordinator replays what it missed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seq: Option<u64>,
    },
    /// Send a chat message; `client_id` comes back in the echo so the sender can match it.
    Chat {
        /// The message: 1 to [`MAX_CHAT_CHARS`] characters, not only whitespace.
        text: String,
        /// An id of the sender's choosing (1 to [`MAX_CLIENT_ID_BYTES`] bytes, no control
        /// characters), returned only in the echo of this message to the sender.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The id of the message this one answers (a message of this room).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
    /// Change the text of a message: the sender's own, or anyone's for a room admin.
    EditChat {
        /// The [`ChatMessage::id`] of a message of the room's recent chat (older ones are
        /// changed through `PATCH /v1/rooms/{room}/messages/{id}`).
        message_id: String,
        /// The new text, within the same limits as a new message.
        text: String,
    },
    /// Delete a message (the sender's own, or anyone's for a room admin): it stays a tombstone.
    DeleteChat {
        /// The [`ChatMessage::id`] of a message of the room's recent chat.
        message_id: String,
    },
    /// Add or take back the sender's reaction to a message.
    React {
        /// The [`ChatMessage::id`] of a message of the room's recent chat.
        message_id: String,
        /// The reaction: an emoji or a short code, 1 to 32 bytes without spaces.
        reaction: String,
        /// True to add it, false to take it back.
        added: bool,
    },
    /// The client's presence changed; everyone gets a `presence` event, the sender included.
    Presence {
        /// The new presence.
        state: PresenceState,
    },
    /// The client raised or lowered its hand; everyone gets a `participant_updated`.
    RaiseHand {
        /// True to raise the hand, false to lower it.
        raised: bool,
    },
    /// The client started sending a track to its media node.
    TrackPublished {
        /// The track; one with the id of a track already announced replaces it.
        track: TrackInfo,
    },
    /// The client stopped sending a track; an unknown id is answered with `unknown_track`.
    TrackUnpublished {
        /// The [`TrackInfo::id`] of the track.
        track_id: String,
    },
    /// The client muted or unmuted its own track.
    SetMuted {
        /// The [`TrackInfo::id`] of one of the client's own tracks.
        track_id: String,
        /// True to mute, false to unmute.
        muted: bool,
    },
    /// Admin: mute someone's track of this kind.
    Mute {
        /// The identity of the participant to mute.
        participant_id: String,
        /// Which of their tracks to mute: all of this kind.
        kind: TrackKind,
    },
    /// Admin: let someone unmute their tracks of this kind again (an admin's mute holds, and the
    /// media node forwards none of them, until this).
    AllowUnmute {
        /// The identity of the participant.
        participant_id: String,
        /// Which of their tracks: all of this kind.
        kind: TrackKind,
    },
    /// Admin: remove someone from the room.
    Kick {
        /// The identity of the participant to remove.
        participant_id: String,
        /// Shown to the removed participant; at most 200 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Keep-alive: the coordinator answers `pong` with the same nonce. A connection that sends
    /// nothing, not even this, for the coordinator's stale timeout (45 s by default) is dropped.
    Ping {
        /// Any number; echoed in the `pong`.
        nonce: u64,
    },
    /// The client's media stopped arriving from its node (`node_id`, the node it was told to
    /// use): no packets for a while, or the connection dropped. The coordinator checks the
    /// node at once and, when it is gone, moves everyone on it to the next nearest node
    /// (`reconnect_to_node`); a node that answers stays.
    MediaLost {
        /// The node the client's session is on.
        node_id: String,
    },
    /// Leave the room now; the coordinator closes the connection with code 1000.
    Leave,
}

/// Coordinator → browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `join`: who you are, who is here, the chat tail and your media node.
    Joined {
        /// The protocol version the coordinator speaks ([`PROTOCOL_VERSION`]).
        protocol: u32,
        /// The room's name.
        room: String,
        /// The room's sequence number now: later events carry higher ones.
        seq: u64,
        /// The joining participant as the others see them.
        you: ParticipantInfo,
        /// Everyone else in the room (hidden participants excepted), replacing any earlier list.
        participants: Vec<ParticipantInfo>,
        /// The room's recent chat, oldest first; on reconnect only messages after `last_seq`.
        chat: Vec<ChatMessage>,
        /// The media node to use; absent when the coordinator knows none for the participant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaAssignment>,
    },
    /// Someone new joined the room (not sent for a reconnect within the grace period, nor for
    /// hidden participants).
    ParticipantJoined {
        /// The room sequence number of this event.
        seq: u64,
        /// The new participant.
        participant: ParticipantInfo,
    },
    /// Someone left the room, for the reason given.
    ParticipantLeft {
        /// The room sequence number of this event.
        seq: u64,
        /// The identity of the participant who left.
        participant_id: String,
        /// Why they left.
        reason: LeaveReason,
    },
    /// A participant's state changed (hand raised or lowered, a track muted or unmuted): the
    /// whole participant, to replace the client's copy.
    ParticipantUpdated {
        /// The room sequence number of this event.
        seq: u64,
        /// The participant as they are now.
        participant: ParticipantInfo,
    },
    /// A participant announced a track they send; sent to everyone, the publisher included.
    TrackPublished {
        /// The room sequence number of this event.
        seq: u64,
        /// The identity of the publisher.
        participant_id: String,
        /// The track; it replaces a track of the same id.
        track: TrackInfo,
    },
    /// A participant stopped sending a track.
    TrackUnpublished {
        /// The room sequence number of this event.
        seq: u64,
        /// The identity of the publisher.
        participant_id: String,
        /// The [`TrackInfo::id`] of the track that ended.
        track_id: String,
    },
    /// A chat message, from a participant or posted through the HTTP API; its room sequence
    /// number is `message.seq`.
    Chat {
        /// The message as stored.
        message: ChatMessage,
        /// Present only in the echo to the sender.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A message was edited, deleted or reacted to; sent to everyone, the one who changed it
    /// included.
    ChatChanged {
        /// The room sequence number of this event (the message's `changed_seq` from now on).
        seq: u64,
        /// The [`ChatMessage::id`] of the message.
        message_id: String,
        /// The identity who made the change.
        by: String,
        /// What changed.
        change: ChatChange,
        /// The message as it is now, when the room still has it in its recent chat; a client
        /// that has no copy of the message can ignore the event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<ChatMessage>,
    },
    /// The organisation's monthly participant-minutes are used up: the meeting goes on until
    /// `disconnect_at_ms`, then everyone is disconnected (close code 4402).
    UsageLimit {
        /// The room sequence number of this event.
        seq: u64,
        /// Which quota: `participant_minutes`.
        limit: String,
        /// The organisation's plan (its id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<String>,
        /// When the meeting will be ended (Unix milliseconds).
        disconnect_at_ms: u64,
        /// What happened and what to do, for people.
        message: String,
    },
    /// A participant's presence changed.
    Presence {
        /// The room sequence number of this event.
        seq: u64,
        /// The identity of the participant.
        participant_id: String,
        /// Their new presence.
        state: PresenceState,
    },
    /// An admin muted a track; the owner must stop sending it.
    Mute {
        /// The room sequence number of this event.
        seq: u64,
        /// The identity of the participant whose tracks were muted.
        participant_id: String,
        /// Which of their tracks were muted: all of this kind.
        kind: TrackKind,
        /// The identity of the admin who muted them.
        by: String,
    },
    /// An admin allowed a participant to unmute their tracks of a kind again.
    UnmuteAllowed {
        /// The room sequence number of this event.
        seq: u64,
        /// The identity of the participant who may unmute.
        participant_id: String,
        /// Which of their tracks: all of this kind.
        kind: TrackKind,
        /// The identity of the admin.
        by: String,
    },
    /// You (or someone) were removed by an admin.
    Kick {
        /// The identity of the participant removed.
        participant_id: String,
        /// The admin's reason, if they gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Move to another media node (yours went away or is draining).
    ReconnectToNode {
        /// The node to open a new WebRTC session with.
        media: MediaAssignment,
        /// Why, for people and logs (`media node fra-1 is gone`).
        reason: String,
    },
    /// A client message was refused; the connection stays open unless it had not joined yet.
    Error {
        /// Machine-readable reason: a [`SignalError::code`], `invalid` for a binary frame, or one
        /// of the room's (`not_joined`, `already_joined`, `forbidden`, `unknown_track`,
        /// `unknown_participant`, `too_many_tracks`, `muted_by_admin`, `rate_limited`).
        code: String,
        /// What went wrong, for people and logs.
        message: String,
    },
    /// The answer to a `ping`.
    Pong {
        /// The `nonce` of the `ping`.
        nonce: u64,
    },
}

/// Why a client message was refused before it reached the room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Not JSON, an unknown `type`, or a missing, extra or mistyped field (`invalid_message`);
    /// holds serde's message, cut to 160 characters.
    #[error("message is not valid JSON for this protocol: {0}")]
    Invalid(String),
    /// The frame is longer than [`MAX_CLIENT_FRAME_BYTES`] (`message_too_large`).
    #[error("frame is larger than {MAX_CLIENT_FRAME_BYTES} bytes")]
    TooLarge,
    /// `join` named a protocol version this build does not speak (`unsupported_protocol`).
    #[error("protocol version {0} is not supported (supported: {MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION})")]
    UnsupportedProtocol(u32),
    /// Chat text that is empty, only whitespace or longer than [`MAX_CHAT_CHARS`]
    /// (`bad_chat_text`).
    #[error("chat text must be 1..={MAX_CHAT_CHARS} characters")]
    BadChatText,
    /// A reaction that is not 1 to 32 bytes without spaces or control characters
    /// (`bad_reaction`).
    #[error("a reaction is 1-32 bytes without spaces or control characters")]
    BadReaction,
    /// A track or client id that is empty, longer than [`MAX_CLIENT_ID_BYTES`] or holds
    /// control characters, a participant id longer than
    /// [`MAX_IDENTITY_BYTES`](crate::identity::MAX_IDENTITY_BYTES), or a kick reason over 200
    /// characters (`bad_id`).
    #[error(
        "an id must be 1..={MAX_CLIENT_ID_BYTES} bytes (a participant id 1..={} bytes) of printable characters",
        crate::identity::MAX_IDENTITY_BYTES
    )]
    BadId,
}

impl SignalError {
    /// The `code` of the [`ServerMessage::Error`] sent back for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            SignalError::Invalid(_) => "invalid_message",
            SignalError::TooLarge => "message_too_large",
            SignalError::UnsupportedProtocol(_) => "unsupported_protocol",
            SignalError::BadChatText => "bad_chat_text",
            SignalError::BadReaction => "bad_reaction",
            SignalError::BadId => "bad_id",
        }
    }

    /// The [`ServerMessage::Error`] that tells the client about this refusal.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error { code: self.code().to_owned(), message: self.to_string() }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_CLIENT_ID_BYTES && !id.chars().any(char::is_control)
}

impl ClientMessage {
    /// Parses and validates one text frame from a client.
    pub fn parse(frame: &str) -> Result<Self, SignalError> {
        if frame.len() > MAX_CLIENT_FRAME_BYTES {
            return Err(SignalError::TooLarge);
        }
        let msg: ClientMessage = serde_json::from_str(frame).map_err(|e| {
            // serde's message names the field or variant at fault; cut it short.
            SignalError::Invalid(e.to_string().chars().take(160).collect())
        })?;
        msg.validate()?;
        Ok(msg)
    }

    /// Checks the limits serde cannot express.
    pub fn validate(&self) -> Result<(), SignalError> {
        match self {
            ClientMessage::Join { protocol, .. } => {
                if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(protocol) {
                    return Err(SignalError::UnsupportedProtocol(*protocol));
                }
            }
            ClientMessage::Chat { text, client_id, reply_to } => {
                if !crate::chat::text_fits(text) {
                    return Err(SignalError::BadChatText);
                }
                if client_id.as_deref().is_some_and(|c| !valid_id(c)) {
                    return Err(SignalError::BadId);
                }
                if reply_to.as_deref().is_some_and(|id| crate::chat::seq_of_id(id).is_none()) {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::EditChat { message_id, text } => {
                if crate::chat::seq_of_id(message_id).is_none() {
                    return Err(SignalError::BadId);
                }
                if !crate::chat::text_fits(text) {
                    return Err(SignalError::BadChatText);
                }
            }
            ClientMessage::DeleteChat { message_id } => {
                if crate::chat::seq_of_id(message_id).is_none() {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::React { message_id, reaction, .. } => {
                if crate::chat::seq_of_id(message_id).is_none() {
                    return Err(SignalError::BadId);
                }
                if !crate::chat::reaction_fits(reaction) {
                    return Err(SignalError::BadReaction);
                }
            }
            ClientMessage::TrackPublished { track } => {
                if !valid_id(&track.id) {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::TrackUnpublished { track_id } | ClientMessage::SetMuted { track_id, .. } => {
                if !valid_id(track_id) {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::Mute { participant_id, .. } | ClientMessage::AllowUnmute { participant_id, .. } => {
                if !crate::identity::fits(participant_id) {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::Kick { participant_id, reason } => {
                if !crate::identity::fits(participant_id) || reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::MediaLost { node_id } => {
                if !crate::node::valid_node_id(node_id) {
                    return Err(SignalError::BadId);
                }
            }
            ClientMessage::Presence { .. }
            | ClientMessage::RaiseHand { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::Leave => {}
        }
        Ok(())
    }
}

impl ServerMessage {
    /// The JSON text frame for this message.
    pub fn to_frame(&self) -> String {
        // Every field is a string, number, bool or a vector of those: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The room sequence number, for messages that change room state.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ServerMessage::Joined { seq, .. }
            | ServerMessage::ParticipantJoined { seq, .. }
            | ServerMessage::ParticipantLeft { seq, .. }
            | ServerMessage::ParticipantUpdated { seq, .. }
            | ServerMessage::TrackPublished { seq, .. }
            | ServerMessage::TrackUnpublished { seq, .. }
            | ServerMessage::Presence { seq, .. }
            | ServerMessage::Mute { seq, .. }
            | ServerMessage::UnmuteAllowed { seq, .. }
            | ServerMessage::ChatChanged { seq, .. }
            | ServerMessage::UsageLimit { seq, .. } => Some(*seq),
            ServerMessage::Chat { message, .. } => Some(message.seq),
            ServerMessage::Kick { .. }
            | ServerMessage::ReconnectToNode { .. }
            | ServerMessage::Error { .. }
            | ServerMessage::Pong { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn alice() -> ParticipantInfo {
        ParticipantInfo {
            id: "alice".into(),
            name: "Alice".into(),
            metadata: None,
            joined_at_ms: 1000,
            hand_raised: false,
            presence: PresenceState::Active,
            tracks: vec![TrackInfo { id: "cam".into(), kind: TrackKind::Video, muted: false, simulcast: true }],
            node_id: Some("fra-1".into()),
        }
    }

    #[test]
    fn client_messages_have_the_documented_shape() {
        let cases = [
            (json!({"type": "join", "protocol": 1}), ClientMessage::Join { protocol: 1, last_seq: None }),
            (
                json!({"type": "join", "protocol": 1, "last_seq": 42}),
                ClientMessage::Join { protocol: 1, last_seq: Some(42) },
            ),
            (
                json!({"type": "chat", "text": "hi", "client_id": "c1"}),
                ClientMessage::Chat { text: "hi".into(), client_id: Some("c1".into()), reply_to: None },
            ),
            (
                json!({"type": "edit_chat", "message_id": "0000000000000005-0000000002", "text": "hey"}),
                ClientMessage::EditChat { message_id: "0000000000000005-0000000002".into(), text: "hey".into() },
            ),
            (
                json!({"type": "react", "message_id": "0000000000000005-0000000002", "reaction": "👍", "added": true}),
                ClientMessage::React {
                    message_id: "0000000000000005-0000000002".into(),
                    reaction: "👍".into(),
                    added: true,
                },
            ),
            (json!({"type": "presence", "state": "away"}), ClientMessage::Presence { state: PresenceState::Away }),
            (json!({"type": "raise_hand", "raised": true}), ClientMessage::RaiseHand { raised: true }),
            (
                json!({"type": "mute", "participant_id": "bob", "kind": "audio"}),
                ClientMessage::Mute { participant_id: "bob".into(), kind: TrackKind::Audio },
            ),
            (
                json!({"type": "kick", "participant_id": "bob"}),
                ClientMessage::Kick { participant_id: "bob".into(), reason: None },
            ),
            (
                json!({"type": "set_muted", "track_id": "mic", "muted": true}),
                ClientMessage::SetMuted { track_id: "mic".into(), muted: true },
            ),
            (json!({"type": "ping", "nonce": 7}), ClientMessage::Ping { nonce: 7 }),
            (json!({"type": "leave"}), ClientMessage::Leave),
        ];
        for (wire, msg) in cases {
            assert_eq!(ClientMessage::parse(&wire.to_string()).unwrap(), msg);
            assert_eq!(serde_json::to_value(&msg).unwrap(), wire);
        }
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let joined = ServerMessage::Joined {
            protocol: PROTOCOL_VERSION,
            room: "standup".into(),
            seq: 3,
            you: alice(),
            participants: vec![],
            chat: vec![ChatMessage::new(2, "bob".into(), "Bob".into(), "hey".into(), 5)],
            media: Some(MediaAssignment {
                node_id: "fra-1".into(),
                region: "eu-central".into(),
                session_url: "http://127.0.0.1:3480/v1/sessions".into(),
            }),
        };
        let v: serde_json::Value = serde_json::from_str(&joined.to_frame()).unwrap();
        assert_eq!(v["type"], "joined");
        assert_eq!(v["you"]["tracks"][0]["kind"], "video");
        assert_eq!(v["chat"][0]["text"], "hey");
        assert_eq!(v["media"]["node_id"], "fra-1");
        assert_eq!(joined.seq(), Some(3));

        let left = ServerMessage::ParticipantLeft { seq: 9, participant_id: "bob".into(), reason: LeaveReason::Kicked };
        assert_eq!(
            serde_json::to_value(&left).unwrap(),
            json!({"type": "participant_left", "seq": 9, "participant_id": "bob", "reason": "kicked"})
        );
        let mv = ServerMessage::ReconnectToNode {
            media: MediaAssignment {
                node_id: "dub-1".into(),
                region: "eu-west".into(),
                session_url: "https://dub-1/v1/sessions".into(),
            },
            reason: "node_lost".into(),
        };
        assert_eq!(serde_json::to_value(&mv).unwrap()["type"], "reconnect_to_node");
        assert_eq!(mv.seq(), None);
        let err = SignalError::UnsupportedProtocol(9).to_message();
        assert_eq!(serde_json::to_value(&err).unwrap()["code"], "unsupported_protocol");
    }

    #[test]
    fn refuses_bad_frames() {
        let long = "x".repeat(MAX_CHAT_CHARS + 1);
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "invalid_message"),
            (json!({"type": "teleport"}).to_string(), "invalid_message"),
            (json!({"type": "chat"}).to_string(), "invalid_message"),
            (json!({"type": "chat", "text": "hi", "admin": true}).to_string(), "invalid_message"),
            (json!({"text": "hi"}).to_string(), "invalid_message"),
            (json!({"type": "join", "protocol": 0}).to_string(), "unsupported_protocol"),
            (json!({"type": "join", "protocol": 99}).to_string(), "unsupported_protocol"),
            (json!({"type": "chat", "text": "   "}).to_string(), "bad_chat_text"),
            (json!({"type": "chat", "text": long}).to_string(), "bad_chat_text"),
            (json!({"type": "chat", "text": "hi", "client_id": ""}).to_string(), "bad_id"),
            (json!({"type": "kick", "participant_id": "a\u{0}b"}).to_string(), "bad_id"),
            (json!({"type": "edit_chat", "message_id": "7", "text": "x"}).to_string(), "bad_id"),
            (json!({"type": "edit_chat", "message_id": "0000000000000005-0000000002", "text": " "}).to_string(), "bad_chat_text"),
            (json!({"type": "delete_chat", "message_id": "../x"}).to_string(), "bad_id"),
            (json!({"type": "react", "message_id": "0000000000000005-0000000002", "reaction": "a b", "added": true}).to_string(), "bad_reaction"),
            (json!({"type": "chat", "text": "hi", "reply_to": "nope"}).to_string(), "bad_id"),
            (
                json!({"type": "mute", "participant_id": "x".repeat(crate::identity::MAX_IDENTITY_BYTES + 1), "kind": "audio"})
                    .to_string(),
                "bad_id",
            ),
            (json!({"type": "chat", "text": "hi", "client_id": "x".repeat(MAX_CLIENT_ID_BYTES + 1)}).to_string(), "bad_id"),
            ("x".repeat(MAX_CLIENT_FRAME_BYTES + 1), "message_too_large"),
        ];
        for (frame, code) in cases {
            let err = ClientMessage::parse(&frame).unwrap_err();
            assert_eq!(err.code(), code, "{}", &frame[..frame.len().min(80)]);
        }
        // Any identity that can be minted can be named by a mute or a kick.
        let longest = "x".repeat(crate::identity::MAX_IDENTITY_BYTES);
        assert!(ClientMessage::parse(&json!({"type": "kick", "participant_id": longest}).to_string()).is_ok());
        // Exactly the maximum chat length is fine, counted in characters, not bytes.
        let max = "é".repeat(MAX_CHAT_CHARS);
        assert!(ClientMessage::parse(&json!({"type": "chat", "text": max}).to_string()).is_ok());
    }

    fn arb_track() -> impl Strategy<Value = TrackInfo> {
        (
            "[a-z0-9-]{1,16}",
            prop_oneof![Just(TrackKind::Audio), Just(TrackKind::Video), Just(TrackKind::Screen)],
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(id, kind, muted, simulcast)| TrackInfo { id, kind, muted, simulcast })
    }

    fn arb_participant() -> impl Strategy<Value = ParticipantInfo> {
        (
            "\\PC{1,20}",
            "\\PC{0,20}",
            proptest::option::of("\\PC{0,40}"),
            any::<u64>(),
            any::<bool>(),
            proptest::collection::vec(arb_track(), 0..3),
            proptest::option::of("[a-z0-9-]{1,10}"),
        )
            .prop_map(|(id, name, metadata, joined_at_ms, hand_raised, tracks, node_id)| ParticipantInfo {
                id,
                name,
                metadata,
                joined_at_ms,
                hand_raised,
                presence: PresenceState::Typing,
                tracks,
                node_id,
            })
    }

    fn arb_server() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            (any::<u64>(), arb_participant())
                .prop_map(|(seq, participant)| { ServerMessage::ParticipantJoined { seq, participant } }),
            (any::<u64>(), "\\PC{1,20}").prop_map(|(seq, participant_id)| {
                ServerMessage::ParticipantLeft { seq, participant_id, reason: LeaveReason::Disconnected }
            }),
            (any::<u64>(), "\\PC{1,20}", arb_track()).prop_map(|(seq, participant_id, track)| {
                ServerMessage::TrackPublished { seq, participant_id, track }
            }),
            (any::<u64>(), "\\PC{0,200}", proptest::option::of("[a-z0-9]{1,8}")).prop_map(|(seq, text, client_id)| {
                ServerMessage::Chat { message: ChatMessage::new(seq, "a".into(), "A".into(), text, seq / 2), client_id }
            }),
            (any::<u64>(), arb_participant(), proptest::collection::vec(arb_participant(), 0..4)).prop_map(
                |(seq, you, participants)| ServerMessage::Joined {
                    protocol: PROTOCOL_VERSION,
                    room: "r".into(),
                    seq,
                    you,
                    participants,
                    chat: vec![],
                    media: None,
                }
            ),
            any::<u64>().prop_map(|nonce| ServerMessage::Pong { nonce }),
        ]
    }

    fn arb_client() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            proptest::option::of(any::<u64>())
                .prop_map(|last_seq| ClientMessage::Join { protocol: PROTOCOL_VERSION, last_seq }),
            ("[^\\s][\\PC]{0,100}", proptest::option::of("[a-zA-Z0-9]{1,64}"))
                .prop_map(|(text, client_id)| ClientMessage::Chat { text, client_id, reply_to: None }),
            (0..u64::from(u32::MAX), "[^\\s][\\PC]{0,100}").prop_map(|(seq, text)| ClientMessage::EditChat {
                message_id: crate::chat::message_id(seq, seq),
                text
            }),
            arb_track().prop_map(|track| ClientMessage::TrackPublished { track }),
            any::<bool>().prop_map(|raised| ClientMessage::RaiseHand { raised }),
            ("[a-z]{1,10}", proptest::option::of("\\PC{0,50}"))
                .prop_map(|(participant_id, reason)| ClientMessage::Kick { participant_id, reason }),
        ]
    }

    proptest! {
        #[test]
        fn server_messages_round_trip(msg in arb_server()) {
            let back: ServerMessage = serde_json::from_str(&msg.to_frame()).unwrap();
            prop_assert_eq!(back, msg);
        }

        #[test]
        fn client_messages_round_trip(msg in arb_client()) {
            let frame = serde_json::to_string(&msg).unwrap();
            prop_assert_eq!(ClientMessage::parse(&frame).unwrap(), msg);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = ClientMessage::parse(&s);
        }
    }
}
