//! Chat history: `GET/POST /v1/rooms/{room}/messages`; one message's routes are in
//! [`chat_message`](crate::chat_message).
//!
//! A post goes through the room's coordinator, which keeps the history
//! ([`store::chat`](crate::store::chat): keys that sort by time, so concurrent posts never
//! overwrite each other) and relays the message to everyone in the room. A message's id is the
//! history's paging cursor, in both directions: `after` pages towards newer messages, `before`
//! towards older ones (`before=end`: the newest page).

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode, RoomKey};
use serde::Deserialize;

use crate::chat_message;
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
    /// Messages after this id (the `next_cursor` of the previous page), oldest first.
    #[param(value_type = String, required = false)]
    pub after: Option<String>,
    /// Messages just before this id (the `prev_cursor` of a page), oldest first; `end` for
    /// the newest messages. Not with `after`.
    #[param(value_type = String, required = false)]
    pub before: Option<String>,
}

/// A page of history.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    /// Oldest first; deleted messages are tombstones (empty `text`, `deleted_at_ms`).
    pub messages: Vec<StoredMessage>,
    /// Pass as `after` for the newer messages; absent when this page reaches the newest.
    pub next_cursor: Option<String>,
    /// Pass as `before` for the older messages; absent when this page starts at the oldest.
    pub prev_cursor: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::chat_text::text_schema))]
    pub text: String,
    /// The id of the message this one answers.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::chat_message::reply_to_schema))]
    pub reply_to: Option<String>,
}

/// Serves `/v1/rooms/{room}/messages`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    let (room, rest) = match segments.as_slice() {
        ["v1", "rooms", room, "messages", rest @ ..] => (*room, rest),
        _ => return Err(reply::not_found(req)),
    };
    if !valid_room_name(room) {
        return Err(ApiError::not_found(format!("no room named {room}")));
    }
    match (rest, req.method().clone()) {
        ([], Method::GET) => history(req, p, room).await,
        ([], Method::POST) => post(req, p, room).await,
        ([], _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        ([id], _) => chat_message::route(req, p, room, id).await,
        ([id, "reactions", reaction], _) => chat_message::route_reaction(req, p, room, id, reaction).await,
        _ => Err(reply::not_found(req)),
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
    if !origo_shared::chat::text_fits(&body.text) {
        return Err(crate::chat_text::bad_text(&body.text));
    }
    if let Some(id) = &body.reply_to {
        chat_message::load(p, org, room, id).await?;
    }
    // The room's coordinator keeps the history and sends the message to everyone in the room.
    let command = RoomCommand::PostMessage {
        from: caller.identity().to_owned(),
        from_name: caller.display_name(),
        text: body.text,
        reply_to: body.reply_to,
    };
    let RoomCommandOutcome::Posted { message } =
        p.coordinator_send(&RoomKey::new(org, room), &command).await.map_err(unavailable)?
    else {
        return Err(ApiError::new(ErrorCode::Unavailable, "the room did not take the message; retry"));
    };
    Ok(reply::json(StatusCode::CREATED, &message))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/rooms/{room}/messages", tag = "chat",
    summary = "History, oldest first, paged either way",
    params(crate::input_schemas::RoomPath, HistoryQuery, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = HistoryPage),
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
    let cursor = |name: &str| -> Result<Option<&str>, ApiError> {
        match reply::query_param(req, name) {
            None | Some("") => Ok(None),
            Some("end") if name == "before" => Ok(Some("")),
            Some(id) if origo_shared::chat::seq_of_id(id).is_some() => Ok(Some(id)),
            Some(_) => Err(ApiError::bad_request(format!("{name} must be a message id"))),
        }
    };
    let (after, before) = (cursor("after")?, cursor("before")?);
    if after.is_some() && before.is_some() {
        return Err(ApiError::bad_request("give after or before, not both"));
    }
    let ix = index::load(p, &keys::chat_index(org, room)).await?;
    // One more than asked tells whether the page ends the history on its far side.
    let (ids, more_beyond) = match before {
        Some(before) => {
            let mut ids = ix.page_before(before, limit + 1);
            let more = ids.len() > limit;
            if more {
                ids.remove(0);
            }
            (ids, more)
        }
        None => {
            let mut ids = ix.page(after.unwrap_or(""), limit + 1);
            let more = ids.len() > limit;
            ids.truncate(limit);
            (ids, more)
        }
    };
    let mut messages = Vec::new();
    for id in &ids {
        if let Some(m) = record::get::<StoredMessage>(p, &keys::chat_message(org, room, id)).await? {
            messages.push(m.normalized());
        }
    }
    let (first, last) = (ids.first().map(|s| (*s).to_owned()), ids.last().map(|s| (*s).to_owned()));
    let page = match before {
        Some(_) => HistoryPage {
            next_cursor: last.filter(|l| !ix.page(l, 1).is_empty()),
            prev_cursor: first.filter(|_| more_beyond),
            messages,
        },
        None => HistoryPage {
            prev_cursor: first.filter(|f| !ix.page_before(f, 1).is_empty()),
            next_cursor: last.filter(|_| more_beyond),
            messages,
        },
    };
    Ok(reply::json(StatusCode::OK, &page))
}
