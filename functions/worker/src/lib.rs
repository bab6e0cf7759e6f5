//! Origo on Cloudflare Workers. One Worker serves every function route of `spin.toml` through
//! the same `origo-functions` handlers as the other hosts, over [`WorkerPlatform`]: Workers KV,
//! `fetch` under the manifest's destination policy, vars and secrets, the Web Crypto random
//! source, the clock and `request.cf` for placement. Each room's coordinator is a Durable
//! Object ([`RoomCoordinator`]) on the same pure room state machine and the same storage
//! decisions as the `origo` host; each organisation's webhook deliveries are one
//! more ([`WebhookDispatcher`], on the same delivery engine), and the node registry another
//! ([`NodeRegistry`]). Which record lives where is `origo_functions::store::home`.
//!
//! Built with `worker-build` for `wasm32-unknown-unknown`; on other targets only the pure parts
//! (the storage protocol between the Worker and its objects, location hints) are compiled, so
//! they are tested natively.

pub mod location_hint;
pub mod storage_protocol;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod http_bridge;
#[cfg(target_arch = "wasm32")]
mod node_orders;
#[cfg(target_arch = "wasm32")]
mod node_probe;
#[cfg(target_arch = "wasm32")]
mod node_registry;
#[cfg(target_arch = "wasm32")]
mod object_storage;
#[cfg(target_arch = "wasm32")]
mod platform;
#[cfg(target_arch = "wasm32")]
mod rate_counter;
#[cfg(target_arch = "wasm32")]
mod room_coordinator;
#[cfg(target_arch = "wasm32")]
mod room_socket;
#[cfg(target_arch = "wasm32")]
mod variables;
#[cfg(target_arch = "wasm32")]
mod web_client;
#[cfg(target_arch = "wasm32")]
mod webhook_dispatcher;

#[cfg(target_arch = "wasm32")]
pub use node_registry::NodeRegistry;
#[cfg(target_arch = "wasm32")]
pub use platform::WorkerPlatform;
#[cfg(target_arch = "wasm32")]
pub use rate_counter::RateCounter;
#[cfg(target_arch = "wasm32")]
pub use room_coordinator::RoomCoordinator;
#[cfg(target_arch = "wasm32")]
pub use webhook_dispatcher::WebhookDispatcher;
