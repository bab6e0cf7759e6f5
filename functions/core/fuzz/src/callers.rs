//! The callers every fuzzed request may speak as, set up once through the functions' own
//! routes: a guest, an organisation's owner and a member, an invitee with a pending invitation,
//! a partner API key, the nodes; and the single-use secrets the routes take in their bodies
//! (a refresh token, an invitation, a password reset, a pending sign-up's verification). The
//! store they leave is the starting point of every input.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::memory_platform::{MemoryPlatform, NODE_SECRET};

pub const ROOM: &str = "standup";
const PASSWORD: &str = "correct horse battery";

pub struct Callers {
    /// The store after the set-up.
    pub store: BTreeMap<String, Vec<u8>>,
    pub guest: String,
    pub owner: String,
    pub owner_refresh: String,
    pub owner_id: String,
    pub member_id: String,
    pub invitee: String,
    pub org: String,
    pub invitation: String,
    pub reset: String,
    pub verification: String,
    pub api_key: String,
    pub webhook: String,
}

/// A request as a client sends it.
pub fn request(
    method: Method,
    path: &str,
    bearer: Option<&str>,
    org: Option<&str>,
    body: Option<&Value>,
) -> crate::Request {
    let mut b = http::Request::builder().method(method).uri(path);
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(org) = org {
        b = b.header("x-origo-org", org);
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(v).expect("JSON"))
        }
        None => Bytes::new(),
    };
    b.body(body).expect("a request")
}

/// Sends and returns the JSON answer; panics unless it is `status` (the set-up is wrong).
fn call(
    p: &MemoryPlatform,
    status: u16,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    org: Option<&str>,
    body: Value,
) -> Value {
    let res = p.dispatch(request(method, path, bearer, org, Some(&body)));
    let text = String::from_utf8_lossy(res.body()).into_owned();
    assert_eq!(res.status().as_u16(), status, "{path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The token after `marker` in the last mail to `to`.
fn mailed_token(p: &MemoryPlatform, to: &str, marker: &str) -> String {
    let mail = p.mail.borrow();
    let last = mail.as_ref().and_then(|m| m.iter().rev().find(|m| m["to"] == to)).expect("a mail");
    let text = last["text"].as_str().expect("a text part");
    let at = text.find(marker).expect("a link") + marker.len();
    text[at..].split_whitespace().next().expect("a token").to_owned()
}

/// Signs up and verifies `email`, then signs in: the session.
fn account(p: &MemoryPlatform, email: &str) -> Value {
    call(
        p,
        202,
        Method::POST,
        "/v1/auth/signup",
        None,
        None,
        json!({ "email": email, "password": PASSWORD, "name": "Ada" }),
    );
    let token = mailed_token(p, email, "token=");
    call(p, 200, Method::POST, "/v1/auth/verify", None, None, json!({ "token": token }));
    call(p, 200, Method::POST, "/v1/auth/login", None, None, json!({ "email": email, "password": PASSWORD }))
}

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

impl Callers {
    pub fn set_up() -> Self {
        let p = MemoryPlatform::new();
        *p.mail.borrow_mut() = Some(Vec::new());
        let guest = text(
            &call(&p, 200, Method::POST, "/v1/auth/guest", None, None, json!({ "name": "Guest" }))["access_token"],
        );
        let session = account(&p, "owner@example.test");
        let owner = text(&session["access_token"]);
        let owner_refresh = text(&session["refresh_token"]);
        let owner_id = text(&session["account"]["id"]);
        let org = text(&call(&p, 201, Method::POST, "/v1/orgs", Some(&owner), None, json!({ "name": "Acme" }))["id"]);
        let invitations = format!("/v1/orgs/{org}/invitations");

        let member = account(&p, "member@example.test");
        let invite = |email: &str| {
            call(&p, 202, Method::POST, &invitations, Some(&owner), None, json!({ "email": email, "role": "member" }));
            mailed_token(&p, email, "#invitation=")
        };
        let link = invite("member@example.test");
        call(
            &p,
            200,
            Method::POST,
            "/v1/invitations/accept",
            Some(&text(&member["access_token"])),
            None,
            json!({ "token": link }),
        );
        let invitee = text(&account(&p, "invitee@example.test")["access_token"]);
        let invitation = invite("invitee@example.test");

        call(&p, 202, Method::POST, "/v1/auth/password-reset", None, None, json!({ "email": "member@example.test" }));
        let reset = mailed_token(&p, "member@example.test", "#password-reset=");
        call(
            &p,
            202,
            Method::POST,
            "/v1/auth/signup",
            None,
            None,
            json!({ "email": "pending@example.test", "password": PASSWORD }),
        );
        let verification = mailed_token(&p, "pending@example.test", "token=");

        let api_key = text(
            &call(&p, 201, Method::POST, "/v1/api-keys", Some(&owner), Some(&org), json!({ "name": "backend" }))["secret"],
        );
        for (id, kind, addresses) in [
            ("m1", "media", json!({ "control_url": "https://m1.media.test" })),
            ("t1", "turn", json!({ "ice_urls": ["turn:t1.turn.test:3478?transport=udp"] })),
        ] {
            let hb = json!({ "id": id, "region": "eu-west", "kind": kind, "addresses": addresses, "capacity": 100, "load": 1 });
            call(&p, 200, Method::POST, "/v1/nodes/heartbeat", Some(NODE_SECRET), None, hb);
        }
        call(&p, 201, Method::POST, "/v1/rooms", Some(&owner), Some(&org), json!({ "name": ROOM }));
        call(&p, 200, Method::POST, &format!("/v1/rooms/{ROOM}/join"), Some(&owner), Some(&org), json!({}));
        let hook = json!({ "url": "https://hooks.partner.test/in" });
        let webhook = text(&call(&p, 201, Method::POST, "/v1/webhooks", Some(&owner), Some(&org), hook)["id"]);

        let store = p.kv.borrow().clone();
        Callers {
            store,
            guest,
            owner,
            owner_refresh,
            owner_id,
            member_id: text(&member["account"]["id"]),
            invitee,
            org,
            invitation,
            reset,
            verification,
            api_key,
            webhook,
        }
    }
}
