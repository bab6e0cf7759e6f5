//! The storage layer of the functions and the room coordinators: every key format
//! ([`keys`]) and every record kept in the key-value store, one file per record kind. Handlers
//! and hosts read and write through these, so a second host (a Durable Object, a Lambda on
//! Redis) stores the same records under the same keys.

pub mod account;
pub mod api_key;
pub mod chat;
pub mod due_index;
pub mod expiry;
pub mod format;
pub mod home;
pub mod index;
pub mod invitation;
pub mod keys;
pub mod live_rooms;
pub mod media_usage;
pub mod migration;
pub mod node;
pub mod notification_preferences;
pub mod notification_queue;
pub mod oidc;
pub mod org;
pub mod org_plan;
pub mod phone;
pub mod push_subscription;
pub mod record;
pub mod reminder_due;
pub mod reminders_sent;
pub mod room;
pub mod sweep;
pub mod turn_usage;
pub mod usage;
pub mod usage_total;
pub mod webhook;
