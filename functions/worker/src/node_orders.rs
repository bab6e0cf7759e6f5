//! Carries the room coordinator's orders to media nodes ([`NodeOrder`]: a removed participant's
//! sessions closed, an admin's mute enforced) from the room's Durable Object: the node is found
//! in the registry and called with the node secret, after the room's state is durable. Media
//! nodes are not customer destinations: their control URLs come from the registry, which only
//! authenticated heartbeats write.

use origo_functions::Platform;
use origo_functions::coordinator::NodeOrder;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::WorkerPlatform;

/// Sends `order` for `org`/`room`; failures are logged (the room's decision stands).
pub async fn deliver(platform: &WorkerPlatform, org: &str, room: &str, order: &NodeOrder) {
    let Some(secret) = platform.variable("node_secret").filter(|s| !s.is_empty()) else {
        worker::console_warn!("no node_secret: cannot order media node {}", order.node_id());
        return;
    };
    let node = crate::node_probe::descriptor(platform, order.node_id()).await;
    let Some(base) = node.and_then(|n| n.addresses.control_url) else {
        worker::console_log!("media node {} is not registered; order dropped", order.node_id());
        return;
    };
    let req = order.request(&base, org, room, &secret);
    let headers = Headers::new();
    for (name, value) in req.headers() {
        if let Ok(v) = value.to_str() {
            let _ = headers.append(name.as_str(), v);
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(req.method().as_str().to_owned())).with_headers(headers);
    init.with_body(Some(worker::js_sys::Uint8Array::from(req.body().as_ref()).into()));
    let sent = match Request::new_with_init(&req.uri().to_string(), &init) {
        Ok(r) => Fetch::Request(r).send().await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(res) if (200..300).contains(&res.status_code()) => {}
        Ok(res) => worker::console_warn!("media node {} answered {} to an order", order.node_id(), res.status_code()),
        Err(e) => worker::console_warn!("cannot reach media node {}: {e}", order.node_id()),
    }
}
