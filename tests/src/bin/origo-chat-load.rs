//! A meeting-scale signalling load: many rooms of WebSocket participants, each signed in as a
//! guest and joined through the edge's API as a user would be (`POST /v1/auth/guest`, `POST
//! /v1/rooms/{room}/join`, then the room's WebSocket), and in each room `--senders` members
//! chatting at a steady `--rate`. Every message carries its send time (the system clock, which
//! every process and network namespace of the machine shares), so each delivery's latency is
//! known wherever the receiver runs; every member of a room, the sender included, must receive
//! every message sent in it. Each member is driven from the moment it joined and pings every
//! 15 s as the web client does (a room drops a participant silent for 45 s).
//!
//! Prints one JSON object: rooms, members, joins (p50/p99/max), messages sent while counting,
//! deliveries expected and received, the loss, and the delivery latency (p50/p90/p99/max).
//! The deployment under load must not rate-limit guest sign-ins and joins from one address
//! (`rate_guest_per_minute=0`, `rate_join_per_minute=0`): every member comes from here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use origo_shared::signal::{ClientMessage, PROTOCOL_VERSION, ServerMessage};
use origo_tests::counting_start::counting_start;
use origo_tests::latency::Latencies;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
struct Args {
    /// The edge: `http://HOST:PORT`.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Members per room.
    #[arg(long, default_value_t = 10)]
    members: usize,
    /// Members per room who chat.
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds counted, after every member joined.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The rooms' names are `{prefix}-{i}`.
    #[arg(long, default_value = "chat-load")]
    room_prefix: String,
    /// Members signing in and joining at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds a member keeps receiving after the counted time (messages still on their way).
    #[arg(long, default_value_t = 3.0)]
    drain: f64,
    /// Start counting at this moment (Unix milliseconds), agreed with other generators of the
    /// run; at the latest 1 s after every member joined.
    #[arg(long)]
    start_at: Option<u64>,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Microseconds since the Unix epoch on the system clock.
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A message's text: `load <sent_us> <member> <n>`.
fn text(sent_us: u64, member: usize, n: u64) -> String {
    format!("load {sent_us} {member} {n}")
}

/// The send time of a message the generator wrote, if `text` is one.
fn sent_at(text: &str) -> Option<u64> {
    let mut f = text.strip_prefix("load ")?.split(' ');
    f.next()?.parse().ok()
}

async fn post(
    http: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut req = http.post(&url).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await?;
    let status = res.status();
    let body = res.text().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(serde_json::from_str(&body)?)
}

/// Signs a guest in, joins `room` and opens its WebSocket; returns it once `joined`, and the
/// time all of it took.
async fn join(args: &Args, http: &reqwest::Client, room: &str, name: &str) -> anyhow::Result<(Ws, Duration)> {
    let started = Instant::now();
    let base = args.url.trim_end_matches('/');
    let guest = post(http, format!("{base}/v1/auth/guest"), None, serde_json::json!({ "name": name })).await?;
    let access = guest["access_token"].as_str().ok_or_else(|| anyhow::anyhow!("no access_token"))?;
    let joined = post(http, format!("{base}/v1/rooms/{room}/join"), Some(access), serde_json::json!({})).await?;
    let token = joined["participant_token"].as_str().ok_or_else(|| anyhow::anyhow!("no participant_token"))?;
    let ws_base = base.replacen("http", "ws", 1);
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/v1/rooms/{room}/ws?access_token={token}")).await?;
    let hello = ClientMessage::Join { protocol: PROTOCOL_VERSION, last_seq: None };
    ws.send(Message::Text(serde_json::to_string(&hello)?.into())).await?;
    loop {
        let m = ws.next().await.ok_or_else(|| anyhow::anyhow!("closed before joined"))??;
        match m {
            Message::Text(t) => {
                if let Ok(ServerMessage::Joined { .. }) = serde_json::from_str::<ServerMessage>(&t) {
                    return Ok((ws, started.elapsed()));
                }
                if let Ok(ServerMessage::Error { code, message, .. }) = serde_json::from_str::<ServerMessage>(&t) {
                    anyhow::bail!("join refused: {code}: {message}");
                }
            }
            Message::Close(c) => anyhow::bail!("closed before joined: {c:?}"),
            _ => {}
        }
    }
}

/// What every member counted.
#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    delivered: AtomicU64,
}

/// The counted time, in system-clock microseconds.
#[derive(Clone, Copy)]
struct Window {
    from_us: u64,
    to_us: u64,
}

/// How often a member pings the room (the web client's interval).
const PING_EVERY: Duration = Duration::from_secs(15);

/// Drives one member from its join: it pings, sends at the rate once the window is known when
/// it is a sender (while counting), and counts the deliveries of messages sent while counting,
/// until the window closed and the drain ended.
async fn member(
    mut ws: Ws,
    id: usize,
    sender: bool,
    args: Arc<Args>,
    window: Arc<OnceLock<Window>>,
    totals: Arc<Totals>,
) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::default();
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.01));
    let drain = Duration::from_secs_f64(args.drain).as_micros() as u64;
    // Senders start at staggered times so a room's messages do not all leave at once.
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + interval.mul_f64((id % 97) as f64 / 97.0), interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut n = 0u64;
    loop {
        let w = window.get().copied();
        if w.is_some_and(|w| now_us() >= w.to_us + drain) {
            break;
        }
        tokio::select! {
            _ = ping.tick() => {
                let msg = ClientMessage::Ping { nonce: n };
                ws.send(Message::Text(serde_json::to_string(&msg)?.into())).await?;
            }
            _ = tick.tick(), if sender => {
                let at = now_us();
                if let Some(w) = w && at >= w.from_us && at < w.to_us {
                    let msg = ClientMessage::Chat { text: text(at, id, n), client_id: Some(n.to_string()), reply_to: None };
                    ws.send(Message::Text(serde_json::to_string(&msg)?.into())).await?;
                    totals.sent.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            }
            m = tokio::time::timeout(Duration::from_millis(200), ws.next()) => {
                let Ok(m) = m else { continue };
                let Some(m) = m else { anyhow::bail!("member {id}: the room closed the connection") };
                let Message::Text(t) = m? else { continue };
                if let Ok(ServerMessage::Chat { message, .. }) = serde_json::from_str::<ServerMessage>(&t)
                    && let Some(at) = sent_at(&message.text)
                    && w.is_some_and(|w| at >= w.from_us && at < w.to_us)
                {
                    totals.delivered.fetch_add(1, Ordering::Relaxed);
                    latencies.record(Duration::from_micros(now_us().saturating_sub(at)));
                }
            }
        }
    }
    let _ = ws.close(None).await;
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    anyhow::ensure!(args.senders <= args.members, "--senders is per room and at most --members");
    let http = reqwest::Client::new();
    // Everyone joins (at most `concurrency` at once), room by room, and is driven from then on.
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let window = Arc::new(OnceLock::new());
    let totals = Arc::new(Totals::default());
    let mut members = Vec::new();
    for r in 0..args.rooms {
        for m in 0..args.members {
            let (args, http, slots, window, totals) =
                (args.clone(), http.clone(), slots.clone(), window.clone(), totals.clone());
            let (joined_tx, joined_rx) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(async move {
                let slot = slots.acquire_owned().await?;
                let room = format!("{}-{r}", args.room_prefix);
                let joined = join(&args, &http, &room, &format!("load {r}.{m}")).await;
                drop(slot);
                let (ws, took) = match joined {
                    Ok(j) => j,
                    Err(e) => {
                        let _ = joined_tx.send(None);
                        return Err(e);
                    }
                };
                let _ = joined_tx.send(Some(took));
                let sender = m < args.senders;
                member(ws, r * args.members + m, sender, args, window, totals).await
            });
            members.push((joined_rx, task));
        }
    }
    let mut joins = Latencies::default();
    for (joined, _) in &mut members {
        // A member that could not join says why when its task is collected.
        if let Ok(Some(took)) = joined.await {
            joins.record(took);
        }
    }
    let (start, late_ms) = counting_start(args.start_at, Duration::from_secs(1));
    let from_us = now_us() + start.saturating_duration_since(Instant::now()).as_micros() as u64;
    let _ = window.set(Window { from_us, to_us: from_us + (args.duration * 1e6) as u64 });
    let mut latencies = Latencies::default();
    let mut failures = Vec::new();
    for (_, t) in members {
        match t.await {
            Ok(Ok(l)) => latencies.merge(l),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let sent = totals.sent.load(Ordering::Relaxed);
    let delivered = totals.delivered.load(Ordering::Relaxed);
    let expected = sent * args.members as u64;
    println!(
        "{}",
        serde_json::json!({
            "rooms": args.rooms,
            "members": args.rooms * args.members,
            "join_ms": { "p50": joins.quantile_ms(0.5), "p99": joins.quantile_ms(0.99), "max": joins.quantile_ms(1.0) },
            "sent": sent,
            "expected": expected,
            "delivered": delivered,
            "loss": if expected > 0 { 1.0 - delivered as f64 / expected as f64 } else { 0.0 },
            "latency_ms": {
                "samples": latencies.len(),
                "p50": latencies.quantile_ms(0.5), "p90": latencies.quantile_ms(0.9),
                "p99": latencies.quantile_ms(0.99), "max": latencies.quantile_ms(1.0),
            },
            "failures": failures,
            "late_ms": late_ms,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_tells_when_it_was_sent_and_others_do_not() {
        assert_eq!(sent_at(&text(1_700_000_000_123_456, 3, 9)), Some(1_700_000_000_123_456));
        assert_eq!(sent_at("hello"), None);
        assert_eq!(sent_at("load x 1 2"), None);
    }
}
