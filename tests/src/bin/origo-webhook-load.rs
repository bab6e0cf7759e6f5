//! Webhook delivery load: `endpoints` receivers on loopback (each its own port, verifying
//! every Standard Webhooks signature with its own secret), registered on one organisation of a
//! running `origo` for `chat.message`; chat messages posted over HTTP at `rate` per second.
//!
//! 1. **Throughput**: `messages` messages; every message is delivered to every endpoint.
//!    Reports deliveries/s (from the first post to the last delivery) and event → delivery
//!    latency p50/p99 (from the post's answer to the receiver's), and the same number of
//!    signed requests sent straight to the receivers by this process with 64 in flight — the
//!    ceiling of the receivers and the loopback here — as the reference.
//! 2. **Outage** (`--outage-secs` > 0): half the endpoints answer 503 for that long while
//!    messages go on at one per second; the dispatcher's pending deliveries
//!    (`origo_webhook_pending_deliveries` on `--metrics`) are sampled every 5 s. Then the
//!    endpoints come back, one more message is posted (events go on), and the time until every
//!    endpoint has every message is measured.
//!
//! Prints one JSON object.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Parser;
use origo_shared::webhook::{self, Verifier, WebhookSecret};
use origo_tests::latency::Latencies;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
struct Args {
    /// The edge (`http://127.0.0.1:8080`).
    #[arg(long)]
    base: String,
    /// `origo`'s metrics URL (`--metrics-listen`), for the outage's pending count.
    #[arg(long)]
    metrics: Option<String>,
    #[arg(long, default_value_t = 100)]
    endpoints: usize,
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Messages posted per second in the throughput phase.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    #[arg(long, default_value_t = 0)]
    outage_secs: u64,
}

/// What one receiver saw: message text → when it first arrived.
struct Receiver {
    secret: Mutex<Option<Verifier>>,
    seen: Mutex<HashMap<String, Instant>>,
    down: AtomicBool,
    bad: Mutex<u64>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: bytes::Bytes) -> StatusCode {
    if r.down.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let verified = {
        let secret = r.secret.lock().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match &*secret {
            Some(v) => v
                .verify(
                    h("webhook-id").as_deref(),
                    h("webhook-timestamp").as_deref(),
                    h("webhook-signature").as_deref(),
                    &body,
                    now,
                )
                .is_ok(),
            None => false,
        }
    };
    if !verified {
        *r.bad.lock().unwrap() += 1;
        return StatusCode::BAD_REQUEST;
    }
    let now = Instant::now();
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(text) = v["data"]["text"].as_str()
    {
        r.seen.lock().unwrap().entry(text.to_owned()).or_insert(now);
    }
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> anyhow::Result<(u16, Arc<Receiver>)> {
    let r = Arc::new(Receiver {
        secret: Mutex::new(None),
        seen: Mutex::default(),
        down: AtomicBool::new(false),
        bad: Mutex::new(0),
    });
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((port, r))
}

async fn call(
    c: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut req = c.request(method, format!("{base}{path}")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
    Ok(v)
}

async fn pending(c: &reqwest::Client, metrics: Option<&str>) -> Option<u64> {
    let text = c.get(metrics?).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("origo_webhook_pending_deliveries ")).and_then(|v| v.trim().parse().ok())
}

/// Waits until every receiver in `rs` has every text in `texts`; false after `limit`.
async fn all_arrived(rs: &[Arc<Receiver>], texts: &[String], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let done = rs.iter().all(|r| {
            let seen = r.seen.lock().unwrap();
            texts.iter().all(|t| seen.contains_key(t))
        });
        if done {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let c = reqwest::Client::new();
    let base = args.base.trim_end_matches('/');
    let creds = json!({"email": "bench@acme.test", "password": "correct horse battery"});
    call(&c, base, reqwest::Method::POST, "/v1/auth/signup", None, creds.clone()).await?;
    let session = call(&c, base, reqwest::Method::POST, "/v1/auth/login", None, creds).await?;
    let token = session["access_token"].as_str().unwrap_or_default().to_owned();
    call(&c, base, reqwest::Method::POST, "/v1/orgs", Some(&token), json!({"name": "Bench"})).await?;
    call(&c, base, reqwest::Method::POST, "/v1/rooms", Some(&token), json!({"name": "bench"})).await?;

    let mut receivers = Vec::new();
    let mut secrets = Vec::new();
    for _ in 0..args.endpoints {
        let (port, r) = start_receiver().await?;
        let body = json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["chat.message"]});
        let hook = call(&c, base, reqwest::Method::POST, "/v1/webhooks", Some(&token), body).await?;
        let secret = WebhookSecret::parse(hook["secret"].as_str().unwrap_or_default())?;
        *r.secret.lock().unwrap() = Some(Verifier::new(secret.clone()));
        secrets.push((port, secret));
        receivers.push(r);
    }

    // 1. Throughput.
    let mut posted: HashMap<String, Instant> = HashMap::new();
    let gap = Duration::from_secs_f64(1.0 / args.rate.max(0.1));
    let started = Instant::now();
    let mut next = Instant::now();
    for i in 0..args.messages {
        tokio::time::sleep_until(next.into()).await;
        next += gap;
        let text = format!("m{i}");
        call(&c, base, reqwest::Method::POST, "/v1/rooms/bench/messages", Some(&token), json!({"text": text})).await?;
        posted.insert(text, Instant::now());
    }
    let texts: Vec<String> = posted.keys().cloned().collect();
    let complete = all_arrived(&receivers, &texts, Duration::from_secs(300)).await;
    let mut lat = Latencies::default();
    let mut last = started;
    let mut deliveries = 0u64;
    for r in &receivers {
        for (text, at) in r.seen.lock().unwrap().iter() {
            if let Some(t0) = posted.get(text) {
                lat.record(at.saturating_duration_since(*t0));
                last = last.max(*at);
                deliveries += 1;
            }
        }
    }
    let elapsed = last.duration_since(started).as_secs_f64();
    let origo_rate = deliveries as f64 / elapsed;

    // The reference: the same number of signed requests, straight to the receivers.
    let direct = reqwest::Client::new();
    let body = json!({"type": "chat.message", "data": {"text": "direct"}}).to_string();
    let total = deliveries.max(1) as usize;
    let t0 = Instant::now();
    let mut inflight = futures_util::stream::FuturesUnordered::new();
    use futures_util::StreamExt;
    for n in 0..total {
        let (port, secret) = &secrets[n % secrets.len()];
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let signed = webhook::sign(std::slice::from_ref(secret), &format!("msg_direct{n}"), now, body.as_bytes());
        let mut req = direct.post(format!("http://127.0.0.1:{port}/hook")).body(body.clone());
        for (k, v) in signed.pairs() {
            req = req.header(k, v);
        }
        inflight.push(req.send());
        if inflight.len() >= 64 {
            inflight.next().await;
        }
    }
    while inflight.next().await.is_some() {}
    let direct_rate = total as f64 / t0.elapsed().as_secs_f64();

    let mut out = json!({
        "endpoints": args.endpoints,
        "messages": args.messages,
        "rate_per_s": args.rate,
        "complete": complete,
        "deliveries": deliveries,
        "deliveries_per_s": (origo_rate * 10.0).round() / 10.0,
        "direct_per_s": (direct_rate * 10.0).round() / 10.0,
        "ratio": ((origo_rate / direct_rate) * 1000.0).round() / 1000.0,
        "latency_p50_ms": (lat.quantile_ms(0.5) * 10.0).round() / 10.0,
        "latency_p99_ms": (lat.quantile_ms(0.99) * 10.0).round() / 10.0,
        "bad_signatures": receivers.iter().map(|r| *r.bad.lock().unwrap()).sum::<u64>(),
    });

    // 2. Outage of half the endpoints.
    if args.outage_secs > 0 {
        let half = receivers.len() / 2;
        for r in &receivers[..half] {
            r.down.store(true, Ordering::Relaxed);
        }
        let mut texts = Vec::new();
        let mut peak = 0u64;
        let mut samples = Vec::new();
        let outage_started = Instant::now();
        let mut i = 0;
        while outage_started.elapsed() < Duration::from_secs(args.outage_secs) {
            let text = format!("o{i}");
            i += 1;
            call(&c, base, reqwest::Method::POST, "/v1/rooms/bench/messages", Some(&token), json!({"text": text}))
                .await?;
            texts.push(text);
            if i % 5 == 0
                && let Some(n) = pending(&c, args.metrics.as_deref()).await
            {
                peak = peak.max(n);
                samples.push(n);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for r in &receivers[..half] {
            r.down.store(false, Ordering::Relaxed);
        }
        let back = Instant::now();
        // Events go on after the return: the first one an endpoint takes brings back what it
        // missed.
        let text = format!("o{i}");
        call(&c, base, reqwest::Method::POST, "/v1/rooms/bench/messages", Some(&token), json!({"text": text})).await?;
        texts.push(text);
        let healthy_ok = all_arrived(&receivers[half..], &texts, Duration::from_secs(5)).await;
        let drained = all_arrived(&receivers, &texts, Duration::from_secs(900)).await;
        let unique: HashSet<&String> = texts.iter().collect();
        out["outage"] = json!({
            "secs": args.outage_secs,
            "messages": unique.len(),
            "endpoints_down": half,
            "healthy_endpoints_complete": healthy_ok,
            "pending_peak": peak,
            "pending_at_end": samples.last(),
            "all_delivered_after_return": drained,
            "drain_secs": (back.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
    }
    println!("{out}");
    Ok(())
}
