//! The five Origo function components (auth, room, chat, notify, billing) served by `origo`
//! from the project's own spin.toml: what a developer gets from `origo dev`.

mod common;

use common::{Origo, Redis, built_component, repo_root, rt};
use serde_json::{Value, json};

fn start(extra: &[&str]) -> (Origo, tempfile::TempDir) {
    for f in ["auth", "room", "chat", "notify", "billing"] {
        built_component(&format!("functions/wasm/origo_fn_{f}.wasm"));
    }
    let dir = tempfile::tempdir().unwrap();
    let manifest = repo_root().join("spin.toml");
    let mut args = vec![
        "dev",
        "--no-build",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "--turn-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    (Origo::start(&args, &[]), dir)
}

async fn call(
    o: &Origo,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, o.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

fn the_platform_works(o: &Origo) {
    use reqwest::Method;
    rt().block_on(async {
        let (s, guest) = call(o, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "Ada"}))).await;
        assert_eq!(s, 200, "{guest}");
        let token = guest["access_token"].as_str().unwrap().to_owned();
        let t = Some(token.as_str());

        let (s, room) =
            call(o, Method::POST, "/v1/rooms", t, Some(json!({"name": "standup", "max_participants": 5}))).await;
        assert_eq!((s, room["name"].as_str()), (201, Some("standup")), "{room}");
        let (s, _) = call(o, Method::POST, "/v1/rooms", t, Some(json!({"name": "standup"}))).await;
        assert_eq!(s, 409);
        let (s, room) = call(o, Method::GET, "/v1/rooms/standup", t, None).await;
        assert_eq!((s, room["max_participants"].as_u64()), (200, Some(5)));

        let (s, msg) = call(o, Method::POST, "/v1/rooms/standup/messages", t, Some(json!({"text": "hello"}))).await;
        assert_eq!((s, msg["from_name"].as_str()), (201, Some("Ada")), "{msg}");
        let (s, history) = call(o, Method::GET, "/v1/rooms/standup/messages", t, None).await;
        assert_eq!((s, history["messages"][0]["text"].as_str()), (200, Some("hello")));

        let (s, hook) =
            call(o, Method::POST, "/v1/webhooks", t, Some(json!({"url": "https://hooks.partner.test/origo"}))).await;
        assert_eq!(s, 201, "{hook}");
        assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));

        let (s, plan) = call(o, Method::GET, "/v1/billing/plan", t, None).await;
        assert_eq!((s, plan["name"].as_str()), (200, Some("free")));

        // Refusals come back as the JSON error body, from inside the components.
        let (s, e) = call(o, Method::GET, "/v1/auth/guest", None, None).await;
        assert_eq!((s, e["error"]["code"].as_str()), (405, Some("method_not_allowed")));
        let (s, e) = call(o, Method::GET, "/v1/rooms", None, None).await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthorized")));
        let (s, e) = call(o, Method::GET, "/v1/rooms", Some("not.a.token"), None).await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthorized")));
        let (s, e) = call(o, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "x".repeat(70_000)}))).await;
        assert_eq!((s, e["error"]["code"].as_str()), (413, Some("payload_too_large")));
        let (s, e) = call(o, Method::GET, "/v1/nothing-here", None, None).await;
        assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    });
}

#[test]
fn the_functions_serve_their_endpoints_with_the_embedded_store() {
    let (o, _dir) = start(&[]);
    the_platform_works(&o);
    let jwks: Value =
        rt().block_on(async { reqwest::get(o.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap() });
    assert_eq!(jwks, json!({"keys": []}), "shared-secret keys are never published");
}

#[test]
fn the_functions_serve_their_endpoints_with_redis() {
    let redis = Redis::start();
    let (o, _dir) = start(&["--redis", &redis.url]);
    the_platform_works(&o);
    let health: Value = rt().block_on(async { reqwest::get(o.url("/health")).await.unwrap().json().await.unwrap() });
    assert_eq!(health["checks"]["kv_backend"], "redis");
}

#[test]
fn oversized_bodies_are_refused_by_the_host_before_any_instance_runs() {
    let (o, _dir) = start(&["--max-body-kb", "16"]);
    rt().block_on(async {
        let res = reqwest::Client::new()
            .post(o.url("/v1/auth/guest"))
            .header("content-type", "application/json")
            .body(vec![b' '; 64 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        let metrics = reqwest::get(o.url("/metrics")).await.unwrap().text().await.unwrap();
        assert!(!metrics.contains("origo_function_instantiations_total{component=\"auth\"}"), "{metrics}");
    });
}

#[test]
fn dev_runs_a_turn_server_with_the_generated_secret() {
    use origo_turn::attribute::*;
    use origo_turn::credentials::long_term_key;
    use origo_turn::message::{Class, Message, MessageBuilder, method};

    let (o, dir) = start(&[]);
    let health: Value = rt().block_on(async { reqwest::get(o.url("/health")).await.unwrap().json().await.unwrap() });
    let udp: std::net::SocketAddr = health["turn"]["udp"][0].as_str().unwrap().parse().unwrap();
    let vars: Value = serde_json::from_slice(&std::fs::read(dir.path().join("dev-variables.json")).unwrap()).unwrap();
    let secret = vars["turn_secret"].as_str().unwrap();

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1500];
    let mut ask = |req: Vec<u8>| {
        sock.send_to(&req, udp).unwrap();
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let challenge = ask({
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, [1; 12]);
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24);
        b.finish()
    });
    let nonce = Message::parse(&challenge).unwrap().get_str(NONCE).unwrap().to_owned();
    let creds = origo_shared::turn_credentials::TurnSecrets::new([secret]).issue("dev-user", now_unix(), 600).unwrap();
    let key = long_term_key(&creds.username, "origo", &creds.password);
    let res = ask({
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, [2; 12]);
        b.add_u32(REQUESTED_TRANSPORT, 17 << 24)
            .add(USERNAME, creds.username.as_bytes())
            .add(REALM, b"origo")
            .add(NONCE, nonce.as_bytes())
            .add_integrity(&key);
        b.finish()
    });
    let m = Message::parse(&res).unwrap();
    assert_eq!(m.class, Class::Success, "{:?}", m.get(ERROR_CODE).and_then(decode_error_code));
    assert!(m.get_xor_address(XOR_RELAYED_ADDRESS).is_some());
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
