//! The OpenAPI document (`--features openapi`): every error response is declared once and
//! referenced, the operations that read `X-Origo-Org` document it and its `400`, and values
//! generated from the published schemas are accepted by the handlers (schemathesis checks
//! the other direction, that values outside them are refused: `tests/openapi/schemathesis`).
#![cfg(feature = "openapi")]

mod support;

use http::{Method, StatusCode};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use support::*;

fn doc() -> Value {
    serde_json::from_str(&origo_functions::openapi::json()).unwrap()
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

/// The schema at `#/components/schemas/{name}/properties/{field}`.
fn property<'a>(doc: &'a Value, name: &str, field: &str) -> &'a Value {
    &doc["components"]["schemas"][name]["properties"][field]
}

/// `n` strings matching `pattern` (anchors dropped: the generator does not take them).
fn samples(pattern: &str, n: usize) -> Vec<String> {
    let unanchored = pattern.strip_prefix('^').unwrap_or(pattern);
    let unanchored = unanchored.strip_suffix('$').unwrap_or(unanchored);
    let strategy = proptest::string::string_regex(unanchored).unwrap();
    let mut runner = TestRunner::deterministic();
    (0..n).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect()
}

fn pattern(schema: &Value) -> &str {
    schema["pattern"].as_str().unwrap_or_else(|| panic!("no pattern in {schema}"))
}

#[test]
fn error_responses_are_declared_once_and_referenced() {
    let doc = doc();
    let declared = doc["components"]["responses"].as_object().unwrap();
    for name in ["BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "Unavailable"] {
        assert_eq!(declared[name]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody");
    }
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let is_error = status.starts_with('4') || status.starts_with('5');
            // `/health` answers 503 with its own report.
            if !is_error || path == "/health" {
                continue;
            }
            let reference = response["$ref"].as_str().unwrap_or_else(|| panic!("{method} {path} {status}: inline"));
            let name = reference.strip_prefix("#/components/responses/").unwrap();
            assert!(declared.contains_key(name), "{method} {path} {status}: {reference}");
        }
    }
}

#[test]
fn operations_that_read_the_org_header_document_it_and_its_400() {
    let doc = doc();
    let mut seen = 0;
    for (method, path, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let Some(header) = params.iter().find(|p| p["name"] == "X-Origo-Org") else { continue };
        seen += 1;
        assert_eq!(header["in"], "header");
        assert_eq!(header["required"], false);
        assert_eq!(header["schema"]["pattern"], origo_functions::names::ORG_ID_PATTERN);
        assert!(op["responses"]["400"].is_object(), "{method} {path} documents no 400");
    }
    assert_eq!(seen, 32);
    // Every operation under these prefixes acts in the caller's organisation.
    for (method, path, op) in operations(&doc) {
        let org_scoped = ["/v1/rooms", "/v1/api-keys", "/v1/tokens", "/v1/webhooks", "/v1/billing"]
            .iter()
            .any(|p| path.starts_with(p))
            && !path.ends_with("/ws");
        let named = op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == "X-Origo-Org"));
        assert_eq!(org_scoped, named, "{method} {path}");
    }
}

#[test]
fn names_are_published_as_the_handlers_check_them() {
    let doc = doc();
    assert_eq!(pattern(property(&doc, "CreateRoom", "name")), origo_functions::names::ROOM_NAME_PATTERN);
    for room in samples(origo_functions::names::ROOM_NAME_PATTERN, 200) {
        assert!(origo_functions::names::valid_room_name(&room), "{room:?}");
    }
    for org in samples(origo_functions::names::ORG_ID_PATTERN, 200) {
        assert!(origo_functions::names::valid_org_id(&org), "{org:?}");
    }
    let rooms = &doc["paths"]["/v1/rooms/{room}"]["get"]["parameters"][0];
    assert_eq!((rooms["name"].as_str(), rooms["required"].as_bool()), (Some("room"), Some(true)));
    assert_eq!(pattern(&rooms["schema"]), origo_functions::names::ROOM_NAME_PATTERN);
}

#[test]
fn generated_display_names_and_rooms_are_accepted_by_guest_sign_in() {
    let doc = doc();
    let mut p = TestPlatform::new();
    // Many sign-ins from one test: the rate limit is not what this checks.
    p.set("rate_guest_per_minute", "0");
    let names = samples(pattern(property(&doc, "GuestRequest", "name")), 150);
    let rooms = samples(pattern(property(&doc, "GuestRequest", "room")), 150);
    for (name, room) in names.iter().zip(&rooms) {
        let res = call(&p, Method::POST, "/v1/auth/guest", None, Some(json!({ "name": name, "room": room })));
        assert_eq!(res.status(), StatusCode::OK, "{name:?} {room:?}: {}", String::from_utf8_lossy(res.body()));
    }
}

#[test]
fn generated_sign_ups_and_labels_are_accepted() {
    let doc = doc();
    let mut p = TestPlatform::new();
    p.set("rate_signup_per_hour", "0");
    let emails = samples(pattern(property(&doc, "Signup", "email")), 40);
    let names = samples(pattern(property(&doc, "Signup", "name")), 40);
    for (email, name) in emails.iter().zip(&names) {
        // Generated characters are counted, the limit is bytes: keep to what both allow.
        if email.trim().to_lowercase().len() > 254 {
            continue;
        }
        let body = json!({ "email": email, "password": "correct horse battery", "name": name });
        let res = call(&p, Method::POST, "/v1/auth/signup", None, Some(body));
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{email:?} {name:?}: {}", String::from_utf8_lossy(res.body()));
    }
    let (token, org, _) = owner(&p, "owner@example.test");
    for label in samples(pattern(property(&doc, "OrgBody", "name")), 150) {
        let res = call(&p, Method::PATCH, &format!("/v1/orgs/{org}"), Some(&token), Some(json!({ "name": label })));
        assert_eq!(res.status(), StatusCode::OK, "{label:?}: {}", String::from_utf8_lossy(res.body()));
    }
}

#[test]
fn generated_identities_and_token_names_are_accepted_when_minting() {
    let doc = doc();
    let p = TestPlatform::new();
    let (token, _, _) = owner(&p, "owner@example.test");
    let identities = samples(pattern(property(&doc, "MintToken", "identity")), 150);
    let names = samples(pattern(property(&doc, "MintToken", "name")), 150);
    for (identity, name) in identities.iter().zip(&names) {
        // Generated characters are counted, the limits are bytes: keep to what both allow.
        if identity.trim().len() > 128 || name.chars().count() > 64 {
            continue;
        }
        let body = json!({ "identity": identity, "name": name, "grants": { "subscribe": true } });
        let res = call(&p, Method::POST, "/v1/tokens", Some(&token), Some(body));
        assert_eq!(res.status(), StatusCode::CREATED, "{identity:?} {name:?}: {}", String::from_utf8_lossy(res.body()));
    }
}

#[test]
fn generated_months_are_accepted_by_usage() {
    let doc = doc();
    let p = TestPlatform::new();
    let (token, _, _) = owner(&p, "owner@example.test");
    let params = doc["paths"]["/v1/billing/usage"]["get"]["parameters"].as_array().unwrap();
    let month = params.iter().find(|p| p["name"] == "month").unwrap();
    for m in samples(pattern(&month["schema"]), 50) {
        let res = call(&p, Method::GET, &format!("/v1/billing/usage?month={m}"), Some(&token), None);
        assert_eq!(res.status(), StatusCode::OK, "{m:?}");
    }
}

#[test]
fn generated_chat_text_is_accepted() {
    let doc = doc();
    let text = property(&doc, "PostMessage", "text");
    let max = text["maxLength"].as_u64().unwrap() as usize;
    // Unanchored: the text holds at least one character that is not whitespace.
    for s in samples(&format!("[ \\t]{{0,3}}{}[ \\n]{{0,3}}", pattern(text)), 100) {
        assert!(!s.trim().is_empty() && s.chars().count() <= max, "{s:?}");
    }
}

/// The account and invitation operations are documented with the schemas their handlers
/// check, and the direct member-add is gone.
#[test]
fn accounts_and_invitations_are_documented() {
    let doc = doc();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/v1/auth/password-reset", "post"),
        ("/v1/auth/password-reset/confirm", "post"),
        ("/v1/orgs/{org}/invitations", "post"),
        ("/v1/orgs/{org}/invitations", "get"),
        ("/v1/orgs/{org}/invitations/{id}", "delete"),
        ("/v1/invitations/lookup", "post"),
        ("/v1/invitations/accept", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} is documented");
    }
    assert!(paths["/v1/orgs/{org}/members"]["post"].is_null(), "members join by invitation only");
    assert!(paths["/v1/auth/password-reset"]["post"]["responses"]["202"].is_object());
    assert!(paths["/v1/orgs/{org}/invitations"]["post"]["responses"]["202"].is_object());
    assert_eq!(property(&doc, "ResetConfirm", "password")["minLength"], 10);
    assert_eq!(property(&doc, "ResetRequest", "email")["pattern"], property(&doc, "Signup", "email")["pattern"]);
    assert_eq!(property(&doc, "InviteBody", "email")["pattern"], property(&doc, "Signup", "email")["pattern"]);
    assert_eq!(property(&doc, "TokenBody", "token")["maxLength"], 128);
}

#[test]
fn scheduled_meetings_are_documented_with_their_limits() {
    let doc = doc();
    let text = doc.to_string();
    assert!(text.contains("ScheduleInput"), "the create and update bodies name the schedule");
    assert_eq!(property(&doc, "ScheduleInput", "duration_mins")["maximum"], 1440);
    assert_eq!(property(&doc, "ScheduleInput", "invitees")["maxItems"], 100);
    assert_eq!(property(&doc, "ScheduleInput", "title")["maxLength"], 200);
    assert_eq!(property(&doc, "ScheduleInput", "reminder_minutes")["maximum"], 1440);
    assert!(property(&doc, "Schedule", "start_at").is_object(), "rooms show their schedule");
    assert!(text.contains("room.scheduled"), "the webhook event is listed");
}
