//! Rate limits on what a stranger can call, counted with the platform's atomic counters:
//! floods are refused with 429, `Retry-After` and the JSON error body; other addresses and
//! the next window are unaffected; only trusted proxies may name the client's address.

mod support;

use http::{Method, StatusCode};
use origo_functions::Response;
use serde_json::{Value, json};
use support::*;

fn from(p: &TestPlatform, ip: &str, method: Method, uri: &str, auth: Option<&str>, body: Option<Value>) -> Response {
    let mut req = request(method, uri, auth, body);
    req.headers_mut().insert("spin-client-addr", ip.parse().unwrap());
    dispatch(p, req)
}

fn retry_after(res: &Response) -> Option<u64> {
    res.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

#[test]
fn a_signup_flood_is_refused_before_any_password_is_hashed_or_mail_sent() {
    let p = TestPlatform::new();
    let signup = |ip: &str, n: usize| {
        let body = json!({"email": format!("victim{n}@example.test"), "password": "correct horse battery"});
        from(&p, ip, Method::POST, "/v1/auth/signup", None, Some(body))
    };
    for n in 0..10 {
        assert_eq!(signup("203.0.113.9:1000", n).status(), StatusCode::ACCEPTED);
    }
    let mails = p.mail.borrow().len();
    let refused = signup("203.0.113.9:1001", 99);
    assert_error(&refused, 429, "rate_limited");
    assert!(retry_after(&refused).is_some_and(|s| s > 0 && s <= 3600));
    assert_eq!(p.mail.borrow().len(), mails, "no email for a refused sign-up");
    assert!(!p.dump().contains("victim99"), "nothing stored for a refused sign-up");
    // Another address is unaffected.
    assert_eq!(signup("198.51.100.4:1000", 100).status(), StatusCode::ACCEPTED);
}

#[test]
fn one_inbox_gets_at_most_three_sign_up_mails_an_hour() {
    let p = TestPlatform::new();
    for i in 0..3 {
        let body = json!({"email": "someone@example.test", "password": "correct horse battery"});
        let res = from(&p, &format!("203.0.113.{i}:1"), Method::POST, "/v1/auth/signup", None, Some(body));
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let body = json!({"email": "someone@example.test", "password": "correct horse battery"});
    assert_error(&from(&p, "203.0.113.50:1", Method::POST, "/v1/auth/signup", None, Some(body)), 429, "rate_limited");
}

#[test]
fn guest_sign_in_and_join_floods_are_cut_per_address() {
    let p = TestPlatform::new();
    register_node(&p, "m1", "media", "eu-west", 0);
    let sign_in = |ip: &str| from(&p, ip, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "G"})));
    let mut tokens = Vec::new();
    for _ in 0..30 {
        let res = sign_in("203.0.113.7:1");
        tokens.push(ok_json(res, StatusCode::OK)["access_token"].as_str().unwrap().to_owned());
    }
    let refused = sign_in("203.0.113.7:2");
    assert_error(&refused, 429, "rate_limited");
    assert!(retry_after(&refused).is_some_and(|s| s <= 60));
    assert_eq!(sign_in("198.51.100.1:1").status(), StatusCode::OK, "another address");
    // One token joins at most 20 times a minute (each join holds a seat).
    let t = &tokens[0];
    for _ in 0..20 {
        assert_eq!(
            from(&p, "203.0.113.7:3", Method::POST, "/v1/rooms/link/join", Some(t), None).status(),
            StatusCode::OK
        );
    }
    assert_error(&from(&p, "203.0.113.7:3", Method::POST, "/v1/rooms/link/join", Some(t), None), 429, "rate_limited");
    p.advance_secs(60);
    register_node(&p, "m1", "media", "eu-west", 0);
    assert_eq!(from(&p, "203.0.113.7:3", Method::POST, "/v1/rooms/link/join", Some(t), None).status(), StatusCode::OK);
}

#[test]
fn only_a_trusted_proxy_names_the_clients_address() {
    let mut p = TestPlatform::new();
    p.set("trusted_proxies", "10.0.0.0/8");
    p.set("rate_guest_per_minute", "2");
    let sign_in = |peer: &str, xff: &str| {
        let mut req = request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "G"})));
        req.headers_mut().insert("spin-client-addr", peer.parse().unwrap());
        req.headers_mut().insert("x-forwarded-for", xff.parse().unwrap());
        dispatch(&p, req).status()
    };
    // Behind the load balancer: each client counts apart, whatever it claims further left.
    for _ in 0..2 {
        assert_eq!(sign_in("10.1.1.1:80", "192.0.2.200, 203.0.113.1"), StatusCode::OK);
        assert_eq!(sign_in("10.1.1.1:80", "203.0.113.2"), StatusCode::OK);
    }
    assert_eq!(sign_in("10.1.1.1:80", "203.0.113.1"), StatusCode::TOO_MANY_REQUESTS);
    // A client that is not a proxy cannot pick the address it is counted under.
    for _ in 0..2 {
        assert_eq!(sign_in("198.51.100.9:1", "203.0.113.77"), StatusCode::OK);
    }
    assert_eq!(sign_in("198.51.100.9:1", "203.0.113.78"), StatusCode::TOO_MANY_REQUESTS);
    // `Forwarded` (RFC 7239) is read too, IPv6 counted per /64.
    let forwarded = |peer: &str, value: &str| {
        let mut req = request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "G"})));
        req.headers_mut().insert("spin-client-addr", peer.parse().unwrap());
        req.headers_mut().insert("forwarded", value.parse().unwrap());
        dispatch(&p, req).status()
    };
    assert_eq!(forwarded("10.2.2.2:80", r#"for="[2001:db8:1:2::1]:4711""#), StatusCode::OK);
    assert_eq!(forwarded("10.2.2.2:80", r#"for="[2001:db8:1:2::99]""#), StatusCode::OK);
    assert_eq!(forwarded("10.2.2.2:80", "for=\"[2001:db8:1:2::abc]\""), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn webhook_tests_and_key_creation_are_limited_per_organisation() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    for i in 0..20 {
        let res = call_in(&p, &org, Method::POST, "/v1/api-keys", &t, Some(json!({"name": format!("k{i}")})));
        assert_eq!(res.status(), StatusCode::CREATED, "{}", json_of(&res));
    }
    let res = call_in(&p, &org, Method::POST, "/v1/api-keys", &t, Some(json!({"name": "one too many"})));
    assert_error(&res, 429, "rate_limited");
}
