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
use crate::{Request, Response};

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
    secret: Option<&'a str>,
}

/// What clients see of `hook`, with its secret only when it was just created.
fn public(hook: &StoredWebhook, with_secret: bool) -> PublicWebhook<'_> {
    PublicWebhook {
        id: &hook.id,
        url: &hook.url,
        events: &hook.events,
        created_at_ms: hook.created_at_ms,
        secret: with_secret.then_some(hook.secret.as_str()),
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
    /// The events to deliver (default: all of them).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = events_schema))]
    pub events: Option<Vec<String>>,
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

/// Serves `/v1/webhooks`, `/v1/webhooks/{id}` and `/v1/webhooks/{id}/test`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    match (segments.as_slice(), req.method()) {
        (["v1", "webhooks"], &Method::POST) => create(req, p).await,
        (["v1", "webhooks"], &Method::GET) => list(req, p).await,
        (["v1", "webhooks"], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "webhooks", id], &Method::DELETE) => delete(req, p, id).await,
        (["v1", "webhooks", _], _) => Ok(reply::method_not_allowed(req, "DELETE")),
        (["v1", "webhooks", id, "test"], &Method::POST) => test(req, p, id).await,
        (["v1", "webhooks", _, "test"], _) => Ok(reply::method_not_allowed(req, "POST")),
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
    let events = body.events.unwrap_or_else(|| event_names().map(str::to_owned).collect());
    if events.is_empty() {
        return Err(ApiError::bad_request("events must not be empty"));
    }
    if let Some(bad) = events.iter().find(|e| WebhookEvent::from_name(e).is_none()) {
        let known = event_names().collect::<Vec<_>>().join(", ");
        return Err(ApiError::bad_request(format!("unknown event {bad:?}; known: {known}")));
    }
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
    };
    stored::put(p, org, &hook).await?;
    Ok(reply::json(StatusCode::CREATED, &public(&hook, true)))
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
    let listed: Vec<PublicWebhook<'_>> = hooks.iter().map(|h| public(h, false)).collect();
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
    Ok(reply::no_content())
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
    let secret = WebhookSecret::parse(&hook.secret).map_err(|e| ApiError::internal(e.to_string()))?;
    let msg_id = format!("msg_{}", p.random_hex(12));
    let timestamp = p.now_secs();
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "webhook.test",
        "timestamp": timestamp,
        "data": { "webhook_id": hook.id },
    }))
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let signed = webhook::sign(std::slice::from_ref(&secret), &msg_id, timestamp, &body);
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
