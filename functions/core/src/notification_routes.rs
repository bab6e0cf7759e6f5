//! The routes of the notifications Origo sends to people, served by the notify function:
//! web push subscriptions and the VAPID key ([`push_subscriptions`]), the phone number for
//! text messages ([`phone`]), the notification preferences ([`notification_settings`]) and
//! one-click unsubscribe ([`unsubscribe`]).

use origo_shared::ApiError;

use crate::platform::Platform;
use crate::reply;
use crate::{Request, Response, notification_settings, phone, push_subscriptions, unsubscribe};

/// Serves `/v1/me/…`, `/v1/push/…` and `/v1/notifications/…`.
pub async fn route(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match segments {
        ["v1", "me", "push-subscriptions", ..] | ["v1", "push", ..] => {
            push_subscriptions::route(req, p, segments).await
        }
        ["v1", "me", "phone", ..] => phone::route(req, p, segments).await,
        ["v1", "me", "notification-preferences"] => notification_settings::route(req, p, segments).await,
        ["v1", "notifications", "unsubscribe"] => unsubscribe::route(req, p, segments).await,
        _ => Err(reply::not_found(req)),
    }
}
