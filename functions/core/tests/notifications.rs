//! Notifications to people: preferences choose the channels (`PUT
//! /v1/me/notification-preferences`), `notify_user` sends through email, text messages and
//! web push, one-click unsubscribe (RFC 8058) stops non-transactional email without a sign-in,
//! and nothing stops transactional mail.

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures_executor::block_on;
use http::{Method, StatusCode};
use origo_functions::notification_kind::{Channel, NotificationKind};
use origo_functions::notify_user::{Message, notify_user};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{Value, json};
use support::*;

fn platform() -> TestPlatform {
    let mut p = TestPlatform::new();
    p.set("vapid_private_key", "IQ8v1rU6Xz3c1n0pR0o8b5l0rQk0yY3vQz6wq3yZpSg");
    p.set("sms_api_url", "https://sms.test");
    p.set("sms_account_sid", "AC0123");
    p.set("sms_auth_token", "sms-token");
    p.set("sms_from", "+15550000000");
    p
}

/// A signed-in account with a verified phone number and one subscribed browser:
/// (access token, account id).
fn reachable(p: &TestPlatform, email: &str) -> (String, String) {
    let session = account(p, email);
    let token = session["access_token"].as_str().unwrap().to_owned();
    let id = session["account"]["id"].as_str().unwrap().to_owned();
    ok_json(
        call(p, Method::POST, "/v1/me/phone", Some(&token), Some(json!({ "number": "+14155550100" }))),
        StatusCode::ACCEPTED,
    );
    let form = String::from_utf8(p.sms.borrow().last().unwrap().body().to_vec()).unwrap();
    let body = origo_functions::percent_encoding::decode(&form).unwrap();
    let code = body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap().to_owned();
    ok_json(call(p, Method::POST, "/v1/me/phone/verify", Some(&token), Some(json!({ "code": code }))), StatusCode::OK);
    let ua = p256::SecretKey::from_slice(&[4; 32]).unwrap().public_key().to_encoded_point(false);
    let sub = json!({ "endpoint": "https://push.test/b1", "keys": { "p256dh": B64.encode(ua.as_bytes()), "auth": B64.encode([1u8; 16]) } });
    ok_json(call(p, Method::POST, "/v1/me/push-subscriptions", Some(&token), Some(sub)), StatusCode::CREATED);
    (token, id)
}

fn reminder() -> Message {
    Message {
        title: "Standup in 10 minutes".into(),
        text: "Standup starts at 09:30.".into(),
        url: Some("https://origo.test/?room=standup".into()),
        until_ms: None,
    }
}

fn sent(p: &TestPlatform, account: &str, kind: NotificationKind, message: &Message) -> Vec<(Channel, u32)> {
    let reports = block_on(notify_user(p, account, kind, message)).unwrap();
    reports.iter().map(|r| (r.channel, r.sent)).collect()
}

fn put_prefs(p: &TestPlatform, token: &str, prefs: Value) -> Value {
    ok_json(call(p, Method::PUT, "/v1/me/notification-preferences", Some(token), Some(prefs)), StatusCode::OK)
}

#[test]
fn preferences_choose_the_channels_and_quiet_hours_hold_back_what_interrupts() {
    let p = platform();
    let (token, id) = reachable(&p, "ada@acme.test");
    let shown = ok_json(call(&p, Method::GET, "/v1/me/notification-preferences", Some(&token), None), StatusCode::OK);
    assert_eq!(shown["channels"]["meeting_reminder"], json!(["email", "push"]), "{shown}");
    assert_eq!(shown["channels"].as_object().unwrap().len(), NotificationKind::ALL.len());

    put_prefs(&p, &token, json!({ "channels": { "meeting_reminder": ["email", "sms", "push"] } }));
    let (mails, texts, pushes) = (p.mail.borrow().len(), p.sms.borrow().len(), p.pushes.borrow().len());
    let out = sent(&p, &id, NotificationKind::MeetingReminder, &reminder());
    assert_eq!(out, [(Channel::Email, 1), (Channel::Sms, 1), (Channel::Push, 1)]);
    assert_eq!(
        (p.mail.borrow().len(), p.sms.borrow().len(), p.pushes.borrow().len()),
        (mails + 1, texts + 1, pushes + 1)
    );
    let mail = p.last_mail_to("ada@acme.test").unwrap();
    assert_eq!(mail["subject"], "Standup in 10 minutes");
    assert_eq!(mail["headers"]["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    let form = String::from_utf8(p.sms.borrow().last().unwrap().body().to_vec()).unwrap();
    let text = origo_functions::percent_encoding::decode(&form).unwrap();
    assert!(text.contains("Standup"), "{text}");
    assert_eq!(p.pushes.borrow().last().unwrap().headers()["urgency"], "high");

    // Quiet all day long in UTC+01:00: the reminder goes by email only.
    put_prefs(
        &p,
        &token,
        json!({ "channels": { "meeting_reminder": ["email", "sms", "push"] },
                "quiet_hours": { "start_minute": 0, "end_minute": 1439, "utc_offset_minutes": 60 } }),
    );
    assert_eq!(sent(&p, &id, NotificationKind::MeetingReminder, &reminder()), [(Channel::Email, 1)]);

    // A kind turned off sends nothing.
    put_prefs(&p, &token, json!({ "channels": { "mention": [] } }));
    assert_eq!(sent(&p, &id, NotificationKind::Mention, &reminder()), []);
}

#[test]
fn bad_preferences_are_refused() {
    let p = platform();
    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    let put = |v: Value| call(&p, Method::PUT, "/v1/me/notification-preferences", Some(token), Some(v));
    assert_error(&put(json!({ "channels": { "password_reset": [] } })), 400, "invalid_json");
    assert_error(&put(json!({ "channels": { "mention": ["pigeon"] } })), 400, "invalid_json");
    assert_error(&put(json!({ "quiet_hours": { "start_minute": 1440, "end_minute": 0 } })), 400, "bad_request");
    assert_error(
        &put(json!({ "quiet_hours": { "start_minute": 0, "end_minute": 1, "utc_offset_minutes": 900 } })),
        400,
        "bad_request",
    );
    assert_error(&put(json!({ "extra": true })), 400, "invalid_json");
    assert_error(&call(&p, Method::GET, "/v1/me/notification-preferences", None, None), 401, "unauthorized");
    assert_error(
        &call(&p, Method::POST, "/v1/me/notification-preferences", Some(token), None),
        405,
        "method_not_allowed",
    );
}

#[test]
fn one_click_unsubscribe_stops_notification_email_but_never_transactional_mail() {
    let p = platform();
    let (token, id) = reachable(&p, "ada@acme.test");
    sent(&p, &id, NotificationKind::UsageThreshold, &reminder());
    let mail = p.last_mail_to("ada@acme.test").unwrap();
    let header = mail["headers"]["List-Unsubscribe"].as_str().unwrap();
    let url = header.strip_prefix('<').and_then(|h| h.strip_suffix('>')).unwrap();
    let path = url.strip_prefix("https://origo.test").expect("under public_url");

    // A forged or altered token is refused; GET (a link scanner) changes nothing.
    let forged = path.replace(".", ".x");
    assert_error(&call(&p, Method::POST, &forged, None, None), 400, "bad_request");
    let other = B64.encode("acc_someone_else");
    let (_, tag) = path.rsplit_once('.').unwrap();
    assert_error(
        &call(&p, Method::POST, &format!("/v1/notifications/unsubscribe?token=u1.{other}.{tag}"), None, None),
        400,
        "bad_request",
    );
    assert_error(&call(&p, Method::POST, "/v1/notifications/unsubscribe", None, None), 400, "bad_request");
    assert_error(&call(&p, Method::GET, path, None, None), 405, "method_not_allowed");
    assert_eq!(sent(&p, &id, NotificationKind::UsageThreshold, &reminder()), [(Channel::Email, 1)]);

    // The mail client's one-click POST, without a sign-in.
    let mut req = request(Method::POST, path, None, None);
    req.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    *req.body_mut() = bytes::Bytes::from_static(b"List-Unsubscribe=One-Click");
    assert_eq!(ok_json(dispatch(&p, req), StatusCode::OK)["unsubscribed"], true);
    let shown = ok_json(call(&p, Method::GET, "/v1/me/notification-preferences", Some(&token), None), StatusCode::OK);
    assert_eq!(shown["email_unsubscribed"], true);

    let mails = p.mail.borrow().len();
    assert_eq!(sent(&p, &id, NotificationKind::UsageThreshold, &reminder()), []);
    assert_eq!(sent(&p, &id, NotificationKind::MeetingReminder, &reminder()), [(Channel::Push, 1)]);
    assert_eq!(p.mail.borrow().len(), mails, "no notification email after unsubscribing");

    // Transactional mail goes whatever the preferences say, without unsubscribe headers.
    put_prefs(
        &p,
        &token,
        json!({ "channels": { "meeting_invitation": [] }, "email_unsubscribed": true,
                "quiet_hours": { "start_minute": 0, "end_minute": 1439 } }),
    );
    assert_eq!(sent(&p, &id, NotificationKind::MeetingInvitation, &reminder()), [(Channel::Email, 1)]);
    assert!(p.last_mail_to("ada@acme.test").unwrap().get("headers").is_none());
    // So do password resets, which never ask the preferences.
    let res = call(&p, Method::POST, "/v1/auth/password-reset", None, Some(json!({ "email": "ada@acme.test" })));
    assert!(res.status().is_success(), "{}", String::from_utf8_lossy(res.body()));
    assert_eq!(p.mail.borrow().len(), mails + 2);
}

#[test]
fn a_channel_without_an_address_is_reported_and_the_others_still_go() {
    let p = platform();
    let session = account(&p, "ada@acme.test");
    let id = session["account"]["id"].as_str().unwrap();
    let token = session["access_token"].as_str().unwrap();
    put_prefs(&p, token, json!({ "channels": { "meeting_reminder": ["email", "sms", "push"] } }));
    let reports = block_on(notify_user(&p, id, NotificationKind::MeetingReminder, &reminder())).unwrap();
    assert_eq!(
        reports.iter().map(|r| (r.channel, r.sent)).collect::<Vec<_>>(),
        [(Channel::Email, 1), (Channel::Sms, 0), (Channel::Push, 0)]
    );
    assert_eq!(reports[1].failures, ["no verified phone number"]);
    assert!(block_on(notify_user(&p, "acc_nobody", NotificationKind::Mention, &reminder())).is_err());
}

fn sweep(p: &TestPlatform) -> Value {
    let out = ok_json(call(p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK);
    out["notification_retries"].clone()
}

fn queued_records(p: &TestPlatform) -> usize {
    p.kv.borrow().keys().filter(|k| k.starts_with("notify_retry:")).count()
}

#[test]
fn what_a_provider_cannot_take_now_is_tried_again_on_the_schedule_and_sent_once() {
    let p = platform();
    let (token, id) = reachable(&p, "ada@acme.test");
    put_prefs(&p, &token, json!({ "channels": { "meeting_reminder": ["email", "sms", "push"] } }));
    // Every provider is overloaded: the mail provider answers 503, the SMS provider 500, the
    // push service 429.
    p.mail_down.set(true);
    p.sms_status.set(500);
    p.push_status.set(429);
    let (texts, pushes) = (p.sms.borrow().len(), p.pushes.borrow().len());
    let mails = p.mail.borrow().len();
    let reports = block_on(notify_user(&p, &id, NotificationKind::MeetingReminder, &reminder())).unwrap();
    assert!(reports.iter().all(|r| r.sent == 0 && r.queued == 1), "{reports:?}");
    assert!(reports.iter().all(|r| r.failures.len() == 1 && r.failures[0].ends_with("(will be tried again)")));
    assert_eq!(queued_records(&p), 3);
    assert_eq!((p.sms.borrow().len(), p.pushes.borrow().len()), (texts + 1, pushes + 1));

    // Nothing is tried again before its time (5 s after the failure, ±10 %).
    assert_eq!(sweep(&p)["sent"], 0);
    assert_eq!((p.sms.borrow().len(), p.pushes.borrow().len()), (texts + 1, pushes + 1));

    // The second attempt, still refused: each waits again (5 min now).
    p.advance_secs(61);
    let second = sweep(&p);
    assert_eq!((second["sent"].as_u64(), second["waiting"].as_u64()), (Some(0), Some(3)), "{second}");
    assert_eq!((p.sms.borrow().len(), p.pushes.borrow().len()), (texts + 2, pushes + 2));
    p.advance_secs(240);
    assert_eq!(sweep(&p)["waiting"], 0, "the third attempt is not due before 4.5 minutes");

    // The providers are back: the third attempt goes through, once.
    p.mail_down.set(false);
    p.sms_status.set(201);
    p.push_status.set(201);
    p.advance_secs(120);
    let third = sweep(&p);
    assert_eq!(third["sent"], 3, "{third}");
    assert_eq!(p.mail.borrow().len(), mails + 1);
    assert_eq!(p.last_mail_to("ada@acme.test").unwrap()["subject"], "Standup in 10 minutes");
    assert!(p.last_mail_to("ada@acme.test").unwrap()["headers"]["List-Unsubscribe"].is_string());
    assert_eq!((p.sms.borrow().len(), p.pushes.borrow().len()), (texts + 3, pushes + 3));
    assert_eq!(queued_records(&p), 0);
    p.advance_secs(3600);
    assert_eq!(sweep(&p)["sent"], 0);
    assert_eq!((p.sms.borrow().len(), p.pushes.borrow().len()), (texts + 3, pushes + 3));
}

#[test]
fn refusals_are_not_retried_and_retries_stop_at_the_end_of_the_schedule_or_of_the_message() {
    let p = platform();
    let (token, id) = reachable(&p, "ada@acme.test");
    put_prefs(&p, &token, json!({ "channels": { "meeting_reminder": ["sms", "push"] } }));

    // A refusal for good (400 from the SMS provider, 404 from the push service) is reported and
    // not kept; the push subscription the service no longer knows is removed.
    p.sms_status.set(400);
    p.push_status.set(404);
    let reports = block_on(notify_user(&p, &id, NotificationKind::MeetingReminder, &reminder())).unwrap();
    assert!(reports.iter().all(|r| r.sent == 0 && r.queued == 0 && r.failures.len() == 1), "{reports:?}");
    assert_eq!(queued_records(&p), 0);
    let subs = ok_json(call(&p, Method::GET, "/v1/me/push-subscriptions", Some(&token), None), StatusCode::OK);
    assert_eq!(subs["subscriptions"].as_array().map(Vec::len), Some(0), "{subs}");

    // A text message that keeps failing is tried on the whole schedule, eight attempts in
    // all, then dropped.
    p.sms_status.set(503);
    let texts = p.sms.borrow().len();
    block_on(notify_user(&p, &id, NotificationKind::MeetingReminder, &reminder())).unwrap();
    let mut given_up = 0;
    for _ in 0..40 {
        p.advance_secs(3 * 3600);
        given_up += sweep(&p)["given_up"].as_u64().unwrap();
    }
    assert_eq!(p.sms.borrow().len(), texts + 8);
    assert_eq!((given_up, queued_records(&p)), (1, 0));

    // A message that means nothing after a time is not sent after it.
    let until = p.now_ms.get() + 1_200_000;
    let message = Message { until_ms: Some(until), ..reminder() };
    let texts = p.sms.borrow().len();
    block_on(notify_user(&p, &id, NotificationKind::MeetingReminder, &message)).unwrap();
    p.advance_secs(61);
    assert_eq!(sweep(&p)["waiting"], 1);
    p.advance_secs(1200);
    p.sms_status.set(201);
    let late = sweep(&p);
    assert_eq!((late["sent"].as_u64(), late["given_up"].as_u64()), (Some(0), Some(1)), "{late}");
    assert_eq!(p.sms.borrow().len(), texts + 2);
    assert_eq!(queued_records(&p), 0);
}
