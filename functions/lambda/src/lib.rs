//! The AWS Lambda host of Origo's edge functions. One function, `origo-lambda`, serves every
//! route of the project's `spin.toml` (embedded at build time) through the same handlers the
//! other hosts run (`origo_functions::{auth,room,chat,notify,billing}::handle`), behind API
//! Gateway HTTP APIs (payload v2), REST APIs (v1) or an Application Load Balancer.
//!
//! * **Key-value**: Redis, in the layout `origo --redis` uses (`origo:kv:default:{key}`), so
//!   `origo` processes on the same Redis see the same accounts, rooms, seats and history;
//!   `rediss://` over TLS, with `ORIGO_REDIS_CA_FILE` for a private CA.
//! * **Rooms**: Lambda runs no coordinators. A room needs one long-lived owner holding its
//!   participants' WebSockets, and API Gateway WebSockets (2 h per connection, 10 min idle,
//!   pushes only through the `@connections` API) are a poor home for one. Rooms are coordinated
//!   by `origo` processes on the same Redis: the coordinator stub POSTs each command to
//!   `{coordinator_internal_url}/internal/v1/rooms/{org}/{room}/commands` with the deployment's
//!   node secret, and the process that answers forwards it to the room's owner; participants
//!   reach the coordinators at the `coordinator_url` a join returns.
//! * **Variables**: `ORIGO_VAR_<NAME>` over the manifest's defaults; the function refuses to
//!   start while a required one is unset.
//! * **Outbound HTTP**: only to the routed component's `allowed_outbound_hosts`, with a
//!   timeout and a response-size limit.
//!
//! [`dispatch::serve`] is the whole adaptation — event request in, handler, response out — and
//! runs without Lambda; `main.rs` only hands it to `lambda_http::run`.

pub mod coordinator_endpoint;
pub mod deployment;
pub mod dispatch;
pub mod function;
pub mod outbound;
pub mod platform;
pub mod redis_store;

pub use deployment::{ComponentConfig, Deployment, DeploymentError};
pub use platform::{LambdaPlatform, Services};
