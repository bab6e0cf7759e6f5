//! The Cloudflare build as a black box: `wrangler dev` (workerd, no network, no account) serves
//! the Worker built by `functions/worker/build`, with its KV and Durable Objects persisted to a
//! test directory. Guests sign in, join, meet over the room's Durable Object, chat over the
//! socket and over HTTP; a dropped participant leaves when the room's alarm fires; the room's
//! chat survives a restart of `wrangler dev`; bad input gets the JSON error body. A partner's
//! receiver (the stock `standardwebhooks` library, `edge/tests/webhook_receiver.py`) on this
//! machine verifies the webhooks of a real room, delivered by the organisation's
//! `WebhookDispatcher` object, and the partner's delivery log shows them delivered.
//!
//! Needs `npm ci` in functions/worker and a built Worker (`tests/run` does both), and for the
//! webhooks a Python with `standardwebhooks` (`ORIGO_PYTHON`; `tests/run` sets up its venv).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..").canonicalize().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `wrangler dev` process group, stopped on drop.
struct WranglerDev {
    child: Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl WranglerDev {
    fn start(state: &Path, vars: &Path) -> WranglerDev {
        let root = repo_root();
        let wrangler = root.join("functions/worker/node_modules/.bin/wrangler");
        assert!(wrangler.exists(), "run `npm ci` in functions/worker first");
        assert!(root.join("functions/worker/dist/index.js").exists(), "build the Worker first: functions/worker/build");
        let port = free_port();
        let mut cmd = Command::new(wrangler);
        cmd.current_dir(&root)
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(state)
            .arg("--env-file")
            .arg(vars)
            .args(["--show-interactive-dev-session=false", "--log-level", "log", "--test-scheduled"])
            .env("ORIGO_WORKER_PREBUILT", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("wrangler starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let dev = WranglerDev { child, base: format!("http://127.0.0.1:{port}"), log };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !dev.log().contains("Ready on") {
            assert!(Instant::now() < deadline, "wrangler dev did not start:\n{}", dev.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        dev
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        // wrangler runs workerd as a child: stop the whole group.
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.child.id())]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

impl Drop for WranglerDev {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- wrangler dev's output ---\n{}", self.log());
        }
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// The deployment's secrets and vars as `.dev.vars`, with `extra` lines; returns the node
/// secret.
fn write_vars(dir: &Path, extra: &str) -> (PathBuf, String) {
    let hex = |n: usize| {
        let mut b = vec![0u8; n];
        getrandom_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    let node_secret = hex(16);
    let path = dir.join("dev.vars");
    std::fs::write(
        &path,
        format!(
            "token_signing_keys=\"k1:{}\"\nturn_secret=\"{}\"\nnode_secret=\"{node_secret}\"\n\
             room_grace_ms=\"1500\"\nroom_sweep_ms=\"500\"\n{extra}",
            hex(32),
            hex(16)
        ),
    )
    .unwrap();
    (path, node_secret)
}

fn getrandom_bytes(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").unwrap().read_exact(buf).unwrap();
}

/// Every request has a deadline: a test that waits fails, it does not hang.
fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

async fn post(w: &WranglerDev, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = client().post(w.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(w: &WranglerDev, path: &str, token: &str) -> (u16, Value) {
    let res = client().get(w.url(path)).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn register_node(w: &WranglerDev, secret: &str) {
    let hb = json!({"id": "media-1", "region": "eu-west", "kind": "media", "capacity": 1000, "load": 0,
                    "addresses": {"control_url": "http://127.0.0.1:7880"}});
    let (s, b) = post(w, "/v1/nodes/heartbeat", Some(secret), hb).await;
    assert_eq!(s, 200, "{b}");
}

/// A guest joins `room`: the join response.
async fn join(w: &WranglerDev, room: &str, name: &str) -> Value {
    let (s, g) = post(w, "/v1/auth/guest", None, json!({"name": name, "room": room})).await;
    assert_eq!(s, 200, "{g}");
    let (s, j) = post(w, &format!("/v1/rooms/{room}/join"), g["access_token"].as_str(), json!({})).await;
    assert_eq!(s, 200, "{j}");
    j
}

async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "pong" {
                    return Some(v);
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Err(_) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Frames until one matches `pred`, within 20 s in all.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(v) = next(ws, left).await else { panic!("no matching frame in time; skipped {skipped:?}") };
        if pred(&v) {
            return v;
        }
        skipped.push(v);
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Opens the join response's coordinator URL and joins: the socket and its `joined` frame.
async fn connect(j: &Value, last_seq: Option<u64>) -> (Ws, Value) {
    let url =
        format!("{}?access_token={}", j["coordinator_url"].as_str().unwrap(), j["participant_token"].as_str().unwrap());
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(20), tokio_tungstenite::connect_async(url.as_str()))
        .await
        .expect("the socket opens in time")
        .expect("websocket to the room's object");
    let mut hello = json!({"type": "join", "protocol": 1});
    if let Some(s) = last_seq {
        hello["last_seq"] = json!(s);
    }
    send(&mut ws, hello).await;
    let joined = until(&mut ws, |v| v["type"] == "joined").await;
    (ws, joined)
}

fn names(joined: &Value) -> Vec<String> {
    let mut n: Vec<String> =
        joined["participants"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    n.sort();
    n
}

#[test]
fn a_room_on_durable_objects_under_wrangler_dev() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (vars, node_secret) = write_vars(dir.path(), "");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let w = WranglerDev::start(&state, &vars);
    let (history_token, seen_seq) = rt.block_on(async {
        // Bad input: the JSON error body.
        let res = client().get(w.url("/v1/nope")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{body}");
        let (s, b) = post(&w, "/v1/auth/guest", None, json!(["not", "an", "object"])).await;
        assert_eq!(s, 400, "{b}");
        let (s, b) = post(&w, "/v1/nodes/heartbeat", Some("wrong"), json!({})).await;
        assert_eq!(s, 401, "{b}");

        register_node(&w, &node_secret).await;
        let ja = join(&w, "standup", "Ada").await;
        let jb = join(&w, "standup", "Bo").await;
        assert_eq!(ja["coordinator_url"], format!("{}/v1/rooms/standup/ws", w.base.replacen("http://", "ws://", 1)));
        assert_eq!(ja["media"]["node_id"], "media-1");

        // A socket without a token, and one that is not an upgrade, are refused.
        let plain = client().get(w.url("/v1/rooms/standup/ws")).send().await.unwrap();
        assert_eq!(plain.status().as_u16(), 400);
        let no_token = format!("{}/v1/rooms/standup/ws", w.base.replacen("http://", "ws://", 1));
        assert!(tokio_tungstenite::connect_async(no_token.as_str()).await.is_err());
        // A token for another room is refused too.
        let elsewhere = format!(
            "{}/v1/rooms/other/ws?access_token={}",
            w.base.replacen("http://", "ws://", 1),
            ja["participant_token"].as_str().unwrap()
        );
        assert!(tokio_tungstenite::connect_async(elsewhere.as_str()).await.is_err());

        // Two participants see each other through the room's Durable Object.
        let (mut a, joined_a) = connect(&ja, None).await;
        assert_eq!(joined_a["you"]["name"], "Ada", "{joined_a}");
        assert!(names(&joined_a).is_empty(), "{joined_a}");
        let (mut b, joined_b) = connect(&jb, None).await;
        assert_eq!(names(&joined_b), ["Ada"], "{joined_b}");
        let seen = until(&mut a, |v| v["type"] == "participant_joined").await;
        assert_eq!(seen["participant"]["name"], "Bo");

        // Chat over the socket reaches the other participant, in order, stored.
        send(&mut a, json!({"type": "chat", "text": "hello from Ada", "client_id": "c1"})).await;
        let got = until(&mut b, |v| v["type"] == "chat").await;
        assert_eq!(got["message"]["text"], "hello from Ada");
        until(&mut a, |v| v["type"] == "chat").await;
        // A frame that is not a client message gets an error frame, and the room goes on.
        b.send(Message::Text("{\"type\":\"launch\"}".into())).await.unwrap();
        let err = until(&mut b, |v| v["type"] == "error").await;
        assert!(err["code"].is_string(), "{err}");

        // A message posted over HTTP goes through the coordinator stub to the room's object.
        let bo_guest = jb["participant_token"].as_str().unwrap().to_owned();
        let (s, posted) =
            post(&w, "/v1/rooms/standup/messages", Some(&bo_guest), json!({"text": "posted over HTTP"})).await;
        assert_eq!(s, 201, "{posted}");
        let got = until(&mut a, |v| v["type"] == "chat").await;
        assert_eq!(got["message"]["text"], "posted over HTTP");
        let seq = got["message"]["seq"].as_u64().unwrap();

        // Bo drops without a leave: when the room's alarm fires past the grace period, Ada
        // is told Bo left.
        drop(b);
        let left = until(&mut a, |v| v["type"] == "participant_left").await;
        assert_eq!(left["reason"], "disconnected", "{left}");
        assert_eq!(left["participant_id"], jb["identity"], "{left}");
        send(&mut a, json!({"type": "leave"})).await;
        (bo_guest, seq)
    });
    w.stop();

    // A new `wrangler dev` on the same state: the room's chat is still there, and a returning
    // participant is replayed what it missed.
    let w = WranglerDev::start(&state, &vars);
    rt.block_on(async {
        let (s, hist) = get(&w, "/v1/rooms/standup/messages", &history_token).await;
        assert_eq!(s, 200, "{hist}");
        let texts: Vec<&str> =
            hist["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["hello from Ada", "posted over HTTP"], "{hist}");
        register_node(&w, &node_secret).await;
        let jc = join(&w, "standup", "Cy").await;
        let (_c, joined_c) = connect(&jc, Some(seen_seq - 1)).await;
        let replayed: Vec<&str> =
            joined_c["chat"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(replayed, ["posted over HTTP"], "{joined_c}");

        // The sweep: over HTTP with the node secret (the store was upgraded by the first pass),
        // and from the cron trigger.
        let res = client().post(w.url("/v1/maintenance/sweep")).bearer_auth(&node_secret).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let report: Value = res.json().await.unwrap();
        assert!(report["sweep"]["through_bucket"].is_u64(), "{report}");
        let res = client().post(w.url("/v1/maintenance/sweep")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401);
        let res = client().get(w.url("/__scheduled?cron=*/5+*+*+*+*")).send().await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !w.log().contains("sweep: {") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(w.log().contains("sweep: {"), "the cron trigger ran no sweep:\n{}", w.log());
    let log = w.log();
    w.stop();
    // No secret the deployment holds shows up in what the Worker logged.
    let vars_text = std::fs::read_to_string(&vars).unwrap();
    for line in vars_text.lines().filter(|l| l.contains("secret") || l.starts_with("token_signing_keys")) {
        let value = line.split_once('=').unwrap().1.trim_matches('"');
        let value = value.rsplit(':').next().unwrap();
        assert!(!log.contains(value), "a secret in wrangler's log: {}", line.split('=').next().unwrap());
    }
}

/// A partner's receiver: `edge/tests/webhook_receiver.py`, which verifies each delivery with
/// the stock `standardwebhooks` library and prints one JSON line per delivery.
struct Receiver {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl Receiver {
    fn start(secret_file: &Path) -> Receiver {
        Receiver::start_on(0, secret_file)
    }

    /// On `port` (0: any).
    fn start_on(port: u16, secret_file: &Path) -> Receiver {
        let python = std::env::var("ORIGO_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(python)
            .arg(repo_root().join("edge/tests/webhook_receiver.py"))
            .arg(port.to_string())
            .arg(secret_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = out.next().expect("the receiver's first line").unwrap();
        let port = first.strip_prefix("listening ").expect("listening PORT").parse().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Receiver { child, port, lines }
    }

    /// Lines until `done` holds; panics after `wait`.
    fn collect(&self, wait: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        while !done(&got) {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(v) => got.push(v),
                Err(_) => panic!("the receiver got only {got:#?}"),
            }
        }
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first delivery of each message id, in the order received.
fn firsts(got: &[Value]) -> Vec<&Value> {
    let mut seen = std::collections::HashSet::new();
    got.iter().filter(|v| v.get("id").is_some() && seen.insert(v["id"].as_str().unwrap().to_owned())).collect()
}

/// The vars of a deployment that may call plain-HTTP receivers on this machine (the default
/// allows HTTPS only) and signs accounts up without a verification email (it has no provider).
const WEBHOOK_VARS: &str = "outbound_trusted_hosts=\"127.0.0.1\"\nsignup_verification=\"none\"\n";

/// An organisation's owner, its room `standup`, and an endpoint at `port` on this machine for
/// the room's events, chat included, its secret written to `secret_file`: the owner's token and
/// the endpoint's id.
async fn partner(w: &WranglerDev, port: u16, secret_file: &Path) -> (String, String) {
    let creds = json!({"email": "ada@acme.test", "password": "correct horse battery"});
    let (s, b) = post(w, "/v1/auth/signup", None, creds.clone()).await;
    assert_eq!(s, 202, "{b}");
    let (s, session) = post(w, "/v1/auth/login", None, creds).await;
    assert_eq!(s, 200, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (s, org) = post(w, "/v1/orgs", Some(&token), json!({"name": "Acme"})).await;
    assert_eq!(s, 201, "{org}");
    let (s, r) = post(w, "/v1/rooms", Some(&token), json!({"name": "standup"})).await;
    assert_eq!(s, 201, "{r}");
    let events = ["room.started", "participant.joined", "participant.left", "chat.message"];
    let url = format!("http://127.0.0.1:{port}/hook");
    let (s, hook) = post(w, "/v1/webhooks", Some(&token), json!({"url": url, "events": events})).await;
    assert_eq!(s, 201, "{hook}");
    std::fs::write(secret_file, hook["secret"].as_str().unwrap()).unwrap();
    (token, hook["id"].as_str().unwrap().to_owned())
}

#[test]
fn webhooks_of_a_room_reach_a_partners_receiver_from_the_dispatcher_object() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let receiver = Receiver::start(&secret_file);
    let (vars, node_secret) = write_vars(dir.path(), WEBHOOK_VARS);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let w = WranglerDev::start(&dir.path().join("state"), &vars);
    rt.block_on(async {
        register_node(&w, &node_secret).await;
        let (token, hook) = partner(&w, receiver.port, &secret_file).await;
        // A redelivery for an endpoint that does not exist: 404 and the JSON error body.
        let (s, b) = post(&w, "/v1/webhooks/nope/deliveries/msg_x/redeliver", Some(&token), json!({})).await;
        assert_eq!(s, 404, "{b}");
        assert!(b["error"]["code"].is_string(), "{b}");

        // A participant joins the room over its socket, and a message is posted over HTTP.
        let (s, j) = post(&w, "/v1/rooms/standup/join", Some(&token), json!({})).await;
        assert_eq!(s, 200, "{j}");
        let (mut ws, _) = connect(&j, None).await;
        let participant = j["participant_token"].as_str().unwrap().to_owned();
        let (s, posted) =
            post(&w, "/v1/rooms/standup/messages", Some(&participant), json!({"text": "for the partner"})).await;
        assert_eq!(s, 201, "{posted}");
        until(&mut ws, |v| v["type"] == "chat").await;

        let expected = ["room.started", "participant.joined", "chat.message"];
        let got = receiver.collect(Duration::from_secs(60), |g| firsts(g).len() >= expected.len());
        assert!(got.iter().all(|v| v.get("bad").is_none()), "every delivery verifies: {got:#?}");
        let types: Vec<&str> = firsts(&got).iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(types, expected, "in the room's order: {got:#?}");
        let seqs: Vec<u64> = firsts(&got).iter().map(|v| v["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{seqs:?}");
        assert!(firsts(&got).iter().all(|v| v["room"] == "standup"), "{got:#?}");
        assert_eq!(firsts(&got)[1]["data"]["participant"], j["identity"], "{got:#?}");
        assert_eq!(firsts(&got)[2]["data"]["from"], j["identity"], "{got:#?}");

        // The partner's log (read from the dispatcher object's storage): each delivered.
        let log = settled_log(&w, &hook, &token, expected.len()).await;
        let entries = log["deliveries"].as_array().unwrap();
        assert_eq!(entries.len(), expected.len(), "{log:#}");
        assert!(entries.iter().all(|e| e["status"] == "delivered" && e["last_attempt"]["status"] == 204), "{log:#}");

        // A redelivery through the dispatcher object: the same message id, verified again.
        let first = entries.last().unwrap()["message_id"].as_str().unwrap().to_owned();
        let path = format!("/v1/webhooks/{hook}/deliveries/{first}/redeliver");
        let (s, r) = post(&w, &path, Some(&token), json!({})).await;
        assert_eq!(s, 202, "{r}");
        let again = receiver.collect(Duration::from_secs(30), |g| !g.is_empty());
        assert_eq!(again[0]["id"].as_str(), Some(first.as_str()), "{again:#?}");
        assert_eq!(again[0]["type"], "room.started");

        // The participant leaves: that event follows the others.
        send(&mut ws, json!({"type": "leave"})).await;
        let left = receiver.collect(Duration::from_secs(30), |g| g.iter().any(|v| v["type"] == "participant.left"));
        assert!(left.iter().all(|v| v.get("bad").is_none()), "{left:#?}");
        let last = left.iter().find(|v| v["type"] == "participant.left").unwrap();
        assert!(last["seq"].as_u64().unwrap() > seqs[2], "{left:#?}");
    });
    let log = w.log();
    w.stop();
    assert!(log.contains("webhook dispatcher"), "the dispatcher object logged its deliveries:\n{log}");
}

#[test]
fn a_receiver_that_was_down_gets_every_event_in_order_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let (vars, node_secret) = write_vars(dir.path(), WEBHOOK_VARS);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The receiver's port, with nothing listening yet.
    let port = free_port();
    let w = WranglerDev::start(&state, &vars);
    let (token, hook) = rt.block_on(async {
        register_node(&w, &node_secret).await;
        let (token, hook) = partner(&w, port, &secret_file).await;
        let (s, j) = post(&w, "/v1/rooms/standup/join", Some(&token), json!({})).await;
        assert_eq!(s, 200, "{j}");
        let (mut ws, _) = connect(&j, None).await;
        let participant = j["participant_token"].as_str().unwrap().to_owned();
        let (s, posted) =
            post(&w, "/v1/rooms/standup/messages", Some(&participant), json!({"text": "while down"})).await;
        assert_eq!(s, 201, "{posted}");
        until(&mut ws, |v| v["type"] == "chat").await;
        send(&mut ws, json!({"type": "leave"})).await;
        // The first attempt failed: the log says so, and the message waits for its retry.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, log) = get(&w, &format!("/v1/webhooks/{hook}/deliveries"), &token).await;
            assert_eq!(s, 200, "{log}");
            let entries = log["deliveries"].as_array().unwrap();
            let failed = entries.iter().find(|e| e["last_attempt"]["error"].is_string());
            if let Some(e) = failed {
                assert_eq!(e["status"], "pending", "{log:#}");
                assert!(e["next_attempt_ms"].is_u64(), "{log:#}");
                break;
            }
            assert!(Instant::now() < deadline, "no failed attempt was logged: {log:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (token, hook)
    });
    w.stop();

    // The receiver comes up; so does a new `wrangler dev` on the same state, and the
    // dispatcher's stored alarm delivers everything, in the room's order.
    let receiver = Receiver::start_on(port, &secret_file);
    let w = WranglerDev::start(&state, &vars);
    let expected = ["room.started", "participant.joined", "chat.message", "participant.left"];
    let got = receiver.collect(Duration::from_secs(90), |g| firsts(g).len() >= expected.len());
    assert!(got.iter().all(|v| v.get("bad").is_none()), "every delivery verifies: {got:#?}");
    let types: Vec<&str> = firsts(&got).iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, expected, "in the room's order: {got:#?}");
    rt.block_on(async {
        let log = settled_log(&w, &hook, &token, expected.len()).await;
        let entries = log["deliveries"].as_array().unwrap();
        assert_eq!(entries.len(), expected.len(), "{log:#}");
        assert!(entries.iter().all(|e| e["status"] == "delivered" && e["last_attempt"]["status"] == 204), "{log:#}");
        assert!(entries.iter().any(|e| e["attempts"].as_u64().unwrap() >= 2), "a retry delivered it: {log:#}");
    });
    w.stop();
}

/// The partner's delivery log once it holds `n` entries all delivered (or after 10 s, as it
/// then is). The dispatcher records an attempt once the receiver has answered, so the last one
/// may land a moment after the receiver saw it.
async fn settled_log(w: &WranglerDev, hook: &str, token: &str, n: usize) -> serde_json::Value {
    let mut log = serde_json::Value::Null;
    for _ in 0..50 {
        let (s, l) = get(w, &format!("/v1/webhooks/{hook}/deliveries"), token).await;
        assert_eq!(s, 200, "{l}");
        log = l;
        let settled =
            log["deliveries"].as_array().is_some_and(|d| d.len() == n && d.iter().all(|e| e["status"] == "delivered"));
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    log
}

/// A receiver that takes connections and never answers, until dropped.
struct Tarpit {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Tarpit {
    fn start() -> Tarpit {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Tarpit { port, stop }
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn an_attempt_that_gets_no_answer_ends_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (vars, node_secret) = write_vars(dir.path(), WEBHOOK_VARS);
    let tarpit = Tarpit::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let w = WranglerDev::start(&dir.path().join("state"), &vars);
    rt.block_on(async {
        register_node(&w, &node_secret).await;
        let (token, hook) = partner(&w, tarpit.port, &dir.path().join("secret")).await;
        let (s, j) = post(&w, "/v1/rooms/standup/join", Some(&token), json!({})).await;
        assert_eq!(s, 200, "{j}");
        let (_ws, _) = connect(&j, None).await;
        // The endpoint accepted the connection and said nothing: the attempt is cut off and
        // logged, and the delivery waits for its retry.
        let deadline = Instant::now() + Duration::from_secs(90);
        let attempt = loop {
            let (s, log) = get(&w, &format!("/v1/webhooks/{hook}/deliveries"), &token).await;
            assert_eq!(s, 200, "{log}");
            let entries = log["deliveries"].as_array().unwrap();
            if let Some(e) = entries.iter().find(|e| e["last_attempt"]["error"].is_string()) {
                assert_eq!(e["status"], "pending", "{log:#}");
                break e["last_attempt"].clone();
            }
            assert!(Instant::now() < deadline, "no attempt ended: {log:#}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(attempt["error"].as_str().unwrap().contains("no answer within 15 s"), "{attempt}");
        assert!(attempt["status"].is_null(), "{attempt}");
    });
    w.stop();
}
