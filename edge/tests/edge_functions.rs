//! The five Origo function components (auth, room, chat, notify, billing) served by `origo`
//! from the project's own spin.toml: what a developer gets from `origo dev`.

mod common;

use common::{Origo, Redis, repo_root, request, rt, start_dev};
use serde_json::{Value, json};

fn start(extra: &[&str]) -> (Origo, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (start_in(dir.path(), extra), dir)
}

/// `origo dev` keeping its data in `dir` (a restart with the same `dir` finds it again).
fn start_in(dir: &std::path::Path, extra: &[&str]) -> Origo {
    // Tests register their own media node unless they ask for the in-process one.
    let mut args = if extra.contains(&"--media-listen") { vec![] } else { vec!["--media-listen", "off"] };
    args.extend_from_slice(extra);
    start_dev(dir, &args)
}

async fn call(
    o: &Origo,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let res = request(o, method, path, token, body).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

fn dev_vars(dir: &tempfile::TempDir) -> Value {
    serde_json::from_slice(&std::fs::read(dir.path().join("dev-variables.json")).unwrap()).unwrap()
}

/// A media node announcing itself the way `origo-media-node`'s registry agent does.
async fn register_media_node(o: &Origo, node_secret: &str) {
    let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 100, "load": 0,
                    "addresses": {"control_url": "http://127.0.0.1:7880"}});
    let (s, body) = call(o, reqwest::Method::POST, "/v1/nodes/heartbeat", Some(node_secret), Some(hb)).await;
    assert_eq!(s, 200, "{body}");
}

/// Signs up and in, creates an organisation: returns (access token, org id).
async fn owner(o: &Origo, email: &str) -> (String, String) {
    use reqwest::Method;
    let creds = json!({"email": email, "password": "correct horse battery"});
    let (s, body) = call(o, Method::POST, "/v1/auth/signup", None, Some(creds.clone())).await;
    assert_eq!(s, 202, "{body}");
    let (s, session) = call(o, Method::POST, "/v1/auth/login", None, Some(creds)).await;
    assert_eq!(s, 200, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (s, org) = call(o, Method::POST, "/v1/orgs", Some(&token), Some(json!({"name": "Acme"}))).await;
    assert_eq!(s, 201, "{org}");
    (token, org["id"].as_str().unwrap().to_owned())
}

fn the_platform_works(o: &Origo, node_secret: &str) {
    use reqwest::Method;
    rt().block_on(async {
        let (owner_token, org_id) = owner(o, "ada@acme.test").await;
        let t = Some(owner_token.as_str());
        let (s, room) =
            call(o, Method::POST, "/v1/rooms", t, Some(json!({"name": "standup", "max_participants": 5}))).await;
        assert_eq!((s, room["name"].as_str()), (201, Some("standup")), "{room}");
        let (s, _) = call(o, Method::POST, "/v1/rooms", t, Some(json!({"name": "standup"}))).await;
        assert_eq!(s, 409);
        let (s, room) = call(o, Method::GET, "/v1/rooms/standup", t, None).await;
        assert_eq!((s, room["max_participants"].as_u64()), (200, Some(5)));

        let (s, msg) = call(o, Method::POST, "/v1/rooms/standup/messages", t, Some(json!({"text": "hello"}))).await;
        assert_eq!((s, msg["from_name"].as_str()), (201, Some("ada")), "{msg}");
        let (s, history) = call(o, Method::GET, "/v1/rooms/standup/messages", t, None).await;
        assert_eq!((s, history["messages"][0]["text"].as_str()), (200, Some("hello")));

        let (s, hook) =
            call(o, Method::POST, "/v1/webhooks", t, Some(json!({"url": "https://hooks.partner.test/origo"}))).await;
        assert_eq!(s, 201, "{hook}");
        assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
        // Endpoints must be public https ones; `origo dev` also trusts receivers on this machine.
        for url in ["http://hooks.partner.test/origo", "https://169.254.169.254/latest", "https://[::ffff:10.0.0.1]/"] {
            let (s, e) = call(o, Method::POST, "/v1/webhooks", t, Some(json!({ "url": url }))).await;
            assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")), "{url}: {e}");
            assert!(e["error"]["message"].as_str().unwrap().starts_with("url is refused"), "{e}");
        }
        let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver_port = receiver.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = receiver.accept().await {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
            }
        });
        let local = format!("http://127.0.0.1:{receiver_port}/hook");
        let (s, local_hook) = call(o, Method::POST, "/v1/webhooks", t, Some(json!({ "url": local }))).await;
        assert_eq!(s, 201, "{local_hook}");
        let test_path = format!("/v1/webhooks/{}/test", local_hook["id"].as_str().unwrap());
        let (s, sent) = call(o, Method::POST, &test_path, t, None).await;
        assert_eq!((s, sent["delivered"].as_bool(), sent["status"].as_u64()), (200, Some(true), Some(204)), "{sent}");

        let (s, plan) = call(o, Method::GET, "/v1/billing/plan", t, None).await;
        assert_eq!((s, plan["id"].as_str(), plan["name"].as_str()), (200, Some("free"), Some("Free")));

        // Guests join public meeting links.
        register_media_node(o, node_secret).await;
        let (s, guest) = call(o, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "Gus"}))).await;
        assert_eq!(s, 200, "{guest}");
        let g = guest["access_token"].as_str();
        let (s, joined) = call(o, Method::POST, "/v1/rooms/friday/join", g, None).await;
        assert_eq!(s, 200, "{joined}");
        assert_eq!(joined["media"]["node_id"], "media-1");
        let (s, e) = call(o, Method::POST, "/v1/rooms", g, Some(json!({"name": "x"}))).await;
        assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));

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

        // The sweep answers the node secret only; the store was upgraded by the first pass.
        let (s, report) = call(o, Method::POST, "/v1/maintenance/sweep", Some(node_secret), None).await;
        assert_eq!(s, 200, "{report}");
        assert!(report["migration"].is_null() && report["sweep"]["through_bucket"].is_u64(), "{report}");
        let (s, _) = call(o, Method::POST, "/v1/maintenance/sweep", t, None).await;
        assert_eq!(s, 401);
        // Deleting the organisation ends its meetings at their coordinators, then removes its rooms.
        let (s, e) = call(o, Method::DELETE, &format!("/v1/orgs/{org_id}"), t, None).await;
        assert_eq!(s, 204, "{e}");
        let (s, _) = call(o, Method::GET, "/v1/rooms/standup", t, None).await;
        assert!(s == 400 || s == 403 || s == 404, "the room went with its organisation: {s}");
    });
}

#[test]
fn the_functions_serve_their_endpoints_with_the_embedded_store() {
    let (o, dir) = start(&[]);
    the_platform_works(&o, dev_vars(&dir)["node_secret"].as_str().unwrap());
    let jwks: Value =
        rt().block_on(async { reqwest::get(o.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap() });
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!((keys[0]["kty"].as_str(), keys[0]["alg"].as_str()), (Some("OKP"), Some("EdDSA")));
    assert!(keys[0].get("d").is_none(), "only the public half is published");
}

#[test]
fn the_functions_serve_their_endpoints_with_redis() {
    let redis = Redis::start();
    let (o, dir) = start(&["--redis", &redis.url]);
    the_platform_works(&o, dev_vars(&dir)["node_secret"].as_str().unwrap());
    let health: Value = rt().block_on(async { reqwest::get(o.url("/health")).await.unwrap().json().await.unwrap() });
    assert_eq!(health["checks"]["kv_backend"], "redis");
}

#[test]
fn oversized_bodies_are_refused_by_the_host_before_any_instance_runs() {
    let (o, _dir) = start(&["--max-body-kb", "16", "--metrics-listen", "127.0.0.1:0"]);
    rt().block_on(async {
        let res = reqwest::Client::new()
            .post(o.url("/v1/auth/guest"))
            .header("content-type", "application/json")
            .body(vec![b' '; 64 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        let metrics = o.scrape_metrics().await;
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
    let vars = dev_vars(&dir);
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

/// `turnutils_uclient` (coturn's client) with the given credentials, through the relay to
/// coturn's echo peer `turnutils_peer` on loopback (not client to client: the TURN server refuses
/// its own relay ports as peers); true when every message came back.
fn uclient_relays(port: u16, user: &str, password: &str) -> (bool, String) {
    let peer_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut peer = std::process::Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &peer_port])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("turnutils_peer is installed (Debian coturn; tests/run installs it)");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = std::process::Command::new("timeout")
        .args(["60", "turnutils_uclient", "-u", user, "-w", password, "-n", "20", "-m", "1", "-l", "120"])
        .args(["-z", "5", "-e", "127.0.0.1", "-r", &peer_port, "-p", &port.to_string(), "127.0.0.1"])
        .output()
        .expect("turnutils_uclient is installed (Debian coturn; tests/run installs it)");
    let _ = peer.kill();
    let _ = peer.wait();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let count = |key: &str| -> u64 {
        text.lines()
            .rev()
            .find_map(|l| l.split(key).nth(1))
            .and_then(|r| r.trim_start_matches(['=', ' ']).split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (sent, recv) = (count("tot_send_msgs"), count("tot_recv_msgs"));
    (sent > 0 && sent == recv, text)
}

/// The partner integration end to end against `origo dev`: an account creates an API key; the
/// partner's server mints a participant token; the token creates the room and joins it; the
/// ICE credentials the join returns authenticate at the TURN server (REST scheme) and relay.
#[test]
fn partner_flow_from_api_key_to_turn_relay() {
    use reqwest::Method;
    let (o, _dir) = start(&["--media-listen", "127.0.0.1:0"]);
    rt().block_on(async {
        let (owner_token, org) = owner(&o, "ops@partner.test").await;
        let (s, key) = call(&o, Method::POST, "/v1/api-keys", Some(&owner_token), Some(json!({"name": "backend"}))).await;
        assert_eq!(s, 201, "{key}");
        let api_key = key["secret"].as_str().unwrap().to_owned();
        let (s, list) = call(&o, Method::GET, "/v1/api-keys", Some(&owner_token), None).await;
        assert_eq!(s, 200);
        assert!(list["api_keys"][0].get("secret").is_none());

        let grants = json!({"room": "demo", "join": true, "publish": true, "subscribe": true, "publish_data": true, "room_create": true});
        let (s, minted) = call(&o, Method::POST, "/v1/tokens", Some(&api_key),
            Some(json!({"identity": "customer-7", "name": "Zoe", "grants": grants}))).await;
        assert_eq!(s, 201, "{minted}");
        let participant = minted["token"].as_str().unwrap().to_owned();

        let (s, room) = call(&o, Method::POST, "/v1/rooms", Some(&participant), Some(json!({"name": "demo"}))).await;
        assert_eq!(s, 201, "{room}");
        assert_eq!(room["org"], org.as_str());
        // `origo dev` runs a media node and it registers itself.
        let health: Value = reqwest::get(o.url("/health")).await.unwrap().json().await.unwrap();
        let control = health["media"]["control_url"].as_str().unwrap().to_owned();
        let joined = loop {
            let (s, joined) = call(&o, Method::POST, "/v1/rooms/demo/join", Some(&participant), None).await;
            if s == 200 {
                break joined;
            }
            assert_eq!(s, 503, "{joined}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert_eq!(joined["media"]["node_id"], "dev-media-1");
        assert_eq!(joined["media"]["session_url"], format!("{control}/v1/sessions"));
        // The media node accepts the participant token (a bad offer is a 400, not a 401/403).
        let res = reqwest::Client::new()
            .post(joined["media"]["session_url"].as_str().unwrap())
            .bearer_auth(joined["participant_token"].as_str().unwrap())
            .json(&json!({"offer": {"type": "offer", "sdp": "v=0"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(joined["coordinator_url"].as_str().unwrap().starts_with("ws://127.0.0.1:"), "{joined}");
        assert!(joined["coordinator_url"].as_str().unwrap().ends_with("/v1/rooms/demo/ws"));

        let ice = &joined["ice_servers"][0];
        let health: Value = reqwest::get(o.url("/health")).await.unwrap().json().await.unwrap();
        let turn_udp: std::net::SocketAddr = health["turn"]["udp"][0].as_str().unwrap().parse().unwrap();
        assert_eq!(ice["urls"][0].as_str().unwrap(), format!("turn:{turn_udp}?transport=udp"));
        let (user, pass) = (ice["username"].as_str().unwrap().to_owned(), ice["credential"].as_str().unwrap().to_owned());
        tokio::task::spawn_blocking(move || {
            let (ok, text) = uclient_relays(turn_udp.port(), &user, &pass);
            assert!(ok, "the join's TURN credentials must relay:\n{text}");
            let (ok, text) = uclient_relays(turn_udp.port(), &user, "not-the-password");
            assert!(!ok, "a wrong password must not relay:\n{text}");
        })
        .await
        .unwrap();

        // Revoking the key stops the partner at once.
        let id = key["id"].as_str().unwrap();
        let (s, _) = call(&o, Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&owner_token), None).await;
        assert_eq!(s, 204);
        let (s, _) = call(&o, Method::POST, "/v1/tokens", Some(&api_key), Some(json!({"identity": "x", "grants": grants}))).await;
        assert_eq!(s, 401);
    });
    let log = o.log();
    assert!(!log.contains("correct horse battery"), "a password reached the log");
}

fn python() -> String {
    std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn pyjwt(args: &[&str]) -> String {
    let script = repo_root().join("edge/tests/pyjwt_check.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("python3 with PyJWT and cryptography (tests/run installs them)");
    assert!(out.status.success(), "pyjwt_check {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Tokens `origo` issues verify with PyJWT against `/.well-known/jwks.json`; tokens PyJWT signs
/// with keys we do not hold are refused by us.
#[test]
fn an_independent_jwt_library_verifies_our_tokens_and_we_refuse_its_forgeries() {
    use reqwest::Method;
    let (o, _dir) = start(&[]);
    rt().block_on(async {
        let (owner_token, _) = owner(&o, "ada@acme.test").await;
        let (_, key) = call(&o, Method::POST, "/v1/api-keys", Some(&owner_token), Some(json!({"name": "k"}))).await;
        let (_, minted) = call(
            &o,
            Method::POST,
            "/v1/tokens",
            Some(key["secret"].as_str().unwrap()),
            Some(json!({"identity": "u-1", "grants": {"room": "r", "join": true}})),
        )
        .await;
        let (_, guest) = call(&o, Method::POST, "/v1/auth/guest", None, Some(json!({"name": "Gus"}))).await;
        let tokens = [
            owner_token.clone(),
            minted["token"].as_str().unwrap().to_owned(),
            guest["access_token"].as_str().unwrap().to_owned(),
        ];
        let jwks_url = o.url("/.well-known/jwks.json");
        let verified = tokio::task::spawn_blocking(move || {
            let mut args = vec!["verify", jwks_url.as_str()];
            args.extend(tokens.iter().map(String::as_str));
            pyjwt(&args)
        })
        .await
        .unwrap();
        let claims: Vec<Value> = serde_json::from_str(&verified).unwrap();
        assert_eq!(claims.len(), 3);
        assert_eq!(claims[0]["kind"], "account");
        assert_eq!(claims[1]["sub"], "u-1");
        assert_eq!(claims[1]["grants"]["room"], "r");
        assert_eq!(claims[2]["org"], "public");

        let kid = jsonwebtoken::decode_header(&owner_token).unwrap().kid.unwrap();
        let forged_claims = serde_json::to_string(&claims[0]).unwrap();
        for mode in ["forge", "forge-hs"] {
            let (kid, forged_claims) = (kid.clone(), forged_claims.clone());
            let forged = tokio::task::spawn_blocking(move || pyjwt(&[mode, &kid, &forged_claims])).await.unwrap();
            let (s, e) = call(&o, Method::GET, "/v1/orgs", Some(&forged), None).await;
            assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthorized")), "{mode}: {e}");
        }
        // The genuine token still works (the check above is not a blanket refusal).
        let (s, _) = call(&o, Method::GET, "/v1/orgs", Some(&owner_token), None).await;
        assert_eq!(s, 200);
    });
}

/// `/openapi.json` is a valid OpenAPI 3.1 document (checked by `openapi-spec-validator`, an
/// independent implementation), and every operation it lists is served: none answers "no
/// route" or 405, so the document and the router cannot drift apart.
#[test]
fn the_openapi_document_is_valid_and_matches_the_routes() {
    let (o, dir) = start(&[]);
    let doc: Value = rt().block_on(async { reqwest::get(o.url("/openapi.json")).await.unwrap().json().await.unwrap() });
    assert_eq!(doc["openapi"], "3.1.0");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&path)
        .output()
        .expect("python3 with openapi-spec-validator (tests/run installs it)");
    assert!(out.status.success(), "invalid OpenAPI document: {}", String::from_utf8_lossy(&out.stderr));

    let paths = doc["paths"].as_object().unwrap();
    for expected in
        ["/v1/auth/signup", "/v1/orgs/{org}/members", "/v1/api-keys/{id}", "/v1/tokens", "/v1/rooms/{room}/join"]
    {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }
    rt().block_on(async {
        let client = reqwest::Client::new();
        let mut probed = 0;
        for (path, item) in paths {
            let concrete = path
                .replace("{room}", "probe")
                .replace("{org}", "org_probe")
                .replace("{account}", "acct_probe")
                .replace("{id}", "probe");
            for method in ["get", "post", "patch", "put", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let res = client.request(m, o.url(&concrete)).send().await.unwrap();
                let status = res.status().as_u16();
                let body = res.text().await.unwrap();
                assert_ne!(status, 405, "{method} {path}: {body}");
                assert!(!body.contains("no route for"), "{method} {path} is documented but not served: {body}");
                probed += 1;
            }
        }
        assert!(probed >= 40, "probed {probed} operations");
    });
}

#[test]
fn media_time_reaches_billing_and_a_restart_loses_none_of_it() {
    use reqwest::Method;
    let dev = ["--turn-listen", "off", "--media-listen", "127.0.0.1:0"];
    let dir = tempfile::tempdir().unwrap();
    let o = start_in(dir.path(), &dev);
    let (token, joined) = rt().block_on(async {
        let (token, _org) = owner(&o, "ops@usage.test").await;
        let (s, room) = call(&o, Method::POST, "/v1/rooms", Some(&token), Some(json!({"name": "standup"}))).await;
        assert_eq!(s, 201, "{room}");
        let joined = loop {
            let (s, joined) = call(&o, Method::POST, "/v1/rooms/standup/join", Some(&token), None).await;
            if s == 200 {
                break joined;
            }
            assert_eq!(s, 503, "{joined}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        (token, joined)
    });
    // An independent WebRTC peer publishes through the node for three seconds.
    let base = joined["media"]["session_url"].as_str().unwrap().trim_end_matches("/v1/sessions").to_owned();
    let script = repo_root().join("media-node/tests/aiortc_peer.py");
    let out = std::process::Command::new(python())
        .args([script.to_str().unwrap(), "publish", &base, joined["participant_token"].as_str().unwrap(), "3"])
        .output()
        .expect("python3 with aiortc (tests/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Stopped right away (before the periodic report): the node reports on the way out.
    let status = o.terminate();
    assert!(status.success(), "{status:?}");
    let o = start_in(dir.path(), &dev);
    let month = rt().block_on(async {
        let (s, usage) = call(&o, Method::GET, "/v1/billing/usage", Some(&token), None).await;
        assert_eq!(s, 200, "{usage}");
        usage
    });
    let media_ms = month["usage"]["media_participant_ms"].as_u64().unwrap();
    assert!((2_000..60_000).contains(&media_ms), "media time counted once: {month}");
    let journal: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("media/usage-journal.json")).unwrap()).unwrap();
    assert_eq!(journal["pending"], json!([]), "everything was acknowledged");
}

/// `origo dev` without an email provider keeps the functions' emails in memory: a password
/// reset and an invitation arrive at `GET /dev/mail` (from this machine only), and the reset
/// link in the message works.
#[test]
fn dev_keeps_emails_in_a_mailbox_and_their_links_work() {
    use reqwest::Method;
    let (o, _dir) = start(&[]);
    rt().block_on(async {
        let (owner_token, org) = owner(&o, "ada@acme.test").await;
        let (s, _) =
            call(&o, Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": "ada@acme.test"}))).await;
        assert_eq!(s, 202);
        let (s, invite) = call(
            &o,
            Method::POST,
            &format!("/v1/orgs/{org}/invitations"),
            Some(&owner_token),
            Some(json!({"email": "bo@acme.test", "role": "member"})),
        )
        .await;
        assert_eq!(s, 202, "{invite}");
        let mail: Value = reqwest::get(o.url("/dev/mail")).await.unwrap().json().await.unwrap();
        let messages = mail["messages"].as_array().unwrap();
        let to =
            |who: &str| messages.iter().find(|m| m["to"] == who).unwrap_or_else(|| panic!("no mail to {who}: {mail}"));
        assert!(to("bo@acme.test")["text"].as_str().unwrap().contains("#invitation="));
        let text = to("ada@acme.test")["text"].as_str().unwrap().to_owned();
        let token = text.split("#password-reset=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        let (s, done) = call(
            &o,
            Method::POST,
            "/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "a brand new passphrase"})),
        )
        .await;
        assert_eq!(s, 200, "{done}");
        let (s, _) = call(
            &o,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "ada@acme.test", "password": "a brand new passphrase"})),
        )
        .await;
        assert_eq!(s, 200);
        // Not a route for anyone else, and not something a stranger can post to.
        let res = reqwest::Client::new()
            .post(o.url("/internal/dev/mail"))
            .json(&json!({"from": "x", "to": "y", "subject": "z", "text": "w"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404);
    });
}

/// Unix seconds as RFC 3339 in UTC (days to a civil date, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A room scheduled through the real room component: the invitation reaches `origo dev`'s
/// mailbox with its `.ics`, which the `icalendar` package reads.
#[test]
fn dev_sends_meeting_invitations_with_a_calendar() {
    use base64::Engine;
    use reqwest::Method;
    use std::io::Write;
    assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    let (o, _dir) = start(&[]);
    let start = (now_unix() / 60 + 24 * 60) * 60;
    rt().block_on(async {
        let (token, _) = owner(&o, "ada@acme.test").await;
        let schedule = json!({"start_at": rfc3339(start), "duration_mins": 30, "title": "Kick-off", "invitees": ["zoe@partner.test"]});
        let (s, room) =
            call(&o, Method::POST, "/v1/rooms", Some(&token), Some(json!({"name": "kickoff", "schedule": schedule}))).await;
        assert_eq!(s, 201, "{room}");
        let mail: Value = reqwest::get(o.url("/dev/mail")).await.unwrap().json().await.unwrap();
        let invitation = mail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["to"] == "zoe@partner.test")
            .unwrap_or_else(|| panic!("no invitation: {mail}"))
            .clone();
        let file = &invitation["attachments"][0];
        assert!(file["content_type"].as_str().unwrap().contains("method=REQUEST"), "{invitation}");
        let ics = base64::engine::general_purpose::STANDARD.decode(file["content"].as_str().unwrap()).unwrap();
        let mut child = std::process::Command::new(python())
            .arg(repo_root().join("functions/core/tests/ics_check.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with icalendar (tests/run installs it)");
        child.stdin.take().unwrap().write_all(&ics).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(parsed["method"], "REQUEST");
        assert_eq!(parsed["dtstart"], rfc3339(start).replace('Z', "+00:00"));
        assert_eq!(parsed["attendees"], json!(["mailto:zoe@partner.test"]));
        assert!(parsed["url"].as_str().unwrap().ends_with("/?room=kickoff"), "{parsed}");
    });
}
