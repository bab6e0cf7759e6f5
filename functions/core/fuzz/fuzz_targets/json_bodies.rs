//! Hostile bodies to every function route that reads one: arbitrary bytes, under one of a few
//! content types and as one of the set-up callers, dispatched the way `spin.toml` routes them
//! over a deployment in memory. No answer may be a panic or a 5xx other than 503 (a host
//! failure) and 502 `bad_gateway` (a service outside the deployment failed: the fuzzed
//! deployment refuses every outbound request, so sign-ups, invitations and webhook tests, which
//! must deliver to go on, answer it), and every refusal is the JSON error body
//! `{"error":{"code","message"}}`.
//!
//! An input is `[route][content type][caller][body…]`. Placeholders in the body (`@ORG@`,
//! `@REFRESH@`, `@INVITATION@`, `@RESET@`, `@VERIFICATION@`, `@OWNER_ID@`, `@MEMBER_ID@`) are
//! replaced by the set-up's values, so the fuzzer reaches past "no such token".
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::Method;
use libfuzzer_sys::fuzz_target;
use origo_functions_fuzz::callers::Callers;
use origo_functions_fuzz::memory_platform::{MemoryPlatform, NODE_SECRET};

/// Who a route is called as by default.
#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    Guest,
    Owner,
    /// The owner, in the organisation (`X-Origo-Org`).
    OwnerInOrg,
    Invitee,
    ApiKey,
    Node,
    Garbage,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::Guest,
    Caller::Owner,
    Caller::OwnerInOrg,
    Caller::Invitee,
    Caller::ApiKey,
    Caller::Node,
    Caller::Garbage,
];

/// Every route that reads a body, with the caller it expects; `@ORG@` etc. in paths too.
const ROUTES: &[(Method, &str, Caller)] = &[
    (Method::POST, "/v1/auth/guest", Caller::Anonymous),
    (Method::POST, "/v1/auth/signup", Caller::Anonymous),
    (Method::POST, "/v1/auth/verify", Caller::Anonymous),
    (Method::POST, "/v1/auth/login", Caller::Anonymous),
    (Method::POST, "/v1/auth/refresh", Caller::Anonymous),
    (Method::POST, "/v1/auth/logout", Caller::Anonymous),
    (Method::POST, "/v1/auth/password-reset", Caller::Anonymous),
    (Method::POST, "/v1/auth/password-reset/confirm", Caller::Anonymous),
    (Method::POST, "/v1/invitations/lookup", Caller::Anonymous),
    (Method::POST, "/v1/invitations/accept", Caller::Invitee),
    (Method::POST, "/v1/orgs", Caller::Owner),
    (Method::PATCH, "/v1/orgs/@ORG@", Caller::Owner),
    (Method::POST, "/v1/orgs/@ORG@/invitations", Caller::Owner),
    (Method::PATCH, "/v1/orgs/@ORG@/members/@MEMBER_ID@", Caller::Owner),
    (Method::POST, "/v1/api-keys", Caller::OwnerInOrg),
    (Method::POST, "/v1/tokens", Caller::ApiKey),
    (Method::POST, "/v1/rooms", Caller::OwnerInOrg),
    (Method::PATCH, "/v1/rooms/standup", Caller::OwnerInOrg),
    (Method::POST, "/v1/rooms/standup/join", Caller::OwnerInOrg),
    (Method::POST, "/v1/rooms/standup/messages", Caller::OwnerInOrg),
    (Method::DELETE, "/v1/rooms/standup/participants/@OWNER_ID@", Caller::OwnerInOrg),
    (Method::POST, "/v1/webhooks", Caller::OwnerInOrg),
    (Method::POST, "/v1/webhooks/@WEBHOOK@/test", Caller::OwnerInOrg),
    (Method::PATCH, "/v1/webhooks/@WEBHOOK@", Caller::OwnerInOrg),
    (Method::POST, "/v1/webhooks/@WEBHOOK@/rotate-secret", Caller::OwnerInOrg),
    (Method::POST, "/v1/webhooks/@WEBHOOK@/recover", Caller::OwnerInOrg),
    (Method::POST, "/v1/nodes/heartbeat", Caller::Node),
    (Method::POST, "/v1/nodes/usage", Caller::Node),
    (Method::POST, "/v1/maintenance/sweep", Caller::Node),
    (Method::GET, "/v1/billing/usage", Caller::OwnerInOrg),
];

const CONTENT_TYPES: [Option<&str>; 6] = [
    Some("application/json"),
    None,
    Some("text/plain"),
    Some("application/json; charset=utf-8"),
    Some("application/x-www-form-urlencoded"),
    Some("APPLICATION/JSON"),
];

fn callers() -> &'static Callers {
    static CALLERS: OnceLock<Callers> = OnceLock::new();
    CALLERS.get_or_init(Callers::set_up)
}

/// `text` with the set-up's values in place of the placeholders.
fn substitute(c: &Callers, text: &[u8]) -> Vec<u8> {
    let pairs: [(&[u8], &str); 8] = [
        (b"@ORG@", &c.org),
        (b"@REFRESH@", &c.owner_refresh),
        (b"@INVITATION@", &c.invitation),
        (b"@RESET@", &c.reset),
        (b"@VERIFICATION@", &c.verification),
        (b"@OWNER_ID@", &c.owner_id),
        (b"@MEMBER_ID@", &c.member_id),
        (b"@WEBHOOK@", &c.webhook),
    ];
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    'next: while i < text.len() {
        if text[i] == b'@' {
            for (name, value) in pairs {
                if text[i..].starts_with(name) {
                    out.extend_from_slice(value.as_bytes());
                    i += name.len();
                    continue 'next;
                }
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [route, content_type, caller, body @ ..] = data else { return };
    let c = callers();
    let (method, path, default) = &ROUTES[usize::from(*route) % ROUTES.len()];
    let path = String::from_utf8(substitute(c, path.as_bytes())).expect("UTF-8 path");
    let who = if caller & 0x80 == 0 { *default } else { CALLERS[usize::from(*caller) % CALLERS.len()] };
    let (bearer, org) = match who {
        Caller::Anonymous => (None, None),
        Caller::Guest => (Some(c.guest.as_str()), None),
        Caller::Owner => (Some(c.owner.as_str()), None),
        Caller::OwnerInOrg => (Some(c.owner.as_str()), Some(c.org.as_str())),
        Caller::Invitee => (Some(c.invitee.as_str()), None),
        Caller::ApiKey => (Some(c.api_key.as_str()), None),
        Caller::Node => (Some(NODE_SECRET), None),
        Caller::Garbage => (Some("osk_nope_nope"), Some("nope")),
    };
    let mut req = http::Request::builder().method(method.clone()).uri(&path);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(org) = org {
        req = req.header("x-origo-org", org);
    }
    if let Some(ct) = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()] {
        req = req.header("content-type", ct);
    }
    let req = req.body(Bytes::from(substitute(c, body))).expect("a request");

    let p = MemoryPlatform::with_store(c.store.clone());
    let res = p.dispatch(req);
    let status = res.status().as_u16();
    let text = String::from_utf8_lossy(res.body());
    let upstream = status == 502 && text.contains("\"bad_gateway\"");
    assert!(status < 500 || status == 503 || upstream, "{method} {path} answered {status}: {text}");
    if !(200..300).contains(&status) {
        let v: serde_json::Value = serde_json::from_slice(res.body())
            .unwrap_or_else(|e| panic!("{method} {path} answered {status} without a JSON body ({e}): {text}"));
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{method} {path} answered {status} without an error body: {text}"
        );
    }
});
