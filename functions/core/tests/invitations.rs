//! Organisation invitations: the same answer whatever the address, consent by the invitee
//! from the emailed link, single use, revocation, the per-organisation cap and expiry.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::*;

fn invite_res(p: &TestPlatform, token: &str, org: &str, email: &str, role: &str) -> http::Response<bytes::Bytes> {
    call(
        p,
        Method::POST,
        &format!("/v1/orgs/{org}/invitations"),
        Some(token),
        Some(json!({ "email": email, "role": role })),
    )
}

fn accept(p: &TestPlatform, token: &str, link: &str) -> http::Response<bytes::Bytes> {
    call(p, Method::POST, "/v1/invitations/accept", Some(token), Some(json!({ "token": link })))
}

/// The answer without what differs between any two invitations (ids, the address).
fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    for k in ["id", "email"] {
        v[k] = json!("…");
    }
    v
}

#[test]
fn an_invitation_answers_the_same_whether_or_not_the_address_has_an_account() {
    let p = TestPlatform::new();
    let (owner_t, org, _) = owner(&p, "ada@acme.test");
    account(&p, "bo@acme.test");
    let known = invite_res(&p, &owner_t, &org, "bo@acme.test", "member");
    let unknown = invite_res(&p, &owner_t, &org, "nobody@acme.test", "member");
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.headers(), unknown.headers());
    assert_eq!(shape(&json_of(&known)), shape(&json_of(&unknown)));
    // Both addresses get the same message, with a link to the page, and nobody was added.
    for email in ["bo@acme.test", "nobody@acme.test"] {
        let mail = p.last_mail_to(email).unwrap();
        assert_eq!(mail["subject"], "Invitation to Acme on Origo");
        assert!(mail["text"].as_str().unwrap().contains("https://origo.test/#invitation=inv_"), "{mail}");
    }
    let members =
        ok_json(call(&p, Method::GET, &format!("/v1/orgs/{org}/members"), Some(&owner_t), None), StatusCode::OK);
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    // The secret is kept only as a digest.
    let link = link_token(&p, "bo@acme.test", "#invitation=");
    let secret = link.rsplit('_').next().unwrap();
    assert!(!p.dump().contains(secret));
}

#[test]
fn the_invitee_accepts_from_the_link_once_and_only_the_invited_address_can() {
    let p = TestPlatform::new();
    let (owner_t, org, _) = owner(&p, "ada@acme.test");
    let link = invite(&p, &owner_t, &org, "bo@acme.test", "admin");
    // What the link offers, for the page that shows it.
    let offer =
        ok_json(call(&p, Method::POST, "/v1/invitations/lookup", None, Some(json!({ "token": link }))), StatusCode::OK);
    assert_eq!((offer["org_name"].as_str(), offer["role"].as_str()), (Some("Acme"), Some("admin")));
    // Someone else, signed in, cannot use it; a guest token is no account.
    let eve = account(&p, "eve@evil.test")["access_token"].as_str().unwrap().to_owned();
    assert_error(&accept(&p, &eve, &link), 403, "forbidden");
    assert_error(&accept(&p, &guest(&p, "g"), &link), 403, "forbidden");
    assert_error(
        &call(&p, Method::POST, "/v1/invitations/accept", None, Some(json!({ "token": link }))),
        401,
        "unauthorized",
    );
    // The invitee had no account: signs up with the address, confirms it, accepts.
    let bo = account(&p, "bo@acme.test")["access_token"].as_str().unwrap().to_owned();
    let m = ok_json(accept(&p, &bo, &link), StatusCode::OK);
    assert_eq!((m["org"].as_str(), m["role"].as_str()), (Some(org.as_str()), Some("admin")));
    let listed = ok_json(call(&p, Method::GET, "/v1/orgs", Some(&bo), None), StatusCode::OK);
    assert_eq!(listed["orgs"][0]["id"], org.as_str());
    // Single use.
    assert_error(&accept(&p, &bo, &link), 400, "bad_request");
    // Mangled tokens: one answer, no crash.
    for bad in ["", "inv_", "inv_zz_zz", &format!("{link}0"), &"x".repeat(500), &link.replace("inv_", "osk_")] {
        assert_error(&accept(&p, &bo, bad), 400, "bad_request");
    }
    assert_error(&call(&p, Method::GET, "/v1/invitations/accept", Some(&bo), None), 405, "method_not_allowed");
    assert_error(&call(&p, Method::POST, "/v1/invitations/nope", Some(&bo), None), 404, "not_found");
}

#[test]
fn admins_list_and_revoke_invitations_and_grant_at_most_their_role() {
    let p = TestPlatform::new();
    let (owner_t, org, _) = owner(&p, "ada@acme.test");
    let admin = member(&p, &owner_t, &org, "bo@acme.test", "admin");
    assert_error(&invite_res(&p, &admin, &org, "cy@acme.test", "owner"), 403, "forbidden");
    let link = invite(&p, &admin, &org, "cy@acme.test", "member");
    let listed =
        ok_json(call(&p, Method::GET, &format!("/v1/orgs/{org}/invitations"), Some(&owner_t), None), StatusCode::OK);
    let pending = listed["invitations"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["email"], "cy@acme.test");
    assert!(pending[0].get("secret_sha256").is_none() && !listed.to_string().contains(&link));
    // Inviting the address again replaces the pending invitation (the old link stops working).
    let second = invite(&p, &admin, &org, "cy@acme.test", "guest");
    let listed =
        ok_json(call(&p, Method::GET, &format!("/v1/orgs/{org}/invitations"), Some(&owner_t), None), StatusCode::OK);
    assert_eq!(listed["invitations"].as_array().unwrap().len(), 1);
    let id = listed["invitations"][0]["id"].as_str().unwrap().to_owned();
    let cy = account(&p, "cy@acme.test")["access_token"].as_str().unwrap().to_owned();
    assert_error(&accept(&p, &cy, &link), 400, "bad_request");
    // Revoked: the link is dead; revoking again or elsewhere is a 404.
    let path = format!("/v1/orgs/{org}/invitations/{id}");
    assert_eq!(call(&p, Method::DELETE, &path, Some(&admin), None).status(), StatusCode::NO_CONTENT);
    assert_error(&call(&p, Method::DELETE, &path, Some(&admin), None), 404, "not_found");
    assert_error(&accept(&p, &cy, &second), 400, "bad_request");
    // A demoted inviter's invitation no longer grants its role.
    let link = invite(&p, &admin, &org, "cy@acme.test", "admin");
    let bo_id = json_of(&call(&p, Method::GET, &format!("/v1/orgs/{org}/members"), Some(&owner_t), None))["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "admin")
        .unwrap()["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let demote = call(
        &p,
        Method::PATCH,
        &format!("/v1/orgs/{org}/members/{bo_id}"),
        Some(&owner_t),
        Some(json!({"role": "member"})),
    );
    ok_json(demote, StatusCode::OK);
    assert_error(&accept(&p, &cy, &link), 403, "forbidden");
}

#[test]
fn pending_invitations_are_capped_per_organisation_and_expire() {
    let p = TestPlatform::new();
    let (owner_t, org, _) = owner(&p, "ada@acme.test");
    for i in 0..100 {
        assert_eq!(invite_res(&p, &owner_t, &org, &format!("u{i}@acme.test"), "guest").status(), StatusCode::ACCEPTED);
    }
    assert_error(&invite_res(&p, &owner_t, &org, "one-more@acme.test", "guest"), 403, "limit_exceeded");
    // Inviting a pending address again replaces it, so it is not refused.
    assert_eq!(invite_res(&p, &owner_t, &org, "u7@acme.test", "member").status(), StatusCode::ACCEPTED);
    let link = link_token(&p, "u7@acme.test", "#invitation=");
    // Seven days later every one has expired: the link is refused, the sweep removes them
    // and there is room again.
    p.advance_secs(7 * 86_400 + 1);
    let u7 = account(&p, "u7@acme.test")["access_token"].as_str().unwrap().to_owned();
    let msg = assert_error(&accept(&p, &u7, &link), 400, "bad_request");
    assert!(msg.contains("expired"), "{msg}");
    p.advance_secs(600);
    // The sweep catches up over passes (a day of buckets each).
    let mut expired = 0;
    loop {
        let swept = ok_json(call(&p, Method::POST, "/v1/maintenance/sweep", Some(NODE_SECRET), None), StatusCode::OK);
        expired += swept["sweep"]["expired"].as_u64().unwrap();
        if swept["sweep"]["buckets"] == 0 {
            break;
        }
    }
    assert!(expired >= 100, "{expired}");
    assert!(!p.kv.borrow().keys().any(|k| k.starts_with("invitation:")), "every invitation is gone");
    assert!(!p.kv.borrow().contains_key(&format!("invitations:{org}")), "and the index with them");
    let owner_t = login(&p, "ada@acme.test", "correct horse battery")["access_token"].as_str().unwrap().to_owned();
    assert_eq!(invite_res(&p, &owner_t, &org, "one-more@acme.test", "guest").status(), StatusCode::ACCEPTED);
}

#[test]
fn deleting_the_organisation_removes_its_invitations() {
    let p = TestPlatform::new();
    let (owner_t, org, _) = owner(&p, "ada@acme.test");
    let link = invite(&p, &owner_t, &org, "bo@acme.test", "member");
    assert_eq!(
        call(&p, Method::DELETE, &format!("/v1/orgs/{org}"), Some(&owner_t), None).status(),
        StatusCode::NO_CONTENT
    );
    let bo = account(&p, "bo@acme.test")["access_token"].as_str().unwrap().to_owned();
    assert_error(&accept(&p, &bo, &link), 400, "bad_request");
    assert!(!p.kv.borrow().keys().any(|k| k.starts_with("invitation")), "{}", p.dump());
}
