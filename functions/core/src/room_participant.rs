//! `DELETE /v1/rooms/{room}/participants/{identity}`: remove a participant from a room now. The
//! room's coordinator tells them why (`kick`), disconnects them, frees their seat and tells the
//! others they left. Their token is not revoked: a token that may still join can join again,
//! so partners remove for good by not minting another.

use http::Method;
use origo_shared::{ApiError, RoomKey};

use crate::coordinator::RoomCommand;
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::{MAX_IDENTITY_BYTES, valid_room_name};
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rbac::Action;
use crate::reply::{self, unavailable};
use crate::store::room::load;
use crate::{Request, Response};

/// The path parameters.
#[cfg(feature = "openapi")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ParticipantPath {
    /// Room name: 1–64 of `a-z 0-9 - _`.
    #[param(schema_with = crate::input_schemas::room_name)]
    pub room: String,
    /// The participant's identity (percent-encoded in the path).
    #[param(schema_with = crate::input_schemas::participant_identity)]
    pub identity: String,
}

/// Serves `/v1/rooms/{room}/participants/{identity}`.
pub async fn route(req: &Request, p: &impl Platform, room: &str, identity: &str) -> Result<Response, ApiError> {
    if req.method() != Method::DELETE {
        return Ok(reply::method_not_allowed(req, "DELETE"));
    }
    remove(req, p, room, identity).await
}

/// A participant identity from the path: percent-decoded (RFC 3986; `+` is itself), 1 to 128
/// bytes without whitespace or control characters (what `POST /v1/tokens` accepts).
fn identity_of(segment: &str) -> Option<String> {
    let decoded = ::percent_encoding::percent_decode_str(segment).decode_utf8().ok()?.into_owned();
    let ok = !decoded.is_empty()
        && decoded.len() <= MAX_IDENTITY_BYTES
        && !decoded.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(decoded)
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/rooms/{room}/participants/{identity}", tag = "rooms",
    summary = "Remove a participant from the room now (member, or a token with the room_admin grant)",
    params(ParticipantPath, crate::principal::OrgHeader), security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed (or was not in the room)"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn remove(req: &Request, p: &impl Platform, room: &str, identity: &str) -> Result<Response, ApiError> {
    if !valid_room_name(room) {
        return Err(ApiError::not_found(format!("no room named {room}")));
    }
    let identity = identity_of(identity).ok_or_else(|| {
        ApiError::bad_request(format!("identity must be 1..={MAX_IDENTITY_BYTES} bytes without spaces"))
    })?;
    let caller = Principal::from_request(req, p).await?;
    caller.require(Action::RoomUpdate(room))?;
    let org = caller.org()?;
    load(p, org, room).await?;
    let kick = RoomCommand::Kick { identity, reason: Some(format!("removed by {}", caller.display_name())) };
    p.coordinator_send(&RoomKey::new(org, room), &kick).await.map_err(unavailable)?;
    Ok(reply::no_content())
}

#[cfg(test)]
mod tests {
    use super::identity_of;

    #[test]
    fn identities_from_the_path() {
        assert_eq!(identity_of("alice").as_deref(), Some("alice"));
        assert_eq!(identity_of("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(identity_of("a+b@x.test").as_deref(), Some("a+b@x.test"));
        for bad in ["", "a%20b", "%00", "%ff", &"x".repeat(129)] {
            assert_eq!(identity_of(bad), None, "{bad:?}");
        }
    }
}
