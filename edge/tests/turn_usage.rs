//! Relayed bytes from a TURN node to billing, end to end: coturn's `turnutils_uclient` relays
//! through a real `origo-turn` node (the one `origo-turn` and `origo dev` run,
//! `origo_turn::node::run`) to `turnutils_peer`, with credentials in an organisation
//! (`{expiry}:{org}:{identity}`, minted with the TURN secret as a join does); the node reports
//! to a real `origo dev` registry, and the organisation's admin reads `GET /v1/billing/usage`.
//! Restarted with its state directory it resends nothing twice; restarted with an empty one,
//! its new reports still count.
//!
//! What is compared: the last `tot_send_bytes ~ S, tot_recv_bytes ~ R` line of
//! `turnutils_uclient` — the application payload its clients sent to the peer and received
//! back from it, over all clients — against Origo's `relayed_bytes`, which counts the UDP
//! payloads the relay sockets sent to the peer and received from it: `S + R`, within 1 %.
//! `relay_framing_bytes` is TURN's framing on the client side and is checked apart: 4 bytes of
//! ChannelData header per message over channels (payloads of a multiple of 4 bytes need no
//! padding), more per message with Send/Data indications.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser as _;
use common::{Origo, call, rt, start_dev};
use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::config::Options;
use serde_json::{Value, json};

const NODE_ID: &str = "turn-usage-1";
const MESSAGE_LEN: u64 = 200;

/// An in-process TURN node, stopped (gracefully: its last usage journaled and reported) by
/// [`TurnNode::stop`].
struct TurnNode {
    udp: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<anyhow::Result<()>>,
}

impl TurnNode {
    fn start(registry: &str, node_secret: &str, turn_secret: &str, state_dir: &Path) -> TurnNode {
        // The flags an operator gives `origo-turn`, read the way the binary reads them.
        let state = state_dir.to_str().unwrap();
        let opts = Options::try_parse_from([
            "origo-turn",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--auth-secret",
            turn_secret,
            "--state-dir",
            state,
            "--registry",
            registry,
            "--node-token",
            node_secret,
            "--node-id",
            NODE_ID,
            "--region",
            "eu-west",
            "--allow-loopback-peers",
            "--drain-secs",
            "0",
        ])
        .expect("the flags parse");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let result = origo_turn::node::run(
                opts,
                |l| {
                    let _ = ready_tx.send(l.udp[0]);
                },
                async {
                    let _ = stop_rx.await;
                },
                std::future::pending(),
            );
            let _ = done_tx.send(result);
        });
        let udp = ready_rx.recv_timeout(Duration::from_secs(20)).expect("the TURN node started");
        TurnNode { udp, stop: Some(stop), done }
    }

    fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let result = self.done.recv_timeout(Duration::from_secs(20)).expect("the TURN node stopped in time");
        result.expect("the TURN node ran without error");
    }
}

impl Drop for TurnNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
            let _ = self.done.recv_timeout(Duration::from_secs(20));
        }
    }
}

/// `turnutils_peer` echoing on 127.0.0.1.
struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer() -> Peer {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnutils_peer is installed (Debian coturn; tests/run installs it)");
    std::thread::sleep(Duration::from_millis(300));
    Peer { child, port }
}

/// What one `turnutils_uclient` run reports: messages and payload bytes sent and received.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    msgs: u64,
    bytes: u64,
}

/// Runs `turnutils_uclient` through `turn` to `peer` with `username`/`password` (2 clients,
/// 50 messages of [`MESSAGE_LEN`] bytes each); `extra` adds flags (`-s`: Send indications).
fn uclient(turn: SocketAddr, peer: u16, username: &str, password: &str, extra: &[&str]) -> Sent {
    let (port, peer) = (turn.port().to_string(), peer.to_string());
    let len = MESSAGE_LEN.to_string();
    let mut args = vec!["60", "turnutils_uclient", "-u", username, "-w", password, "-n", "50", "-m", "2", "-l", &len];
    args.extend(["-z", "5", "-e", "127.0.0.1", "-r", &peer, "-p", &port]);
    args.extend(extra);
    args.push("127.0.0.1");
    let out = Command::new("timeout")
        .args(&args)
        .output()
        .expect("turnutils_uclient is installed (Debian coturn; tests/run installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let figure = |key: &str| -> u64 {
        let line = text.lines().rev().find(|l| l.contains(key)).unwrap_or_else(|| panic!("no {key} in\n{text}"));
        let rest = &line[line.find(key).unwrap() + key.len()..];
        let digits: String =
            rest.trim_start_matches(['=', ' ', '~']).chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or_else(|_| panic!("{key} is no number in {line:?}"))
    };
    let sent = (figure("tot_send_msgs"), figure("tot_recv_msgs"));
    let bytes = (figure("tot_send_bytes"), figure("tot_recv_bytes"));
    assert!(sent.0 > 0 && sent.1 > 0, "the client relayed nothing:\n{text}");
    Sent { msgs: sent.0 + sent.1, bytes: bytes.0 + bytes.1 }
}

fn dev_vars(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("dev-variables.json")).unwrap()).unwrap()
}

/// Signs up and in and creates an organisation: (access token, org id).
async fn owner(o: &Origo, email: &str) -> (String, String) {
    use reqwest::Method;
    let creds = json!({"email": email, "password": "correct horse battery"});
    let (s, body) = call(o, Method::POST, "/v1/auth/signup", None, Some(creds.clone())).await;
    assert_eq!(s, 202, "{body}");
    let (s, session) = call(o, Method::POST, "/v1/auth/login", None, Some(creds)).await;
    assert_eq!(s, 200, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (s, org) = call(o, Method::POST, "/v1/orgs", Some(&token), Some(json!({"name": "Relay Co"}))).await;
    assert_eq!(s, 201, "{org}");
    (token, org["id"].as_str().unwrap().to_owned())
}

/// The organisation's (relayed_bytes, relay_framing_bytes) this month, as billing shows them.
fn billed(o: &Origo, token: &str) -> (u64, u64) {
    let (s, body) = rt().block_on(call(o, reqwest::Method::GET, "/v1/billing/usage", Some(token), None));
    assert_eq!(s, 200, "{body}");
    let u = &body["usage"];
    (u["relayed_bytes"].as_u64().unwrap_or(0), u["relay_framing_bytes"].as_u64().unwrap_or(0))
}

/// Waits (at most `within`) until billing shows `want` relayed bytes; returns what it shows.
fn billed_reaching(o: &Origo, token: &str, want: u64, within: Duration) -> (u64, u64) {
    let deadline = Instant::now() + within;
    loop {
        let got = billed(o, token);
        if got.0 >= want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn journal(state_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(state_dir.join("usage-journal.json")).unwrap()).unwrap()
}

fn assert_within_one_percent(what: &str, origo: u64, client: u64) {
    let ratio = origo as f64 / client as f64;
    println!("{what}: from turnutils_uclient {client} B, Origo {origo} B, ratio {ratio:.4}");
    assert!((0.99..=1.01).contains(&ratio), "{what}: Origo counted {origo}, the client {client} (ratio {ratio})");
}

#[test]
fn relayed_bytes_reach_billing_once_across_restarts_and_a_lost_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let o = start_dev(dir.path(), &["--turn-listen", "off", "--media-listen", "off"]);
    let vars = dev_vars(dir.path());
    let (node_secret, turn_secret) =
        (vars["node_secret"].as_str().unwrap().to_owned(), vars["turn_secret"].as_str().unwrap().to_owned());
    let (token, org) = rt().block_on(owner(&o, "ops@relay.test"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let creds = TurnSecrets::new([turn_secret.as_str()]).issue_in(&org, "alice", now, 3600).unwrap();
    assert!(creds.username.ends_with(&format!(":{org}:alice")), "{}", creds.username);
    let peer = start_peer();
    let state: PathBuf = dir.path().join("turn-state");
    let registry = o.url("");

    // Over channels; the periodic report brings it to billing while the node runs.
    let node = TurnNode::start(&registry, &node_secret, &turn_secret, &state);
    let channels = uclient(node.udp, peer.port, &creds.username, &creds.password, &[]);
    let (relayed, framing) = billed_reaching(&o, &token, channels.bytes, Duration::from_secs(20));
    assert_within_one_percent("channels", relayed, channels.bytes);
    assert_within_one_percent("channel framing (4 bytes a message)", framing, 4 * channels.msgs);

    // Send and Data indications; the node is stopped at once and reports on its way out.
    let indications = uclient(node.udp, peer.port, &creds.username, &creds.password, &["-s"]);
    node.stop();
    let (relayed, framing_now) = billed(&o, &token);
    assert_within_one_percent("channels + indications", relayed, channels.bytes + indications.bytes);
    let indication_framing = framing_now - framing;
    println!("indication framing: {indication_framing} B for {} messages", indications.msgs);
    assert!(
        indication_framing >= 32 * indications.msgs,
        "an indication frames its payload with a STUN header and attributes: {indication_framing} for {} messages",
        indications.msgs
    );
    let before_restart = journal(&state);
    assert_eq!(before_restart["pending"], json!([]), "everything was acknowledged");
    let epoch = before_restart["epoch"].as_str().unwrap().to_owned();
    let last_seq = before_restart["next_seq"].as_u64().unwrap() - 1;
    assert!(last_seq >= 2, "{before_restart}");

    // The answer to the last report was lost, as far as the node knows: it is still pending
    // when the node restarts with the same state directory (its figures made large, so that
    // counting it again could not go unseen).
    let mut resent = before_restart.clone();
    resent["pending"] = json!([{"node": NODE_ID, "epoch": epoch, "seq": last_seq, "entries": [],
        "relayed": [{"org": org, "month": origo_shared::usage::month_of(now * 1000),
                     "day": origo_shared::usage::day_of(now * 1000),
                     "relayed_bytes": 1_000_000, "framing_bytes": 1_000}]}]);
    std::fs::write(state.join("usage-journal.json"), serde_json::to_vec(&resent).unwrap()).unwrap();
    let node = TurnNode::start(&registry, &node_secret, &turn_secret, &state);
    let more = uclient(node.udp, peer.port, &creds.username, &creds.password, &[]);
    node.stop();
    let after_restart = journal(&state);
    assert_eq!(after_restart["epoch"], json!(epoch), "the epoch persists across a restart");
    assert_eq!(after_restart["pending"], json!([]), "the resent report was acknowledged");
    assert!(after_restart["next_seq"].as_u64().unwrap() > last_seq + 1, "numbering went on: {after_restart}");
    let (relayed, _) = billed(&o, &token);
    assert_within_one_percent(
        "after a restart with the state directory (the resent report not counted again)",
        relayed,
        channels.bytes + indications.bytes + more.bytes,
    );

    // The state directory is lost: a new journal, numbered from 1 again in a new epoch.
    std::fs::remove_dir_all(&state).unwrap();
    let node = TurnNode::start(&registry, &node_secret, &turn_secret, &state);
    let fresh = uclient(node.udp, peer.port, &creds.username, &creds.password, &[]);
    node.stop();
    let fresh_journal = journal(&state);
    assert_ne!(fresh_journal["epoch"], json!(epoch), "a fresh journal has a new epoch");
    let record_seq = after_restart["next_seq"].as_u64().unwrap() - 1;
    assert!(
        fresh_journal["next_seq"].as_u64().unwrap() - 1 <= record_seq,
        "its numbers start again, below those the record took ({record_seq}): {fresh_journal}"
    );
    assert_eq!(fresh_journal["pending"], json!([]));
    let (relayed, _) = billed(&o, &token);
    assert_within_one_percent(
        "after a lost state directory (its new reports counted)",
        relayed,
        channels.bytes + indications.bytes + more.bytes + fresh.bytes,
    );
}
