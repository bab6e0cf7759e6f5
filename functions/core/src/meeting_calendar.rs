//! The iCalendar (RFC 5545, iTIP RFC 5546) text of a meeting invitation: a `VCALENDAR` with
//! `METHOD:REQUEST` (an invitation or its update) or `METHOD:CANCEL`, holding one `VEVENT`
//! whose `UID` is the room's (stable across updates), `SEQUENCE` the room's count of
//! changes, `DTSTART`/`DTEND` in UTC, `SUMMARY`, `ORGANIZER`, an `ATTENDEE` per invitee and
//! `URL` the join link. The `icalendar` crate writes it, with RFC 5545's escaping and line
//! folding. Pure: the caller passes the time (`DTSTAMP`).

use icalendar::{Calendar, Component, Event, EventStatus, Property};

use crate::meeting_schedule::Schedule;

/// The media type of the attachment, as iTIP wants it named.
pub const REQUEST_CONTENT_TYPE: &str = "text/calendar; charset=utf-8; method=REQUEST";
pub const CANCEL_CONTENT_TYPE: &str = "text/calendar; charset=utf-8; method=CANCEL";

/// What the calendar object asks of its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The meeting is on (new, or changed: a higher `SEQUENCE`).
    Request,
    /// The meeting is off (for the attendees named).
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Method::Request => REQUEST_CONTENT_TYPE,
            Method::Cancel => CANCEL_CONTENT_TYPE,
        }
    }
}

/// One invitation's calendar object.
#[derive(Debug, Clone)]
pub struct Invitation<'a> {
    pub method: Method,
    /// The event's `UID`, the same for every message about the room's meeting.
    pub uid: &'a str,
    pub sequence: u32,
    pub schedule: &'a Schedule,
    /// The attendees this message names (every invitee, or the ones a cancellation is for).
    pub attendees: &'a [String],
    /// The join link (`{public_url}/?room=NAME`).
    pub url: &'a str,
    /// When the message is made, Unix milliseconds (`DTSTAMP`).
    pub now_ms: u64,
}

/// The `UID` of a room's meeting: the room's organisation, name and creation time, at the
/// deployment's host — stable for the room, distinct for a room made again under its name.
pub fn uid(org: &str, room: &str, created_at_ms: u64, host: &str) -> String {
    format!("room-{org}-{room}-{created_at_ms}@{host}")
}

/// UTC date-time in iCalendar's basic form (`20261201T201500Z`).
pub fn utc_stamp(ms: u64) -> String {
    let text = crate::meeting_schedule::format_utc(ms);
    // `2026-12-01T20:15:00Z` → `20261201T201500Z`
    text.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// The calendar object as text (CRLF line ends, folded at 75 octets).
pub fn render(inv: &Invitation<'_>) -> String {
    let s = inv.schedule;
    let mut event = Event::new();
    event
        .uid(inv.uid)
        .sequence(inv.sequence)
        .summary(&s.title)
        .url(inv.url)
        .description(&format!("Join: {}", inv.url))
        .append_property(Property::new("DTSTAMP", utc_stamp(inv.now_ms)))
        .append_property(Property::new("DTSTART", utc_stamp(s.start_at_ms)))
        .append_property(Property::new("DTEND", utc_stamp(s.end_at_ms())))
        .append_property(Property::new("ORGANIZER", format!("mailto:{}", s.organizer_email)))
        .status(match inv.method {
            Method::Request => EventStatus::Confirmed,
            Method::Cancel => EventStatus::Cancelled,
        });
    event.add_property("LOCATION", inv.url);
    for attendee in inv.attendees {
        let mut p = Property::new("ATTENDEE", format!("mailto:{attendee}"));
        p.add_parameter("ROLE", "REQ-PARTICIPANT");
        p.add_parameter("PARTSTAT", "NEEDS-ACTION");
        p.add_parameter("RSVP", "FALSE");
        event.append_multi_property(p);
    }
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//Origo//Meetings//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", inv.method.as_str()))
        .push(event.done());
    calendar.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting_schedule::format_utc;

    fn schedule(title: &str) -> Schedule {
        Schedule {
            start_at: format_utc(1_800_001_800_000),
            start_at_ms: 1_800_001_800_000,
            duration_mins: 45,
            title: title.into(),
            invitees: vec!["bob@acme.test".into()],
            invitee_count: 1,
            reminder_minutes: 10,
            organizer_email: "ada@acme.test".into(),
            organizer_account: None,
        }
    }

    #[test]
    fn an_invitation_names_its_method_times_and_attendees() {
        let s = schedule("Weekly; sync, with \"quotes\"");
        let inv = Invitation {
            method: Method::Request,
            uid: "room-o-r-1@origo.test",
            sequence: 2,
            schedule: &s,
            attendees: &s.invitees,
            url: "https://origo.test/?room=r",
            now_ms: 1_800_000_000_000,
        };
        let text = render(&inv);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
        for line in ["METHOD:REQUEST", "DTSTART:20270115T083000Z", "DTEND:20270115T091500Z", "SEQUENCE:2"] {
            assert!(text.contains(&format!("{line}\r\n")), "{line} in {text}");
        }
        assert!(text.contains("SUMMARY:Weekly\\; sync\\, with \"quotes\""), "{text}");
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains("RSVP=FALSE:mailto:bob@acme.test\r\n"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 76), "folded lines: {text}");
    }

    #[test]
    fn long_titles_are_folded() {
        let s = schedule(&"é".repeat(150));
        let inv = Invitation {
            method: Method::Cancel,
            uid: "u@h",
            sequence: 0,
            schedule: &s,
            attendees: &[],
            url: "https://origo.test/?room=r",
            now_ms: 0,
        };
        let text = render(&inv);
        assert!(text.contains("METHOD:CANCEL\r\n") && text.contains("STATUS:CANCELLED\r\n"));
        assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
        assert!(text.contains("\r\n "), "continuation lines start with a space");
    }
}
