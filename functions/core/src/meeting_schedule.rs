//! A room's scheduled meeting: when it starts (`start_at`, RFC 3339, kept in UTC), how long it
//! lasts, its title, who is invited and how long before the start they are reminded. The
//! checks and the merge of a change are pure: the caller passes the time.
//!
//! Limits: the start is not in the past when it is set, and at most [`MAX_AHEAD_MS`] ahead; a
//! meeting lasts 1 minute to [`MAX_DURATION_MINS`]; at most [`MAX_INVITEES`] invitees, each
//! a valid address (normalised, duplicates dropped); a title of at most
//! [`MAX_TITLE_CHARS`] printable characters; a reminder 0 (none) to
//! [`MAX_REMINDER_MINUTES`] minutes before the start.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::email_address;

/// Most invitees of one meeting.
pub const MAX_INVITEES: usize = 100;
/// Longest meeting, in minutes (a day).
pub const MAX_DURATION_MINS: u32 = 1440;
/// Furthest start, from now (a year).
pub const MAX_AHEAD_MS: u64 = 365 * 86_400_000;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Earliest reminder, in minutes before the start (a day).
pub const MAX_REMINDER_MINUTES: u32 = 1440;
/// The reminder of a schedule that names none.
pub const DEFAULT_REMINDER_MINUTES: u32 = 10;

/// A scheduled meeting as stored in its room and shown with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    /// When the meeting starts, RFC 3339 in UTC (`2026-12-01T20:15:00Z`).
    pub start_at: String,
    /// The same instant, Unix milliseconds.
    pub start_at_ms: u64,
    pub duration_mins: u32,
    pub title: String,
    /// Invited addresses (shown to members who may change the room; a count for others).
    #[serde(default)]
    pub invitees: Vec<String>,
    #[serde(default)]
    pub invitee_count: usize,
    /// Minutes before the start that invitees and the organiser are reminded (0: never).
    pub reminder_minutes: u32,
    /// The address invitations name as the organiser.
    pub organizer_email: String,
    /// The account that set the schedule, reminded with the invitees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer_account: Option<String>,
}

impl Schedule {
    /// When the meeting ends, Unix milliseconds.
    pub fn end_at_ms(&self) -> u64 {
        self.start_at_ms + u64::from(self.duration_mins) * 60_000
    }

    /// When its reminder is due (`None`: no reminder).
    pub fn reminder_due_ms(&self) -> Option<u64> {
        (self.reminder_minutes > 0).then(|| self.start_at_ms.saturating_sub(u64::from(self.reminder_minutes) * 60_000))
    }

    /// True when a change of `self` into `other` is one invitees must hear of.
    pub fn differs_for_invitees(&self, other: &Schedule) -> bool {
        (self.start_at_ms, self.duration_mins, &self.title, &self.invitees)
            != (other.start_at_ms, other.duration_mins, &other.title, &other.invitees)
    }
}

/// The `schedule` of `POST /v1/rooms` and `PATCH /v1/rooms/{room}`: on a room without one,
/// `start_at`, `duration_mins` and `title` are required; on a scheduled room the fields
/// present change (`invitees` replaces the list).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// RFC 3339 with an offset (`2026-12-01T21:15:00+01:00`); kept in UTC, to the second.
    #[serde(default)]
    pub start_at: Option<String>,
    /// 1 to 1440.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1440))]
    pub duration_mins: Option<u32>,
    /// 1 to 200 printable characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    /// At most 100 email addresses.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub invitees: Option<Vec<String>>,
    /// 0 (no reminder) to 1440; default 10.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1440))]
    pub reminder_minutes: Option<u32>,
}

/// Who sets a schedule: the organiser's address and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organizer {
    pub email: String,
    pub account: Option<String>,
}

/// Parses an RFC 3339 time into Unix milliseconds (whole seconds), or a 400.
pub fn parse_start(text: &str) -> Result<u64, ApiError> {
    let bad = || ApiError::bad_request("schedule.start_at must be an RFC 3339 time such as 2026-12-01T20:15:00Z");
    if text.len() > 64 {
        return Err(bad());
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?;
    let secs = u64::try_from(at.unix_timestamp()).map_err(|_| bad())?;
    Ok(secs * 1000)
}

/// Unix milliseconds as RFC 3339 in UTC, to the second.
pub fn format_utc(ms: u64) -> String {
    i64::try_from(ms / 1000)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The schedule `input` makes of `current` (none: a new schedule) at `now`, checked.
pub fn merge(
    current: Option<&Schedule>,
    input: ScheduleInput,
    organizer: &Organizer,
    now_ms: u64,
) -> Result<Schedule, ApiError> {
    let required = |field: &str| ApiError::bad_request(format!("schedule.{field} is required to schedule a meeting"));
    let start_at_ms = match (&input.start_at, current) {
        (Some(text), _) => {
            let at = parse_start(text)?;
            if current.is_none_or(|c| c.start_at_ms != at) {
                if at < now_ms {
                    return Err(ApiError::bad_request("schedule.start_at is in the past"));
                }
                if at > now_ms + MAX_AHEAD_MS {
                    return Err(ApiError::bad_request("schedule.start_at is more than a year ahead"));
                }
            }
            at
        }
        (None, Some(c)) => c.start_at_ms,
        (None, None) => return Err(required("start_at")),
    };
    let duration_mins = match (input.duration_mins, current) {
        (Some(d), _) => d,
        (None, Some(c)) => c.duration_mins,
        (None, None) => return Err(required("duration_mins")),
    };
    if !(1..=MAX_DURATION_MINS).contains(&duration_mins) {
        return Err(ApiError::bad_request(format!("schedule.duration_mins must be 1..={MAX_DURATION_MINS}")));
    }
    let title = match (input.title, current) {
        (Some(t), _) => t.trim().to_owned(),
        (None, Some(c)) => c.title.clone(),
        (None, None) => return Err(required("title")),
    };
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "schedule.title must be 1 to {MAX_TITLE_CHARS} printable characters"
        )));
    }
    let invitees = match (input.invitees, current) {
        (Some(list), _) => invitee_list(&list)?,
        (None, Some(c)) => c.invitees.clone(),
        (None, None) => Vec::new(),
    };
    let reminder_minutes =
        input.reminder_minutes.or(current.map(|c| c.reminder_minutes)).unwrap_or(DEFAULT_REMINDER_MINUTES);
    if reminder_minutes > MAX_REMINDER_MINUTES {
        return Err(ApiError::bad_request(format!("schedule.reminder_minutes must be 0..={MAX_REMINDER_MINUTES}")));
    }
    let (organizer_email, organizer_account) = match current {
        Some(c) => (c.organizer_email.clone(), c.organizer_account.clone()),
        None => (organizer.email.clone(), organizer.account.clone()),
    };
    Ok(Schedule {
        start_at: format_utc(start_at_ms),
        start_at_ms,
        duration_mins,
        title,
        invitee_count: invitees.len(),
        invitees,
        reminder_minutes,
        organizer_email,
        organizer_account,
    })
}

/// The invitees, normalised and without repeats, in the order given; at most [`MAX_INVITEES`].
fn invitee_list(raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > MAX_INVITEES {
        return Err(ApiError::bad_request(format!("schedule.invitees holds at most {MAX_INVITEES} addresses")));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, address) in raw.iter().enumerate() {
        let email = email_address::normalize(address)
            .map_err(|_| ApiError::bad_request(format!("schedule.invitees[{i}] is not a valid email address")))?;
        if !out.contains(&email) {
            out.push(email);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn organizer() -> Organizer {
        Organizer { email: "ada@acme.test".into(), account: Some("acc_1".into()) }
    }

    fn input(start: &str) -> ScheduleInput {
        ScheduleInput {
            start_at: Some(start.into()),
            duration_mins: Some(30),
            title: Some("Standup".into()),
            ..ScheduleInput::default()
        }
    }

    #[test]
    fn times_are_kept_in_utc_to_the_second() {
        assert_eq!(parse_start("2027-01-15T09:30:00+01:00").unwrap(), 1_800_001_800_000);
        assert_eq!(format_utc(1_800_001_800_000), "2027-01-15T08:30:00Z");
        assert!(parse_start("tomorrow").is_err());
        assert!(parse_start("2027-01-15 09:30").is_err());
        assert!(parse_start(&"9".repeat(1000)).is_err());
    }

    #[test]
    fn a_new_schedule_is_checked_and_defaults_apply() {
        let s = merge(None, input("2027-01-15T08:30:00Z"), &organizer(), NOW).unwrap();
        assert_eq!((s.reminder_minutes, s.duration_mins, s.invitee_count), (DEFAULT_REMINDER_MINUTES, 30, 0));
        assert_eq!(s.reminder_due_ms(), Some(s.start_at_ms - 600_000));
        assert_eq!(s.end_at_ms(), s.start_at_ms + 1_800_000);
        assert!(merge(None, input("2020-01-01T00:00:00Z"), &organizer(), NOW).is_err(), "in the past");
        assert!(merge(None, input("2029-01-01T00:00:00Z"), &organizer(), NOW).is_err(), "over a year ahead");
        let mut long = input("2027-01-15T08:30:00Z");
        long.duration_mins = Some(MAX_DURATION_MINS + 1);
        assert!(merge(None, long, &organizer(), NOW).is_err());
        let missing = ScheduleInput { start_at: Some("2027-01-15T08:30:00Z".into()), ..ScheduleInput::default() };
        assert!(merge(None, missing, &organizer(), NOW).unwrap_err().message.contains("duration_mins"));
    }

    #[test]
    fn invitees_are_normalised_deduplicated_and_capped() {
        let mut i = input("2027-01-15T08:30:00Z");
        i.invitees = Some(vec![" Bob@Acme.test".into(), "bob@acme.test".into(), "cy@acme.test".into()]);
        let s = merge(None, i, &organizer(), NOW).unwrap();
        assert_eq!(s.invitees, ["bob@acme.test", "cy@acme.test"]);
        let mut bad = input("2027-01-15T08:30:00Z");
        bad.invitees = Some(vec!["ok@acme.test".into(), "not an address".into()]);
        assert!(merge(None, bad, &organizer(), NOW).unwrap_err().message.contains("invitees[1]"));
        let mut many = input("2027-01-15T08:30:00Z");
        many.invitees = Some((0..=MAX_INVITEES).map(|n| format!("p{n}@acme.test")).collect());
        assert!(merge(None, many, &organizer(), NOW).is_err());
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name() {
        let s = merge(None, input("2027-01-15T08:30:00Z"), &organizer(), NOW).unwrap();
        let other = Organizer { email: "eve@acme.test".into(), account: None };
        let retitled = ScheduleInput { title: Some("Retro".into()), ..ScheduleInput::default() };
        let t = merge(Some(&s), retitled, &other, NOW).unwrap();
        assert_eq!(
            (t.start_at_ms, t.title.as_str(), t.organizer_email.as_str()),
            (s.start_at_ms, "Retro", "ada@acme.test")
        );
        assert!(s.differs_for_invitees(&t));
        // A start that has passed may stay as it is.
        let later = NOW + 400 * 86_400_000;
        let u = merge(Some(&s), ScheduleInput { reminder_minutes: Some(0), ..ScheduleInput::default() }, &other, later);
        assert_eq!(u.unwrap().reminder_due_ms(), None);
    }
}
