//! Password reset by an emailed single-use link: no answer tells whether an address has an
//! account, the link works once and briefly, sets the password, proves the address and
//! revokes every session.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::*;

const PW: &str = "correct horse battery";
const NEW_PW: &str = "a brand new password";

fn ask(p: &TestPlatform, email: &str) -> http::Response<bytes::Bytes> {
    call(p, Method::POST, "/v1/auth/password-reset", None, Some(json!({ "email": email })))
}

fn confirm(p: &TestPlatform, token: &str, password: &str) -> http::Response<bytes::Bytes> {
    call(
        p,
        Method::POST,
        "/v1/auth/password-reset/confirm",
        None,
        Some(json!({ "token": token, "password": password })),
    )
}

fn login_res(p: &TestPlatform, email: &str, password: &str) -> http::Response<bytes::Bytes> {
    call(p, Method::POST, "/v1/auth/login", None, Some(json!({ "email": email, "password": password })))
}

#[test]
fn a_reset_request_answers_the_same_for_known_and_unknown_addresses() {
    let p = TestPlatform::new();
    account(&p, "ada@example.test");
    let known = ask(&p, "ada@example.test");
    let unknown = ask(&p, "nobody@example.test");
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!((known.status(), known.headers()), (unknown.status(), unknown.headers()));
    assert_eq!(known.body(), unknown.body());
    let mail = p.last_mail_to("ada@example.test").unwrap();
    assert_eq!(mail["subject"], "Reset your Origo password");
    assert!(mail["text"].as_str().unwrap().contains("https://origo.test/#password-reset="), "{mail}");
    assert!(p.last_mail_to("nobody@example.test").is_none());
    // Only the token's digest is stored.
    let token = link_token(&p, "ada@example.test", "#password-reset=");
    assert!(!p.dump().contains(&token));
}

#[test]
fn a_reset_request_answers_the_same_when_the_mail_cannot_be_delivered() {
    let p = TestPlatform::new();
    account(&p, "ada@example.test");
    p.mail_down.set(true);
    // A failed delivery to a known address would otherwise say that the account exists.
    let known = ask(&p, "ada@example.test");
    let unknown = ask(&p, "nobody@example.test");
    assert_eq!(known.status(), StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(known.body()));
    assert_eq!((known.status(), known.headers()), (unknown.status(), unknown.headers()));
    assert_eq!(known.body(), unknown.body());
}

#[test]
fn the_link_sets_the_password_once_and_revokes_every_session() {
    let p = TestPlatform::new();
    let old = account(&p, "ada@example.test");
    let access = old["access_token"].as_str().unwrap().to_owned();
    let refresh = old["refresh_token"].as_str().unwrap().to_owned();
    ok_json(call(&p, Method::GET, "/v1/orgs", Some(&access), None), StatusCode::OK);
    p.advance_secs(2);
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    let token = link_token(&p, "ada@example.test", "#password-reset=");
    // The password policy applies before the link is used up.
    assert_error(&confirm(&p, &token, "short"), 400, "bad_request");
    let done = ok_json(confirm(&p, &token, NEW_PW), StatusCode::OK);
    assert_eq!(done["reset"], true);
    // Single use.
    assert_error(&confirm(&p, &token, "yet another password"), 400, "bad_request");
    assert_error(&login_res(&p, "ada@example.test", PW), 401, "unauthorized");
    let fresh = login(&p, "ada@example.test", NEW_PW);
    // Sessions from before are revoked; the new one works.
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&access), None), 401, "unauthorized");
    assert_error(
        &call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))),
        401,
        "unauthorized",
    );
    ok_json(call(&p, Method::GET, "/v1/orgs", Some(fresh["access_token"].as_str().unwrap()), None), StatusCode::OK);
    let rotated =
        call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": fresh["refresh_token"] })));
    ok_json(rotated, StatusCode::OK);
}

#[test]
fn links_expire_and_an_older_link_dies_with_a_completed_reset() {
    let p = TestPlatform::new();
    account(&p, "ada@example.test");
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    let first = link_token(&p, "ada@example.test", "#password-reset=");
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    let second = link_token(&p, "ada@example.test", "#password-reset=");
    p.advance_secs(1);
    ok_json(confirm(&p, &second, NEW_PW), StatusCode::OK);
    assert_error(&confirm(&p, &first, "attacker's password"), 400, "bad_request");
    login(&p, "ada@example.test", NEW_PW);
    // Thirty minutes, then the link is refused, and the sweep removes it.
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    let late = link_token(&p, "ada@example.test", "#password-reset=");
    p.advance_secs(30 * 60 + 1);
    let msg = assert_error(&confirm(&p, &late, "too late password"), 400, "bad_request");
    assert!(msg.contains("expired"), "{msg}");
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    p.advance_secs(30 * 60 + 600);
    while ok_json(call(&p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK)["sweep"]["buckets"]
        != 0
    {}
    assert!(!p.dump().contains("password_reset:"), "{}", p.dump());
}

#[test]
fn a_reset_proves_the_address_of_an_account_never_verified() {
    let p = TestPlatform::new();
    call(&p, Method::POST, "/v1/auth/signup", None, Some(json!({ "email": "ada@example.test", "password": PW })));
    assert_error(&login_res(&p, "ada@example.test", PW), 403, "forbidden");
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    let token = link_token(&p, "ada@example.test", "#password-reset=");
    ok_json(confirm(&p, &token, NEW_PW), StatusCode::OK);
    assert_error(&login_res(&p, "ada@example.test", PW), 401, "unauthorized");
    login(&p, "ada@example.test", NEW_PW);
}

#[test]
fn a_lockout_does_not_outlive_a_reset() {
    let p = TestPlatform::new();
    account(&p, "ada@example.test");
    for _ in 0..5 {
        assert_error(&login_res(&p, "ada@example.test", "wrong password"), 401, "unauthorized");
    }
    assert_error(&login_res(&p, "ada@example.test", PW), 429, "rate_limited");
    ok_json(ask(&p, "ada@example.test"), StatusCode::ACCEPTED);
    ok_json(confirm(&p, &link_token(&p, "ada@example.test", "#password-reset="), NEW_PW), StatusCode::OK);
    login(&p, "ada@example.test", NEW_PW);
}

#[test]
fn hostile_bodies_get_clear_refusals() {
    let mut p = TestPlatform::new();
    for (path, body, code) in [
        ("/v1/auth/password-reset", json!({ "email": "not-an-email" }), "bad_request"),
        ("/v1/auth/password-reset", json!({ "email": "a@example.test", "extra": 1 }), "invalid_json"),
        ("/v1/auth/password-reset/confirm", json!({ "token": "x".repeat(5000), "password": NEW_PW }), "bad_request"),
        ("/v1/auth/password-reset/confirm", json!({ "token": "", "password": NEW_PW }), "bad_request"),
        ("/v1/auth/password-reset/confirm", json!({ "token": "nope" }), "invalid_json"),
    ] {
        assert_error(&call(&p, Method::POST, path, None, Some(body)), 400, code);
    }
    assert_error(&call(&p, Method::GET, "/v1/auth/password-reset", None, None), 405, "method_not_allowed");
    assert_error(&call(&p, Method::POST, "/v1/auth/password-reset/other", None, None), 404, "not_found");
    // No provider at all is said for every address alike.
    p.vars.remove("email_api_url");
    assert_error(&ask(&p, "nobody@example.test"), 503, "unavailable");
}
