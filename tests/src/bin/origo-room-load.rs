//! A room signalling load generator: the same join and chat fan-out workload against an Origo
//! room coordinator (`/v1/rooms/{room}/ws`) or a Socket.IO server speaking the same events.
//!
//! 1. `members` clients connect and join one after another; each join is timed from the start
//!    of the WebSocket connect to the `joined` answer.
//! 2. The first `senders` members send chat messages, each keeping `window` messages in flight
//!    (a message is done when its echo comes back), for `duration` seconds; every member counts
//!    the chat messages it receives.
//!
//! Prints one JSON object: join p50/p99/max, messages sent, deliveries, deliveries/s, echo
//! latency p50/p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use origo_tests::latency::Latencies;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Protocol {
    Origo,
    Socketio,
}

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    protocol: Protocol,
    /// Origo: `ws://HOST:PORT` (the room path is added). Socket.IO: `ws://HOST:PORT`.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "bench")]
    room: String,
    /// Origo: a file with one participant token per line (one per member).
    #[arg(long)]
    tokens: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 50)]
    members: usize,
    #[arg(long, default_value_t = 5)]
    senders: usize,
    #[arg(long, default_value_t = 8)]
    window: usize,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 64)]
    text_bytes: usize,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One protocol's framing of the two events.
#[derive(Clone)]
struct Codec {
    protocol: Protocol,
}

impl Codec {
    fn join(&self, room: &str, name: &str) -> String {
        match self.protocol {
            Protocol::Origo => r#"{"type":"join","protocol":1}"#.to_owned(),
            Protocol::Socketio => format!(r#"42["join",{{"room":"{room}","name":"{name}"}}]"#),
        }
    }
    fn chat(&self, text: &str, client_id: u64) -> String {
        match self.protocol {
            Protocol::Origo => format!(r#"{{"type":"chat","text":"{text}","client_id":"{client_id}"}}"#),
            Protocol::Socketio => format!(r#"42["chat",{{"text":"{text}","client_id":"{client_id}"}}]"#),
        }
    }
    fn is_joined(&self, f: &str) -> bool {
        match self.protocol {
            Protocol::Origo => f.starts_with(r#"{"type":"joined""#),
            Protocol::Socketio => f.starts_with(r#"42["joined""#),
        }
    }
    fn is_chat(&self, f: &str) -> bool {
        match self.protocol {
            Protocol::Origo => f.starts_with(r#"{"type":"chat""#),
            Protocol::Socketio => f.starts_with(r#"42["chat""#),
        }
    }
    /// The client id of an echo (only echoes carry one).
    fn echo_id(&self, f: &str) -> Option<u64> {
        let at = f.find(r#""client_id":""#)? + r#""client_id":""#.len();
        f[at..].split('"').next()?.parse().ok()
    }
}

async fn connect(args: &Args, codec: &Codec, token: Option<&str>, name: &str) -> anyhow::Result<(Ws, Duration)> {
    let started = Instant::now();
    let url = match args.protocol {
        Protocol::Origo => format!("{}/v1/rooms/{}/ws?access_token={}", args.url, args.room, token.unwrap_or("")),
        Protocol::Socketio => format!("{}/socket.io/?EIO=4&transport=websocket", args.url),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await?;
    if args.protocol == Protocol::Socketio {
        // Engine.IO open packet, then the Socket.IO namespace connect.
        let _open = ws.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??;
        ws.send(Message::Text("40".into())).await?;
        loop {
            let m = ws.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??;
            if m.to_text().unwrap_or("").starts_with("40") {
                break;
            }
        }
    }
    ws.send(Message::Text(codec.join(&args.room, name).into())).await?;
    loop {
        let m = ws.next().await.ok_or_else(|| anyhow::anyhow!("closed before joined"))??;
        let t = m.to_text().unwrap_or("");
        if codec.is_joined(t) {
            return Ok((ws, started.elapsed()));
        }
        if t == "2" {
            ws.send(Message::Text("3".into())).await?;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let codec = Codec { protocol: args.protocol };
    let tokens: Vec<String> = match &args.tokens {
        Some(p) => std::fs::read_to_string(p)?.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect(),
        None => vec![],
    };
    if args.protocol == Protocol::Origo && tokens.len() < args.members {
        anyhow::bail!("need {} tokens, got {}", args.members, tokens.len());
    }

    // Phase 1: joins, one at a time.
    let mut joins = Latencies::default();
    let mut sockets = Vec::new();
    for i in 0..args.members {
        let (ws, took) = connect(&args, &codec, tokens.get(i).map(String::as_str), &format!("m{i}")).await?;
        joins.record(took);
        sockets.push(ws);
    }

    // Phase 2: fan-out.
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let text = "x".repeat(args.text_bytes);
    let measure_start = Instant::now();
    let mut tasks = Vec::new();
    for (i, ws) in sockets.into_iter().enumerate() {
        let (stop, delivered, sent, codec, text) =
            (stop.clone(), delivered.clone(), sent.clone(), codec.clone(), text.clone());
        let sender = i < args.senders;
        let window = args.window;
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let mut echo = Latencies::default();
            let mut in_flight: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
            let mut next_id = 0u64;
            if sender {
                for _ in 0..window {
                    in_flight.insert(next_id, Instant::now());
                    tx.send(Message::Text(codec.chat(&text, next_id).into())).await?;
                    next_id += 1;
                }
            }
            loop {
                let m = match tokio::time::timeout(Duration::from_millis(200), rx.next()).await {
                    Ok(Some(m)) => m?,
                    Ok(None) => break,
                    Err(_) => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        continue;
                    }
                };
                let t = m.to_text().unwrap_or("");
                if t == "2" {
                    tx.send(Message::Text("3".into())).await?;
                    continue;
                }
                if !codec.is_chat(t) {
                    continue;
                }
                if !stop.load(Ordering::Relaxed) {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(id) = codec.echo_id(t)
                    && let Some(at) = in_flight.remove(&id)
                {
                    echo.record(at.elapsed());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !stop.load(Ordering::Relaxed) {
                        in_flight.insert(next_id, Instant::now());
                        tx.send(Message::Text(codec.chat(&text, next_id).into())).await?;
                        next_id += 1;
                    }
                }
                if stop.load(Ordering::Relaxed) && in_flight.is_empty() {
                    break;
                }
            }
            anyhow::Ok(echo)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = measure_start.elapsed().as_secs_f64();
    let mut echo = Latencies::default();
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(10), t).await {
            Ok(Ok(Ok(e))) => echo.merge(e),
            Ok(Ok(Err(e))) => eprintln!("client error: {e}"),
            _ => eprintln!("a client did not finish"),
        }
    }
    let d = delivered.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "protocol": format!("{:?}", args.protocol).to_lowercase(),
            "members": args.members,
            "join_p50_ms": joins.quantile_ms(0.5),
            "join_p99_ms": joins.quantile_ms(0.99),
            "join_max_ms": joins.quantile_ms(1.0),
            "sent": sent.load(Ordering::Relaxed),
            "delivered": d,
            "delivered_per_sec": (d as f64 / elapsed).round(),
            "echo_p50_ms": echo.quantile_ms(0.5),
            "echo_p99_ms": echo.quantile_ms(0.99),
        })
    );
    Ok(())
}
