//! A Spin deployment's room coordinators: the functions run as a Spin deployment does (records
//! in Redis in Spin's key-value layout, room commands sent to `coordinator_internal_url`,
//! participants sent to `coordinator_url`), and an `origo coordinator` process on the same
//! Redis serves the rooms. Participants sign in and join through the functions, meet on the
//! coordinator's WebSocket, and a chat message posted to the chat function reaches them
//! through the coordinator and lands in the history, at the key Spin's backend reads.

mod common;

use std::time::Duration;

use common::room_ws::{connect, join, next, until};
use common::{Origo, Redis, built_component, repo_root, rt};
use redis::AsyncCommands;
use serde_json::{Value, json};

const SIGNING_KEY: &str = "k1:8f1c2b6e0d9a4f3b7c5e1a2d6b8f0c4e9a7d3b1f5c2e8a6d4b0f9c7e3a1d5b2f";
const NODE_SECRET: &str = "a3f9d1c7e5b2084f6a1d9c3e7b5f2a8d";
const TURN_SECRET: &str = "5e2b8d1f7a3c9e6b4d0f2a8c6e1b9d3f";

/// The deployment's variables, as a Spin deployment and its coordinators both read them.
fn deployment_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SPIN_VARIABLE_TOKEN_SIGNING_KEYS", SIGNING_KEY),
        ("SPIN_VARIABLE_NODE_SECRET", NODE_SECRET),
        ("SPIN_VARIABLE_TURN_SECRET", TURN_SECRET),
    ]
}

/// The project's `spin.toml` with the edit the recipe asks of an operator: the chat component
/// (the room component may call any host) reaches the coordinators at `coordinator` instead of
/// `http://origo.internal` (which only `origo` serves, so a command that went there would be
/// refused). Sources are made
/// absolute so the copy can live elsewhere.
fn deployment_manifest(dir: &std::path::Path, coordinator: &str) -> std::path::PathBuf {
    for f in ["auth", "room", "chat", "notify", "billing"] {
        built_component(&format!("functions/wasm/origo_fn_{f}.wasm"));
    }
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let internal = r#""http://origo.internal"]"#;
    // The room component may call any host already (its reminders reach providers).
    assert_eq!(text.matches(internal).count(), 1, "the chat component allows http://origo.internal");
    let text = text
        .replace(internal, &format!(r#""{coordinator}"]"#))
        .replace(r#"source = "functions/"#, &format!(r#"source = "{}/functions/"#, repo_root().display()));
    let path = dir.join("spin.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{base}{path}")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A guest signs in and joins `room` through the functions: their access token and the join.
async fn guest_joins(functions: &str, room: &str, name: &str) -> (String, Value) {
    let (s, g) = post(functions, "/v1/auth/guest", None, json!({"name": name})).await;
    assert_eq!(s, 200, "{g}");
    let access = g["access_token"].as_str().unwrap().to_owned();
    let (s, j) = post(functions, &format!("/v1/rooms/{room}/join"), Some(&access), json!({})).await;
    assert_eq!(s, 200, "{j}");
    (access, j)
}

#[test]
fn a_spin_deployment_meets_its_rooms_on_origo_coordinator_processes() {
    let redis = Redis::start();
    let env = deployment_env();
    let manifest = repo_root().join("spin.toml");
    // B: the room coordinators alone.
    let coordinator = Origo::start(
        &[
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--redis",
            &redis.url,
            "--redis-layout",
            "spin",
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        &env,
    );
    let ws_base = coordinator.base.replacen("http://", "ws://", 1);
    // A: the functions, as a Spin deployment runs them.
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let deployment = deployment_manifest(dir.path(), &coordinator.base);
    let mut functions_env = env.clone();
    functions_env.push(("SPIN_VARIABLE_COORDINATOR_INTERNAL_URL", &coordinator.base));
    functions_env.push(("SPIN_VARIABLE_COORDINATOR_URL", &ws_base));
    functions_env.push(("SPIN_VARIABLE_PUBLIC_URL", "https://meet.origo.test"));
    let functions = Origo::start(
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--manifest",
            deployment.to_str().unwrap(),
            "--redis",
            &redis.url,
            "--redis-layout",
            "spin",
        ],
        &functions_env,
    );
    let f = functions.base.clone();
    let c = coordinator.base.clone();

    rt().block_on(async {
        // The coordinator process is healthy, says what it is, and serves no function.
        let (s, h) = get(&c, "/health", None).await;
        assert_eq!(s, 200, "{h}");
        assert_eq!(h["mode"], "coordinator");
        assert_eq!(h["checks"]["redis_layout"], "spin");
        assert_eq!(h["components"], json!([]));
        coordinator.scrape_metrics().await;
        let res = reqwest::get(format!("{c}/metrics")).await.unwrap();
        assert_eq!(res.status().as_u16(), 404, "metrics are not served beside the public API");
        let (s, e) = post(&c, "/v1/auth/guest", None, json!({"name": "Eve"})).await;
        assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
        let (s, e) = get(&c, "/v1/rooms/spin-room/messages", None).await;
        assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");

        // A media node registers with the functions.
        let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 1000, "load": 0,
                        "addresses": {"control_url": "http://127.0.0.1:7880"}});
        let (s, b) = post(&f, "/v1/nodes/heartbeat", Some(NODE_SECRET), hb).await;
        assert_eq!(s, 200, "{b}");

        // Two guests join through the functions and are sent to the coordinator process.
        let (ada_access, ada) = guest_joins(&f, "spin-room", "Ada").await;
        let (_, bo) = guest_joins(&f, "spin-room", "Bo").await;
        assert_eq!(ada["coordinator_url"], format!("{ws_base}/v1/rooms/spin-room/ws"));
        assert_eq!(bo["coordinator_url"], ada["coordinator_url"]);
        let url = ada["coordinator_url"].as_str().unwrap();
        let mut a = connect(url, ada["participant_token"].as_str().unwrap()).await;
        join(&mut a, None).await;
        let mut b = connect(url, bo["participant_token"].as_str().unwrap()).await;
        let joined = join(&mut b, None).await;
        assert_eq!(joined["you"]["name"], "Bo", "{joined}");
        let others: Vec<&str> =
            joined["participants"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(others, ["Ada"], "{joined}");
        let arrived = until(&mut a, |v| v["type"] == "participant_joined").await;
        assert_eq!(arrived["participant"]["name"], "Bo", "{arrived}");

        // A message posted to the chat function goes through the stub to the coordinator.
        let (s, m) =
            post(&f, "/v1/rooms/spin-room/messages", Some(&ada_access), json!({"text": "hello from spin"})).await;
        assert_eq!(s, 201, "{m}");
        for ws in [&mut a, &mut b] {
            let chat = until(ws, |v| v["type"] == "chat").await;
            assert_eq!(chat["message"]["text"], "hello from spin");
            assert_eq!(chat["message"]["from_name"], "Ada");
        }
        let (s, history) = get(&f, "/v1/rooms/spin-room/messages", Some(&ada_access)).await;
        assert_eq!(s, 200, "{history}");
        let texts: Vec<&str> =
            history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["hello from spin"]);

        // The records sit where Spin's Redis backend keeps them: the bare key, the bytes as
        // they are, in the URL's database; the coordinator's lease apart, under `origo:`.
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let mut r = client.get_multiplexed_async_connection().await.unwrap();
        let room: Option<Vec<u8>> = r.get("room:public:spin-room").await.unwrap();
        let room: Value = serde_json::from_slice(&room.expect("the room record at room:public:spin-room")).unwrap();
        assert_eq!(room["name"], "spin-room", "{room}");
        let chat_key = format!("chat:public:spin-room:{}", m["id"].as_str().unwrap());
        let stored: Option<Vec<u8>> = r.get(&chat_key).await.unwrap();
        let stored: Value = serde_json::from_slice(&stored.expect("the message at its chat key")).unwrap();
        assert_eq!(stored["text"], "hello from spin", "{stored}");
        let node: Option<Vec<u8>> = r.get("node:media-1").await.unwrap();
        assert!(node.is_some(), "the node registry at node:media-1");
        let all: Vec<String> = r.keys("*").await.unwrap();
        assert!(all.iter().all(|k| !k.starts_with("origo:kv:")), "no Origo-layout key: {all:?}");
        let lease: Option<String> = r.get("origo:lease:public:spin-room").await.unwrap();
        assert!(lease.expect("the room's lease").ends_with(&c), "the coordinator process owns the room");

        // The command route takes calls from the deployment only.
        let cmd = json!({"type": "close", "reason": "forged"});
        let path = "/internal/v1/rooms/public/spin-room/commands";
        for bearer in [None, Some("not-the-node-secret")] {
            let (s, e) = post(&c, path, bearer, cmd.clone()).await;
            assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
        }
        assert!(next(&mut a, Duration::from_millis(300)).await.is_none_or(|v| v["type"] != "kick"));
    });
}
