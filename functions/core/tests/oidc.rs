//! OIDC sign-in against our own provider fixture: code + PKCE, state and nonce, ID-token
//! checks, account linking.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use support::oidc_provider::{CLIENT_ID, CLIENT_SECRET, ISSUER, Tamper, User, query_of};
use support::*;

fn platform() -> TestPlatform {
    let mut p = TestPlatform::new();
    p.set("oidc_issuer", ISSUER);
    p.set("oidc_client_id", CLIENT_ID);
    p.set("oidc_client_secret", CLIENT_SECRET);
    p.idp.now_secs.set(T0_MS / 1000);
    p.idp.add_user(User {
        sub: "u-1".into(),
        email: "Ada@Example.test".into(),
        email_verified: true,
        name: "Ada L".into(),
    });
    p.idp.add_user(User {
        sub: "u-2".into(),
        email: "bo@example.test".into(),
        email_verified: false,
        name: "Bo".into(),
    });
    p
}

/// Starts a sign-in; returns the authorization URL Origo redirects the browser to.
fn start(p: &TestPlatform) -> String {
    let res = call(p, Method::GET, "/v1/auth/oidc/start", None, None);
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(json_of(&res)["authorization_url"], location.as_str());
    location
}

fn callback(p: &TestPlatform, redirect: &str) -> http::Response<bytes::Bytes> {
    let path = redirect.strip_prefix("https://origo.test").expect("redirect to our callback");
    call(p, Method::GET, path, None, None)
}

#[test]
fn sign_in_creates_an_account_once_and_signs_it_in_again() {
    let p = platform();
    let url = start(&p);
    let q = query_of(&url);
    assert_eq!(q["redirect_uri"], "https://origo.test/v1/auth/oidc/callback");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "openid email profile");
    let redirect = p.idp.authorize(&url, "u-1").unwrap();
    let session = ok_json(callback(&p, &redirect), StatusCode::OK);
    assert_eq!(session["account"]["email"], "ada@example.test");
    assert_eq!(session["account"]["name"], "Ada L");
    let id = session["account"]["id"].as_str().unwrap().to_owned();
    // The session works like a password one.
    let t = session["access_token"].as_str().unwrap();
    ok_json(call(&p, Method::POST, "/v1/orgs", Some(t), Some(json!({"name": "Ada's"}))), StatusCode::CREATED);
    // Second sign-in: same account.
    let url = start(&p);
    let again = ok_json(callback(&p, &p.idp.authorize(&url, "u-1").unwrap()), StatusCode::OK);
    assert_eq!(again["account"]["id"], id.as_str());
    // No password was set, so password login cannot be used for it.
    assert_error(
        &call(
            &p,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "ada@example.test", "password": "whatever123"})),
        ),
        401,
        "unauthorized",
    );
}

#[test]
fn a_verified_provider_email_links_to_the_existing_account_an_unverified_one_does_not() {
    let p = platform();
    let existing = account(&p, "ada@example.test");
    let url = start(&p);
    let linked = ok_json(callback(&p, &p.idp.authorize(&url, "u-1").unwrap()), StatusCode::OK);
    assert_eq!(linked["account"]["id"], existing["account"]["id"]);
    account(&p, "bo@example.test");
    let url = start(&p);
    assert_error(&callback(&p, &p.idp.authorize(&url, "u-2").unwrap()), 409, "conflict");
}

#[test]
fn state_is_single_use_and_expires() {
    let p = platform();
    let url = start(&p);
    let redirect = p.idp.authorize(&url, "u-1").unwrap();
    ok_json(callback(&p, &redirect), StatusCode::OK);
    // Replaying the callback (same state, same code) is refused before reaching the provider.
    let before = p.idp.token_requests.get();
    assert_error(&callback(&p, &redirect), 400, "bad_request");
    assert_eq!(p.idp.token_requests.get(), before);
    // A state nobody issued.
    let forged = redirect.replace(&query_of(&redirect)["state"], "ffffffffffffffffffffffffffffffff");
    assert_error(&callback(&p, &forged), 400, "bad_request");
    // Too slow.
    let url = start(&p);
    let redirect = p.idp.authorize(&url, "u-1").unwrap();
    p.advance_secs(601);
    assert_error(&callback(&p, &redirect), 400, "bad_request");
    // Missing parameters and provider errors.
    assert_error(&call(&p, Method::GET, "/v1/auth/oidc/callback?code=x", None, None), 400, "bad_request");
    assert_error(&call(&p, Method::GET, "/v1/auth/oidc/callback?state=x", None, None), 400, "bad_request");
    assert_error(
        &call(&p, Method::GET, "/v1/auth/oidc/callback?error=access_denied&state=x", None, None),
        401,
        "unauthorized",
    );
    assert_error(&call(&p, Method::POST, "/v1/auth/oidc/start", None, None), 405, "method_not_allowed");
}

#[test]
fn the_pkce_verifier_is_bound_to_the_sign_in() {
    let p = platform();
    // Two sign-ins; the code of one delivered with the state of the other fails at the
    // provider's PKCE check (each state carries its own verifier).
    let url_a = start(&p);
    let url_b = start(&p);
    let redirect_a = p.idp.authorize(&url_a, "u-1").unwrap();
    let state_b = query_of(&url_b)["state"].clone();
    let swapped =
        format!("https://origo.test/v1/auth/oidc/callback?code={}&state={state_b}", query_of(&redirect_a)["code"]);
    let msg = assert_error(&callback(&p, &swapped), 502, "bad_gateway");
    assert!(msg.contains("400"), "{msg}");
}

#[test]
fn bad_id_tokens_are_refused() {
    for tamper in
        [Tamper::WrongNonce, Tamper::WrongAudience, Tamper::WrongIssuer, Tamper::Expired, Tamper::SignedByAnotherKey]
    {
        let p = platform();
        p.idp.tamper.set(tamper);
        let url = start(&p);
        let msg = assert_error(&callback(&p, &p.idp.authorize(&url, "u-1").unwrap()), 401, "unauthorized");
        assert!(msg.starts_with("the ID token was refused"), "{tamper:?}: {msg}");
        assert!(p.dump().lines().all(|l| !l.starts_with("account:")), "{tamper:?}: no account may be created");
    }
}

#[test]
fn not_configured_or_unreachable_provider() {
    let mut p = platform();
    p.set("oidc_issuer", "https://down.test");
    assert_error(&call(&p, Method::GET, "/v1/auth/oidc/start", None, None), 502, "bad_gateway");
    p.vars.remove("oidc_issuer");
    assert_error(&call(&p, Method::GET, "/v1/auth/oidc/start", None, None), 404, "not_found");
}
