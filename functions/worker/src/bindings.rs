//! The Worker's bindings, as `wrangler.toml` names them, and the Durable Objects they reach.

use origo_shared::RoomKey;
use worker::{Env, Stub};

/// The Workers KV namespace of the shared records.
pub const KV: &str = "ORIGO_KV";
/// The `RoomCoordinator` namespace: one object per room, named `{org}:{room}`.
pub const ROOMS: &str = "ROOMS";
/// The `NodeRegistry` namespace: one object, [`REGISTRY_NAME`].
pub const REGISTRY: &str = "REGISTRY";
/// The registry object's name.
pub const REGISTRY_NAME: &str = "registry";
/// The base URL of requests to an object (objects see only the path).
pub const OBJECT_BASE: &str = "https://object.origo.internal";

/// The headers naming the room on every request to its object.
pub const ORG_HEADER: &str = "x-origo-org";
pub const ROOM_HEADER: &str = "x-origo-room";

/// The object of `room`, created near `hint` if it does not exist yet.
pub fn room_stub(env: &Env, room: &RoomKey, hint: Option<&str>) -> worker::Result<Stub> {
    let ns = env.durable_object(ROOMS)?;
    let name = format!("{}:{}", room.org, room.room);
    match hint {
        Some(hint) => ns.get_by_name_with_location_hint(&name, hint),
        None => ns.get_by_name(&name),
    }
}

/// The `RateCounter` namespace: one object per rate-limit counter, named by its key.
pub const RATES: &str = "RATES";

/// The object of the rate-limit counter `key`.
pub fn rate_stub(env: &Env, key: &str) -> worker::Result<Stub> {
    env.durable_object(RATES)?.get_by_name(key)
}

/// The `WebhookDispatcher` namespace: one object per organisation, named by the organisation.
pub const WEBHOOKS: &str = "WEBHOOKS";

/// The webhook dispatcher of `org`.
pub fn dispatcher_stub(env: &Env, org: &str) -> worker::Result<Stub> {
    env.durable_object(WEBHOOKS)?.get_by_name(org)
}

/// The node registry's object.
pub fn registry_stub(env: &Env) -> worker::Result<Stub> {
    env.durable_object(REGISTRY)?.get_by_name(REGISTRY_NAME)
}
