//! Chat history: `GET/POST /v1/rooms/{room}/messages`.
//!
//! A post goes through the room's coordinator, which keeps the history
//! ([`store::chat`](crate::store::chat): keys that sort by time, so concurrent posts never
//! overwrite each other) and relays the message to everyone in the room. A message's id is the
//! history's paging cursor.

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode, RoomKey};
use serde::Deserialize;

use crate::coordinator::{RoomCommand, RoomCommandOutcome};
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::valid_room_name;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rate_limit;
use crate::rbac::Action;
use crate::reply::{self, respond, unavailable};
use crate::store::chat::StoredMessage;
use crate::store::{index, keys, record, room};
use crate::{Request, Response};

pub const MAX_TEXT_CHARS: usize = origo_shared::signal::MAX_CHAT_CHARS;
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

/// The query of a history page.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages per page, 1 to 200 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = String, required = false)]
    pub after: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    #[cfg_attr(feature = "openapi", schema(schema_with = text_schema))]
    pub text: String,
}

/// 1 to 4000 characters, not only whitespace.
#[cfg(feature = "openapi")]
fn text_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let not_only_whitespace = format!("[^{}", &crate::input_schemas::WHITESPACE[1..]);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TEXT_CHARS))
        .pattern(Some(not_only_whitespace))
        .build()
        .into()
}

/// Serves `/v1/rooms/{room}/messages`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    let ["v1", "rooms", room, "messages"] = segments.as_slice() else {
        return Err(reply::not_found(req));
    };
    if !valid_room_name(room) {
        return Err(ApiError::not_found(format!("no room named {room}")));
    }
    match *req.method() {
        Method::GET => history(req, p, room).await,
        Method::POST => post(req, p, room).await,
        _ => Ok(reply::method_not_allowed(req, "GET, POST")),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/rooms/{room}/messages", tag = "chat",
    summary = "Post a message",
    request_body = PostMessage, params(crate::input_schemas::RoomPath, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 201, body = StoredMessage),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
        (status = 429, response = errors::RateLimited),
    )))]
async fn post(req: &Request, p: &impl Platform, room: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::ChatPost(room))?;
    let org = caller.org()?;
    rate_limit::hit(p, &rate_limit::CHAT_POST, &format!("{org}\u{0}{}", caller.identity())).await?;
    room::load(p, org, room).await?;
    let body: PostMessage = reply::parse_json(req)?;
    let n = body.text.chars().count();
    if body.text.trim().is_empty() || n > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(format!("text must be 1..={MAX_TEXT_CHARS} characters")));
    }
    // The room's coordinator keeps the history and sends the message to everyone in the room.
    let command = RoomCommand::PostMessage {
        from: caller.identity().to_owned(),
        from_name: caller.display_name(),
        text: body.text,
    };
    let RoomCommandOutcome::Posted { message } =
        p.coordinator_send(&RoomKey::new(org, room), &command).await.map_err(unavailable)?
    else {
        return Err(ApiError::new(ErrorCode::Unavailable, "the room did not take the message; retry"));
    };
    let msg = StoredMessage::of(&message);
    Ok(reply::json(StatusCode::CREATED, &msg))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/rooms/{room}/messages", tag = "chat",
    summary = "History, oldest first, with a cursor",
    params(crate::input_schemas::RoomPath, HistoryQuery, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, description = "`{messages: [StoredMessage], next_cursor}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn history(req: &Request, p: &impl Platform, room: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::ChatRead(room))?;
    let org = caller.org()?;
    room::load(p, org, room).await?;
    let limit = reply::page_limit(req, DEFAULT_PAGE, MAX_PAGE)?;
    let after = reply::query_param(req, "after").unwrap_or("");
    let ix = index::load(p, &keys::chat_index(org, room)).await?;
    let mut messages = Vec::new();
    for id in ix.page(after, limit) {
        if let Some(m) = record::get::<StoredMessage>(p, &keys::chat_message(org, room, id)).await? {
            messages.push(m);
        }
    }
    let next_cursor = (messages.len() == limit).then(|| messages.last().map(|m| m.id.clone())).flatten();
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "messages": messages, "next_cursor": next_cursor })))
}
