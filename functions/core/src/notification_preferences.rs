//! A person's notification preferences — the channels per kind, quiet hours, and whether
//! non-transactional email was unsubscribed — and the one decision made from them:
//! [`route`], which channels a notification goes out on now. Pure.
//!
//! Quiet hours hold back what interrupts (push, text messages), never email. Nothing here
//! ever holds back the email of a transactional kind ([`NotificationKind::transactional`]);
//! mail outside these kinds (password resets, address proofs, organisation invitations) is
//! sent directly and never asks.

use std::collections::{BTreeMap, BTreeSet};

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use crate::notification_kind::{Channel, NotificationKind};

/// Minutes in a day.
pub const DAY_MINUTES: u16 = 1440;
/// The widest fixed UTC offset (UTC−14:00 … UTC+14:00), in minutes.
pub const MAX_OFFSET_MINUTES: i16 = 14 * 60;

/// A daily window in the person's fixed UTC offset: from `start_minute` (inclusive) to
/// `end_minute` (exclusive), minutes after local midnight; a start after the end spans
/// midnight (22:00 to 07:00 is 1320 to 420).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    #[cfg_attr(feature = "openapi", schema(maximum = 1439))]
    pub start_minute: u16,
    #[cfg_attr(feature = "openapi", schema(maximum = 1439))]
    pub end_minute: u16,
    /// The local time's offset from UTC, in minutes (`60` for UTC+01:00), −840 to 840.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = -840, maximum = 840))]
    pub utc_offset_minutes: i16,
}

impl QuietHours {
    /// True when `now_ms` falls inside the window.
    pub fn contains(&self, now_ms: u64) -> bool {
        let utc_minute = ((now_ms / 60_000) % u64::from(DAY_MINUTES)) as i32;
        let local = (utc_minute + i32::from(self.utc_offset_minutes)).rem_euclid(i32::from(DAY_MINUTES));
        let (start, end) = (i32::from(self.start_minute), i32::from(self.end_minute));
        match start.cmp(&end) {
            std::cmp::Ordering::Less => (start..end).contains(&local),
            std::cmp::Ordering::Greater => local >= start || local < end,
            std::cmp::Ordering::Equal => false,
        }
    }
}

/// What a person chose. Kinds left out of `channels` go out on their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// The channels of each kind (an empty list: that kind is off, but for a transactional
    /// kind's email).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Vec<Channel>>))]
    pub channels: BTreeMap<NotificationKind, BTreeSet<Channel>>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Set by the one-click unsubscribe link of a notification email: no more
    /// non-transactional email.
    #[serde(default)]
    pub email_unsubscribed: bool,
}

impl Preferences {
    /// The channels chosen for `kind`, or its defaults.
    pub fn channels_for(&self, kind: NotificationKind) -> BTreeSet<Channel> {
        self.channels.get(&kind).cloned().unwrap_or_else(|| kind.default_channels().iter().copied().collect())
    }

    /// Every kind with its channels, defaults filled in: what `GET` shows.
    pub fn resolved(&self) -> Preferences {
        let channels = NotificationKind::ALL.into_iter().map(|k| (k, self.channels_for(k))).collect();
        Preferences { channels, ..self.clone() }
    }

    /// A 400 unless the quiet hours are in range.
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(q) = &self.quiet_hours {
            if q.start_minute >= DAY_MINUTES || q.end_minute >= DAY_MINUTES {
                return Err(ApiError::bad_request("quiet_hours minutes must be 0..=1439"));
            }
            if q.utc_offset_minutes.abs() > MAX_OFFSET_MINUTES {
                return Err(ApiError::bad_request("quiet_hours.utc_offset_minutes must be -840..=840"));
            }
        }
        Ok(())
    }
}

/// The channels a notification of `kind` goes out on at `now_ms`.
pub fn route(kind: NotificationKind, prefs: &Preferences, now_ms: u64) -> BTreeSet<Channel> {
    let mut channels = prefs.channels_for(kind);
    if prefs.quiet_hours.is_some_and(|q| q.contains(now_ms)) {
        channels.remove(&Channel::Push);
        channels.remove(&Channel::Sms);
    }
    if kind.transactional() {
        channels.insert(Channel::Email);
    } else if prefs.email_unsubscribed {
        channels.remove(&Channel::Email);
    }
    channels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification_kind::Channel::{Email, Push, Sms};
    use crate::notification_kind::NotificationKind::*;

    /// 2027-01-15 (a Friday) at `h:m` UTC.
    fn at(h: u64, m: u64) -> u64 {
        1_800_000_000_000 / 86_400_000 * 86_400_000 + (h * 60 + m) * 60_000
    }

    fn set(channels: &[Channel]) -> BTreeSet<Channel> {
        channels.iter().copied().collect()
    }

    #[test]
    fn defaults_and_choices() {
        let prefs = Preferences::default();
        assert_eq!(route(MeetingReminder, &prefs, at(12, 0)), set(&[Email, Push]));
        assert_eq!(route(Mention, &prefs, at(12, 0)), set(&[Push]));
        let mut prefs = Preferences::default();
        prefs.channels.insert(MeetingReminder, set(&[Sms]));
        prefs.channels.insert(Mention, set(&[]));
        assert_eq!(route(MeetingReminder, &prefs, at(12, 0)), set(&[Sms]));
        assert_eq!(route(Mention, &prefs, at(12, 0)), set(&[]), "a kind turned off");
        assert_eq!(prefs.resolved().channels.len(), NotificationKind::ALL.len());
    }

    #[test]
    fn quiet_hours_hold_back_what_interrupts() {
        let overnight = QuietHours { start_minute: 22 * 60, end_minute: 7 * 60, utc_offset_minutes: 0 };
        let mut prefs = Preferences { quiet_hours: Some(overnight), ..Preferences::default() };
        prefs.channels.insert(MeetingReminder, set(&[Email, Push, Sms]));
        assert_eq!(route(MeetingReminder, &prefs, at(23, 0)), set(&[Email]));
        assert_eq!(route(MeetingReminder, &prefs, at(6, 59)), set(&[Email]));
        assert_eq!(route(MeetingReminder, &prefs, at(7, 0)), set(&[Email, Push, Sms]));
        assert_eq!(route(MeetingReminder, &prefs, at(21, 59)), set(&[Email, Push, Sms]));
        // UTC+02:00: 21:00 UTC is 23:00 local.
        prefs.quiet_hours = Some(QuietHours { utc_offset_minutes: 120, ..overnight });
        assert_eq!(route(MeetingReminder, &prefs, at(21, 0)), set(&[Email]));
        assert_eq!(route(MeetingReminder, &prefs, at(5, 0)), set(&[Email, Push, Sms]), "07:00 local");
        // UTC−05:00 across the UTC midnight: 03:00 UTC is 22:00 local.
        prefs.quiet_hours = Some(QuietHours { utc_offset_minutes: -300, ..overnight });
        assert_eq!(route(MeetingReminder, &prefs, at(3, 0)), set(&[Email]));
        assert_eq!(route(MeetingReminder, &prefs, at(2, 59)), set(&[Email, Push, Sms]));
        // A daytime window, and an empty one.
        prefs.quiet_hours = Some(QuietHours { start_minute: 540, end_minute: 1020, utc_offset_minutes: 0 });
        assert_eq!(route(MeetingReminder, &prefs, at(9, 0)), set(&[Email]));
        assert_eq!(route(MeetingReminder, &prefs, at(17, 0)), set(&[Email, Push, Sms]));
        prefs.quiet_hours = Some(QuietHours { start_minute: 600, end_minute: 600, utc_offset_minutes: 0 });
        assert_eq!(route(MeetingReminder, &prefs, at(10, 0)), set(&[Email, Push, Sms]));
    }

    #[test]
    fn nothing_holds_back_transactional_mail() {
        let mut prefs = Preferences {
            quiet_hours: Some(QuietHours { start_minute: 0, end_minute: 1439, utc_offset_minutes: 0 }),
            email_unsubscribed: true,
            ..Preferences::default()
        };
        prefs.channels.insert(MeetingInvitation, set(&[]));
        prefs.channels.insert(MeetingReminder, set(&[Email, Push]));
        assert_eq!(route(MeetingInvitation, &prefs, at(12, 0)), set(&[Email]), "off, quiet and unsubscribed");
        assert_eq!(route(MeetingReminder, &prefs, at(12, 0)), set(&[]), "unsubscribed and quiet");
        prefs.quiet_hours = None;
        assert_eq!(route(MeetingReminder, &prefs, at(12, 0)), set(&[Push]));
    }

    #[test]
    fn quiet_hours_out_of_range_are_refused() {
        let bad = |q| Preferences { quiet_hours: Some(q), ..Preferences::default() }.validate().is_err();
        assert!(bad(QuietHours { start_minute: 1440, end_minute: 0, utc_offset_minutes: 0 }));
        assert!(bad(QuietHours { start_minute: 0, end_minute: 1440, utc_offset_minutes: 0 }));
        assert!(bad(QuietHours { start_minute: 0, end_minute: 1, utc_offset_minutes: 841 }));
        assert!(bad(QuietHours { start_minute: 0, end_minute: 1, utc_offset_minutes: -841 }));
        assert!(!bad(QuietHours { start_minute: 1439, end_minute: 0, utc_offset_minutes: -840 }));
    }
}
