//! `origo-functions`: the logic of Origo's edge functions, free of any host.
//!
//! Each domain is one `async fn handle(Request<Bytes>, &impl Platform) -> Response<Bytes>`.
//! Hosts (the `origo` wasmtime runtime through spin-sdk components, Spin itself, Cloudflare
//! Workers, AWS Lambda) implement [`Platform`] once and call the handlers.

pub mod account;
pub mod address_proof;
pub mod api_key;
pub mod api_key_credential;
pub mod auth;
pub mod billing;
pub mod billing_views;
pub mod chat;
pub mod chat_message;
pub mod chat_text;
pub mod client_address;
pub mod coordinator;
pub mod email;
pub mod email_address;
#[cfg(feature = "openapi")]
pub mod error_responses;
#[cfg(feature = "openapi")]
pub mod input_schemas;
pub mod invitation;
pub mod location;
pub mod maintenance;
pub mod meeting_calendar;
pub mod meeting_invitations;
pub mod meeting_reminders;
pub mod meeting_schedule;
pub mod mention_notifications;
pub mod money;
pub mod names;
pub mod notification_kind;
pub mod notification_preferences;
pub mod notification_retry;
pub mod notification_routes;
pub mod notification_settings;
pub mod notify;
pub mod notify_user;
pub mod oidc;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod operator;
pub mod org;
pub mod org_caller;
pub mod outbound_destination;
pub mod outgoing;
pub mod password;
pub mod password_reset;
pub mod percent_encoding;
pub mod phone;
pub mod plan;
pub mod platform;
pub mod principal;
pub mod provider_answer;
pub mod push_delivery;
pub mod push_subscriptions;
pub mod quota;
pub mod rate_limit;
pub mod rbac;
pub mod registry;
pub mod reply;
pub mod retry_schedule;
pub mod room;
pub mod room_participant;
pub mod secret_digest;
pub mod session;
pub mod sms;
pub mod statement;
pub mod store;
pub mod unsubscribe;
pub mod usage_threshold;
pub mod variables;
pub mod web_push;
pub mod webhook_deliveries;
pub mod webhook_delivery;

pub use platform::{Platform, PlatformError};

/// Every function's request and response types.
pub type Request = http::Request<bytes::Bytes>;
pub type Response = http::Response<bytes::Bytes>;
