//! Partner webhooks: register endpoints, list and remove them, and send a signed test event.
//!
//! Stored as [`store::webhook`](crate::store::webhook) records; owners and admins manage them. The signing secret (`whsec_…`) is returned once, at creation;
//! listings never include it. Deliveries are signed per the Standard Webhooks scheme and go
//! out through the host's outbound HTTP, which only reaches the hosts the deployment allows.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use origo_shared::webhook::{self, WebhookSecret};
use origo_shared::{ApiError, ErrorCode, WebhookEvent};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::outbound_destination;
use crate::platform::{Platform, PlatformError, PlatformExt};
use crate::principal::Principal;
use crate::rate_limit;
use crate::rbac::Action;
use crate::reply::{self, respond};
use crate::store::webhook::{self as stored, StoredWebhook};
use crate::store::{keys, record};
use crate::webhook_deliveries as deliveries;
use crate::webhook_delivery::DispatchCommand;
use crate::webhook_delivery::endpoint_health::EndpointHealth;
use crate::{Request, Response, notification_routes};

/// The names of the events a webhook may subscribe to (`origo_shared::WebhookEvent`).
fn event_names() -> impl Iterator<Item = &'static str> {
    WebhookEvent::ALL.into_iter().map(WebhookEvent::as_str)
}

#[derive(Serialize)]
struct PublicWebhook<'a> {
    id: &'a str,
    url: &'a str,
    events: &'a [String],
    created_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    /// Until when the secret before the last rotation still signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_until_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<EndpointHealth>,
}

/// What clients see of `hook`, with its secret only when it was just created or rotated.
fn public<'a>(hook: &'a StoredWebhook, with_secret: bool, health: Option<EndpointHealth>) -> PublicWebhook<'a> {
    PublicWebhook {
        id: &hook.id,
        url: &hook.url,
        events: &hook.events,
        created_at_ms: hook.created_at_ms,
        description: hook.description.as_deref(),
        secret: with_secret.then_some(hook.secret.as_str()),
        previous_secret_until_ms: hook.previous_secret.is_some().then_some(hook.previous_secret_until_ms),
        health,
    }
}

/// The events an endpoint gets when it names none: all but the ones that must be asked for.
fn default_events() -> Vec<String> {
    WebhookEvent::ALL.into_iter().filter(|e| !e.opt_in()).map(|e| e.as_str().to_owned()).collect()
}

/// Checks a list of event names.
fn checked_events(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::bad_request("events must not be empty"));
    }
    if let Some(bad) = events.iter().find(|e| WebhookEvent::from_name(e).is_none()) {
        let known = event_names().collect::<Vec<_>>().join(", ");
        return Err(ApiError::bad_request(format!("unknown event {bad:?}; known: {known}")));
    }
    let mut events = events;
    events.sort();
    events.dedup();
    Ok(events)
}

/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 256;

fn checked_description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.len() > MAX_DESCRIPTION_BYTES => Err(ApiError::bad_request("description is at most 256 bytes")),
        Some(d) if d.chars().any(char::is_control) => {
            Err(ApiError::bad_request("description must not hold control characters"))
        }
        other => Ok(other),
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An absolute `https://` URL with a public host, at most 2048 bytes (plain `http` and
    /// non-public addresses only for the hosts the deployment trusts).
    #[cfg_attr(feature = "openapi", schema(schema_with = url_schema))]
    pub url: String,
    /// The events to deliver (default: all but `chat.message`, which must be named).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = events_schema))]
    pub events: Option<Vec<String>>,
    /// What the endpoint is for, at most 256 bytes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = url_schema))]
    pub url: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = events_schema))]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub description: Option<String>,
    /// `true` delivers to a disabled endpoint again (failed messages stay failed until
    /// recovered).
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing beside the new one (default a day, at most a week).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604800))]
    pub previous_valid_secs: Option<u64>,
}

/// Longest webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

#[cfg(feature = "openapi")]
fn url_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    // What `http::Uri` takes after the scheme: an authority (its characters, `%` for user
    // info), then a path, a query and a fragment, each with the characters it allows.
    let authority = r"[!$%&'()*+,\-.0-9:;=@A-Z\[\]_a-z~]+";
    let path = r"(/[^\u0000-\u0020#<>?`\u007F]*)?";
    let query = r##"(\?[^\u0000-\u0020"#<>\u007F]*)?"##;
    let fragment = r"(#[\s\S]*)?";
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^https?://{authority}{path}{query}{fragment}$")))
        .max_length(Some(MAX_URL_BYTES))
        .description(Some(
            "An absolute `https://` URL with a public host, at most 2048 bytes (plain `http` and non-public addresses only for hosts the deployment trusts)",
        ))
        .build()
        .into()
}

#[cfg(feature = "openapi")]
fn events_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let event = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(event_names()));
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(event)
        .min_items(Some(1))
        .build()
        .into()
}

/// Serves `/v1/webhooks`, `/v1/webhooks/{id}` and `/v1/webhooks/{id}/test`, and the
/// notifications to people ([`notification_routes`]).
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    match (segments.as_slice(), req.method()) {
        (["v1", "webhooks"], &Method::POST) => create(req, p).await,
        (["v1", "webhooks"], &Method::GET) => list(req, p).await,
        (["v1", "webhooks"], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "webhooks", id], &Method::GET) => get(req, p, id).await,
        (["v1", "webhooks", id], &Method::PATCH) => update(req, p, id).await,
        (["v1", "webhooks", id], &Method::DELETE) => delete(req, p, id).await,
        (["v1", "webhooks", _], _) => Ok(reply::method_not_allowed(req, "GET, PATCH, DELETE")),
        (["v1", "webhooks", id, "test"], &Method::POST) => test(req, p, id).await,
        (["v1", "webhooks", _, "test"], _) => Ok(reply::method_not_allowed(req, "POST")),
        (["v1", "webhooks", id, "rotate-secret"], &Method::POST) => rotate(req, p, id).await,
        (["v1", "webhooks", _, "rotate-secret"], _) => Ok(reply::method_not_allowed(req, "POST")),
        (["v1", "webhooks", id, "recover"], &Method::POST) => {
            let (org, hook) = managed(req, p, id).await?;
            deliveries::recover(req, p, &org, &hook).await
        }
        (["v1", "webhooks", _, "recover"], _) => Ok(reply::method_not_allowed(req, "POST")),
        (["v1", "webhooks", id, "deliveries"], &Method::GET) => {
            let (org, hook) = managed(req, p, id).await?;
            deliveries::list(req, p, &org, &hook).await
        }
        (["v1", "webhooks", _, "deliveries"], _) => Ok(reply::method_not_allowed(req, "GET")),
        (["v1", "webhooks", id, "deliveries", message], &Method::GET) => {
            let (org, hook) = managed(req, p, id).await?;
            deliveries::get(p, &org, &hook, message).await
        }
        (["v1", "webhooks", _, "deliveries", _], _) => Ok(reply::method_not_allowed(req, "GET")),
        (["v1", "webhooks", id, "deliveries", message, "redeliver"], &Method::POST) => {
            let (org, hook) = managed(req, p, id).await?;
            deliveries::redeliver(p, &org, &hook, message).await
        }
        (["v1", "webhooks", _, "deliveries", _, "redeliver"], _) => Ok(reply::method_not_allowed(req, "POST")),
        (["v1", "me" | "push" | "notifications", ..], _) => notification_routes::route(req, p, &segments).await,
        _ => Err(reply::not_found(req)),
    }
}

fn valid_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.len() <= MAX_URL_BYTES
        && url.parse::<http::Uri>().is_ok_and(|u| u.host().is_some())
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    summary = "Register an endpoint; the signing secret is in this response only",
    request_body = CreateWebhook, params(crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The webhook with its `secret`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn create(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    let org = caller.org()?;
    let body: CreateWebhook = reply::parse_json(req)?;
    if !valid_url(&body.url) {
        return Err(ApiError::bad_request("url must be an absolute http(s) URL"));
    }
    outbound_destination::check(p, "url", &body.url)?;
    let events = checked_events(body.events.unwrap_or_else(default_events))?;
    let description = checked_description(body.description)?;
    let mut key = [0u8; 32];
    p.random(&mut key);
    let secret = WebhookSecret::from_bytes(&key).map_err(|e| ApiError::internal(e.to_string()))?;
    let hook = StoredWebhook {
        id: format!("wh_{}", p.random_hex(10)),
        url: body.url,
        events,
        created_at_ms: p.now_ms(),
        owner: caller.identity().to_owned(),
        secret: secret.expose(),
        previous_secret: None,
        previous_secret_until_ms: 0,
        description,
    };
    stored::put(p, org, &hook).await?;
    Ok(reply::json(StatusCode::CREATED, &public(&hook, true, None)))
}

async fn manager(req: &Request, p: &impl Platform) -> Result<Principal, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::WebhooksManage)?;
    Ok(caller)
}

async fn load(p: &impl Platform, org: &str, id: &str) -> Result<StoredWebhook, ApiError> {
    stored::get(p, org, id).await?.ok_or_else(|| ApiError::not_found(format!("no webhook {id}")))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    summary = "The organisation's endpoints",
    params(crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{webhooks: [...]}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn list(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    let hooks = stored::of_org(p, caller.org()?).await?;
    let listed: Vec<PublicWebhook<'_>> = hooks.iter().map(|h| public(h, false, None)).collect();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "webhooks": listed })))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    summary = "Remove an endpoint",
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"), crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn delete(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    let org = caller.org()?;
    let hook = load(p, org, id).await?;
    stored::delete(p, org, &hook.id).await?;
    // Its pending deliveries and log go too (the dispatcher also drops them when it next
    // finds the endpoint gone, should this fail).
    let _ = p.dispatcher_send(org, &DispatchCommand::Forget { endpoint: hook.id.clone() }).await;
    Ok(reply::no_content())
}

/// The caller's organisation and the webhook `id` of it, for a caller who manages webhooks.
async fn managed(req: &Request, p: &impl Platform, id: &str) -> Result<(String, StoredWebhook), ApiError> {
    let caller = manager(req, p).await?;
    let org = caller.org()?.to_owned();
    let hook = load(p, &org, id).await?;
    Ok((org, hook))
}

async fn health_of(p: &impl Platform, org: &str, id: &str) -> Result<EndpointHealth, ApiError> {
    Ok(record::get(p, &keys::webhook_health(org, id)).await?.unwrap_or_default())
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    summary = "One endpoint, with how it has been answering (`health`: failing since, disabled)",
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"), crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The webhook"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn get(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let (org, hook) = managed(req, p, id).await?;
    let health = health_of(p, &org, &hook.id).await?;
    Ok(reply::json(StatusCode::OK, &public(&hook, false, Some(health))))
}

#[cfg_attr(feature = "openapi", utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    summary = "Change an endpoint's URL, event filter or description, or enable it again",
    request_body = UpdateWebhook,
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"), crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The webhook"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn update(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let (org, mut hook) = managed(req, p, id).await?;
    let body: UpdateWebhook = reply::parse_json(req)?;
    if let Some(url) = body.url {
        if !valid_url(&url) {
            return Err(ApiError::bad_request("url must be an absolute http(s) URL"));
        }
        outbound_destination::check(p, "url", &url)?;
        hook.url = url;
    }
    if let Some(events) = body.events {
        hook.events = checked_events(events)?;
    }
    if body.description.is_some() {
        hook.description = checked_description(body.description)?;
    }
    if body.enabled == Some(false) {
        return Err(ApiError::bad_request("an endpoint is disabled by Origo only; remove it to stop deliveries"));
    }
    stored::put(p, &org, &hook).await?;
    if body.enabled == Some(true) {
        p.dispatcher_send(&org, &DispatchCommand::Enable { endpoint: hook.id.clone() })
            .await
            .map_err(reply::unavailable)?;
    }
    let health = health_of(p, &org, &hook.id).await?;
    Ok(reply::json(StatusCode::OK, &public(&hook, false, Some(health))))
}

/// How long the old secret signs after a rotation by default, and at most.
const PREVIOUS_SECRET_DEFAULT_SECS: u64 = 86_400;
const PREVIOUS_SECRET_MAX_SECS: u64 = 7 * 86_400;

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    summary = "A new signing secret (in this response only); the old one keeps signing beside it for a while",
    request_body = RotateSecret,
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"), crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The webhook with its new `secret`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn rotate(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let (org, mut hook) = managed(req, p, id).await?;
    let body: RotateSecret =
        if req.body().is_empty() { RotateSecret { previous_valid_secs: None } } else { reply::parse_json(req)? };
    let keep = body.previous_valid_secs.unwrap_or(PREVIOUS_SECRET_DEFAULT_SECS);
    if keep > PREVIOUS_SECRET_MAX_SECS {
        return Err(ApiError::bad_request("previous_valid_secs is at most 604800 (a week)"));
    }
    let mut key = [0u8; 32];
    p.random(&mut key);
    let secret = WebhookSecret::from_bytes(&key).map_err(|e| ApiError::internal(e.to_string()))?;
    let old = std::mem::replace(&mut hook.secret, secret.expose());
    (hook.previous_secret, hook.previous_secret_until_ms) =
        if keep == 0 { (None, 0) } else { (Some(old), p.now_ms().saturating_add(keep * 1000)) };
    stored::put(p, &org, &hook).await?;
    Ok(reply::json(StatusCode::OK, &public(&hook, true, None)))
}

/// Sends a signed `webhook.test` event to the endpoint now and reports what it answered.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    summary = "Send a signed test event now",
    params(("id" = String, Path, pattern = "^wh_[A-Za-z0-9_]{0,61}$", description = "Webhook id"), crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{delivered, status, message_id}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
        (status = 429, response = errors::RateLimited),
    )))]
async fn test(req: &Request, p: &impl Platform, id: &str) -> Result<Response, ApiError> {
    let caller = manager(req, p).await?;
    rate_limit::hit(p, &rate_limit::WEBHOOK_TEST, caller.org()?).await?;
    let hook = load(p, caller.org()?, id).await?;
    let secrets: Vec<WebhookSecret> =
        hook.signing_secrets(p.now_ms()).iter().filter_map(|s| WebhookSecret::parse(s).ok()).collect();
    let msg_id = format!("msg_{}", p.random_hex(12));
    let timestamp = p.now_secs();
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "webhook.test",
        "timestamp": timestamp,
        "data": { "webhook_id": hook.id },
    }))
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let signed = webhook::sign(&secrets, &msg_id, timestamp, &body);
    let mut builder = http::Request::post(&hook.url).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in signed.pairs() {
        builder = builder.header(name, value);
    }
    let out = builder.body(Bytes::from(body)).map_err(|e| ApiError::bad_request(format!("bad webhook url: {e}")))?;
    match p.http_send(out).await {
        Ok(res) => Ok(reply::json(
            StatusCode::OK,
            &serde_json::json!({ "delivered": res.status().is_success(), "status": res.status().as_u16(), "message_id": msg_id }),
        )),
        Err(PlatformError::HostNotAllowed) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this deployment does not allow outbound requests to the webhook's host",
        )),
        Err(e) => Ok(reply::json(
            StatusCode::OK,
            &serde_json::json!({ "delivered": false, "error": e.to_string(), "message_id": msg_id }),
        )),
    }
}
