//! One message of a room's chat: `GET`, `PATCH` (new text) and `DELETE` (a tombstone) on
//! `/v1/rooms/{room}/messages/{id}`, and the caller's reaction with `PUT` / `DELETE` on
//! `/v1/rooms/{room}/messages/{id}/reactions/{reaction}` (percent-encoded).
//!
//! The sender changes their own messages; room admins (a role that may update the room, or a
//! token with the room's admin grant) change anyone's. The change is checked here against the
//! history's record, then goes through the room's coordinator, which checks it again against
//! what it holds, stores it and tells everyone in the room.

use http::{Method, StatusCode};
use origo_shared::chat::{ChatChange, ChatRefusal, MAX_REACTION_BYTES, reaction_fits, seq_of_id};
use origo_shared::{ApiError, ErrorCode, RoomKey};
use serde::Deserialize;

use crate::coordinator::{RoomCommand, RoomCommandOutcome};
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rate_limit;
use crate::rbac::Action;
use crate::reply::{self, unavailable};
use crate::store::chat::StoredMessage;
use crate::store::{keys, record, room};
use crate::{Request, Response};

/// An optional message id (16 digits, `-`, 10 digits), or null.
#[cfg(feature = "openapi")]
pub(crate) fn reply_to_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some("^[0-9]{16}-[0-9]{10}$"))
        .build()
        .into()
}

/// The path of one message.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MessagePath {
    /// Room name: 1–64 of `a-z 0-9 - _`.
    #[param(schema_with = crate::input_schemas::room_name)]
    pub room: String,
    /// The message's id.
    #[param(value_type = String, pattern = "^[0-9]{16}-[0-9]{10}$")]
    pub id: String,
}

/// The path of one reaction to a message.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReactionPath {
    /// Room name: 1–64 of `a-z 0-9 - _`.
    #[param(schema_with = crate::input_schemas::room_name)]
    pub room: String,
    /// The message's id.
    #[param(value_type = String, pattern = "^[0-9]{16}-[0-9]{10}$")]
    pub id: String,
    /// The reaction, percent-encoded: an emoji or a short code, 1 to 32 bytes without spaces.
    #[param(value_type = String)]
    pub reaction: String,
}

/// New text for a message.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::chat_text::text_schema))]
    pub text: String,
}

/// Serves `/v1/rooms/{room}/messages/{id}`.
pub async fn route(req: &Request, p: &impl Platform, room: &str, id: &str) -> Result<Response, ApiError> {
    if ![Method::GET, Method::PATCH, Method::DELETE].contains(req.method()) {
        return Ok(reply::method_not_allowed(req, "GET, PATCH, DELETE"));
    }
    if seq_of_id(id).is_none() {
        return Err(ApiError::not_found(format!("no message {id} in room {room}")));
    }
    match *req.method() {
        Method::GET => get(req, p, room, id).await,
        Method::PATCH => edit(req, p, room, id).await,
        _ => delete(req, p, room, id).await,
    }
}

/// Serves `/v1/rooms/{room}/messages/{id}/reactions/{reaction}`.
pub async fn route_reaction(
    req: &Request,
    p: &impl Platform,
    room: &str,
    id: &str,
    reaction: &str,
) -> Result<Response, ApiError> {
    let added = match *req.method() {
        Method::PUT => true,
        Method::DELETE => false,
        _ => return Ok(reply::method_not_allowed(req, "PUT, DELETE")),
    };
    if seq_of_id(id).is_none() {
        return Err(ApiError::not_found(format!("no message {id} in room {room}")));
    }
    let reaction = ::percent_encoding::percent_decode_str(reaction)
        .decode_utf8()
        .ok()
        .filter(|r| reaction_fits(r))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "a reaction is 1-{MAX_REACTION_BYTES} bytes of percent-encoded UTF-8 without spaces"
            ))
        })?
        .into_owned();
    react(req, p, room, id, reaction, added).await
}

/// The message `id` of the room's history, or a 404.
pub async fn load(p: &impl Platform, org: &str, room: &str, id: &str) -> Result<StoredMessage, ApiError> {
    let missing = || ApiError::not_found(format!("no message {id} in room {room}"));
    if seq_of_id(id).is_none() {
        return Err(missing());
    }
    let m: Option<StoredMessage> = record::get(p, &keys::chat_message(org, room, id)).await?;
    m.map(StoredMessage::normalized).ok_or_else(missing)
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/rooms/{room}/messages/{id}", tag = "chat",
    summary = "One message",
    params(MessagePath, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = StoredMessage),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn get(req: &Request, p: &impl Platform, room: &str, id: &str) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::ChatRead(room))?;
    let org = caller.org()?;
    room::load(p, org, room).await?;
    Ok(reply::json(StatusCode::OK, &load(p, org, room, id).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(patch, path = "/v1/rooms/{room}/messages/{id}", tag = "chat",
    summary = "Edit a message (its sender, or a room admin)",
    request_body = EditMessage, params(MessagePath, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = StoredMessage),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 429, response = errors::RateLimited),
        (status = 503, response = errors::Unavailable),
    )))]
async fn edit(req: &Request, p: &impl Platform, room: &str, id: &str) -> Result<Response, ApiError> {
    let body: EditMessage = reply::parse_json(req)?;
    if !origo_shared::chat::text_fits(&body.text) {
        return Err(crate::chat_text::bad_text(&body.text));
    }
    let at_ms = p.now_ms();
    change(req, p, room, id, ChatChange::Edited { text: body.text, at_ms }).await
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/rooms/{room}/messages/{id}", tag = "chat",
    summary = "Delete a message (its sender, or a room admin): a tombstone stays in the history",
    params(MessagePath, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = StoredMessage),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 429, response = errors::RateLimited),
        (status = 503, response = errors::Unavailable),
    )))]
async fn delete(req: &Request, p: &impl Platform, room: &str, id: &str) -> Result<Response, ApiError> {
    let at_ms = p.now_ms();
    change(req, p, room, id, ChatChange::Deleted { at_ms }).await
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/v1/rooms/{room}/messages/{id}/reactions/{reaction}",
    tag = "chat", summary = "Add the caller's reaction to a message",
    params(ReactionPath, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = StoredMessage),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 429, response = errors::RateLimited),
        (status = 503, response = errors::Unavailable),
    )))]
async fn react(
    req: &Request,
    p: &impl Platform,
    room: &str,
    id: &str,
    reaction: String,
    added: bool,
) -> Result<Response, ApiError> {
    change(req, p, room, id, ChatChange::Reaction { reaction, added }).await
}

/// `DELETE /v1/rooms/{room}/messages/{id}/reactions/{reaction}`, for the document (served by
/// [`react`]).
#[cfg(feature = "openapi")]
#[utoipa::path(delete, path = "/v1/rooms/{room}/messages/{id}/reactions/{reaction}",
    tag = "chat", summary = "Take back the caller's reaction to a message",
    params(ReactionPath, crate::principal::OrgHeader), security(("bearer" = [])),
    responses(
        (status = 200, body = StoredMessage),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 409, response = errors::Conflict),
        (status = 429, response = errors::RateLimited),
        (status = 503, response = errors::Unavailable),
    ))]
#[allow(dead_code)]
fn unreact() {}

/// Checks `change` by the caller against the message's record and hands it to the room's
/// coordinator; answers the message as it is afterwards.
async fn change(
    req: &Request,
    p: &impl Platform,
    room: &str,
    id: &str,
    change: ChatChange,
) -> Result<Response, ApiError> {
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::ChatPost(room))?;
    let org = caller.org()?;
    rate_limit::hit(p, &rate_limit::CHAT_POST, &format!("{org}\u{0}{}", caller.identity())).await?;
    room::load(p, org, room).await?;
    let by = caller.identity().to_owned();
    let admin = caller.may(Action::RoomUpdate(room));
    let mut message = load(p, org, room, id).await?;
    message.check(&change, &by, admin).map_err(refusal)?;
    let command =
        RoomCommand::ChangeMessage { message_id: id.to_owned(), by: by.clone(), admin, change: change.clone() };
    match p.coordinator_send(&RoomKey::new(org, room), &command).await.map_err(unavailable)? {
        RoomCommandOutcome::Changed { message: Some(now), .. } => Ok(reply::json(StatusCode::OK, &now)),
        RoomCommandOutcome::Changed { seq, message: None } => {
            // The room no longer holds it: the record was changed as the record checked.
            let _ = message.apply(&change, &by, admin, seq);
            Ok(reply::json(StatusCode::OK, &message))
        }
        RoomCommandOutcome::Refused { code, message } => Err(match code.as_str() {
            "forbidden" => ApiError::forbidden(message),
            "unknown_message" => ApiError::not_found(message),
            "bad_chat_text" | "bad_reaction" => ApiError::bad_request(message),
            _ => ApiError::new(ErrorCode::Conflict, message),
        }),
        _ => Err(ApiError::new(ErrorCode::Unavailable, "the room did not take the change; retry")),
    }
}

/// The HTTP answer to a change the message's rules refuse.
fn refusal(why: ChatRefusal) -> ApiError {
    match why {
        ChatRefusal::NotYours => ApiError::forbidden(why.to_string()),
        ChatRefusal::BadText | ChatRefusal::BadReaction => ApiError::bad_request(why.to_string()),
        ChatRefusal::Deleted | ChatRefusal::TooManyReactions => ApiError::new(ErrorCode::Conflict, why.to_string()),
    }
}
