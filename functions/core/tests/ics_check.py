"""An independent reading of a meeting invitation Origo sent: parses the iCalendar object with
the `icalendar` package (RFC 5545) and prints what a calendar client would take from it, as
JSON. Usage: ics_check.py < invite.ics. Exits non-zero when it is not one VCALENDAR with one
VEVENT."""

import json
import sys

import icalendar


def main():
    cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert len(events) == 1, f"{len(events)} events"
    ev = events[0]
    attendees = ev.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    out = {
        "method": str(cal.get("METHOD")),
        "version": str(cal.get("VERSION")),
        "uid": str(ev.get("UID")),
        "sequence": int(ev.get("SEQUENCE", 0)),
        "dtstart": ev.decoded("DTSTART").isoformat(),
        "dtend": ev.decoded("DTEND").isoformat(),
        "summary": str(ev.get("SUMMARY")),
        "organizer": str(ev.get("ORGANIZER")),
        "attendees": [str(a) for a in attendees],
        "url": str(ev.get("URL")),
        "status": str(ev.get("STATUS")),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
