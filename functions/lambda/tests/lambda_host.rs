//! The Lambda host end to end, without Lambda: API Gateway v2 and ALB events through
//! `dispatch::serve` against a real Redis, and a chat message posted through the Lambda
//! function reaching a room coordinated by a real `origo edge --redis` process.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use origo_functions::{Platform, PlatformError};
use origo_functions_lambda::redis_store::RedisStore;
use serde_json::{Value, json};
use support::{Coordinators, Lambda, NODE_SECRET, Redis, Source, event, lambda_env};
use tokio_tungstenite::tungstenite::Message;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Nothing listens here: the tests that use it send no room commands.
const NO_COORDINATORS: &str = "http://127.0.0.1:9";

async fn register_media_node(l: &Lambda, source: Source) {
    let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 100, "load": 0,
                    "addresses": {"control_url": "http://127.0.0.1:7880"}});
    let auth = format!("Bearer {NODE_SECRET}");
    let (s, _, b) = l
        .invoke(&event(source, "POST", "/v1/nodes/heartbeat", &[("authorization", &auth)], Some(&hb.to_string())))
        .await;
    assert_eq!(s, 200, "{b}");
}

async fn guest(l: &Lambda, source: Source, name: &str) -> String {
    let (s, _, g) =
        l.invoke(&event(source, "POST", "/v1/auth/guest", &[], Some(&json!({"name": name}).to_string()))).await;
    assert_eq!(s, 200, "{g}");
    assert!(g["expires_in"].as_u64().unwrap() > 0);
    g["access_token"].as_str().unwrap().to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Sign-in, JWKS, join, the errors: the same through either kind of event.
async fn the_api_through(source: Source) {
    let redis = Redis::start();
    // A join asks the room's coordinator for a seat: a real `origo coordinator` on the Redis.
    let origo = Coordinators::start(&redis);
    let l = Lambda::start(lambda_env(&redis.url, &origo.base, "wss://rooms.example.test")).await;

    let (s, headers, jwks) = l.invoke(&event(source, "GET", "/.well-known/jwks.json", &[], None)).await;
    assert_eq!(s, 200, "{jwks}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(jwks["keys"][0]["kid"], "k1", "{jwks}");

    register_media_node(&l, source).await;
    let token = guest(&l, source, "Ada").await;
    let auth = bearer(&token);
    let (s, _, j) = l.invoke(&event(source, "POST", "/v1/rooms/standup/join", &[("authorization", &auth)], None)).await;
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["coordinator_url"], "wss://rooms.example.test/v1/rooms/standup/ws");
    assert_eq!(j["media"]["node_id"], "media-1");
    assert!(j["participant_token"].as_str().is_some_and(|t| t.split('.').count() == 3));

    // The room the join created, read back (a query string on the way).
    let (s, _, r) = l.invoke(&event(source, "GET", "/v1/rooms/standup?x=1", &[("authorization", &auth)], None)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["name"], "standup", "{r}");
    let (s, _, list) = l.invoke(&event(source, "GET", "/v1/rooms", &[("authorization", &auth)], None)).await;
    assert_eq!(s, 403, "guests may not list rooms: {list}");
    assert_eq!(list["error"]["code"], "forbidden");

    // Errors: the JSON body, never a panic.
    let (s, _, e) = l.invoke(&event(source, "GET", "/nope", &[], None)).await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "not_found");
    assert_eq!(e["error"]["message"], "no route for GET /nope");
    let (s, _, e) = l.invoke(&event(source, "POST", "/v1/auth/guest", &[], Some("{\"name\": "))).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "invalid_json");
    let (s, _, e) =
        l.invoke(&event(source, "POST", "/v1/rooms/standup/join", &[("authorization", "Bearer x")], None)).await;
    assert_eq!(s, 401, "{e}");
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(2 << 20));
    let (s, _, e) = l.invoke(&event(source, "POST", "/v1/auth/guest", &[], Some(&big))).await;
    assert_eq!(s, 413, "{e}");
    assert_eq!(e["error"]["code"], "payload_too_large");
    // The internal command route is the coordinators', not the functions'.
    let (s, _, e) = l
        .invoke(&event(
            source,
            "POST",
            "/internal/v1/rooms/public/standup/commands",
            &[],
            Some("{\"type\":\"close\",\"reason\":\"x\"}"),
        ))
        .await;
    assert_eq!(s, 404, "{e}");

    // The data is where `origo --redis` keeps it.
    let store = RedisStore::connect(&redis.url, None).await.unwrap();
    assert!(store.get("room:public:standup").await.unwrap().is_some());
}

#[test]
fn api_gateway_v2_events() {
    rt().block_on(the_api_through(Source::ApiGatewayV2));
}

#[test]
fn alb_events() {
    rt().block_on(the_api_through(Source::Alb));
}

#[test]
fn key_listing_escapes_glob_characters() {
    let redis = Redis::start();
    rt().block_on(async {
        let store = RedisStore::connect(&redis.url, None).await.unwrap();
        for k in ["a*b:1", "a*bc", "axb", "a?b", "a[b]", "b"] {
            store.set(k, b"v").await.unwrap();
        }
        assert_eq!(store.keys("a*b").await.unwrap(), ["a*b:1", "a*bc"]);
        assert_eq!(store.keys("a?").await.unwrap(), ["a?b"]);
        assert_eq!(store.keys("a[b").await.unwrap(), ["a[b]"]);
        assert_eq!(store.keys("").await.unwrap().len(), 6);
        store.delete("b").await.unwrap();
        assert_eq!(store.get("b").await.unwrap(), None);
    });
}

#[test]
fn outbound_requests_only_reach_allowed_hosts() {
    let redis = Redis::start();
    rt().block_on(async {
        let l = Lambda::start(lambda_env(&redis.url, NO_COORDINATORS, "wss://rooms.example.test")).await;
        // The chat component reaches the coordinators only.
        let room = l.deployment.component("chat").unwrap().clone();
        let p = origo_functions_lambda::LambdaPlatform::new(l.services.clone(), room);
        let req = http::Request::get("https://example.com/").body(bytes::Bytes::new()).unwrap();
        assert_eq!(p.http_send(req).await.unwrap_err(), PlatformError::HostNotAllowed);
        let req = http::Request::get("http://127.0.0.1:9/").body(bytes::Bytes::new()).unwrap();
        assert_eq!(p.http_send(req).await.unwrap_err(), PlatformError::HostNotAllowed);
        assert_eq!(p.variable("guest_org").as_deref(), Some("public"));
        assert_eq!(p.variable("email_api_key"), None, "only the room component's variables");

        // The notify component may call any https host, but not one that is not public: the
        // destination policy refuses it before connecting (loopback only, so nothing leaves).
        let notify = l.deployment.component("notify").unwrap().clone();
        let p = origo_functions_lambda::LambdaPlatform::new(l.services.clone(), notify);
        for url in
            ["https://127.0.0.1:9/", "https://2130706433:9/", "https://[::ffff:127.0.0.1]:9/", "https://localhost:9/"]
        {
            let req = http::Request::post(url).body(bytes::Bytes::new()).unwrap();
            assert_eq!(p.http_send(req).await.unwrap_err(), PlatformError::HostNotAllowed, "{url}");
        }
    });
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a frame in time");
        if let Some(Ok(Message::Text(t))) = frame {
            let v: Value = serde_json::from_str(&t).unwrap();
            if pred(&v) {
                return v;
            }
        } else if !matches!(frame, Some(Ok(_))) {
            panic!("the socket ended: {frame:?}");
        }
    }
}

#[test]
fn a_message_posted_through_lambda_reaches_the_room_on_the_coordinators() {
    let redis = Redis::start();
    let origo = Coordinators::start(&redis);
    let public_ws = origo.base.replacen("http://", "ws://", 1);
    rt().block_on(async {
        let l = Lambda::start(lambda_env(&redis.url, &origo.base, &public_ws)).await;
        register_media_node(&l, Source::ApiGatewayV2).await;
        // Ada joins through Lambda and opens the room's socket on the coordinators.
        let ada = guest(&l, Source::ApiGatewayV2, "Ada").await;
        let (s, _, j) = l
            .invoke(&event(
                Source::ApiGatewayV2,
                "POST",
                "/v1/rooms/town-hall/join",
                &[("authorization", &bearer(&ada))],
                None,
            ))
            .await;
        assert_eq!(s, 200, "{j}");
        let ws_url = format!(
            "{}?access_token={}",
            j["coordinator_url"].as_str().unwrap(),
            j["participant_token"].as_str().unwrap()
        );
        assert!(ws_url.starts_with(&format!("{public_ws}/v1/rooms/town-hall/ws")), "{ws_url}");
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.expect("websocket");
        ws.send(Message::Text(json!({"type": "join", "protocol": 1}).to_string().into())).await.unwrap();
        until(&mut ws, |v| v["type"] == "joined").await;

        // Bo posts over HTTP through Lambda (an ALB this time): the stub hands it to the room.
        let bo = guest(&l, Source::Alb, "Bo").await;
        let body = json!({"text": "through lambda"}).to_string();
        let (s, _, m) = l
            .invoke(&event(
                Source::Alb,
                "POST",
                "/v1/rooms/town-hall/messages",
                &[("authorization", &bearer(&bo))],
                Some(&body),
            ))
            .await;
        assert_eq!(s, 201, "{m}\n{}", origo.log());
        assert_eq!(m["text"], "through lambda");
        let chat = until(&mut ws, |v| v["type"] == "chat").await;
        assert_eq!(chat["message"]["text"], "through lambda");
        assert_eq!(chat["message"]["from_name"], "Bo");

        // The history, read through Lambda, has it once.
        let (s, _, h) = l
            .invoke(&event(
                Source::ApiGatewayV2,
                "GET",
                "/v1/rooms/town-hall/messages?limit=10",
                &[("authorization", &bearer(&bo))],
                None,
            ))
            .await;
        assert_eq!(s, 200, "{h}");
        let texts: Vec<&str> = h["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["through lambda"]);

        // Coordinators that refuse the node secret: the post fails as unavailable, not a panic.
        let wrong = Lambda::start({
            let env = lambda_env(&redis.url, &origo.base, &public_ws);
            move |name: &str| if name == "ORIGO_VAR_NODE_SECRET" { Some("wrong".to_owned()) } else { env(name) }
        })
        .await;
        let (s, _, e) = wrong
            .invoke(&event(
                Source::ApiGatewayV2,
                "POST",
                "/v1/rooms/town-hall/messages",
                &[("authorization", &bearer(&bo))],
                Some(&body),
            ))
            .await;
        assert_eq!(s, 503, "{e}");
    });
}
