//! Scheduled meetings: a room's schedule sends invitations whose `.ics` an independent parser
//! reads (the `icalendar` package, `tests/ics_check.py`, in the virtualenv `tests/run`
//! installs: `ORIGO_PYTHON`); updates raise `SEQUENCE`, removals and deletions cancel;
//! reminders go out once, at the sweep after they are due; `room.scheduled` reaches the
//! partner; bad schedules are refused.

mod support;

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_executor::block_on;
use http::{Method, StatusCode};
use origo_functions::webhook_delivery::deliver_due;
use serde_json::{Value, json};
use support::*;

/// 2027-01-16T08:00:00Z: a day after the tests' clock starts.
const START: &str = "2027-01-16T08:00:00Z";
const START_MS: u64 = T0_MS + 86_400_000;

fn python() -> String {
    std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// What an independent iCalendar parser reads in `ics`.
fn parse_ics(ics: &[u8]) -> Value {
    let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/ics_check.py");
    let mut child = std::process::Command::new(python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with the icalendar package (tests/run installs it)");
    child.stdin.take().unwrap().write_all(ics).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ics_check: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The mails sent to `to`, oldest first.
fn mails_to(p: &TestPlatform, to: &str) -> Vec<Value> {
    p.mail.borrow().iter().filter(|m| m["to"] == to).cloned().collect()
}

/// The calendar attached to `mail`: (content type, what the parser read).
fn calendar_of(mail: &Value) -> (String, Value) {
    let files = mail["attachments"].as_array().unwrap_or_else(|| panic!("no attachments in {mail}"));
    assert_eq!(files.len(), 1, "{mail}");
    assert_eq!(files[0]["filename"], "invite.ics");
    let ics = B64.decode(files[0]["content"].as_str().unwrap()).unwrap();
    (files[0]["content_type"].as_str().unwrap().to_owned(), parse_ics(&ics))
}

fn create(p: &TestPlatform, token: &str, name: &str, schedule: Value) -> Value {
    let body = json!({ "name": name, "schedule": schedule });
    ok_json(call(p, Method::POST, "/v1/rooms", Some(token), Some(body)), StatusCode::CREATED)
}

fn patch(p: &TestPlatform, token: &str, name: &str, body: Value) -> Value {
    ok_json(call(p, Method::PATCH, &format!("/v1/rooms/{name}"), Some(token), Some(body)), StatusCode::OK)
}

fn sweep(p: &TestPlatform) -> Value {
    ok_json(call(p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK)
}

fn reminders_to(p: &TestPlatform, to: &str) -> usize {
    mails_to(p, to).iter().filter(|m| m["subject"].as_str().unwrap().starts_with("Starting")).count()
}

#[test]
fn invitations_carry_a_calendar_that_updates_and_cancels() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    account(&p, "bob@acme.test");
    let before = p.mail.borrow().len();

    let schedule = json!({
        "start_at": "2027-01-16T09:00:00+01:00",
        "duration_mins": 45,
        "title": "Quarterly review, part 1; \"draft\"",
        "invitees": ["bob@acme.test", " Carol@Example.test "],
    });
    let room = create(&p, &t, "review", schedule);
    assert_eq!(room["schedule"]["start_at"], START, "kept in UTC");
    assert_eq!(room["schedule"]["start_at_ms"], START_MS);
    assert_eq!(room["schedule"]["invitees"], json!(["bob@acme.test", "carol@example.test"]));
    assert_eq!(room["schedule"]["reminder_minutes"], 10, "the default reminder");
    let shown = ok_json(call(&p, Method::GET, "/v1/rooms/review", Some(&t), None), StatusCode::OK);
    assert_eq!(shown["schedule"], room["schedule"], "GET shows the schedule");

    // One invitation each — the account holder's email is not doubled by its other channels.
    assert_eq!(p.mail.borrow().len() - before, 2);
    let bob = mails_to(&p, "bob@acme.test").pop().unwrap();
    assert!(bob["subject"].as_str().unwrap().starts_with("Invitation: Quarterly review"), "{bob}");
    assert!(bob.get("headers").is_none(), "transactional: no unsubscribe headers");
    let (content_type, ics) = calendar_of(&bob);
    assert!(content_type.starts_with("text/calendar") && content_type.contains("method=REQUEST"), "{content_type}");
    assert_eq!(ics["method"], "REQUEST");
    assert_eq!(ics["version"], "2.0");
    assert_eq!(ics["dtstart"], "2027-01-16T08:00:00+00:00");
    assert_eq!(ics["dtend"], "2027-01-16T08:45:00+00:00");
    assert_eq!(ics["summary"], "Quarterly review, part 1; \"draft\"");
    assert_eq!(ics["organizer"], "mailto:ada@acme.test");
    assert_eq!(ics["attendees"], json!(["mailto:bob@acme.test", "mailto:carol@example.test"]));
    assert_eq!(ics["url"], "https://origo.test/?room=review");
    assert_eq!(ics["sequence"], 0);
    let uid = ics["uid"].as_str().unwrap().to_owned();
    assert!(uid.contains(&org) && uid.contains("review"), "{uid}");
    let (_, carols) = calendar_of(&mails_to(&p, "carol@example.test").pop().unwrap());
    assert_eq!(carols["uid"], uid.as_str(), "one event for everyone");

    // Moved an hour, Carol taken off: Bob's update has the next SEQUENCE, Carol a cancellation.
    let moved = patch(
        &p,
        &t,
        "review",
        json!({"schedule": {"start_at": "2027-01-16T09:00:00Z", "invitees": ["bob@acme.test"]}}),
    );
    assert_eq!((moved["schedule"]["duration_mins"].as_u64(), moved["calendar_sequence"].as_u64()), (Some(45), Some(1)));
    let bob = mails_to(&p, "bob@acme.test").pop().unwrap();
    assert!(bob["subject"].as_str().unwrap().starts_with("Updated invitation"), "{bob}");
    let (_, ics) = calendar_of(&bob);
    assert_eq!(
        (ics["method"].as_str(), ics["sequence"].as_u64(), ics["uid"].as_str()),
        (Some("REQUEST"), Some(1), Some(uid.as_str()))
    );
    assert_eq!(ics["dtstart"], "2027-01-16T09:00:00+00:00");
    assert_eq!(ics["attendees"], json!(["mailto:bob@acme.test"]));
    let carol = mails_to(&p, "carol@example.test").pop().unwrap();
    let (content_type, ics) = calendar_of(&carol);
    assert!(content_type.contains("method=CANCEL"), "{content_type}");
    assert_eq!(
        (ics["method"].as_str(), ics["sequence"].as_u64(), ics["status"].as_str()),
        (Some("CANCEL"), Some(1), Some("CANCELLED"))
    );
    assert_eq!(ics["attendees"], json!(["mailto:carol@example.test"]));

    // A change that changes nothing sends nothing; other room fields leave the schedule be.
    let sent = p.mail.borrow().len();
    patch(&p, &t, "review", json!({"schedule": {"title": "Quarterly review, part 1; \"draft\""}, "metadata": "x"}));
    assert_eq!(p.mail.borrow().len(), sent);

    // Deleting the room cancels for everyone left.
    let res = call(&p, Method::DELETE, "/v1/rooms/review", Some(&t), None);
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, ics) = calendar_of(&mails_to(&p, "bob@acme.test").pop().unwrap());
    assert_eq!(
        (ics["method"].as_str(), ics["sequence"].as_u64(), ics["uid"].as_str()),
        (Some("CANCEL"), Some(2), Some(uid.as_str()))
    );
    assert_eq!(p.mail.borrow().len(), sent + 1);
}

#[test]
fn removing_a_schedule_cancels_and_a_new_one_supersedes_it() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    create(
        &p,
        &t,
        "sync",
        json!({"start_at": START, "duration_mins": 30, "title": "Sync", "invitees": ["dan@example.test"]}),
    );
    let off = patch(&p, &t, "sync", json!({"schedule": null}));
    assert!(off.get("schedule").is_none(), "{off}");
    let (_, ics) = calendar_of(&mails_to(&p, "dan@example.test").pop().unwrap());
    assert_eq!((ics["method"].as_str(), ics["sequence"].as_u64()), (Some("CANCEL"), Some(1)));
    // Scheduled again: a fresh invitation that outranks the cancellation.
    patch(
        &p,
        &t,
        "sync",
        json!({"schedule": {"start_at": START, "duration_mins": 30, "title": "Sync again", "invitees": ["dan@example.test"]}}),
    );
    let (_, ics) = calendar_of(&mails_to(&p, "dan@example.test").pop().unwrap());
    assert_eq!((ics["method"].as_str(), ics["sequence"].as_u64()), (Some("REQUEST"), Some(1)));
}

#[test]
fn reminders_go_out_once_at_the_sweep_after_they_are_due() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    account(&p, "bob@acme.test");
    sweep(&p);
    let schedule = json!({"start_at": START, "duration_mins": 30, "title": "Planning",
        "invitees": ["bob@acme.test", "dan@example.test"], "reminder_minutes": 15});
    create(&p, &t, "planning", schedule);

    // An hour before it: nothing yet.
    p.now_ms.set(START_MS - 3_600_000);
    assert_eq!(sweep(&p)["reminders"]["recipients"], 0);
    // Fourteen and a half minutes before: the organiser, the account holder (through its
    // channels) and the address without an account, once each.
    p.now_ms.set(START_MS - 870_000);
    let report = sweep(&p);
    assert_eq!(
        (report["reminders"]["meetings"].as_u64(), report["reminders"]["recipients"].as_u64()),
        (Some(1), Some(3)),
        "{report}"
    );
    for who in ["ada@acme.test", "bob@acme.test", "dan@example.test"] {
        assert_eq!(reminders_to(&p, who), 1, "{who}");
    }
    let dan = mails_to(&p, "dan@example.test").pop().unwrap();
    assert!(dan["text"].as_str().unwrap().contains("https://origo.test/?room=planning"), "{dan}");
    assert!(dan["subject"].as_str().unwrap().contains("in 15 minutes"), "{dan}");
    let bob = mails_to(&p, "bob@acme.test").pop().unwrap();
    assert!(bob["headers"]["List-Unsubscribe"].is_string(), "a reminder to an account is not transactional: {bob}");

    // Later sweeps, even a minute before the start, send nothing again.
    p.advance_secs(30);
    sweep(&p);
    p.now_ms.set(START_MS - 60_000);
    sweep(&p);
    for who in ["ada@acme.test", "bob@acme.test", "dan@example.test"] {
        assert_eq!(reminders_to(&p, who), 1, "{who}");
    }
}

#[test]
fn a_moved_meeting_is_reminded_at_its_new_time_only() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    sweep(&p);
    create(
        &p,
        &t,
        "retro",
        json!({"start_at": START, "duration_mins": 30, "title": "Retro", "invitees": ["dan@example.test"]}),
    );
    patch(&p, &t, "retro", json!({"schedule": {"start_at": "2027-01-16T10:00:00Z"}}));
    // A removed schedule reminds nobody.
    create(
        &p,
        &t,
        "gone",
        json!({"start_at": "2027-01-17T08:00:00Z", "duration_mins": 30, "title": "Gone", "invitees": ["eve@example.test"]}),
    );
    patch(&p, &t, "gone", json!({"schedule": null}));
    p.now_ms.set(START_MS - 300_000);
    assert_eq!(sweep(&p)["reminders"]["recipients"], 0, "the old time has no reminder");
    assert_eq!(reminders_to(&p, "dan@example.test"), 0);
    p.now_ms.set(START_MS + 2 * 3_600_000 - 590_000);
    sweep(&p);
    assert_eq!(reminders_to(&p, "dan@example.test"), 1);
    p.now_ms.set(START_MS + 86_400_000 - 60_000);
    sweep(&p);
    assert_eq!(reminders_to(&p, "eve@example.test"), 0);
}

#[test]
fn the_partner_receives_room_scheduled_without_addresses() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let hook = json!({"url": "https://hooks.partner.test/origo", "events": ["room.scheduled"]});
    ok_json(call(&p, Method::POST, "/v1/webhooks", Some(&t), Some(hook)), StatusCode::CREATED);
    create(
        &p,
        &t,
        "board",
        json!({"start_at": START, "duration_mins": 60, "title": "Board", "invitees": ["dan@example.test", "eve@example.test"]}),
    );
    patch(&p, &t, "board", json!({"schedule": {"duration_mins": 90}}));
    block_on(deliver_due(&p, &org, 10)).unwrap();
    let bodies: Vec<Value> = p.webhooks.borrow().iter().map(|r| serde_json::from_slice(r.body()).unwrap()).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    for b in &bodies {
        assert_eq!(b["type"], "room.scheduled");
        assert_eq!((b["data"]["room"].as_str(), b["data"]["start_at"].as_str()), (Some("board"), Some(START)));
        assert_eq!((b["data"]["invitee_count"].as_u64(), b["data"]["cancelled"].as_bool()), (Some(2), Some(false)));
        assert!(!b.to_string().contains("example.test"), "no addresses: {b}");
    }
    assert_eq!(bodies[1]["data"]["duration_mins"], 90);
}

#[test]
fn bad_schedules_are_refused_with_the_error_body() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    let base = json!({"start_at": START, "duration_mins": 30, "title": "T"});
    let with = |field: &str, value: Value| {
        let mut s = base.clone();
        s[field] = value;
        s
    };
    let cases = [
        (with("start_at", json!("2026-01-01T00:00:00Z")), "in the past"),
        (with("start_at", json!("2028-06-01T00:00:00Z")), "a year"),
        (with("start_at", json!("next tuesday")), "RFC 3339"),
        (with("start_at", json!(1_800_000_000_000u64)), "invalid"),
        (with("duration_mins", json!(0)), "duration_mins"),
        (with("duration_mins", json!(1441)), "duration_mins"),
        (with("title", json!("   ")), "title"),
        (with("title", json!("a\u{7}b")), "title"),
        (with("title", json!("x".repeat(201))), "title"),
        (with("reminder_minutes", json!(1441)), "reminder_minutes"),
        (with("invitees", json!(["ok@example.test", "nope"])), "invitees[1]"),
        (with("invitees", json!((0..101).map(|n| format!("p{n}@example.test")).collect::<Vec<_>>())), "at most 100"),
        (with("colour", json!("red")), "unknown field"),
        (json!({"start_at": START}), "duration_mins is required"),
    ];
    for (i, (schedule, says)) in cases.into_iter().enumerate() {
        let res =
            call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": format!("r{i}"), "schedule": schedule})));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "case {i}");
        let body = json_of(&res);
        let code = body["error"]["code"].as_str().unwrap();
        assert!(code == "bad_request" || code == "invalid_json", "case {i}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "case {i}: {body}");
    }
    assert!(p.mail.borrow().iter().all(|m| m.get("attachments").is_none()), "nothing was sent");
    // No room was made by a refused request.
    let listed = ok_json(call(&p, Method::GET, "/v1/rooms", Some(&t), None), StatusCode::OK);
    assert_eq!(listed["rooms"], json!([]));
    // A room without a schedule needs the whole of one.
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "plain"}))), StatusCode::CREATED);
    let res =
        call(&p, Method::PATCH, "/v1/rooms/plain", Some(&t), Some(json!({"schedule": {"title": "Only a title"}})));
    assert!(assert_error(&res, 400, "bad_request").contains("start_at is required"));
}

#[test]
fn invitees_are_shown_only_to_those_who_may_change_the_room() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    create(
        &p,
        &t,
        "town-hall",
        json!({"start_at": START, "duration_mins": 60, "title": "Town hall", "invitees": ["dan@example.test"]}),
    );
    let key = api_key(&p, &t, "backend");
    let grants = json!({"identity": "viewer-1", "grants": {"room": "town-hall", "join": true}});
    let minted = ok_json(call(&p, Method::POST, "/v1/tokens", Some(&key), Some(grants)), StatusCode::CREATED);
    let viewer = minted["token"].as_str().unwrap();
    let seen = ok_json(call(&p, Method::GET, "/v1/rooms/town-hall", Some(viewer), None), StatusCode::OK);
    assert_eq!(seen["schedule"]["invitees"], json!([]), "{seen}");
    assert_eq!(seen["schedule"]["invitee_count"], 1);
    assert_eq!(seen["schedule"]["title"], "Town hall");
}
