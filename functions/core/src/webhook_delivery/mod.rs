//! Webhook delivery per the Standard Webhooks scheme: the room coordinators write events to
//! their outbox in the same commit as the state that raised them; each organisation's
//! dispatcher ([`dispatcher`]) takes them in, fans them out to the endpoints that want them,
//! signs and sends them, retries them on the recommended schedule ([`retry_schedule`](crate::retry_schedule)) and
//! keeps every attempt in the endpoint's delivery log ([`delivery_record`]). Deliveries of one
//! room to one endpoint go in the room's order ([`pending`]); every message carries the room's
//! sequence number and a stable id ([`event_payload`]).

pub mod command;
pub mod delivery_record;
pub mod dispatcher;
pub mod endpoint_health;
pub mod event_payload;
pub mod pending;

pub use command::{DispatchCommand, DispatchOutcome};
pub use dispatcher::{Report, deliver_due, handle};
