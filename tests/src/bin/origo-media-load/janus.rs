//! A minimal client of Janus's HTTP API (`janus.transport.http`) for the VideoRoom plugin
//! (Janus 1.1), for comparing Origo's media node with Janus on the same load.
//!
//! One Janus session serves the whole run; its long poll (`GET /janus/<session>?maxev=50`)
//! routes asynchronous events to handles by `sender` and keeps the session alive.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

type Routes = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>>;

/// One Janus session, shared by all of the generator's handles. Its long poll routes every
/// asynchronous event to its handle by `sender`; each poll also counts as a keepalive, so the
/// session never hits Janus's 60 s `session_timeout`.
pub struct Session {
    http: reqwest::Client,
    base: String,
    pub id: u64,
    routes: Routes,
    next_tx: AtomicU64,
    poller: tokio::task::JoinHandle<()>,
}

/// A VideoRoom handle and its asynchronous events (in arrival order; an event can arrive
/// before the `ack` of the request that caused it).
pub struct Handle {
    pub id: u64,
    events: mpsc::UnboundedReceiver<Value>,
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let res: Value = http.post(url).json(&body).send().await?.error_for_status()?.json().await?;
    if res["janus"] == "error" {
        bail!("janus: {}", res["error"]);
    }
    Ok(res)
}

async fn long_poll(http: reqwest::Client, url: String, routes: Routes) {
    loop {
        // Janus answers at once with up to `maxev` queued events (a JSON array when
        // maxev > 1), or after 30 s with [{"janus":"keepalive"}].
        let events = match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
            _ => None,
        };
        let Some(events) = events else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let list = match events {
            Value::Array(v) => v,
            v => vec![v],
        };
        for ev in list {
            // Keepalives have no sender; everything else names its handle.
            let Some(sender) = ev["sender"].as_u64() else { continue };
            if let Ok(routes) = routes.lock()
                && let Some(tx) = routes.get(&sender)
            {
                let _ = tx.send(ev);
            }
        }
    }
}

impl Session {
    /// `POST /janus {"janus":"create"}` → `{"janus":"success","data":{"id":<session>}}`.
    pub async fn create(http: &reqwest::Client, base: &str) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        let res = post(http, &base, json!({ "janus": "create", "transaction": "t0" })).await?;
        let id = res["data"]["id"].as_u64().ok_or_else(|| anyhow!("no session id: {res}"))?;
        let routes: Routes = Arc::default();
        let poller = tokio::spawn(long_poll(http.clone(), format!("{base}/{id}?maxev=50"), routes.clone()));
        Ok(Self { http: http.clone(), base, id, routes, next_tx: AtomicU64::new(1), poller })
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed))
    }

    /// `POST /janus/<session> {"janus":"attach","plugin":"janus.plugin.videoroom"}` →
    /// `{"janus":"success","data":{"id":<handle>}}`.
    pub async fn attach(&self) -> anyhow::Result<Handle> {
        let body = json!({ "janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": self.transaction() });
        let res = post(&self.http, &format!("{}/{}", self.base, self.id), body).await?;
        let id = res["data"]["id"].as_u64().ok_or_else(|| anyhow!("no handle id: {res}"))?;
        let (tx, events) = mpsc::unbounded_channel();
        // Registered before any message is sent, so no event for this handle is missed.
        if let Ok(mut routes) = self.routes.lock() {
            routes.insert(id, tx);
        }
        Ok(Handle { id, events })
    }

    /// `POST /janus/<session>/<handle> {"janus":"message","body":..,"jsep":..}`. Synchronous
    /// plugin requests (`create`, `destroy`) answer `success` with `plugindata`;
    /// asynchronous ones (`join`, `publish`, `start`) answer `ack`, and their result comes
    /// as an event (see [`Handle::wait`]).
    pub async fn message(&self, h: &Handle, body: Value, jsep: Option<Value>) -> anyhow::Result<Value> {
        let mut req = json!({ "janus": "message", "body": body, "transaction": self.transaction() });
        if let Some(jsep) = jsep {
            req["jsep"] = jsep;
        }
        let res = post(&self.http, &format!("{}/{}/{}", self.base, self.id, h.id), req).await?;
        if let Some(e) = res["plugindata"]["data"].get("error") {
            bail!("videoroom: {e}");
        }
        Ok(res)
    }

    /// `{"janus":"destroy"}`: Janus hangs up and frees every handle of the session.
    pub async fn destroy(self) {
        let body = json!({ "janus": "destroy", "transaction": self.transaction() });
        let _ = post(&self.http, &format!("{}/{}", self.base, self.id), body).await;
        self.poller.abort();
    }
}

impl Handle {
    /// The next event of this handle that `pred` accepts, skipping the others (`webrtcup`,
    /// `media`, notifications about other publishers); an error on a plugin error, a
    /// `hangup`, or after `timeout`.
    pub async fn wait(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| anyhow!("janus handle {}: no event within {timeout:?}", self.id))?
                .ok_or_else(|| anyhow!("janus handle {}: session gone", self.id))?;
            if let Some(e) = ev["plugindata"]["data"].get("error") {
                bail!("videoroom: {e}");
            }
            if ev["janus"] == "hangup" {
                bail!("janus handle {}: hangup ({})", self.id, ev["reason"]);
            }
            if pred(&ev) {
                return Ok(ev);
            }
        }
    }
}

/// Refuses an SDP from Janus that has no candidate, or one outside 127.0.0.0/8. Janus 1.1
/// never gathers on loopback interfaces; outside the bench's network namespace it offers
/// the machine's other addresses, which the load must never be sent to.
pub fn loopback_only(sdp: &str) -> anyhow::Result<()> {
    let mut n = 0;
    for line in sdp.lines().filter(|l| l.starts_with("a=candidate:")) {
        // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ host
        let address = line.split_whitespace().nth(4).unwrap_or("");
        if !address.starts_with("127.") {
            bail!("Janus offered a candidate on {address}: run it in the bench's network namespace");
        }
        n += 1;
    }
    if n == 0 {
        bail!("Janus's SDP has no candidate (no usable interface in its namespace?)");
    }
    Ok(())
}

/// Janus's own RTP counters over `handles` (Admin API `handle_info`, summed over every
/// m-line): (packets received from publishers, packets sent to subscribers).
pub async fn rtp_packets(
    http: &reqwest::Client,
    admin: &str,
    secret: &str,
    session: u64,
    handles: &[u64],
) -> anyhow::Result<(u64, u64)> {
    let admin = admin.trim_end_matches('/');
    let (mut packets_in, mut packets_out) = (0, 0);
    for h in handles {
        let body = json!({ "janus": "handle_info", "transaction": "stats", "admin_secret": secret });
        let res = post(http, &format!("{admin}/{session}/{h}"), body).await?;
        if let Some(media) = res["info"]["webrtc"]["media"].as_object() {
            for m in media.values() {
                packets_in += m["stats"]["in"]["packets"].as_u64().unwrap_or(0);
                packets_out += m["stats"]["out"]["packets"].as_u64().unwrap_or(0);
            }
        }
    }
    Ok((packets_in, packets_out))
}
