//! Organisations, members and the role checks of every handler; partner API keys and the
//! participant tokens they mint.

mod support;

use http::{Method, StatusCode};
use origo_shared::token::{self, Expectations};
use serde_json::{Value, json};
use support::*;

#[test]
fn org_lifecycle_and_membership_rules() {
    let p = TestPlatform::new();
    let (owner_t, org, owner_id) = owner(&p, "ada@acme.test");
    let admin = member(&p, &owner_t, &org, "bo@acme.test", "admin");
    let plain = member(&p, &owner_t, &org, "cy@acme.test", "member");
    let listed = ok_json(call(&p, Method::GET, "/v1/orgs", Some(&admin), None), StatusCode::OK);
    assert_eq!(listed["orgs"][0]["role"], "admin");
    let members =
        ok_json(call(&p, Method::GET, &format!("/v1/orgs/{org}/members"), Some(&plain), None), StatusCode::OK);
    assert_eq!(members["members"].as_array().unwrap().len(), 3);

    let id_of = |email: &str| -> String {
        let m =
            ok_json(call(&p, Method::GET, &format!("/v1/orgs/{org}/members"), Some(&owner_t), None), StatusCode::OK);
        let _ = email;
        m["members"].as_array().unwrap().iter().find(|x| x["role"] == "member").unwrap()["account"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cy = id_of("cy@acme.test");
    let path = |who: &str| format!("/v1/orgs/{org}/members/{who}");
    // Admins cannot make owners, nor touch owners.
    assert_error(&call(&p, Method::PATCH, &path(&cy), Some(&admin), Some(json!({"role": "owner"}))), 403, "forbidden");
    assert_error(&call(&p, Method::DELETE, &path(&owner_id), Some(&admin), None), 403, "forbidden");
    // Members cannot manage members, nor invite.
    assert_error(&call(&p, Method::PATCH, &path(&cy), Some(&plain), Some(json!({"role": "admin"}))), 403, "forbidden");
    assert_error(
        &call(
            &p,
            Method::POST,
            &format!("/v1/orgs/{org}/invitations"),
            Some(&plain),
            Some(json!({"email": "x@acme.test", "role": "guest"})),
        ),
        403,
        "forbidden",
    );
    // The last owner stays.
    assert_error(
        &call(&p, Method::PATCH, &path(&owner_id), Some(&owner_t), Some(json!({"role": "admin"}))),
        409,
        "conflict",
    );
    assert_error(&call(&p, Method::DELETE, &path(&owner_id), Some(&owner_t), None), 409, "conflict");
    // Demotion takes effect at once: the role is read per request, not from the token.
    ok_json(call(&p, Method::PATCH, &path(&cy), Some(&admin), Some(json!({"role": "guest"}))), StatusCode::OK);
    assert_error(&call(&p, Method::GET, &format!("/v1/orgs/{org}/members"), Some(&plain), None), 403, "forbidden");
    // Anyone may leave.
    assert_eq!(call(&p, Method::DELETE, &path(&cy), Some(&plain), None).status(), StatusCode::NO_CONTENT);
    assert_error(&call(&p, Method::GET, &format!("/v1/orgs/{org}"), Some(&plain), None), 404, "not_found");
    // Nobody is added directly any more: only an invitation makes a member.
    let add = |body: Value| call(&p, Method::POST, &format!("/v1/orgs/{org}/members"), Some(&owner_t), Some(body));
    assert_error(&add(json!({"email": "bo@acme.test", "role": "member"})), 405, "method_not_allowed");
    let invite =
        |body: Value| call(&p, Method::POST, &format!("/v1/orgs/{org}/invitations"), Some(&owner_t), Some(body));
    assert_error(&invite(json!({"email": "bo@acme.test", "role": "emperor"})), 400, "invalid_json");
    // Rename needs admin; delete needs owner.
    assert_error(&call(&p, Method::DELETE, &format!("/v1/orgs/{org}"), Some(&admin), None), 403, "forbidden");
    let renamed = ok_json(
        call(&p, Method::PATCH, &format!("/v1/orgs/{org}"), Some(&admin), Some(json!({"name": "Acme Ltd"}))),
        StatusCode::OK,
    );
    assert_eq!(renamed["name"], "Acme Ltd");
    // Outsiders learn nothing; guests and API keys do not manage organisations.
    let (stranger, _, _) = owner(&p, "eve@evil.test");
    assert_error(&call(&p, Method::GET, &format!("/v1/orgs/{org}"), Some(&stranger), None), 404, "not_found");
    assert_error(&call(&p, Method::GET, "/v1/orgs", Some(&guest(&p, "g")), None), 403, "forbidden");
    assert_eq!(
        call(&p, Method::DELETE, &format!("/v1/orgs/{org}"), Some(&owner_t), None).status(),
        StatusCode::NO_CONTENT
    );
    assert_error(&call(&p, Method::GET, &format!("/v1/orgs/{org}"), Some(&owner_t), None), 404, "not_found");
    assert_eq!(ok_json(call(&p, Method::GET, "/v1/orgs", Some(&admin), None), StatusCode::OK)["orgs"], json!([]));
}

#[test]
fn an_account_in_several_orgs_names_the_one_it_acts_in() {
    let p = TestPlatform::new();
    let (t, org_a, _) = owner(&p, "ada@acme.test");
    let org_b =
        ok_json(call(&p, Method::POST, "/v1/orgs", Some(&t), Some(json!({"name": "Side"}))), StatusCode::CREATED);
    let org_b = org_b["id"].as_str().unwrap();
    let msg = assert_error(&call(&p, Method::GET, "/v1/rooms", Some(&t), None), 400, "bad_request");
    assert!(msg.contains("x-origo-org"), "{msg}");
    ok_json(call_in(&p, &org_a, Method::POST, "/v1/rooms", &t, Some(json!({"name": "a-room"}))), StatusCode::CREATED);
    let b_rooms = ok_json(call_in(&p, org_b, Method::GET, "/v1/rooms", &t, None), StatusCode::OK);
    assert_eq!(b_rooms["rooms"], json!([]));
    let (other, other_org, _) = owner(&p, "eve@evil.test");
    let _ = other;
    assert_error(&call_in(&p, &other_org, Method::GET, "/v1/rooms", &t, None), 403, "forbidden");
    assert_error(&call_in(&p, "bad org!", Method::GET, "/v1/rooms", &t, None), 400, "bad_request");
}

/// Every role against every guarded endpoint: the expected status for owner, admin, member, guest.
#[test]
fn rbac_table_for_every_handler() {
    let p = TestPlatform::new();
    let (owner_t, org, _) = owner(&p, "ada@acme.test");
    let tokens = [
        ("owner", owner_t.clone()),
        ("admin", member(&p, &owner_t, &org, "bo@acme.test", "admin")),
        ("member", member(&p, &owner_t, &org, "cy@acme.test", "member")),
        ("guest", member(&p, &owner_t, &org, "di@acme.test", "guest")),
    ];
    register_node(&p, "m1", "media", "eu-west", 0);
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&owner_t), Some(json!({"name": "base"}))), StatusCode::CREATED);
    // (method, path, body, statuses for owner/admin/member/guest)
    type Case = (Method, &'static str, Option<Value>, [u16; 4]);
    let cases: Vec<Case> = vec![
        (Method::GET, "/v1/rooms", None, [200, 200, 200, 200]),
        (Method::GET, "/v1/rooms/base", None, [200, 200, 200, 200]),
        (Method::POST, "/v1/rooms", Some(json!({"name": "ROLE"})), [201, 201, 201, 403]),
        (Method::PATCH, "/v1/rooms/base", Some(json!({"metadata": "x"})), [200, 200, 200, 403]),
        (Method::POST, "/v1/rooms/base/join", None, [200, 200, 200, 200]),
        (Method::POST, "/v1/rooms/base/messages", Some(json!({"text": "hi"})), [201, 201, 201, 201]),
        (Method::GET, "/v1/rooms/base/messages", None, [200, 200, 200, 200]),
        (Method::GET, "/v1/orgs/ORG", None, [200, 200, 200, 200]),
        (Method::GET, "/v1/orgs/ORG/members", None, [200, 200, 200, 403]),
        (Method::GET, "/v1/orgs/ORG/invitations", None, [200, 200, 403, 403]),
        (
            Method::POST,
            "/v1/orgs/ORG/invitations",
            Some(json!({"email": "ROLE@acme.test", "role": "guest"})),
            [202, 202, 403, 403],
        ),
        (Method::PATCH, "/v1/orgs/ORG", Some(json!({"name": "Acme"})), [200, 200, 403, 403]),
        (Method::GET, "/v1/api-keys", None, [200, 200, 403, 403]),
        (Method::POST, "/v1/api-keys", Some(json!({"name": "k", "role": "member"})), [201, 201, 403, 403]),
        (
            Method::POST,
            "/v1/tokens",
            Some(json!({"identity": "u1", "grants": {"room": "base", "join": true}})),
            [201, 201, 403, 403],
        ),
        (Method::GET, "/v1/webhooks", None, [200, 200, 403, 403]),
        (Method::GET, "/v1/billing/plan", None, [200, 200, 403, 403]),
        (Method::DELETE, "/v1/rooms/ROLE", None, [204, 204, 403, 403]),
    ];
    for (method, path, body, expected) in cases {
        for (i, (role, t)) in tokens.iter().enumerate() {
            let path = path.replace("ORG", &org).replace("ROLE", &format!("room-{role}"));
            let body = body.clone().map(|b| {
                let s = serde_json::to_string(&b).unwrap().replace("ROLE", &format!("room-{role}"));
                serde_json::from_str::<Value>(&s).unwrap()
            });
            let res = call(&p, method.clone(), &path, Some(t), body);
            assert_eq!(
                res.status().as_u16(),
                expected[i],
                "{role} {method} {path}: {}",
                String::from_utf8_lossy(res.body())
            );
            if expected[i] == 403 {
                assert_error(&res, 403, "forbidden");
            }
        }
    }
    // Deleting the organisation: owners only.
    for (role, t) in &tokens[1..] {
        let res = call(&p, Method::DELETE, &format!("/v1/orgs/{org}"), Some(t), None);
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role}");
    }
}

#[test]
fn api_keys_are_shown_once_stored_hashed_listed_and_revoked() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let created = ok_json(
        call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({"name": "backend"}))),
        StatusCode::CREATED,
    );
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("osk_"));
    assert_eq!(created["role"], "admin");
    let id = created["id"].as_str().unwrap().to_owned();
    let listed = ok_json(call(&p, Method::GET, "/v1/api-keys", Some(&t), None), StatusCode::OK);
    assert_eq!(listed["api_keys"][0]["id"], id.as_str());
    assert!(listed["api_keys"][0].get("secret").is_none());

    // The key acts in its organisation: creates rooms, mints tokens, but manages no keys.
    ok_json(
        call(&p, Method::POST, "/v1/rooms", Some(&secret), Some(json!({"name": "partner-room"}))),
        StatusCode::CREATED,
    );
    let rooms = ok_json(call_in(&p, &org, Method::GET, "/v1/rooms", &t, None), StatusCode::OK);
    assert_eq!(rooms["rooms"][0]["name"], "partner-room");
    assert_error(&call(&p, Method::POST, "/v1/api-keys", Some(&secret), Some(json!({"name": "x"}))), 403, "forbidden");
    assert_error(&call(&p, Method::POST, "/v1/rooms/partner-room/join", Some(&secret), None), 403, "forbidden");

    // Wrong secret, unknown id, mangled: one answer.
    let wrong = format!("{}x", &secret[..secret.len() - 1]);
    let m1 = assert_error(&call(&p, Method::GET, "/v1/rooms", Some(&wrong), None), 401, "unauthorized");
    let m2 = assert_error(
        &call(
            &p,
            Method::GET,
            "/v1/rooms",
            Some("osk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            None,
        ),
        401,
        "unauthorized",
    );
    let m3 = assert_error(&call(&p, Method::GET, "/v1/rooms", Some("osk_x"), None), 401, "unauthorized");
    assert!(m1 == m2 && m2 == m3);

    // A member-role key cannot mint; admins cannot create keys stronger than themselves.
    let weak = ok_json(
        call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({"name": "ro", "role": "member"}))),
        StatusCode::CREATED,
    );
    let weak = weak["secret"].as_str().unwrap();
    assert_error(
        &call(
            &p,
            Method::POST,
            "/v1/tokens",
            Some(weak),
            Some(json!({"identity": "u", "grants": {"room": "r", "join": true}})),
        ),
        403,
        "forbidden",
    );
    assert_error(
        &call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({"name": "x", "role": "owner"}))),
        400,
        "bad_request",
    );
    assert_error(&call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({"name": ""}))), 400, "bad_request");

    // Another organisation cannot revoke it.
    let (t2, _, _) = owner(&p, "eve@evil.test");
    assert_error(&call(&p, Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&t2), None), 404, "not_found");
    assert_eq!(
        call(&p, Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&t), None).status(),
        StatusCode::NO_CONTENT
    );
    assert_error(&call(&p, Method::GET, "/v1/rooms", Some(&secret), None), 401, "unauthorized");
    assert_error(&call(&p, Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&t), None), 404, "not_found");
    assert_error(&call(&p, Method::DELETE, "/v1/api-keys/../../x", Some(&t), None), 404, "not_found");
}

#[test]
fn partners_mint_participant_tokens_with_grants() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let key = &api_key(&p, &t, "backend");
    let mint = |body: Value| call(&p, Method::POST, "/v1/tokens", Some(key), Some(body));
    let minted = ok_json(
        mint(json!({"identity": "user-42", "name": "Zoe", "metadata": "{\"tier\":\"gold\"}", "ttl_secs": 600,
                    "grants": {"room": "standup", "join": true, "subscribe": true}})),
        StatusCode::CREATED,
    );
    assert_eq!(minted["expires_in"], 600);
    let claims = token::verify(
        minted["token"].as_str().unwrap(),
        &published_keys(&p),
        &Expectations::new("origo", "origo"),
        T0_MS / 1000,
    )
    .unwrap();
    assert_eq!(claims.sub, "user-42");
    assert_eq!(claims.org.as_deref(), Some(org.as_str()));
    assert!(claims.grants.can_join("standup") && !claims.grants.publish && claims.grants.subscribe);
    assert_eq!(claims.metadata.as_deref(), Some("{\"tier\":\"gold\"}"));
    for (body, code) in [
        (json!({"identity": "u", "grants": {"join": true}}), "bad_request"),
        (json!({"identity": "u", "grants": {"room": "Bad Room", "join": true}}), "bad_request"),
        (json!({"identity": "u", "grants": {"room": "*", "join": true}}), "bad_request"),
        (json!({"identity": "u", "grants": {"room": "r"}}), "bad_request"),
        (json!({"identity": "u", "ttl_secs": 0, "grants": {"room": "r", "join": true}}), "bad_request"),
        (json!({"identity": "u", "ttl_secs": 90000, "grants": {"room": "r", "join": true}}), "bad_request"),
        (json!({"identity": "has space", "grants": {"room": "r", "join": true}}), "bad_request"),
        (json!({"identity": "u", "grants": {"room": "r", "join": true, "superuser": true}}), "invalid_json"),
        (json!({"grants": {"room": "r", "join": true}}), "invalid_json"),
    ] {
        assert_error(&mint(body.clone()), 400, code);
    }
    assert_error(&call(&p, Method::POST, "/v1/tokens", None, Some(json!({}))), 401, "unauthorized");
    assert_error(&call(&p, Method::GET, "/v1/tokens", Some(key), None), 405, "method_not_allowed");
    // Participant tokens cannot mint more tokens.
    let participant = minted["token"].as_str().unwrap();
    assert_error(
        &call(
            &p,
            Method::POST,
            "/v1/tokens",
            Some(participant),
            Some(json!({"identity": "u", "grants": {"room": "standup", "join": true}})),
        ),
        403,
        "forbidden",
    );
}
