//! Guest sign-in, chat, webhooks and billing over an in-memory platform.

mod support;

use bytes::Bytes;
use http::{Method, StatusCode};
use origo_shared::token::{self, ANY_ROOM, Expectations, KeySet, TokenKey};
use origo_shared::webhook::{Verifier, WebhookSecret};
use serde_json::{Value, json};
use support::*;

#[test]
fn guest_token_verifies_and_carries_the_name_and_the_public_org() {
    let p = TestPlatform::new();
    let body = ok_json(call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({"name": " Ada "}))), StatusCode::OK);
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["org"], "public");
    let jwks = ok_json(call(&p, Method::GET, "/.well-known/jwks.json", None, None), StatusCode::OK);
    let keys = KeySet::new()
        .with_key(TokenKey::from_public_jwk(&serde_json::from_value(jwks["keys"][0].clone()).unwrap()).unwrap());
    let claims = token::verify(
        body["access_token"].as_str().unwrap(),
        &keys,
        &Expectations::new("origo", "origo"),
        1_800_000_000,
    )
    .unwrap();
    assert_eq!(claims.name.as_deref(), Some("Ada"));
    assert!(claims.sub.starts_with("guest-"));
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(claims.org.as_deref(), Some("public"));
    assert_eq!(claims.grants.room.as_deref(), Some(ANY_ROOM));

    let one = ok_json(
        call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "Bo", "room": "standup"}))),
        StatusCode::OK,
    );
    let claims = token::verify(
        one["access_token"].as_str().unwrap(),
        &keys,
        &Expectations::new("origo", "origo"),
        1_800_000_000,
    )
    .unwrap();
    assert!(claims.grants.can_join("standup") && !claims.grants.can_join("other"));
}

#[test]
fn guest_refusals() {
    let mut p = TestPlatform::new();
    let cases = [
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": ""}))), 400, "bad_request"),
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "x".repeat(65)}))), 400, "bad_request"),
        (
            request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a", "room": "Bad Room"}))),
            400,
            "bad_request",
        ),
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a", "admin": true}))), 400, "invalid_json"),
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"nom": "a"}))), 400, "invalid_json"),
        (request(Method::GET, "/v1/auth/guest", None, None), 405, "method_not_allowed"),
        (request(Method::POST, "/v1/auth/nope", None, None), 404, "not_found"),
    ];
    for (req, status, code) in cases {
        assert_error(&dispatch(&p, req), status, code);
    }
    let mut wrong_type = request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a"})));
    wrong_type.headers_mut().insert("content-type", "text/plain".parse().unwrap());
    assert_error(&dispatch(&p, wrong_type), 415, "unsupported_media_type");
    let mut big = request(Method::POST, "/v1/auth/guest", None, None);
    *big.body_mut() = Bytes::from(vec![b' '; 70_000]);
    assert_error(&dispatch(&p, big), 413, "payload_too_large");
    let mut broken = request(Method::POST, "/v1/auth/guest", None, None);
    *broken.body_mut() = Bytes::from_static(b"{\"name\": ");
    assert_error(&dispatch(&p, broken), 400, "invalid_json");

    p.set("guest_signin", "off");
    assert_error(&call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a"}))), 403, "forbidden");
    // Unconfigured auth is a 503, not a panic.
    p.vars.clear();
    assert_error(&call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a"}))), 503, "unavailable");
}

#[test]
fn chat_history_pages_in_order_and_is_scoped_to_the_room_and_org() {
    let p = TestPlatform::new();
    let t = guest(&p, "Ada");
    register_node(&p, "m1", "media", "eu-west", 0);
    ok_json(call(&p, Method::POST, "/v1/rooms/standup/join", Some(&t), None), StatusCode::OK);
    for i in 0..5 {
        p.now_ms.set(p.now_ms.get() + 1);
        let res =
            call(&p, Method::POST, "/v1/rooms/standup/messages", Some(&t), Some(json!({"text": format!("m{i}")})));
        assert_eq!(ok_json(res, StatusCode::CREATED)["from_name"], "Ada");
    }
    let page = |q: &str| {
        ok_json(call(&p, Method::GET, &format!("/v1/rooms/standup/messages{q}"), Some(&t), None), StatusCode::OK)
    };
    let texts = |v: &Value| {
        v["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let first = page("?limit=2");
    assert_eq!(texts(&first), ["m0", "m1"]);
    let second = page(&format!("?limit=2&after={}", first["next_cursor"].as_str().unwrap()));
    assert_eq!(texts(&second), ["m2", "m3"]);
    let rest = page(&format!("?after={}", second["next_cursor"].as_str().unwrap()));
    assert_eq!(texts(&rest), ["m4"]);
    assert!(rest["next_cursor"].is_null());

    let messages = "/v1/rooms/standup/messages";
    assert_error(&call(&p, Method::GET, "/v1/rooms/standup/messages?limit=0", Some(&t), None), 400, "bad_request");
    assert_error(&call(&p, Method::POST, messages, Some(&t), Some(json!({"text": "  "}))), 400, "bad_request");
    assert_error(&call(&p, Method::POST, messages, None, Some(json!({"text": "hi"}))), 401, "unauthorized");
    assert_error(&call(&p, Method::GET, "/v1/rooms/nowhere/messages", Some(&t), None), 404, "not_found");
    // A token for another room cannot read or post here.
    let other = ok_json(
        call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "Eve", "room": "other"}))),
        StatusCode::OK,
    );
    let other = other["access_token"].as_str().unwrap();
    assert_error(&call(&p, Method::GET, messages, Some(other), None), 403, "forbidden");
    assert_error(&call(&p, Method::POST, messages, Some(other), Some(json!({"text": "hi"}))), 403, "forbidden");
    // An organisation's members see their own rooms only.
    let (owner, org, _) = owner(&p, "ada@acme.test");
    assert_error(&call_in(&p, &org, Method::GET, messages, &owner, None), 404, "not_found");
}

#[test]
fn webhook_secret_is_shown_once_deliveries_are_signed_and_only_admins_manage_them() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let member = member(&p, &t, &org, "bo@acme.test", "member");
    let res =
        call(&p, Method::POST, "/v1/webhooks", Some(&member), Some(json!({"url": "https://hooks.partner.test/origo"})));
    assert_error(&res, 403, "forbidden");
    let guest_token = guest(&p, "Gus");
    assert_error(&call(&p, Method::GET, "/v1/webhooks", Some(&guest_token), None), 403, "forbidden");

    let created = ok_json(
        call(&p, Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "https://hooks.partner.test/origo"}))),
        StatusCode::CREATED,
    );
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = created["id"].as_str().unwrap().to_owned();
    let list = ok_json(call(&p, Method::GET, "/v1/webhooks", Some(&t), None), StatusCode::OK);
    assert_eq!(list["webhooks"][0]["id"], id.as_str());
    assert!(list["webhooks"][0].get("secret").is_none(), "listing must not reveal the secret");

    let res = ok_json(call(&p, Method::POST, &format!("/v1/webhooks/{id}/test"), Some(&t), None), StatusCode::OK);
    assert_eq!(res["delivered"], true);
    let sent = p.webhooks.borrow();
    let delivery = &sent[0];
    let h = |n: &str| delivery.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    Verifier::new(WebhookSecret::parse(&secret).unwrap())
        .verify(
            h("webhook-id").as_deref(),
            h("webhook-timestamp").as_deref(),
            h("webhook-signature").as_deref(),
            delivery.body(),
            1_800_000_000,
        )
        .unwrap();
    drop(sent);

    let other = ok_json(
        call(&p, Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "https://elsewhere.test/x"}))),
        StatusCode::CREATED,
    );
    let other = other["id"].as_str().unwrap();
    assert_error(&call(&p, Method::POST, &format!("/v1/webhooks/{other}/test"), Some(&t), None), 403, "forbidden");
    assert_error(
        &call(&p, Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "ftp://x"}))),
        400,
        "bad_request",
    );
    assert_error(
        &call(&p, Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "https://a.test", "events": ["nope"]}))),
        400,
        "bad_request",
    );
    // Another organisation does not see or delete them.
    let (t2, _, _) = owner(&p, "cy@other.test");
    assert_eq!(ok_json(call(&p, Method::GET, "/v1/webhooks", Some(&t2), None), StatusCode::OK)["webhooks"], json!([]));
    assert_error(&call(&p, Method::DELETE, &format!("/v1/webhooks/{id}"), Some(&t2), None), 404, "not_found");
    let del = call(&p, Method::DELETE, &format!("/v1/webhooks/{id}"), Some(&t), None);
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_error(&call(&p, Method::DELETE, &format!("/v1/webhooks/{id}"), Some(&t), None), 404, "not_found");
}

#[test]
fn billing_plan_comes_from_the_plans_document_and_needs_an_admin() {
    let mut p = TestPlatform::new();
    p.set(
        "plans",
        r#"{"currency":"EUR","default_plan":"team","guest_plan":"team","plans":[
            {"id":"team","name":"Team","monthly_fee":"9.5","limits":{"participants_per_room":25}}]}"#,
    );
    let (t, org, _) = owner(&p, "ada@acme.test");
    let plan = ok_json(call(&p, Method::GET, "/v1/billing/plan", Some(&t), None), StatusCode::OK);
    assert_eq!(
        (plan["id"].as_str(), plan["name"].as_str(), plan["currency"].as_str()),
        (Some("team"), Some("Team"), Some("EUR"))
    );
    assert_eq!(plan["limits"]["participants_per_room"], 25);
    assert_eq!(plan["monthly_fee"], "9.5");
    let usage = ok_json(call(&p, Method::GET, "/v1/billing/usage?month=2027-01", Some(&t), None), StatusCode::OK);
    assert_eq!(usage["month"], "2027-01");
    assert_eq!(usage["usage"]["participant_seconds"], 0);
    assert_error(&call(&p, Method::GET, "/v1/billing/usage?month=27-1", Some(&t), None), 400, "bad_request");
    assert_error(&call(&p, Method::POST, "/v1/billing/plan", Some(&t), None), 405, "method_not_allowed");
    let m = member(&p, &t, &org, "bo@acme.test", "member");
    assert_error(&call(&p, Method::GET, "/v1/billing/plan", Some(&m), None), 403, "forbidden");
    assert_error(&call(&p, Method::GET, "/v1/billing/plan", Some(&guest(&p, "g")), None), 403, "forbidden");
    // A broken document is the deployment's fault: a 503 that says what is wrong.
    p.set("plans", r#"{"currency":"EUR","default_plan":"nope","guest_plan":"nope","plans":[]}"#);
    let why = assert_error(&call(&p, Method::GET, "/v1/billing/plan", Some(&t), None), 503, "unavailable");
    assert!(why.contains("plans document"), "{why}");
}

#[test]
fn media_usage_reports_count_once_per_sequence_number() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let report = |seq: u64, ms: u64| {
        json!({"node": "media-1", "seq": seq, "entries": [
            {"org": org, "room": "standup", "month": "2027-01", "participant_ms": ms},
            {"org": org, "room": "retro", "month": "2027-01", "participant_ms": 1000},
        ]})
    };
    let usage = || {
        ok_json(call(&p, Method::GET, "/v1/billing/usage?month=2027-01", Some(&t), None), StatusCode::OK)["usage"]
            ["media_participant_ms"]
            .as_u64()
            .unwrap()
    };
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some("wrong"), Some(report(1, 5000))), 401, "unauthorized");
    assert_eq!(usage(), 0);
    ok_json(call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(report(1, 5000))), StatusCode::OK);
    assert_eq!(usage(), 6000);
    // The same report again (its acknowledgement was lost): not counted twice.
    ok_json(call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(report(1, 5000))), StatusCode::OK);
    assert_eq!(usage(), 6000);
    ok_json(call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(report(2, 2500))), StatusCode::OK);
    assert_eq!(usage(), 9500);
    // Hostile input is refused whole.
    let mut bad = report(3, 1);
    bad["entries"][0]["month"] = json!("2027-13");
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(bad)), 400, "bad_request");
    let mut bad = report(3, 1);
    bad["entries"][0]["room"] = json!("a:b");
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(bad)), 400, "bad_request");
    let mut bad = report(3, 1);
    bad["entries"][0]["participant_ms"] = json!(-5);
    assert_error(&call(&p, Method::POST, "/v1/nodes/usage", Some(NODE_SECRET), Some(bad)), 400, "invalid_json");
    assert_eq!(usage(), 9500);
}

#[test]
fn a_405_names_the_allowed_methods_in_the_allow_header() {
    let p = TestPlatform::new();
    let cases = [
        (Method::GET, "/v1/auth/guest", "POST"),
        (Method::PUT, "/v1/auth/verify", "GET, POST"),
        (Method::DELETE, "/v1/orgs", "GET, POST"),
        (Method::PUT, "/v1/orgs/o1/members/a1", "PATCH, DELETE"),
        (Method::TRACE, "/v1/api-keys/0123456789abcdef", "DELETE"),
        (Method::GET, "/v1/tokens", "POST"),
        (Method::PUT, "/v1/rooms/standup", "GET, PATCH, DELETE"),
        (Method::GET, "/v1/rooms/standup/join", "POST"),
        (Method::DELETE, "/v1/rooms/standup/messages", "GET, POST"),
        (Method::PATCH, "/v1/webhooks", "GET, POST"),
        (Method::POST, "/v1/billing/usage", "GET"),
        (Method::GET, "/v1/nodes/heartbeat", "POST"),
        (Method::from_bytes(b"QUERY").unwrap(), "/v1/rooms", "GET, POST"),
    ];
    for (method, path, allowed) in cases {
        let res = dispatch(&p, request(method.clone(), path, None, None));
        assert_error(&res, 405, "method_not_allowed");
        assert_eq!(res.headers().get("allow").map(|v| v.to_str().unwrap()), Some(allowed), "{method} {path}");
    }
}

#[test]
fn a_body_must_be_a_json_object() {
    let p = TestPlatform::new();
    // serde would take a struct's fields in order from an array.
    for body in [json!(["Ada"]), json!("Ada"), json!(null), json!(5)] {
        let res = call(&p, Method::POST, "/v1/auth/guest", None, Some(body.clone()));
        assert_error(&res, 400, "invalid_json");
    }
    let mut padded = request(Method::POST, "/v1/auth/guest", None, None);
    *padded.body_mut() = Bytes::from_static(b" \n {\"name\": \"Ada\"}");
    assert_eq!(dispatch(&p, padded).status(), StatusCode::OK);
}
