//! The events partners can subscribe webhooks to: one list, used by the room coordinator that
//! raises them and by the webhook API that validates subscriptions.

use serde::{Deserialize, Serialize};

/// An event a webhook can receive; its wire name is `type` in the payload.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// The first participant joined.
    #[serde(rename = "room.started")]
    RoomStarted,
    /// The room ended (deleted, or empty past its timeout).
    #[serde(rename = "room.finished")]
    RoomFinished,
    /// A participant joined.
    #[serde(rename = "participant.joined")]
    ParticipantJoined,
    /// A participant left or was dropped.
    #[serde(rename = "participant.left")]
    ParticipantLeft,
    /// A participant published a track.
    #[serde(rename = "track.published")]
    TrackPublished,
    /// A track was unpublished.
    #[serde(rename = "track.unpublished")]
    TrackUnpublished,
    /// A chat message was posted.
    #[serde(rename = "chat.message")]
    ChatMessage,
    /// A chat message was edited, deleted or reacted to.
    #[serde(rename = "chat.message_changed")]
    ChatMessageChanged,
    /// The organisation's participant time this month passed 80 % or 100 % of its plan.
    #[serde(rename = "usage.threshold")]
    UsageThreshold,
    /// An endpoint of the organisation was disabled (it answered 410, or failed for days).
    #[serde(rename = "endpoint.disabled")]
    EndpointDisabled,
    /// A meeting was scheduled in a room, changed, or called off (`cancelled`).
    #[serde(rename = "room.scheduled")]
    RoomScheduled,
}

impl WebhookEvent {
    /// Every event, in the order the API lists them.
    pub const ALL: [WebhookEvent; 11] = [
        WebhookEvent::RoomStarted,
        WebhookEvent::RoomFinished,
        WebhookEvent::ParticipantJoined,
        WebhookEvent::ParticipantLeft,
        WebhookEvent::TrackPublished,
        WebhookEvent::TrackUnpublished,
        WebhookEvent::ChatMessage,
        WebhookEvent::ChatMessageChanged,
        WebhookEvent::EndpointDisabled,
        WebhookEvent::RoomScheduled,
        WebhookEvent::UsageThreshold,
    ];

    /// The wire name (`room.started`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::RoomStarted => "room.started",
            WebhookEvent::RoomFinished => "room.finished",
            WebhookEvent::ParticipantJoined => "participant.joined",
            WebhookEvent::ParticipantLeft => "participant.left",
            WebhookEvent::TrackPublished => "track.published",
            WebhookEvent::TrackUnpublished => "track.unpublished",
            WebhookEvent::ChatMessage => "chat.message",
            WebhookEvent::ChatMessageChanged => "chat.message_changed",
            WebhookEvent::EndpointDisabled => "endpoint.disabled",
            WebhookEvent::UsageThreshold => "usage.threshold",
            WebhookEvent::RoomScheduled => "room.scheduled",
        }
    }

    /// True for the events an endpoint receives only when it names them (chat messages can
    /// be many, and carry what people wrote).
    pub fn opt_in(self) -> bool {
        matches!(self, WebhookEvent::ChatMessage | WebhookEvent::ChatMessageChanged)
    }

    /// The event with wire name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl std::fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::from_name(e.as_str()), Some(e));
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{}\"", e.as_str()));
        }
        assert_eq!(WebhookEvent::from_name("room.exploded"), None);
    }
}
