//! The function handlers over an in-memory platform: the pure logic, without a host.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures_executor::block_on;
use http::{Method, StatusCode};
use origo_functions::{Platform, PlatformError, Request, Response, auth, billing, chat, notify, room};
use origo_shared::token::{self, Expectations, KeySet, TokenKey};
use origo_shared::webhook::{Verifier, WebhookSecret};
use serde_json::{Value, json};

const SECRET: &str = "test-secret-0123456789abcdef-0123456789";

#[derive(Default)]
struct TestPlatform {
    kv: RefCell<BTreeMap<String, Vec<u8>>>,
    vars: HashMap<String, String>,
    now_ms: Cell<u64>,
    counter: Cell<u8>,
    sent: RefCell<Vec<http::Request<Bytes>>>,
    allowed_host: Option<String>,
}

impl TestPlatform {
    fn new() -> Self {
        let mut vars = HashMap::new();
        vars.insert("token_secret".to_owned(), SECRET.to_owned());
        TestPlatform {
            vars,
            now_ms: Cell::new(1_800_000_000_000),
            allowed_host: Some("hooks.partner.test".into()),
            ..Default::default()
        }
    }
}

impl Platform for TestPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.kv.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        Ok(self.kv.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        if req.uri().host() != self.allowed_host.as_deref() {
            return Err(PlatformError::HostNotAllowed);
        }
        self.sent.borrow_mut().push(req);
        Ok(http::Response::builder().status(204).body(Bytes::new()).unwrap())
    }
    fn variable(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }
    fn random(&self, buf: &mut [u8]) {
        for b in buf {
            self.counter.set(self.counter.get().wrapping_add(1));
            *b = self.counter.get();
        }
    }
}

fn request(method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> Request {
    let mut b = http::Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(&v).unwrap())
        }
        None => Bytes::new(),
    };
    b.body(body).unwrap()
}

fn json_of(res: &Response) -> Value {
    assert_eq!(res.headers()["content-type"], "application/json");
    serde_json::from_slice(res.body()).unwrap()
}

fn guest(p: &TestPlatform, name: &str) -> String {
    let res = block_on(auth::handle(request(Method::POST, "/v1/auth/guest", None, Some(json!({ "name": name }))), p));
    assert_eq!(res.status(), StatusCode::OK);
    json_of(&res)["access_token"].as_str().unwrap().to_owned()
}

fn assert_error(res: &Response, status: u16, code: &str) {
    assert_eq!(res.status().as_u16(), status, "{}", String::from_utf8_lossy(res.body()));
    assert_eq!(json_of(res)["error"]["code"], code);
}

#[test]
fn guest_token_verifies_and_carries_the_name() {
    let p = TestPlatform::new();
    let res = block_on(auth::handle(request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": " Ada "}))), &p));
    let body = json_of(&res);
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["token_type"], "Bearer");
    let keys = KeySet::new().with_key(TokenKey::hs256("primary", SECRET.as_bytes()).unwrap());
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
}

#[test]
fn guest_refusals() {
    let p = TestPlatform::new();
    let cases = [
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": ""}))), 400, "bad_request"),
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "x".repeat(65)}))), 400, "bad_request"),
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a", "admin": true}))), 400, "invalid_json"),
        (request(Method::POST, "/v1/auth/guest", None, Some(json!({"nom": "a"}))), 400, "invalid_json"),
        (request(Method::GET, "/v1/auth/guest", None, None), 405, "method_not_allowed"),
        (request(Method::POST, "/v1/auth/nope", None, None), 404, "not_found"),
    ];
    for (req, status, code) in cases {
        assert_error(&block_on(auth::handle(req, &p)), status, code);
    }
    let mut wrong_type = request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a"})));
    wrong_type.headers_mut().insert("content-type", "text/plain".parse().unwrap());
    assert_error(&block_on(auth::handle(wrong_type, &p)), 415, "unsupported_media_type");
    let mut big = request(Method::POST, "/v1/auth/guest", None, None);
    *big.body_mut() = Bytes::from(vec![b' '; 70_000]);
    assert_error(&block_on(auth::handle(big, &p)), 413, "payload_too_large");
    // Unconfigured auth is a 503, not a panic.
    let unconfigured = TestPlatform { vars: HashMap::new(), ..TestPlatform::new() };
    assert_error(
        &block_on(auth::handle(
            request(Method::POST, "/v1/auth/guest", None, Some(json!({"name": "a"}))),
            &unconfigured,
        )),
        503,
        "unavailable",
    );
}

#[test]
fn rooms_crud() {
    let p = TestPlatform::new();
    let t = guest(&p, "Ada");
    let create = |body: Value| block_on(room::handle(request(Method::POST, "/v1/rooms", Some(&t), Some(body)), &p));
    let res = create(json!({"name": "standup", "max_participants": 8}));
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(&res)["max_participants"], 8);
    assert_error(&create(json!({"name": "standup"})), 409, "conflict");
    assert_error(&create(json!({"name": "Bad Name"})), 400, "bad_request");
    assert_error(&create(json!({"name": "big", "max_participants": 0})), 400, "bad_request");
    create(json!({"name": "retro"}));

    let list = json_of(&block_on(room::handle(request(Method::GET, "/v1/rooms", Some(&t), None), &p)));
    let names: Vec<&str> = list["rooms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["retro", "standup"]);
    let got = block_on(room::handle(request(Method::GET, "/v1/rooms/standup", Some(&t), None), &p));
    assert_eq!(json_of(&got)["name"], "standup");
    let del = block_on(room::handle(request(Method::DELETE, "/v1/rooms/standup", Some(&t), None), &p));
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_error(
        &block_on(room::handle(request(Method::GET, "/v1/rooms/standup", Some(&t), None), &p)),
        404,
        "not_found",
    );
    assert_error(
        &block_on(room::handle(request(Method::DELETE, "/v1/rooms/standup", Some(&t), None), &p)),
        404,
        "not_found",
    );
    assert_error(
        &block_on(room::handle(request(Method::PUT, "/v1/rooms/retro", Some(&t), None), &p)),
        405,
        "method_not_allowed",
    );
}

#[test]
fn rooms_refuse_missing_forged_and_expired_tokens() {
    let p = TestPlatform::new();
    let t = guest(&p, "Ada");
    assert_error(&block_on(room::handle(request(Method::GET, "/v1/rooms", None, None), &p)), 401, "unauthorized");
    let forged_keys =
        KeySet::new().with_key(TokenKey::hs256("primary", b"another-secret-0123456789abcdef-xx").unwrap());
    let forged = forged_keys.issue(&token::Claims::new("origo", "origo", "mallory", 1_800_000_000, 600)).unwrap();
    assert_error(
        &block_on(room::handle(request(Method::GET, "/v1/rooms", Some(&forged), None), &p)),
        401,
        "unauthorized",
    );
    p.now_ms.set(p.now_ms.get() + 3_600_000);
    assert_error(&block_on(room::handle(request(Method::GET, "/v1/rooms", Some(&t), None), &p)), 401, "unauthorized");
}

#[test]
fn chat_history_pages_in_order() {
    let p = TestPlatform::new();
    let t = guest(&p, "Ada");
    for i in 0..5 {
        p.now_ms.set(p.now_ms.get() + 1);
        let res = block_on(chat::handle(
            request(Method::POST, "/v1/rooms/standup/messages", Some(&t), Some(json!({"text": format!("m{i}")}))),
            &p,
        ));
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(json_of(&res)["from_name"], "Ada");
    }
    let page = |q: &str| {
        json_of(&block_on(chat::handle(
            request(Method::GET, &format!("/v1/rooms/standup/messages{q}"), Some(&t), None),
            &p,
        )))
    };
    let first = page("?limit=2");
    let texts = |v: &Value| {
        v["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(texts(&first), ["m0", "m1"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = page(&format!("?limit=2&after={cursor}"));
    assert_eq!(texts(&second), ["m2", "m3"]);
    let rest = page(&format!("?after={}", second["next_cursor"].as_str().unwrap()));
    assert_eq!(texts(&rest), ["m4"]);
    assert!(rest["next_cursor"].is_null());
    assert_error(
        &block_on(chat::handle(request(Method::GET, "/v1/rooms/standup/messages?limit=0", Some(&t), None), &p)),
        400,
        "bad_request",
    );
    assert_error(
        &block_on(chat::handle(
            request(Method::POST, "/v1/rooms/standup/messages", Some(&t), Some(json!({"text": "  "}))),
            &p,
        )),
        400,
        "bad_request",
    );
    assert_error(
        &block_on(chat::handle(
            request(Method::POST, "/v1/rooms/standup/messages", None, Some(json!({"text": "hi"}))),
            &p,
        )),
        401,
        "unauthorized",
    );
}

#[test]
fn webhook_secret_is_shown_once_and_test_delivery_is_signed() {
    let p = TestPlatform::new();
    let t = guest(&p, "Ada");
    let res = block_on(notify::handle(
        request(Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "https://hooks.partner.test/origo"}))),
        &p,
    ));
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = json_of(&res);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = created["id"].as_str().unwrap().to_owned();

    let list = json_of(&block_on(notify::handle(request(Method::GET, "/v1/webhooks", Some(&t), None), &p)));
    assert_eq!(list["webhooks"][0]["id"], id.as_str());
    assert!(list["webhooks"][0].get("secret").is_none(), "listing must not reveal the secret");

    let res = block_on(notify::handle(request(Method::POST, &format!("/v1/webhooks/{id}/test"), Some(&t), None), &p));
    assert_eq!(json_of(&res)["delivered"], true);
    let sent = p.sent.borrow();
    let delivery = &sent[0];
    let h = |n: &str| delivery.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let verifier = Verifier::new(WebhookSecret::parse(&secret).unwrap());
    verifier
        .verify(
            h("webhook-id").as_deref(),
            h("webhook-timestamp").as_deref(),
            h("webhook-signature").as_deref(),
            delivery.body(),
            1_800_000_000,
        )
        .unwrap();
    drop(sent);

    // A host the deployment does not allow is refused, and said so.
    let res = block_on(notify::handle(
        request(Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "https://elsewhere.test/x"}))),
        &p,
    ));
    let other = json_of(&res)["id"].as_str().unwrap().to_owned();
    assert_error(
        &block_on(notify::handle(request(Method::POST, &format!("/v1/webhooks/{other}/test"), Some(&t), None), &p)),
        403,
        "forbidden",
    );

    assert_error(
        &block_on(notify::handle(request(Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "ftp://x"}))), &p)),
        400,
        "bad_request",
    );
    assert_error(
        &block_on(notify::handle(
            request(Method::POST, "/v1/webhooks", Some(&t), Some(json!({"url": "https://a.test", "events": ["nope"]}))),
            &p,
        )),
        400,
        "bad_request",
    );
    let del = block_on(notify::handle(request(Method::DELETE, &format!("/v1/webhooks/{id}"), Some(&t), None), &p));
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_error(
        &block_on(notify::handle(request(Method::DELETE, &format!("/v1/webhooks/{id}"), Some(&t), None), &p)),
        404,
        "not_found",
    );
}

#[test]
fn billing_plan_comes_from_variables() {
    let mut p = TestPlatform::new();
    p.vars.insert("plan_name".into(), "team".into());
    p.vars.insert("plan_max_participants".into(), "25".into());
    let t = guest(&p, "Ada");
    let plan = json_of(&block_on(billing::handle(request(Method::GET, "/v1/billing/plan", Some(&t), None), &p)));
    assert_eq!(plan["name"], "team");
    assert_eq!(plan["max_participants_per_room"], 25);
    let usage = json_of(&block_on(billing::handle(
        request(Method::GET, "/v1/billing/usage?month=2027-01", Some(&t), None),
        &p,
    )));
    assert_eq!(usage["month"], "2027-01");
    assert_eq!(usage["usage"]["participant_seconds"], 0);
    assert_error(
        &block_on(billing::handle(request(Method::GET, "/v1/billing/usage?month=27-1", Some(&t), None), &p)),
        400,
        "bad_request",
    );
    assert_error(
        &block_on(billing::handle(request(Method::POST, "/v1/billing/plan", Some(&t), None), &p)),
        405,
        "method_not_allowed",
    );
}
