//! `POST /v1/maintenance/sweep` (bearer: the node secret): one pass of the sweep that gives
//! every record its lifetime ([`store::expiry`](crate::store::expiry)), preceded once by
//! the upgrade of a store from an earlier format ([`store::migration`](crate::store::migration)).
//! Each host calls it on a timer — `origo` every `sweep_interval_secs`, a Cloudflare cron
//! trigger, an EventBridge schedule for the Lambda function, a scheduler of the operator's
//! choice for Spin — and a test calls it after moving its clock. Each pass also sends the
//! scheduled meetings' reminders that came due ([`meeting_reminders`](crate::meeting_reminders))
//! and tries again the notifications a provider could not take
//! ([`notification_retry`](crate::notification_retry)).

use http::{Method, StatusCode};
use origo_shared::ApiError;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::meeting_reminders;
use crate::notification_retry;
use crate::platform::Platform;
use crate::registry::authenticate_node;
use crate::reply;
use crate::store::{migration, sweep};
use crate::{Request, Response};

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/maintenance/sweep", tag = "nodes",
    summary = "One pass of the sweep that removes expired records (bearer: the node secret)",
    security(("node_secret" = [])),
    responses(
        (status = 200, description = "`{migration, sweep: {buckets, expired, kept, through_bucket}, reminders: {buckets, meetings, recipients, skipped, failures}, notification_retries: {buckets, sent, waiting, given_up}}`"),
        (status = 401, response = errors::Unauthorized),
        (status = 503, response = errors::Unavailable),
    )))]
pub async fn sweep(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(reply::method_not_allowed(req, "POST"));
    }
    authenticate_node(req, p)?;
    Ok(reply::json(StatusCode::OK, &run(p).await?))
}

/// One pass, for hosts that call it on their own timer: the upgrade when the store needs it,
/// then the sweep, then the reminders due, then the notifications due for another try. The
/// answer is `{migration, sweep, reminders, notification_retries}`.
pub async fn run(p: &impl Platform) -> Result<serde_json::Value, ApiError> {
    let migration = if migration::needed(p).await? { Some(migration::run(p).await?) } else { None };
    let sweep = sweep::sweep(p).await?;
    let reminders = meeting_reminders::run(p).await?;
    let retries = notification_retry::run(p).await?;
    Ok(serde_json::json!({
        "migration": migration,
        "sweep": sweep,
        "reminders": reminders,
        "notification_retries": retries,
    }))
}
