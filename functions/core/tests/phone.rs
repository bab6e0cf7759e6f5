//! Phone numbers for text messages: a code goes out through the SMS provider (the
//! Twilio-compatible form, recorded by the `sms.test` stand-in), is checked a bounded number
//! of times within its lifetime, and codes to one number are rate limited.

mod support;

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::json;
use support::*;

fn platform() -> TestPlatform {
    let mut p = TestPlatform::new();
    p.set("sms_api_url", "https://sms.test");
    p.set("sms_account_sid", "AC0123");
    p.set("sms_auth_token", "sms-token");
    p.set("sms_from", "+15550000000");
    p
}

/// The form fields of the provider's last request.
fn last_sms(p: &TestPlatform) -> std::collections::HashMap<String, String> {
    let sent = p.sms.borrow();
    let req = sent.last().expect("a text message");
    assert_eq!(req.uri(), "https://sms.test/2010-04-01/Accounts/AC0123/Messages.json");
    assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded");
    let basic = base64::engine::general_purpose::STANDARD.encode("AC0123:sms-token");
    assert_eq!(req.headers()["authorization"], format!("Basic {basic}"));
    std::str::from_utf8(req.body())
        .unwrap()
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), origo_functions::percent_encoding::decode(v).unwrap())
        })
        .collect()
}

fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("a 6-digit code").to_owned()
}

#[test]
fn a_number_is_verified_with_the_code_sent_to_it() {
    let p = platform();
    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    let res = call(&p, Method::POST, "/v1/me/phone", Some(token), Some(json!({ "number": "+4915112345678" })));
    assert_eq!(ok_json(res, StatusCode::ACCEPTED)["expires_in"], 600);
    let sms = last_sms(&p);
    assert_eq!(sms["To"], "+4915112345678");
    assert_eq!(sms["From"], "+15550000000");
    let code = code_in(&sms["Body"]);
    assert!(!p.dump().contains(&format!("\"{code}\"")), "the code is stored only as a digest");
    assert_error(&call(&p, Method::GET, "/v1/me/phone", Some(token), None), 404, "not_found");

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let msg = assert_error(
        &call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": wrong }))),
        400,
        "bad_request",
    );
    assert!(msg.contains("4 tries left"), "{msg}");
    let res = call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": code })));
    assert_eq!(ok_json(res, StatusCode::OK)["number"], "+4915112345678");
    let shown = ok_json(call(&p, Method::GET, "/v1/me/phone", Some(token), None), StatusCode::OK);
    assert_eq!(shown["number"], "+4915112345678");
    // The code is spent.
    let res = call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": code })));
    assert_error(&res, 404, "not_found");

    assert_eq!(call(&p, Method::DELETE, "/v1/me/phone", Some(token), None).status(), StatusCode::NO_CONTENT);
    assert_error(&call(&p, Method::GET, "/v1/me/phone", Some(token), None), 404, "not_found");
}

#[test]
fn codes_are_void_after_five_wrong_tries_or_ten_minutes() {
    let p = platform();
    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    let send = || call(&p, Method::POST, "/v1/me/phone", Some(token), Some(json!({ "number": "+14155550100" })));
    ok_json(send(), StatusCode::ACCEPTED);
    let code = code_in(&last_sms(&p)["Body"]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let res = call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": wrong })));
        assert_error(&res, 400, "bad_request");
    }
    let res = call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": code })));
    assert_error(&res, 404, "not_found");

    ok_json(send(), StatusCode::ACCEPTED);
    let code = code_in(&last_sms(&p)["Body"]);
    p.advance_secs(601);
    let res = call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": code })));
    assert_error(&res, 404, "not_found");
}

#[test]
fn bad_numbers_strangers_and_floods_are_refused() {
    let p = platform();
    let session = account(&p, "ada@acme.test");
    let token = session["access_token"].as_str().unwrap();
    for bad in
        [json!({ "number": "004915112345678" }), json!({ "number": "+49 151" }), json!({ "number": 49 }), json!({})]
    {
        let res = call(&p, Method::POST, "/v1/me/phone", Some(token), Some(bad));
        assert!(res.status() == 400, "{}", String::from_utf8_lossy(res.body()));
    }
    let res = call(&p, Method::POST, "/v1/me/phone/verify", Some(token), Some(json!({ "code": "12345" })));
    assert_error(&res, 404, "not_found");
    assert_error(&call(&p, Method::GET, "/v1/me/phone", None, None), 401, "unauthorized");
    assert_error(&call(&p, Method::PUT, "/v1/me/phone", Some(token), None), 405, "method_not_allowed");

    // Three codes an hour to one number, whoever asks.
    let other = account(&p, "bob@acme.test");
    let other = other["access_token"].as_str().unwrap();
    let victim = json!({ "number": "+14155550199" });
    for t in [token, other, token] {
        ok_json(call(&p, Method::POST, "/v1/me/phone", Some(t), Some(victim.clone())), StatusCode::ACCEPTED);
    }
    assert_error(&call(&p, Method::POST, "/v1/me/phone", Some(other), Some(victim.clone())), 429, "rate_limited");
    assert_eq!(p.sms.borrow().len(), 3);

    // A provider that refuses is a 502; none configured, a 503.
    p.sms_status.set(400);
    let res = call(&p, Method::POST, "/v1/me/phone", Some(token), Some(json!({ "number": "+14155550111" })));
    assert_error(&res, 502, "bad_gateway");
    let mut bare = TestPlatform::new();
    bare.set("sms_api_url", "");
    let session = account(&bare, "cy@acme.test");
    let res = call(
        &bare,
        Method::POST,
        "/v1/me/phone",
        session["access_token"].as_str(),
        Some(json!({ "number": "+14155550111" })),
    );
    assert_error(&res, 503, "unavailable");
}
