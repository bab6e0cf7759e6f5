//! Notifications reach providers on this machine from a real `origo dev`: a text-message
//! provider of the Twilio-compatible form (a receiver in this test, on loopback) gets the
//! phone number's verification code and then a meeting reminder, which it first refuses with
//! a 503 and gets again from the sweep; `origo dev` has a web push key of its own.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use common::{call, rt, start_dev};
use reqwest::Method;
use serde_json::json;

const SID: &str = "AC0123456789";
const AUTH_TOKEN: &str = "sms-auth-token";

/// One message the provider got: (To, Body, the status it answered).
type Received = Arc<Mutex<Vec<(String, String, u16)>>>;

/// The provider's `Messages.json`: checks the account and its credentials, records the form,
/// answers 503 to the first reminder (overloaded) and 201 to everything else.
async fn messages(
    State(received): State<Received>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{AUTH_TOKEN}")));
    if sid != SID || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, r#"{"code":20003,"message":"Authenticate"}"#.into());
    }
    let form = String::from_utf8_lossy(&body).into_owned();
    let field = |name: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(origo_functions::percent_encoding::decode)
            .unwrap_or_default()
    };
    let (to, text) = (field("To"), field("Body"));
    let mut got = received.lock().unwrap();
    let first_reminder = text.contains("Starting") && !got.iter().any(|(_, b, _)| b.contains("Starting"));
    let status = if first_reminder { 503 } else { 201 };
    got.push((to, text, status));
    let answer = json!({"sid": format!("SM{}", got.len()), "status": "queued"}).to_string();
    (StatusCode::from_u16(status).unwrap(), answer)
}

/// `secs` (Unix time) in RFC 3339, UTC.
fn rfc3339(secs: u64) -> String {
    let out =
        std::process::Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"]).output();
    String::from_utf8(out.unwrap().stdout).unwrap().trim().to_owned()
}

#[test]
fn text_messages_reach_a_loopback_provider_and_a_refused_reminder_is_sent_again() {
    rt().block_on(async {
        let received: Received = Arc::default();
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", axum::routing::post(messages))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        let vars = [
            format!("sms_api_url={provider}"),
            format!("sms_account_sid={SID}"),
            format!("sms_auth_token={AUTH_TOKEN}"),
            "sms_from=+15550000000".to_owned(),
            "sweep_interval_secs=1".to_owned(),
        ];
        let mut args = Vec::new();
        for v in &vars {
            args.extend(["--var", v.as_str()]);
        }
        let o = start_dev(dir.path(), &args);

        // `origo dev` made itself a VAPID key: browsers can subscribe.
        let (s, key) = call(&o, Method::GET, "/v1/push/vapid-public-key", None, None).await;
        assert_eq!(s, 200, "{key}");
        let public = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key["public_key"].as_str().unwrap());
        assert_eq!(public.map(|k| (k.len(), k[0])).ok(), Some((65, 4)), "an uncompressed P-256 point");

        let creds = json!({"email": "ada@acme.test", "password": "correct horse battery"});
        let (s, body) = call(&o, Method::POST, "/v1/auth/signup", None, Some(creds.clone())).await;
        assert_eq!(s, 202, "{body}");
        let (s, session) = call(&o, Method::POST, "/v1/auth/login", None, Some(creds)).await;
        assert_eq!(s, 200, "{session}");
        let token = session["access_token"].as_str().unwrap().to_owned();
        let t = Some(token.as_str());

        // The verification code goes to the provider; the number is verified with it.
        let (s, body) = call(&o, Method::POST, "/v1/me/phone", t, Some(json!({"number": "+14155550100"}))).await;
        assert_eq!(s, 202, "{body}");
        let (to, text, _) = received.lock().unwrap().last().cloned().expect("the provider got the code");
        assert_eq!(to, "+14155550100");
        let code = text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("a 6-digit code").to_owned();
        let (s, body) = call(&o, Method::POST, "/v1/me/phone/verify", t, Some(json!({"code": code}))).await;
        assert_eq!(s, 200, "{body}");

        // Reminders by text message; a meeting whose reminder is due in a few seconds.
        let prefs = json!({"channels": {"meeting_reminder": ["sms"]}});
        let (s, body) = call(&o, Method::PUT, "/v1/me/notification-preferences", t, Some(prefs)).await;
        assert_eq!(s, 200, "{body}");
        let (s, org) = call(&o, Method::POST, "/v1/orgs", t, Some(json!({"name": "Acme"}))).await;
        assert_eq!(s, 201, "{org}");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let schedule = json!({
            "start_at": rfc3339(now + 123),
            "duration_mins": 30,
            "title": "Standup",
            "reminder_minutes": 2,
        });
        let (s, room) =
            call(&o, Method::POST, "/v1/rooms", t, Some(json!({"name": "standup", "schedule": schedule}))).await;
        assert_eq!(s, 201, "{room}");

        // The provider refuses the reminder once (503); the sweep sends it again ≥ 5 s later.
        let started = Instant::now();
        let reminders = loop {
            let got: Vec<_> =
                received.lock().unwrap().iter().filter(|(_, b, _)| b.contains("Starting")).cloned().collect();
            if got.len() >= 2 || started.elapsed() > Duration::from_secs(60) {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(reminders.len(), 2, "the refused reminder came again: {reminders:?}\n{}", o.log());
        assert_eq!((reminders[0].2, reminders[1].2), (503, 201));
        assert_eq!(reminders[0].1, reminders[1].1, "the same message");
        assert_eq!(reminders[1].0, "+14155550100");
        assert!(reminders[1].1.contains("Standup"), "{}", reminders[1].1);

        // Sent once it was taken: later sweeps send nothing more.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let count = received.lock().unwrap().iter().filter(|(_, b, _)| b.contains("Starting")).count();
        assert_eq!(count, 2);
    });
}
