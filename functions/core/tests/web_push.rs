//! Web push: browsers register their subscriptions, and what Origo sends a push service is
//! read back by an independent implementation — the `http_ece` package decrypts the body with
//! the test's own subscription keys, PyJWT verifies the VAPID signature (`tests/run` installs
//! both into its Python virtualenv, `ORIGO_PYTHON`).

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{Method, StatusCode};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{Value, json};
use support::*;

/// The deployment's VAPID secret in the tests (any valid P-256 scalar).
const VAPID_PRIVATE: &str = "IQ8v1rU6Xz3c1n0pR0o8b5l0rQk0yY3vQz6wq3yZpSg";

/// A browser's subscription keys: (private scalar, p256dh, auth), base64url.
fn browser_keys(seed: u8) -> (String, String, String) {
    let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
    let public = secret.public_key().to_encoded_point(false);
    (B64.encode(secret.to_bytes()), B64.encode(public.as_bytes()), B64.encode([seed.wrapping_add(1); 16]))
}

fn platform() -> TestPlatform {
    let mut p = TestPlatform::new();
    p.set("vapid_private_key", VAPID_PRIVATE);
    p.set("vapid_subject", "mailto:ops@origo.test");
    p
}

fn subscribe(p: &TestPlatform, token: &str, endpoint: &str, seed: u8) -> Value {
    let (_, p256dh, auth) = browser_keys(seed);
    let body = json!({ "endpoint": endpoint, "expirationTime": null, "keys": { "p256dh": p256dh, "auth": auth } });
    ok_json(call(p, Method::POST, "/v1/me/push-subscriptions", Some(token), Some(body)), StatusCode::CREATED)
}

fn sweep(p: &TestPlatform) {
    ok_json(call(p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK);
}

fn python() -> String {
    std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Decrypts and verifies `req` as the browser and push service would; the plaintext.
fn read_independently(req: &http::Request<bytes::Bytes>, seed: u8, now_secs: u64) -> String {
    let (private, _, auth) = browser_keys(seed);
    let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/web_push_check.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(B64.encode(req.body()))
        .arg(private)
        .arg(auth)
        .arg(req.headers()["authorization"].to_str().unwrap())
        .arg("https://push.test")
        .arg(now_secs.to_string())
        .output()
        .expect("python3 with http_ece, PyJWT and cryptography (tests/run installs them)");
    assert!(out.status.success(), "web_push_check: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_browser_subscribes_and_an_independent_implementation_decrypts_what_origo_pushed() {
    let p = platform();
    let key = ok_json(call(&p, Method::GET, "/v1/push/vapid-public-key", None, None), StatusCode::OK);
    let public = B64.decode(key["public_key"].as_str().unwrap()).unwrap();
    assert_eq!((public.len(), public[0]), (65, 4), "an uncompressed P-256 point");

    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    let sub = subscribe(&p, token, "https://push.test/send/abc", 3);
    let id = sub["id"].as_str().unwrap();
    assert!(id.starts_with("ps_"));
    let listed = ok_json(call(&p, Method::GET, "/v1/me/push-subscriptions", Some(token), None), StatusCode::OK);
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("p256dh"), "listings show no keys");

    let res = call(&p, Method::POST, &format!("/v1/me/push-subscriptions/{id}/test"), Some(token), None);
    assert_eq!(ok_json(res, StatusCode::OK)["outcome"], "accepted");
    let pushes = p.pushes.borrow();
    let req = pushes.last().unwrap();
    assert_eq!(req.uri(), "https://push.test/send/abc");
    assert_eq!(req.headers()["content-encoding"], "aes128gcm");
    assert_eq!(req.headers()["ttl"], "60");
    let plaintext = read_independently(req, 3, p.now_ms.get() / 1000);
    let message: Value = serde_json::from_str(&plaintext).unwrap();
    assert_eq!(message["kind"], "test");
    assert!(!String::from_utf8_lossy(req.body()).contains("Notifications reach"), "the payload is not in the clear");
}

#[test]
fn registration_refuses_bad_subscriptions_and_keeps_to_its_cap() {
    let mut p = platform();
    p.set("push_subscriptions_per_account", "2");
    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    let (_, p256dh, auth) = browser_keys(3);
    let post = |body: Value| call(&p, Method::POST, "/v1/me/push-subscriptions", Some(token), Some(body));
    let with = |endpoint: &str, p256dh: &str, auth: &str| json!({ "endpoint": endpoint, "keys": { "p256dh": p256dh, "auth": auth } });
    for endpoint in ["http://push.test/x", "https://", "https:///x", "ftp://push.test/x", "https://u:p@push.test/x"] {
        assert_error(&post(with(endpoint, &p256dh, &auth)), 400, "bad_request");
    }
    let long = format!("https://push.test/{}", "a".repeat(2048));
    assert_error(&post(with(&long, &p256dh, &auth)), 400, "bad_request");
    assert_error(&post(with("https://push.test/x", "AAAA", &auth)), 400, "bad_request");
    let mut off_curve = B64.decode(&p256dh).unwrap();
    off_curve[64] ^= 1;
    assert_error(&post(with("https://push.test/x", &B64.encode(off_curve), &auth)), 400, "bad_request");
    assert_error(&post(with("https://push.test/x", &p256dh, "short")), 400, "bad_request");
    assert_error(&post(json!({ "endpoint": "https://push.test/x" })), 400, "invalid_json");
    assert_error(&post(json!({ "endpoint": "https://push.test/x", "keys": {}, "extra": 1 })), 400, "invalid_json");
    let res =
        call(&p, Method::POST, "/v1/me/push-subscriptions", None, Some(with("https://push.test/x", &p256dh, &auth)));
    assert_error(&res, 401, "unauthorized");
    let guest = guest(&p, "Gus");
    let res = call(
        &p,
        Method::POST,
        "/v1/me/push-subscriptions",
        Some(&guest),
        Some(with("https://push.test/x", &p256dh, &auth)),
    );
    assert_error(&res, 403, "forbidden");

    let a = subscribe(&p, token, "https://push.test/a", 3);
    subscribe(&p, token, "https://push.test/b", 4);
    let again = subscribe(&p, token, "https://push.test/a", 5);
    assert_eq!(a["id"], again["id"], "the same endpoint replaces its subscription");
    assert_error(&post(with("https://push.test/c", &p256dh, &auth)), 403, "limit_exceeded");
    let res = call(
        &p,
        Method::DELETE,
        &format!("/v1/me/push-subscriptions/{}", a["id"].as_str().unwrap()),
        Some(token),
        None,
    );
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    subscribe(&p, token, "https://push.test/c", 6);
    let res = call(&p, Method::DELETE, "/v1/me/push-subscriptions/ps_000000000000000000000000", Some(token), None);
    assert_error(&res, 404, "not_found");

    // Another account sees none of them and cannot remove them.
    let other = account(&p, "bob@acme.test");
    let other = other["access_token"].as_str().unwrap();
    let listed = ok_json(call(&p, Method::GET, "/v1/me/push-subscriptions", Some(other), None), StatusCode::OK);
    assert_eq!(listed["subscriptions"], json!([]));
    let id = again["id"].as_str().unwrap();
    let res = call(&p, Method::DELETE, &format!("/v1/me/push-subscriptions/{id}"), Some(other), None);
    assert_error(&res, 404, "not_found");
}

#[test]
fn a_push_service_that_forgets_a_subscription_removes_it_and_subscriptions_expire() {
    let p = platform();
    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    let gone = subscribe(&p, token, "https://push.test/gone", 3);
    p.push_status.set(410);
    let res = call(
        &p,
        Method::POST,
        &format!("/v1/me/push-subscriptions/{}/test", gone["id"].as_str().unwrap()),
        Some(token),
        None,
    );
    assert_eq!(ok_json(res, StatusCode::OK)["outcome"], "gone");
    let listed = ok_json(call(&p, Method::GET, "/v1/me/push-subscriptions", Some(token), None), StatusCode::OK);
    assert_eq!(listed["subscriptions"], json!([]), "410 removed the subscription");
    assert!(!p.dump().contains("push.test/gone"), "nothing of it is left in the store");

    p.push_status.set(503);
    let busy = subscribe(&p, token, "https://push.test/busy", 4);
    let res = call(
        &p,
        Method::POST,
        &format!("/v1/me/push-subscriptions/{}/test", busy["id"].as_str().unwrap()),
        Some(token),
        None,
    );
    assert_eq!(ok_json(res, StatusCode::OK)["outcome"], "retry");
    let listed = ok_json(call(&p, Method::GET, "/v1/me/push-subscriptions", Some(token), None), StatusCode::OK);
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 1, "a busy service keeps the subscription");

    // 90 days later the subscription is gone from listings and, after the sweep, the store.
    sweep(&p);
    for _ in 0..91 {
        p.advance_secs(86_400);
        sweep(&p);
    }
    let session = login(&p, "ada@acme.test", "correct horse battery");
    let token = session["access_token"].as_str().unwrap();
    let listed = ok_json(call(&p, Method::GET, "/v1/me/push-subscriptions", Some(token), None), StatusCode::OK);
    assert_eq!(listed["subscriptions"], json!([]));
    assert!(!p.dump().contains("push.test/busy"), "the sweep removed the expired record");
}

#[test]
fn without_a_vapid_key_web_push_is_off() {
    let p = TestPlatform::new();
    assert_error(&call(&p, Method::GET, "/v1/push/vapid-public-key", None, None), 503, "unavailable");
    assert_error(&call(&p, Method::POST, "/v1/push/vapid-public-key", None, None), 405, "method_not_allowed");
}
