//! The node side of the registry: a loop that posts this node's heartbeat to the edge
//! (`POST {registry}/v1/nodes/heartbeat`, bearer node secret) every [`INTERVAL`], for media and
//! TURN nodes alike, and at once (at most every [`MIN_GAP`]) when the node asks — a media node
//! that just filled up says so before the edge places anyone else there. Failures are logged
//! once per change of state and retried after [`RETRY_AFTER_FAILURE`]; the node keeps serving
//! either way.
//!
//! Beside it, what media and TURN nodes share to bring their usage to billing: the journal on
//! disk ([`usage_journal`], written whole with [`durable_file`]) and the loop that sends it
//! until acknowledged ([`usage_reporter`]).

pub mod durable_file;
pub mod usage_journal;
pub mod usage_reporter;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use origo_shared::node::NodeHeartbeat;

pub const INTERVAL: Duration = Duration::from_secs(5);
/// Heartbeats the node asks for come at most this often.
pub const MIN_GAP: Duration = Duration::from_millis(250);
/// A heartbeat that failed is tried again this soon, so one slow answer does not leave the
/// node unheard for two intervals (long enough to be taken for stale).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Sends `heartbeat()` every [`INTERVAL`] until the task is dropped.
pub async fn run(registry: String, token: Option<String>, heartbeat: impl Fn() -> Option<NodeHeartbeat>) {
    run_woken(registry, token, heartbeat, Arc::new(Notify::new())).await;
}

/// Sends `heartbeat()` every [`INTERVAL`], and early when `wake` is notified, until the task
/// is dropped.
pub async fn run_woken(
    registry: String,
    token: Option<String>,
    heartbeat: impl Fn() -> Option<NodeHeartbeat>,
    wake: Arc<Notify>,
) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    let url = format!("{}/v1/nodes/heartbeat", registry.trim_end_matches('/'));
    let mut healthy: Option<bool> = None;
    loop {
        let mut wait = INTERVAL;
        if let Some(hb) = heartbeat() {
            let mut req = client.post(&url).json(&hb);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let ok = match req.send().await {
                Ok(res) if res.status().is_success() => true,
                Ok(res) => {
                    if healthy != Some(false) {
                        tracing::warn!(status = res.status().as_u16(), %url, "registry refused the heartbeat");
                    }
                    false
                }
                Err(e) => {
                    if healthy != Some(false) {
                        tracing::warn!(%url, "registry unreachable: {e}");
                    }
                    false
                }
            };
            if ok && healthy != Some(true) {
                tracing::info!(%url, "registered with the edge");
            }
            healthy = Some(ok);
            if !ok {
                wait = RETRY_AFTER_FAILURE;
            }
        }
        tokio::time::sleep(MIN_GAP).await;
        tokio::select! {
            () = tokio::time::sleep(wait.saturating_sub(MIN_GAP)) => {}
            () = wake.notified() => {}
        }
    }
}
