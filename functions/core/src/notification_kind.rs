//! What Origo notifies people of, and on which channels. A kind is transactional when the
//! person needs the message to use Origo (an invitation to a meeting): its email is sent
//! whatever the preferences, quiet hours or an unsubscribe say.

use serde::{Deserialize, Serialize};

/// A kind of notification to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone invited the person to a meeting (transactional).
    MeetingInvitation,
    /// A meeting the person was invited to starts soon.
    MeetingReminder,
    /// Someone mentioned the person in a meeting's chat.
    Mention,
    /// A webhook endpoint of the person's organisation was disabled after failing.
    EndpointDisabled,
    /// The organisation's usage passed a threshold of its plan.
    UsageThreshold,
}

/// A way to reach a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    /// A text message to the account's verified phone number.
    Sms,
    /// Web push to the account's subscribed browsers.
    Push,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 5] = [
        NotificationKind::MeetingInvitation,
        NotificationKind::MeetingReminder,
        NotificationKind::Mention,
        NotificationKind::EndpointDisabled,
        NotificationKind::UsageThreshold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::MeetingInvitation => "meeting_invitation",
            NotificationKind::MeetingReminder => "meeting_reminder",
            NotificationKind::Mention => "mention",
            NotificationKind::EndpointDisabled => "endpoint_disabled",
            NotificationKind::UsageThreshold => "usage_threshold",
        }
    }

    /// True when its email goes out whatever the preferences say.
    pub fn transactional(self) -> bool {
        matches!(self, NotificationKind::MeetingInvitation)
    }

    /// The channels of an account that chose none.
    pub fn default_channels(self) -> &'static [Channel] {
        match self {
            NotificationKind::MeetingInvitation | NotificationKind::MeetingReminder => &[Channel::Email, Channel::Push],
            NotificationKind::Mention => &[Channel::Push],
            NotificationKind::EndpointDisabled | NotificationKind::UsageThreshold => &[Channel::Email],
        }
    }

    /// How soon a push service should wake the browser for it.
    pub fn urgency(self) -> crate::web_push::request::Urgency {
        use crate::web_push::request::Urgency;
        match self {
            NotificationKind::MeetingReminder | NotificationKind::Mention => Urgency::High,
            NotificationKind::MeetingInvitation => Urgency::Normal,
            NotificationKind::EndpointDisabled | NotificationKind::UsageThreshold => Urgency::Low,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_wire() {
        for kind in NotificationKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(serde_json::to_value(Channel::Sms).unwrap(), "sms");
        assert!(serde_json::from_str::<NotificationKind>("\"password_reset\"").is_err());
    }
}
