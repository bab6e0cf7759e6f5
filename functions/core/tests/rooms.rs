//! Rooms scoped to an organisation, and joining: grants, limits, placement near the
//! participant, room affinity, TURN credentials, the node registry.

mod support;

use http::{Method, StatusCode};
use origo_functions::location::EdgeLocation;
use origo_shared::token::{self, Expectations};
use origo_shared::turn_credentials::TurnSecrets;
use serde_json::{Value, json};
use support::*;

fn join_with(
    p: &TestPlatform,
    room: &str,
    t: &str,
    body: Option<Value>,
    headers: &[(&'static str, &str)],
) -> http::Response<bytes::Bytes> {
    let mut req = request(Method::POST, &format!("/v1/rooms/{room}/join"), Some(t), body);
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    dispatch(p, req)
}

#[test]
fn rooms_crud_in_an_organisation() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let create = |body: Value| call(&p, Method::POST, "/v1/rooms", Some(&t), Some(body));
    let room = ok_json(
        create(
            json!({"name": "standup", "max_participants": 8, "metadata": "{}", "empty_timeout_secs": 60, "region": "eu-west"}),
        ),
        StatusCode::CREATED,
    );
    assert_eq!(room["max_participants"], 8);
    assert_eq!(room["org"], org.as_str());
    assert_eq!(room["empty_timeout_secs"], 60);
    assert_eq!(room["region"], "eu-west");
    assert_error(&create(json!({"name": "standup"})), 409, "conflict");
    for bad in [
        json!({"name": "Bad Name"}),
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "big", "max_participants": 0}),
        json!({"name": "big", "max_participants": 1001}),
        json!({"name": "big", "empty_timeout_secs": 86401}),
        json!({"name": "big", "region": "mars-north"}),
        json!({"name": "big", "metadata": "m".repeat(4097)}),
    ] {
        assert_error(&create(bad), 400, "bad_request");
    }
    assert_error(&create(json!({"name": "big", "colour": "red"})), 400, "invalid_json");
    assert_error(&create(json!({"name": 5})), 400, "invalid_json");
    ok_json(create(json!({"name": "retro"})), StatusCode::CREATED);

    let list = ok_json(call(&p, Method::GET, "/v1/rooms", Some(&t), None), StatusCode::OK);
    let names: Vec<&str> = list["rooms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["retro", "standup"]);
    // PATCH changes what is present, null clears.
    let patched = ok_json(
        call(&p, Method::PATCH, "/v1/rooms/standup", Some(&t), Some(json!({"max_participants": 4, "region": null}))),
        StatusCode::OK,
    );
    assert_eq!(patched["max_participants"], 4);
    assert!(patched.get("region").is_none());
    assert_eq!(patched["metadata"], "{}");
    assert_error(
        &call(&p, Method::PATCH, "/v1/rooms/standup", Some(&t), Some(json!({"max_participants": 0}))),
        400,
        "bad_request",
    );
    assert_error(
        &call(&p, Method::PATCH, "/v1/rooms/standup", Some(&t), Some(json!({"name": "x"}))),
        400,
        "invalid_json",
    );
    assert_error(&call(&p, Method::PATCH, "/v1/rooms/nowhere", Some(&t), Some(json!({}))), 404, "not_found");

    // Another organisation sees none of it, and may use the same names.
    let (t2, _, _) = owner(&p, "eve@other.test");
    assert_eq!(ok_json(call(&p, Method::GET, "/v1/rooms", Some(&t2), None), StatusCode::OK)["rooms"], json!([]));
    assert_error(&call(&p, Method::GET, "/v1/rooms/standup", Some(&t2), None), 404, "not_found");
    assert_error(&call(&p, Method::DELETE, "/v1/rooms/standup", Some(&t2), None), 404, "not_found");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t2), Some(json!({"name": "standup"}))), StatusCode::CREATED);

    assert_eq!(call(&p, Method::DELETE, "/v1/rooms/standup", Some(&t), None).status(), StatusCode::NO_CONTENT);
    assert_error(&call(&p, Method::GET, "/v1/rooms/standup", Some(&t), None), 404, "not_found");
    assert_error(&call(&p, Method::DELETE, "/v1/rooms/standup", Some(&t), None), 404, "not_found");
    assert_error(&call(&p, Method::PUT, "/v1/rooms/retro", Some(&t), None), 405, "method_not_allowed");
    assert_error(&call(&p, Method::GET, "/v1/rooms/retro/join", Some(&t), None), 405, "method_not_allowed");
    assert_error(&call(&p, Method::GET, "/v1/rooms", None, None), 401, "unauthorized");
}

#[test]
fn the_plan_limits_meetings_running_at_once_not_rooms_ever_made() {
    let mut p = TestPlatform::new();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"free","guest_plan":"free","plans":[
            {"id":"free","name":"Free","monthly_fee":"0","limits":{"concurrent_rooms":2}}]}"#,
    );
    let (t, org, _) = owner(&p, "ada@acme.test");
    register_node(&p, "m1", "media", "eu-west", 0);
    for n in ["a", "b", "c", "d"] {
        ok_json(
            call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": n, "empty_timeout_secs": 0}))),
            StatusCode::CREATED,
        );
    }
    ok_json(join_with(&p, "a", &t, None, &[]), StatusCode::OK);
    ok_json(join_with(&p, "b", &t, None, &[]), StatusCode::OK);
    let msg = assert_error(&join_with(&p, "c", &t, None, &[]), 402, "payment_required");
    assert!(msg.contains("2 meetings at once"), "{msg}");
    // A running meeting takes more joins.
    ok_json(join_with(&p, "a", &t, None, &[]), StatusCode::OK);
    // Meeting a ends (nobody came: its held seat lapses, the empty room finishes): c may start.
    p.advance_secs(121);
    register_node(&p, "m1", "media", "eu-west", 0);
    let fx = p
        .apply_room(&origo_shared::RoomKey::new(org.clone(), "a"), origo_functions::coordinator::Event::Alarm)
        .unwrap();
    assert!(fx.contains(&origo_functions::coordinator::Effect::Finished), "{fx:?}");
    p.apply_room(&origo_shared::RoomKey::new(org.clone(), "b"), origo_functions::coordinator::Event::Alarm).unwrap();
    ok_json(join_with(&p, "c", &t, None, &[]), StatusCode::OK);
    ok_json(join_with(&p, "d", &t, None, &[]), StatusCode::OK);
    assert_error(&join_with(&p, "a", &t, None, &[]), 402, "payment_required");
}

#[test]
fn join_returns_a_token_for_the_room_and_node_the_coordinator_and_working_turn_credentials() {
    let p = TestPlatform::new();
    let (t, org, _) = owner(&p, "ada@acme.test");
    let key = &api_key(&p, &t, "backend");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(key), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    register_node(&p, "media-eu", "media", "eu-west", 10);
    register_node(&p, "turn-eu", "turn", "eu-west", 0);
    let minted = ok_json(
        call(
            &p,
            Method::POST,
            "/v1/tokens",
            Some(key),
            Some(
                json!({"identity": "user:42", "name": "Zoe", "grants": {"room": "standup", "join": true, "publish": true, "subscribe": true}}),
            ),
        ),
        StatusCode::CREATED,
    );
    let joined = ok_json(join_with(&p, "standup", minted["token"].as_str().unwrap(), None, &[]), StatusCode::OK);
    assert_eq!(joined["coordinator_url"], "wss://origo.test/v1/rooms/standup/ws");
    assert_eq!(
        joined["media"],
        json!({"node_id": "media-eu", "region": "eu-west", "session_url": "https://media-eu.media.test/v1/sessions"})
    );
    assert_eq!(joined["identity"], "user:42");
    let claims = token::verify(
        joined["participant_token"].as_str().unwrap(),
        &published_keys(&p),
        &Expectations::new("origo", "origo"),
        T0_MS / 1000,
    )
    .unwrap();
    assert_eq!(claims.node.as_deref(), Some("media-eu"));
    assert_eq!(claims.org.as_deref(), Some(org.as_str()));
    assert!(
        claims.grants.can_join("standup") && claims.grants.publish && !claims.grants.publish_data,
        "grants carried over, not widened"
    );
    assert_eq!(claims.name.as_deref(), Some("Zoe"));

    let ice = &joined["ice_servers"][0];
    assert_eq!(ice["urls"], json!(["turn:turn-eu.turn.test:3478?transport=udp"]));
    let (user, pass) = (ice["username"].as_str().unwrap(), ice["credential"].as_str().unwrap());
    assert!(user.ends_with(":user_42"), "{user}");
    TurnSecrets::new([TURN_SECRET]).verify(user, pass, T0_MS / 1000).unwrap();
    assert!(TurnSecrets::new(["another secret"]).verify(user, pass, T0_MS / 1000).is_err());
}

#[test]
fn join_refusals() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "standup"}))), StatusCode::CREATED);
    // No media node registered: retry later, not a crash.
    assert_error(&join_with(&p, "standup", &t, None, &[]), 503, "unavailable");
    register_node(&p, "m1", "media", "eu-west", 0);
    ok_json(join_with(&p, "standup", &t, None, &[]), StatusCode::OK);
    assert_error(&join_with(&p, "nowhere", &t, None, &[]), 404, "not_found");
    assert_error(&join_with(&p, "standup", &t, Some(json!({"region": "atlantis"})), &[]), 400, "bad_request");
    assert_error(&join_with(&p, "standup", &t, Some(json!({"seat": 1})), &[]), 400, "invalid_json");
    assert_error(&join_with(&p, "standup", "not-a-token", None, &[]), 401, "unauthorized");
    // Grants for another room, or without join.
    let key =
        ok_json(call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({"name": "k"}))), StatusCode::CREATED);
    let key = key["secret"].as_str().unwrap();
    let mint = |grants: Value| {
        let res = call(&p, Method::POST, "/v1/tokens", Some(key), Some(json!({"identity": "u", "grants": grants})));
        ok_json(res, StatusCode::CREATED)["token"].as_str().unwrap().to_owned()
    };
    assert_error(&join_with(&p, "standup", &mint(json!({"room": "other", "join": true})), None, &[]), 403, "forbidden");
    assert_error(
        &join_with(&p, "standup", &mint(json!({"room": "standup", "subscribe": true})), None, &[]),
        403,
        "forbidden",
    );
    // Expired token.
    let short = call(
        &p,
        Method::POST,
        "/v1/tokens",
        Some(key),
        Some(json!({"identity": "u", "ttl_secs": 10, "grants": {"room": "standup", "join": true}})),
    );
    let short = ok_json(short, StatusCode::CREATED)["token"].as_str().unwrap().to_owned();
    p.advance_secs(100);
    register_node(&p, "m1", "media", "eu-west", 0); // still heart-beating
    assert_error(&join_with(&p, "standup", &short, None, &[]), 401, "unauthorized");
    // A guest of the public organisation cannot join an organisation's room.
    let g = guest(&p, "Gus");
    ok_json(join_with(&p, "standup", &g, None, &[]), StatusCode::OK); // the public org's own "standup"
    let res = ok_json(call(&p, Method::GET, "/v1/rooms/standup", Some(&g), None), StatusCode::OK);
    assert_eq!(res["org"], "public");
}

#[test]
fn join_enforces_room_and_plan_participant_limits_and_monthly_minutes() {
    let mut p = TestPlatform::new();
    p.set(
        "plans",
        r#"{"currency":"USD","default_plan":"free","guest_plan":"free","plans":[
            {"id":"free","name":"Free","monthly_fee":"0","limits":{"participants_per_room":3,"participant_minutes":10000}}]}"#,
    );
    let (t, org, _) = owner(&p, "ada@acme.test");
    register_node(&p, "m1", "media", "eu-west", 0);
    ok_json(
        call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "small", "max_participants": 2}))),
        StatusCode::CREATED,
    );
    ok_json(
        call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "big", "max_participants": 50}))),
        StatusCode::CREATED,
    );
    let key =
        ok_json(call(&p, Method::POST, "/v1/api-keys", Some(&t), Some(json!({"name": "k"}))), StatusCode::CREATED);
    let key = key["secret"].as_str().unwrap().to_owned();
    let token_for = |who: &str, room: &str| {
        let res = call(
            &p,
            Method::POST,
            "/v1/tokens",
            Some(&key),
            Some(json!({"identity": who, "grants": {"room": room, "join": true}})),
        );
        ok_json(res, StatusCode::CREATED)["token"].as_str().unwrap().to_owned()
    };
    ok_json(join_with(&p, "small", &token_for("a", "small"), None, &[]), StatusCode::OK);
    ok_json(join_with(&p, "small", &token_for("b", "small"), None, &[]), StatusCode::OK);
    let msg = assert_error(&join_with(&p, "small", &token_for("c", "small"), None, &[]), 403, "limit_exceeded");
    assert!(msg.contains("full (2"), "{msg}");
    // Rejoining keeps one's own seat.
    ok_json(join_with(&p, "small", &token_for("a", "small"), None, &[]), StatusCode::OK);
    // The plan caps a room that asks for more.
    for who in ["a", "b", "c"] {
        ok_json(join_with(&p, "big", &token_for(who, "big"), None, &[]), StatusCode::OK);
    }
    // That is the plan's quota: a 402.
    assert_error(&join_with(&p, "big", &token_for("d", "big"), None, &[]), 402, "payment_required");
    // Seats not renewed by the coordinator lapse.
    p.advance_secs(121);
    register_node(&p, "m1", "media", "eu-west", 0);
    ok_json(join_with(&p, "small", &token_for("c", "small"), None, &[]), StatusCode::OK);

    // Monthly participant-minutes used up.
    let month = origo_shared::usage::month_of(p.now_ms.get());
    let used = json!({"participant_seconds": 10_000 * 60, "rooms_created": 0});
    p.kv.borrow_mut().insert(format!("usage:{org}:{month}:room:big"), serde_json::to_vec(&used).unwrap());
    let msg = assert_error(&join_with(&p, "big", &token_for("e", "big"), None, &[]), 402, "payment_required");
    assert!(msg.contains("participant-minutes"), "{msg}");
}

#[test]
fn placement_precedence_edge_then_trusted_proxy_then_client_then_room_hint() {
    let mut p = TestPlatform::new();
    p.set("trusted_proxies", "10.0.0.0/8, 2001:db8::1");
    let (t, _, _) = owner(&p, "ada@acme.test");
    ok_json(
        call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "hinted", "region": "ap-northeast"}))),
        StatusCode::CREATED,
    );
    for (id, region) in [("m-us", "us-east"), ("m-eu", "eu-central"), ("m-ap", "ap-northeast"), ("m-sa", "sa-east")] {
        register_node(&p, id, "media", region, 0);
    }
    let placed = |res: http::Response<bytes::Bytes>| -> (String, String) {
        let v = ok_json(res, StatusCode::OK);
        (v["media"]["node_id"].as_str().unwrap().to_owned(), v["placement"]["source"].as_str().unwrap().to_owned())
    };
    let room = "hinted";
    // Each case in a room of its own with the same hint: a room's later joins go to the node
    // its first one was placed on.
    let made = std::cell::Cell::new(0);
    let fresh_room = |p: &TestPlatform| -> String {
        made.set(made.get() + 1);
        let name = format!("hinted-{}", made.get());
        let body = json!({"name": name, "region": "ap-northeast"});
        ok_json(call(p, Method::POST, "/v1/rooms", Some(&t), Some(body)), StatusCode::CREATED);
        name
    };
    // Room hint when nothing else is known.
    assert_eq!(placed(join_with(&p, room, &t, None, &[])), ("m-ap".into(), "room_hint".into()));
    let room = &fresh_room(&p);
    // The client's named region beats the hint.
    assert_eq!(
        placed(join_with(&p, room, &t, Some(json!({"region": "us-east"})), &[])),
        ("m-us".into(), "client".into())
    );
    let room = &fresh_room(&p);
    // A trusted proxy's header (Frankfurt) beats the client's claim.
    let from_proxy = [("x-origo-geo", "50.1,8.7"), ("spin-client-addr", "10.1.2.3:4444")];
    assert_eq!(
        placed(join_with(&p, room, &t, Some(json!({"region": "us-east"})), &from_proxy)),
        ("m-eu".into(), "trusted_proxy".into())
    );
    let room = &fresh_room(&p);
    let from_v6_proxy = [("x-origo-geo", "50.1,8.7"), ("spin-client-addr", "[2001:db8::1]:4444")];
    assert_eq!(placed(join_with(&p, room, &t, None, &from_v6_proxy)).1, "trusted_proxy");
    let room = &fresh_room(&p);
    // The same header from anyone else is ignored.
    let untrusted = [("x-origo-geo", "50.1,8.7"), ("spin-client-addr", "203.0.113.9:4444")];
    assert_eq!(
        placed(join_with(&p, room, &t, Some(json!({"region": "us-east"})), &untrusted)),
        ("m-us".into(), "client".into())
    );
    let room = &fresh_room(&p);
    let no_addr = [("x-origo-geo", "50.1,8.7")];
    assert_eq!(placed(join_with(&p, room, &t, None, &no_addr)).1, "room_hint");
    let room = &fresh_room(&p);
    // Garbage in the header from a trusted proxy is ignored, not a crash.
    let garbage = [("x-origo-geo", "north pole"), ("spin-client-addr", "10.1.2.3:4444")];
    assert_eq!(placed(join_with(&p, room, &t, None, &garbage)).1, "room_hint");
    let room = &fresh_room(&p);
    // The edge's own geolocation (São Paulo) beats everything.
    let mut req =
        request(Method::POST, &format!("/v1/rooms/{room}/join"), Some(&t), Some(json!({"region": "us-east"})));
    req.headers_mut().insert("x-origo-geo", "50.1,8.7".parse().unwrap());
    req.headers_mut().insert("spin-client-addr", "10.1.2.3:4444".parse().unwrap());
    req.extensions_mut().insert(EdgeLocation { lat: -23.5, lon: -46.6 });
    assert_eq!(placed(dispatch(&p, req)), ("m-sa".into(), "edge".into()));
}

#[test]
fn each_join_lands_on_its_nearest_node_that_is_fresh_and_not_full() {
    let p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "r"}))), StatusCode::CREATED);
    register_node(&p, "m-eu", "media", "eu-west", 0);
    let node = |body: Value| {
        ok_json(join_with(&p, "r", &t, Some(body), &[]), StatusCode::OK)["media"]["node_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(node(json!({})), "m-eu");
    register_node(&p, "m-us", "media", "us-east", 0);
    // A participant in the US lands on the US node (the room's nodes are then linked).
    assert_eq!(node(json!({"region": "us-east"})), "m-us");
    // m-eu stops heart-beating: after 15 s it is stale and joins from Europe go to m-us.
    p.advance_secs(16);
    register_node(&p, "m-us", "media", "us-east", 0);
    assert_eq!(node(json!({"region": "eu-west"})), "m-us");
    // A full node is not chosen.
    register_node(&p, "m-eu", "media", "eu-west", 0);
    register_node(&p, "m-us", "media", "us-east", 100);
    assert_eq!(node(json!({"region": "us-east"})), "m-eu");
}

#[test]
fn turn_urls_come_from_the_nearest_turn_nodes_or_the_configured_list() {
    let mut p = TestPlatform::new();
    let (t, _, _) = owner(&p, "ada@acme.test");
    ok_json(call(&p, Method::POST, "/v1/rooms", Some(&t), Some(json!({"name": "r"}))), StatusCode::CREATED);
    register_node(&p, "m1", "media", "eu-west", 0);
    // Nothing registered and nothing configured: no TURN, still a join (host candidates may do).
    let v = ok_json(join_with(&p, "r", &t, None, &[]), StatusCode::OK);
    assert_eq!(v["ice_servers"], json!([]));
    p.set("turn_urls", "turn:127.0.0.1:3478?transport=udp, turn:127.0.0.1:3478?transport=tcp");
    let v = ok_json(join_with(&p, "r", &t, None, &[]), StatusCode::OK);
    assert_eq!(
        v["ice_servers"][0]["urls"],
        json!(["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"])
    );
    register_node(&p, "t-us", "turn", "us-east", 0);
    register_node(&p, "t-eu", "turn", "eu-west", 0);
    register_node(&p, "t-ap", "turn", "ap-south", 0);
    let v = ok_json(join_with(&p, "r", &t, Some(json!({"region": "eu-central"})), &[]), StatusCode::OK);
    assert_eq!(
        v["ice_servers"][0]["urls"],
        json!(["turn:t-eu.turn.test:3478?transport=udp", "turn:t-us.turn.test:3478?transport=udp"])
    );
}

#[test]
fn guests_join_public_rooms_by_link_and_the_room_appears() {
    let p = TestPlatform::new();
    register_node(&p, "m1", "media", "eu-west", 0);
    let g = guest(&p, "Gus");
    let v = ok_json(join_with(&p, "friday-drinks", &g, Some(json!({"name": "Gus B."})), &[]), StatusCode::OK);
    let claims = token::verify(
        v["participant_token"].as_str().unwrap(),
        &published_keys(&p),
        &Expectations::new("origo", "origo"),
        T0_MS / 1000,
    )
    .unwrap();
    assert_eq!(claims.grants.room.as_deref(), Some("friday-drinks"), "the wildcard is narrowed to the room");
    assert_eq!(claims.name.as_deref(), Some("Gus B."));
    // Guests still cannot create, update or delete rooms directly.
    assert_error(&call(&p, Method::POST, "/v1/rooms", Some(&g), Some(json!({"name": "x"}))), 403, "forbidden");
    assert_error(&call(&p, Method::DELETE, "/v1/rooms/friday-drinks", Some(&g), None), 403, "forbidden");
    assert_error(&call(&p, Method::GET, "/v1/rooms", Some(&g), None), 403, "forbidden");
}

#[test]
fn heartbeats_need_the_node_secret_and_valid_fields() {
    let p = TestPlatform::new();
    let hb = json!({"id": "m1", "region": "eu-west", "kind": "media", "capacity": 10, "load": 0});
    assert_error(&call(&p, Method::POST, "/v1/nodes/heartbeat", Some("wrong"), Some(hb.clone())), 401, "unauthorized");
    assert_error(&call(&p, Method::POST, "/v1/nodes/heartbeat", None, Some(hb.clone())), 401, "unauthorized");
    let mut bad_region = hb.clone();
    bad_region["region"] = json!("mars");
    assert_error(
        &call(&p, Method::POST, "/v1/nodes/heartbeat", Some(NODE_SECRET), Some(bad_region)),
        400,
        "bad_request",
    );
    let mut bad_id = hb.clone();
    bad_id["id"] = json!("../etc");
    assert_error(&call(&p, Method::POST, "/v1/nodes/heartbeat", Some(NODE_SECRET), Some(bad_id)), 400, "bad_request");
    let mut extra = hb.clone();
    extra["evil"] = json!(true);
    assert_error(&call(&p, Method::POST, "/v1/nodes/heartbeat", Some(NODE_SECRET), Some(extra)), 400, "invalid_json");
    assert_error(&call(&p, Method::GET, "/v1/nodes/heartbeat", Some(NODE_SECRET), None), 405, "method_not_allowed");
    let ok = ok_json(call(&p, Method::POST, "/v1/nodes/heartbeat", Some(NODE_SECRET), Some(hb)), StatusCode::OK);
    assert_eq!(ok["stale_after_ms"], 15_000);
}
