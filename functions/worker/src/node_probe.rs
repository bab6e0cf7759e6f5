//! The room's check of a media node its participants lost their media from
//! ([`Effect::ProbeNode`](origo_functions::coordinator::Effect)), from the room's Durable
//! Object: the node's `/health` within [`PROBE_DEADLINE_MS`]. A node that refuses or answers
//! anything but 2xx is down, and the room has it marked unreachable in the registry until its
//! next heartbeat; one that does not answer in time may be gone or slow (the room decides).
//! Nothing runs unless a participant reports, so a hibernating room stays asleep.

use std::time::Duration;

use origo_functions::Platform;
use origo_functions::coordinator::node_health::{PROBE_DEADLINE_MS, ProbeOutcome};
use origo_functions::store::keys;
use origo_shared::node::NodeDescriptor;
use worker::{AbortController, Delay, Fetch, Method, Request, RequestInit, RequestRedirect};

use crate::WorkerPlatform;

/// Whether `node_id` answers now; a node without a registry entry or control URL is down.
pub async fn probe(platform: &WorkerPlatform, node_id: &str) -> ProbeOutcome {
    let Some(base) = descriptor(platform, node_id).await.and_then(|n| n.addresses.control_url) else {
        return ProbeOutcome::Down;
    };
    let url = format!("{}/health", base.trim_end_matches('/'));
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_redirect(RequestRedirect::Manual);
    let Ok(req) = Request::new_with_init(&url, &init) else { return ProbeOutcome::Down };
    let abort = AbortController::default();
    let signal = abort.signal();
    let fetch = Fetch::Request(req);
    let exchange = fetch.send_with_signal(&signal);
    let deadline = Delay::from(Duration::from_millis(PROBE_DEADLINE_MS));
    match futures_util::future::select(std::pin::pin!(exchange), deadline).await {
        futures_util::future::Either::Left((Ok(res), _)) if (200..300).contains(&res.status_code()) => {
            ProbeOutcome::Answered
        }
        futures_util::future::Either::Left((Ok(res), _)) => {
            worker::console_warn!("media node {node_id}: probe answered {}", res.status_code());
            ProbeOutcome::Down
        }
        futures_util::future::Either::Left((Err(e), _)) => {
            worker::console_warn!("media node {node_id}: probe failed: {e}");
            ProbeOutcome::Down
        }
        futures_util::future::Either::Right(((), _)) => {
            abort.abort();
            worker::console_warn!("media node {node_id}: no answer to the probe within {PROBE_DEADLINE_MS} ms");
            ProbeOutcome::NoAnswer
        }
    }
}

/// Marks `node_id` unreachable in the registry as of `now_ms`.
pub async fn mark_unreachable(platform: &WorkerPlatform, node_id: &str, now_ms: u64) {
    let Some(mut node) = descriptor(platform, node_id).await else { return };
    if node.unreachable_since_ms.is_some() {
        return;
    }
    node.unreachable_since_ms = Some(now_ms);
    if let Ok(bytes) = serde_json::to_vec(&node)
        && let Err(e) = platform.kv_set(&keys::node(node_id), &bytes).await
    {
        worker::console_warn!("cannot mark media node {node_id} unreachable: {e:?}");
    }
}

/// The registry's entry for `node_id` (`None` when it has none or it cannot be read).
pub async fn descriptor(platform: &WorkerPlatform, node_id: &str) -> Option<NodeDescriptor> {
    match platform.kv_get(&keys::node(node_id)).await {
        Ok(Some(b)) => serde_json::from_slice(&b).ok(),
        _ => None,
    }
}
