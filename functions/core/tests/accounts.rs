//! Accounts: sign-up that reveals nothing, verification, login with rate limit and lockout,
//! rotating refresh tokens with reuse detection, logout, signing-key rotation.

mod support;

use http::{Method, StatusCode};
use origo_shared::token::{self, Expectations, KeySet, TokenKind};
use serde_json::json;
use support::*;

const PW: &str = "correct horse battery";

fn signup(p: &TestPlatform, email: &str, password: &str) -> http::Response<bytes::Bytes> {
    call(p, Method::POST, "/v1/auth/signup", None, Some(json!({ "email": email, "password": password })))
}

fn login_res(p: &TestPlatform, email: &str, password: &str) -> http::Response<bytes::Bytes> {
    call(p, Method::POST, "/v1/auth/login", None, Some(json!({ "email": email, "password": password })))
}

#[test]
fn signup_verify_login_and_the_access_token_is_an_account_token() {
    let p = TestPlatform::new();
    let res = signup(&p, " Ada@Example.TEST ", PW);
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Not usable before the address is confirmed (and only the right password learns that).
    assert_error(&login_res(&p, "ada@example.test", PW), 403, "forbidden");
    assert_error(&login_res(&p, "ada@example.test", "wrong password!"), 401, "unauthorized");
    let token = verification_token(&p, "ada@example.test");
    let verified =
        ok_json(call(&p, Method::GET, &format!("/v1/auth/verify?token={token}"), None, None), StatusCode::OK);
    assert_eq!(verified["account"]["email"], "ada@example.test");
    // A verification link works once.
    assert_error(&call(&p, Method::POST, "/v1/auth/verify", None, Some(json!({ "token": token }))), 400, "bad_request");

    let session = ok_json(login_res(&p, "ADA@example.test", PW), StatusCode::OK);
    assert_eq!(session["expires_in"], 900);
    assert_eq!(session["refresh_expires_in"], 30 * 86_400);
    assert!(session["refresh_token"].as_str().unwrap().starts_with("ort_"));
    let jwks = ok_json(call(&p, Method::GET, "/.well-known/jwks.json", None, None), StatusCode::OK);
    let keys = KeySet::new().with_key(
        origo_shared::token::TokenKey::from_public_jwk(&serde_json::from_value(jwks["keys"][0].clone()).unwrap())
            .unwrap(),
    );
    let claims = token::verify(
        session["access_token"].as_str().unwrap(),
        &keys,
        &Expectations::new("origo", "origo"),
        T0_MS / 1000,
    )
    .unwrap();
    assert_eq!(claims.kind, TokenKind::Account);
    assert_eq!(claims.sub, session["account"]["id"].as_str().unwrap());
    assert_eq!(claims.exp - claims.iat, 900);
}

#[test]
fn signup_answers_the_same_for_taken_and_new_emails() {
    let p = TestPlatform::new();
    account(&p, "ada@example.test");
    let new = signup(&p, "new@example.test", PW);
    let taken = signup(&p, "ada@example.test", "another password 123");
    assert_eq!(new.status(), taken.status());
    assert_eq!(new.body(), taken.body());
    // The owner of the taken address is told, and nothing else changed for them.
    let notice = p.last_mail_to("ada@example.test").unwrap();
    assert_eq!(notice["subject"], "Someone tried to sign up with your address");
    login(&p, "ada@example.test", "correct horse battery");
    assert_error(&login_res(&p, "ada@example.test", "another password 123"), 401, "unauthorized");
    // Wrong email and wrong password read the same.
    let unknown = assert_error(&login_res(&p, "nobody@example.test", PW), 401, "unauthorized");
    let wrong = assert_error(&login_res(&p, "ada@example.test", "not the password"), 401, "unauthorized");
    assert_eq!(unknown, wrong);
}

#[test]
fn signup_refusals() {
    let p = TestPlatform::new();
    for (body, code) in [
        (json!({ "email": "not-an-email", "password": PW }), "bad_request"),
        (json!({ "email": "a@b", "password": PW }), "bad_request"),
        (json!({ "email": "a@example.test", "password": "short" }), "bad_request"),
        (json!({ "email": "a@example.test", "password": "x".repeat(300) }), "bad_request"),
        (json!({ "email": "a@example.test", "password": PW, "role": "owner" }), "invalid_json"),
        (json!({ "email": "a@example.test" }), "invalid_json"),
        (json!({ "email": "a@example.test", "password": PW, "name": "\u{7}bell" }), "bad_request"),
    ] {
        assert_error(&call(&p, Method::POST, "/v1/auth/signup", None, Some(body)), 400, code);
    }
    assert_error(&call(&p, Method::GET, "/v1/auth/signup", None, None), 405, "method_not_allowed");
    assert_error(
        &call(&p, Method::POST, "/v1/auth/verify", None, Some(json!({ "token": "nope" }))),
        400,
        "bad_request",
    );
    // The email provider failing is the provider's error, not a crash, and says nothing else.
    p.mail_down.set(true);
    assert_error(&signup(&p, "b@example.test", PW), 502, "bad_gateway");
}

#[test]
fn without_email_verification_accounts_work_at_once() {
    let mut p = TestPlatform::new();
    p.set("signup_verification", "none");
    p.vars.remove("email_api_url");
    assert_eq!(signup(&p, "dev@example.test", PW).status(), StatusCode::ACCEPTED);
    login(&p, "dev@example.test", PW);
    assert!(p.mail.borrow().is_empty());
    // With verification on and no provider, sign-up says so instead of creating dead accounts.
    p.set("signup_verification", "email");
    assert_error(&signup(&p, "x@example.test", PW), 503, "unavailable");
}

#[test]
fn failed_sign_ins_lock_an_address_out_of_an_account_but_never_the_owner() {
    let p = TestPlatform::new();
    account(&p, "ada@example.test");
    let from = |ip: &str, email: &str, password: &str| {
        let mut req =
            request(Method::POST, "/v1/auth/login", None, Some(json!({ "email": email, "password": password })));
        req.headers_mut().insert("spin-client-addr", ip.parse().unwrap());
        dispatch(&p, req)
    };
    const STRANGER: &str = "203.0.113.7:5000";
    const OWNER: &str = "198.51.100.1:5000";
    for email in ["ada@example.test", "ghost@example.test"] {
        for _ in 0..5 {
            assert_error(&from(STRANGER, email, "wrong password"), 401, "unauthorized");
        }
        // Locked for this address: even the right password waits, and unknown emails look the same.
        let res = from(STRANGER, email, PW);
        assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("900"));
        let msg = assert_error(&res, 429, "rate_limited");
        assert!(msg.contains("retry in 900 s"), "{msg}");
    }
    // The owner, signing in from anywhere else, is not locked out by the stranger.
    assert_eq!(from(OWNER, "ada@example.test", PW).status(), StatusCode::OK);
    p.advance_secs(900);
    assert_eq!(from(STRANGER, "ada@example.test", PW).status(), StatusCode::OK, "the window ended");
}

#[test]
fn login_rate_limit_per_client_address() {
    let mut p = TestPlatform::new();
    p.set("rate_login_per_minute", "3");
    let from = |ip: &str| {
        let mut req =
            request(Method::POST, "/v1/auth/login", None, Some(json!({ "email": "x@example.test", "password": PW })));
        req.headers_mut().insert("spin-client-addr", ip.parse().unwrap());
        dispatch(&p, req)
    };
    for _ in 0..3 {
        assert_error(&from("203.0.113.7:5000"), 401, "unauthorized");
    }
    assert_error(&from("203.0.113.7:5001"), 429, "rate_limited");
    assert_error(&from("198.51.100.1:5000"), 401, "unauthorized");
    p.advance_secs(60);
    assert_error(&from("203.0.113.7:5000"), 401, "unauthorized");
}

#[test]
fn refresh_rotates_and_a_replayed_token_revokes_the_session() {
    let p = TestPlatform::new();
    let s0 = account(&p, "ada@example.test");
    let r0 = s0["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: &str| call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": t })));
    p.advance_secs(60);
    let s1 = ok_json(refresh(&r0), StatusCode::OK);
    let r1 = s1["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r0, r1);
    assert_ne!(s0["access_token"], s1["access_token"]);
    // The chain keeps its end: rotation does not extend the session.
    assert_eq!(s1["refresh_expires_in"], 30 * 86_400 - 60);
    let s2 = ok_json(refresh(&r1), StatusCode::OK);
    let r2 = s2["refresh_token"].as_str().unwrap().to_owned();
    // r0 comes back: stolen. The whole chain ends, including the newest token.
    let msg = assert_error(&refresh(&r0), 401, "unauthorized");
    assert!(msg.contains("already used"), "{msg}");
    assert_error(&refresh(&r2), 401, "unauthorized");
    // Other sessions of the same account are not affected.
    let other = login(&p, "ada@example.test", PW);
    ok_json(refresh(other["refresh_token"].as_str().unwrap()), StatusCode::OK);
    assert_error(&refresh("ort_nonsense"), 401, "unauthorized");
    assert_error(&refresh("not even a token"), 401, "unauthorized");
    assert_error(&call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({}))), 400, "invalid_json");
}

#[test]
fn a_refresh_retried_within_the_grace_window_gets_the_same_successor() {
    let p = TestPlatform::new();
    let s0 = account(&p, "ada@example.test");
    let r0 = s0["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: &str| call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": t })));
    let s1 = ok_json(refresh(&r0), StatusCode::OK);
    let r1 = s1["refresh_token"].as_str().unwrap().to_owned();
    // The same token again a little later (a second tab, a retry after a lost answer): the
    // same successor and a fresh access token, and the session lives on.
    p.advance_secs(20);
    let again = ok_json(refresh(&r0), StatusCode::OK);
    assert_eq!(again["refresh_token"], r1.as_str());
    assert_ne!(again["access_token"], s1["access_token"]);
    assert_eq!(again["account"], s1["account"]);
    let s2 = ok_json(refresh(&r1), StatusCode::OK);
    let r2 = s2["refresh_token"].as_str().unwrap().to_owned();
    // Once its successor has been used, the retired token is a replay again: revoked.
    let msg = assert_error(&refresh(&r0), 401, "unauthorized");
    assert!(msg.contains("already used"), "{msg}");
    assert_error(&refresh(&r2), 401, "unauthorized");
}

#[test]
fn a_retired_token_past_the_grace_window_still_revokes_the_session() {
    let p = TestPlatform::new();
    let s0 = account(&p, "ada@example.test");
    let r0 = s0["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: &str| call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": t })));
    let r1 = ok_json(refresh(&r0), StatusCode::OK)["refresh_token"].as_str().unwrap().to_owned();
    p.advance_secs(31);
    let msg = assert_error(&refresh(&r0), 401, "unauthorized");
    assert!(msg.contains("already used"), "{msg}");
    assert_error(&refresh(&r1), 401, "unauthorized");
}

#[test]
fn concurrent_refreshes_with_one_token_agree_and_keep_the_session() {
    let p = TestPlatform::new();
    let s0 = account(&p, "ada@example.test");
    let r0 = s0["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: &str| call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": t })));
    // Both requests read the chain before either writes it: run one, put the store back as it
    // was, run the other.
    let before = p.kv.borrow().clone();
    let a = ok_json(refresh(&r0), StatusCode::OK);
    let after_a = std::mem::replace(&mut *p.kv.borrow_mut(), before);
    let b = ok_json(refresh(&r0), StatusCode::OK);
    let after_b = p.kv.borrow().clone();
    assert_eq!(a["refresh_token"], b["refresh_token"], "both get the same successor");
    // The records are the same; only the sweep's expiry index may file them under another of
    // its shards (chosen at random), which it sweeps the same.
    let records = |kv: &std::collections::BTreeMap<String, Vec<u8>>| {
        kv.iter().filter(|(k, _)| !k.starts_with("expiry:")).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
    };
    let (after_a, after_b): (std::collections::BTreeMap<_, _>, std::collections::BTreeMap<_, _>) =
        (records(&after_a).into_iter().collect(), records(&after_b).into_iter().collect());
    let differ: Vec<(&String, String, String)> = after_a
        .iter()
        .filter(|(k, v)| after_b.get(*k) != Some(v))
        .map(|(k, v)| {
            let b = after_b.get(k).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (k, String::from_utf8_lossy(v).into_owned(), b)
        })
        .collect();
    assert!(differ.is_empty() && after_a.len() == after_b.len(), "both write the same records: {differ:?}");
    // Whichever answer each tab keeps, the session goes on.
    let r1 = a["refresh_token"].as_str().unwrap();
    let s2 = ok_json(refresh(r1), StatusCode::OK);
    ok_json(refresh(s2["refresh_token"].as_str().unwrap()), StatusCode::OK);
}

#[test]
fn refresh_tokens_expire_and_logout_revokes() {
    let p = TestPlatform::new();
    let s = account(&p, "ada@example.test");
    let r = s["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: &str| call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": t })));
    let logout = |t: &str| call(&p, Method::POST, "/v1/auth/logout", None, Some(json!({ "refresh_token": t })));
    assert_eq!(logout(&r).status(), StatusCode::NO_CONTENT);
    assert_error(&refresh(&r), 401, "unauthorized");
    assert_eq!(logout(&r).status(), StatusCode::NO_CONTENT, "logging out twice is fine");

    let s = login(&p, "ada@example.test", PW);
    p.advance_secs(30 * 86_400 + 1);
    assert_error(&refresh(s["refresh_token"].as_str().unwrap()), 401, "unauthorized");
    // An expired access token is refused everywhere.
    assert_error(
        &call(&p, Method::GET, "/v1/orgs", Some(s["access_token"].as_str().unwrap()), None),
        401,
        "unauthorized",
    );
}

#[test]
fn no_password_or_token_is_stored_in_the_clear() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@example.test");
    let key = ok_json(
        call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({ "name": "backend" }))),
        StatusCode::CREATED,
    );
    let session = login(&p, "ada@example.test", PW);
    let dump = p.dump();
    assert!(!dump.contains(PW));
    assert!(dump.contains("$argon2id$v=19$"));
    let refresh = session["refresh_token"].as_str().unwrap();
    assert!(!dump.contains(refresh));
    let secret = key["secret"].as_str().unwrap();
    assert!(!dump.contains(secret.rsplit('_').next().unwrap()));
}

#[test]
fn real_argon2id_parameters_hash_and_verify() {
    let mut p = TestPlatform::new();
    p.vars.remove("password_hash_memory_kib");
    p.vars.remove("password_hash_iterations");
    account(&p, "ada@example.test");
    assert!(p.dump().contains("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_error(&login_res(&p, "ada@example.test", "wrong password"), 401, "unauthorized");
}

#[test]
fn signing_keys_rotate_without_logging_anyone_out() {
    let mut p = TestPlatform::new();
    let old = ok_json(login_res_after_account(&p), StatusCode::OK);
    let old_token = old["access_token"].as_str().unwrap().to_owned();
    // A new key goes first; the old one stays listed for verification.
    let new_seed = "0808080808080808080808080808080808080808080808080808080808080808";
    p.set("token_signing_keys", &format!("k2:{new_seed},k1:{SEED_HEX}"));
    let jwks = ok_json(call(&p, Method::GET, "/.well-known/jwks.json", None, None), StatusCode::OK);
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["k2", "k1"]);
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k["kty"] == "OKP" && k.get("d").is_none()));
    let new = login(&p, "ada@example.test", PW);
    let header = |t: &str| jsonwebtoken::decode_header(t).unwrap();
    assert_eq!(header(new["access_token"].as_str().unwrap()).kid.as_deref(), Some("k2"));
    assert_eq!(header(&old_token).kid.as_deref(), Some("k1"));
    ok_json(call(&p, Method::GET, "/v1/orgs", Some(&old_token), None), StatusCode::OK);
    // Once k1 is retired, its tokens stop working.
    p.set("token_signing_keys", &format!("k2:{new_seed}"));
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&old_token), None), 401, "unauthorized");
    ok_json(call(&p, Method::GET, "/v1/orgs", Some(new["access_token"].as_str().unwrap()), None), StatusCode::OK);
    // HS256 tokens of a shared secret keep verifying while it is configured; the secret is never published.
    p.set("token_secret", "0123456789abcdef0123456789abcdef-legacy");
    let jwks = ok_json(call(&p, Method::GET, "/.well-known/jwks.json", None, None), StatusCode::OK);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

fn login_res_after_account(p: &TestPlatform) -> http::Response<bytes::Bytes> {
    account(p, "ada@example.test");
    login_res(p, "ada@example.test", PW)
}

#[test]
fn forged_and_tampered_tokens_are_refused() {
    let p = TestPlatform::new();
    let s = account(&p, "ada@example.test");
    let t = s["access_token"].as_str().unwrap();
    // Signed by a key we do not hold.
    let stranger = origo_shared::token::TokenKey::ed25519_from_seed("k1", [9u8; 32]).unwrap();
    let forged = KeySet::new()
        .with_key(stranger)
        .issue(&token::Claims::new("origo", "origo", "acct_x", T0_MS / 1000, 600).with_kind(TokenKind::Account))
        .unwrap();
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&forged), None), 401, "unauthorized");
    // Payload swapped under a valid signature.
    let parts: Vec<&str> = t.split('.').collect();
    let mut other: Vec<&str> = forged.split('.').collect();
    other[0] = parts[0];
    other[2] = parts[2];
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&other.join(".")), None), 401, "unauthorized");
    // alg none.
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&none), None), 401, "unauthorized");
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some("garbage"), None), 401, "unauthorized");
    let mut basic = request(Method::GET, "/v1/orgs", None, None);
    basic.headers_mut().insert("authorization", "Basic YTpi".parse().unwrap());
    assert_error(&dispatch(&p, basic), 401, "unauthorized");
}

#[test]
fn hashes_from_the_argon2_reference_implementation_verify() {
    // `printf 'correct horse battery' | argon2 0123456789abcdef -id -t 2 -k 19456 -p 1 -e`
    // (the C reference implementation, Debian `argon2`).
    let reference = "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$69I7qCjDTsQwhQqFvpQJiqEI0lGQvxC84fXE0Ktxca4";
    assert!(origo_functions::password::verify(reference, PW));
    assert!(!origo_functions::password::verify(reference, "correct horse batterY"));
    assert!(!origo_functions::password::verify("not a phc string", PW));
}

fn verify(p: &TestPlatform, token: &str) -> http::Response<bytes::Bytes> {
    call(p, Method::POST, "/v1/auth/verify", None, Some(json!({ "token": token })))
}

#[test]
fn signup_answers_the_same_for_new_unverified_and_verified_addresses() {
    let p = TestPlatform::new();
    account(&p, "verified@example.test");
    signup(&p, "pending@example.test", "first password 1");
    let answers = ["new@example.test", "pending@example.test", "verified@example.test"].map(|e| signup(&p, e, PW));
    for a in &answers[1..] {
        assert_eq!(a.status(), answers[0].status());
        assert_eq!(a.headers(), answers[0].headers());
        assert_eq!(a.body(), answers[0].body());
    }
    // New and pending addresses get a link; the verified owner a note that changes nothing.
    for e in ["new@example.test", "pending@example.test"] {
        assert_eq!(p.last_mail_to(e).unwrap()["subject"], "Confirm your Origo account");
    }
    login(&p, "verified@example.test", PW);
}

/// An attacker signs up with the victim's address and never verifies; the victim signs up
/// for real and follows the link: the attacker's password no longer works, the attacker's
/// link is dead, and the victim's password is the one that counts.
#[test]
fn pre_hijack_by_signup_is_undone_by_the_owners_signup_and_link() {
    let p = TestPlatform::new();
    let victim = "victim@example.test";
    signup(&p, victim, "attacker password 1");
    let attackers_link = verification_token(&p, victim);
    signup(&p, victim, PW);
    let owners_link = verification_token(&p, victim);
    assert_ne!(attackers_link, owners_link);
    // The first sign-up's link was replaced by the latest one: it verifies nothing.
    let msg = assert_error(&verify(&p, &attackers_link), 400, "bad_request");
    assert!(msg.contains("newer sign-up"), "{msg}");
    ok_json(verify(&p, &owners_link), StatusCode::OK);
    assert_error(&login_res(&p, victim, "attacker password 1"), 401, "unauthorized");
    login(&p, victim, PW);
}

/// The attacker holds sessions of the unverified account (an OIDC sign-in whose provider did
/// not vouch for the address); the owner's reset link takes the account back and every one of
/// the attacker's sessions stops working.
#[test]
fn pre_hijack_sessions_are_revoked_when_the_owner_proves_the_address() {
    let mut p = TestPlatform::new();
    p.set("oidc_issuer", support::oidc_provider::ISSUER);
    p.set("oidc_client_id", support::oidc_provider::CLIENT_ID);
    p.set("oidc_client_secret", support::oidc_provider::CLIENT_SECRET);
    p.idp.now_secs.set(T0_MS / 1000);
    let victim = "victim@example.test";
    p.idp.add_user(support::oidc_provider::User {
        sub: "attacker".into(),
        email: victim.into(),
        email_verified: false,
        name: "Not the victim".into(),
    });
    let url =
        call(&p, Method::GET, "/v1/auth/oidc/start", None, None).headers()["location"].to_str().unwrap().to_owned();
    let redirect = p.idp.authorize(&url, "attacker").unwrap();
    let path = redirect.strip_prefix("https://origo.test").unwrap().to_owned();
    let session = ok_json(call(&p, Method::GET, &path, None, None), StatusCode::OK);
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    ok_json(call(&p, Method::POST, "/v1/orgs", Some(&access), Some(json!({ "name": "Squat" }))), StatusCode::CREATED);
    // The attacker also set a password with a sign-up (never verified).
    signup(&p, victim, "attacker password 1");

    p.advance_secs(5);
    ok_json(
        call(&p, Method::POST, "/v1/auth/password-reset", None, Some(json!({ "email": victim }))),
        StatusCode::ACCEPTED,
    );
    let link = link_token(&p, victim, "#password-reset=");
    let done = ok_json(
        call(&p, Method::POST, "/v1/auth/password-reset/confirm", None, Some(json!({ "token": link, "password": PW }))),
        StatusCode::OK,
    );
    assert_eq!(done["account"]["email"], victim);
    // The attacker's access token, refresh token, password and provider link: all dead.
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&access), None), 401, "unauthorized");
    assert_error(
        &call(&p, Method::POST, "/v1/rooms", Some(&access), Some(json!({ "name": "x" }))),
        401,
        "unauthorized",
    );
    assert_error(
        &call(&p, Method::POST, "/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))),
        401,
        "unauthorized",
    );
    assert_error(&login_res(&p, victim, "attacker password 1"), 401, "unauthorized");
    let url =
        call(&p, Method::GET, "/v1/auth/oidc/start", None, None).headers()["location"].to_str().unwrap().to_owned();
    let redirect = p.idp.authorize(&url, "attacker").unwrap();
    let path = redirect.strip_prefix("https://origo.test").unwrap().to_owned();
    assert_error(&call(&p, Method::GET, &path, None, None), 409, "conflict");
    // The owner signs in with the new password, and that session works.
    let owner = login(&p, victim, PW);
    ok_json(call(&p, Method::GET, "/v1/orgs", Some(owner["access_token"].as_str().unwrap()), None), StatusCode::OK);
}

#[test]
fn a_verified_oidc_sign_in_takes_an_unverified_account_from_whoever_signed_up() {
    let mut p = TestPlatform::new();
    p.set("oidc_issuer", support::oidc_provider::ISSUER);
    p.set("oidc_client_id", support::oidc_provider::CLIENT_ID);
    p.set("oidc_client_secret", support::oidc_provider::CLIENT_SECRET);
    p.idp.now_secs.set(T0_MS / 1000);
    let victim = "victim@example.test";
    p.idp.add_user(support::oidc_provider::User {
        sub: "owner".into(),
        email: victim.into(),
        email_verified: true,
        name: "Owner".into(),
    });
    signup(&p, victim, "attacker password 1");
    let attackers_link = verification_token(&p, victim);
    let url =
        call(&p, Method::GET, "/v1/auth/oidc/start", None, None).headers()["location"].to_str().unwrap().to_owned();
    let redirect = p.idp.authorize(&url, "owner").unwrap();
    let path = redirect.strip_prefix("https://origo.test").unwrap().to_owned();
    let session = ok_json(call(&p, Method::GET, &path, None, None), StatusCode::OK);
    assert_eq!(session["account"]["email"], victim);
    // The password the sign-up left is gone, and its link verifies nothing more.
    assert_error(&login_res(&p, victim, "attacker password 1"), 401, "unauthorized");
    ok_json(verify(&p, &attackers_link), StatusCode::OK);
    assert_error(&login_res(&p, victim, "attacker password 1"), 401, "unauthorized");
}
