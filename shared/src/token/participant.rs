//! The one check every consumer of a participant token makes — the room socket, the media
//! node and the functions: a participant token (not an account's), of an organisation, and,
//! where a room is at stake, grants that allow joining it.

use super::claims::{Claims, TokenKind};
use super::grants::ANY_ROOM;
use crate::error::ApiError;

/// The room a verified participant token admits its holder to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantGrant {
    /// The token's organisation.
    pub org: String,
    /// The room it may join.
    pub room: String,
}

/// The organisation of a participant token: a 403 for other kinds of token, a 401 for a
/// participant token without one.
pub fn participant_org(claims: &Claims) -> Result<&str, ApiError> {
    if claims.kind != TokenKind::Participant {
        return Err(ApiError::forbidden(
            "a participant token is needed: join the room first (POST /v1/rooms/{room}/join)",
        ));
    }
    claims.org.as_deref().ok_or_else(|| ApiError::unauthorized("participant token without an organisation"))
}

/// Checks that `claims` admit their holder to `room`; with `None`, to the one room the grants
/// name (a token for every room, like a guest's, is then refused: it names no room).
pub fn participant_grant(claims: &Claims, room: Option<&str>) -> Result<ParticipantGrant, ApiError> {
    let org = participant_org(claims)?.to_owned();
    let room = match room {
        Some(room) if claims.grants.can_join(room) => room.to_owned(),
        Some(room) => {
            return Err(ApiError::forbidden(format!("this token's grants do not allow it to join room {room}")));
        }
        None => match claims.grants.room.as_deref() {
            Some(r) if claims.grants.join && r != ANY_ROOM => r.to_owned(),
            _ => return Err(ApiError::forbidden("the token does not grant joining a room")),
        },
    };
    Ok(ParticipantGrant { org, room })
}

/// What the room's socket admits: a participant token that `join` issued for exactly this room,
/// with the seat it holds there. A guest or partner-minted token (no seat, or every room)
/// is refused: the holder must join first, which is where seats, limits and bans are checked.
pub fn socket_grant(claims: &Claims, room: &str) -> Result<(ParticipantGrant, String), ApiError> {
    let grant = participant_grant(claims, Some(room))?;
    let join_first = || {
        ApiError::forbidden(format!(
            "join the room first (POST /v1/rooms/{room}/join) and connect with the participant token it returns"
        ))
    };
    if claims.grants.room.as_deref() != Some(room) {
        return Err(join_first());
    }
    match claims.seat.as_deref() {
        Some(seat) if !seat.is_empty() => Ok((grant, seat.to_owned())),
        _ => Err(join_first()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::token::Grants;

    fn token(grants: Grants) -> Claims {
        Claims::new("origo", "origo", "alice", 0, 60).with_org("o1").with_grants(grants)
    }

    #[test]
    fn named_room_needs_a_join_grant_for_it() {
        let c = token(Grants::participant("standup"));
        assert_eq!(participant_grant(&c, Some("standup")).unwrap().room, "standup");
        assert_eq!(participant_grant(&c, Some("other")).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(participant_grant(&c, None).unwrap().room, "standup");
        let mut no_join = Grants::participant("standup");
        no_join.join = false;
        assert_eq!(participant_grant(&token(no_join), Some("standup")).unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn any_room_tokens_name_no_room() {
        let c = token(Grants::participant(ANY_ROOM));
        assert!(participant_grant(&c, Some("standup")).is_ok());
        assert_eq!(participant_grant(&c, None).unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn the_socket_takes_only_a_seat_token_for_its_room() {
        let seated = token(Grants::participant("standup")).with_seat("s1");
        assert_eq!(socket_grant(&seated, "standup").unwrap().1, "s1");
        assert_eq!(socket_grant(&seated, "other").unwrap_err().code, ErrorCode::Forbidden);
        let unseated = token(Grants::participant("standup"));
        assert_eq!(socket_grant(&unseated, "standup").unwrap_err().code, ErrorCode::Forbidden);
        let guest = token(Grants::participant(ANY_ROOM)).with_seat("s1");
        assert_eq!(socket_grant(&guest, "standup").unwrap_err().code, ErrorCode::Forbidden);
        let empty = token(Grants::participant("standup")).with_seat("");
        assert_eq!(socket_grant(&empty, "standup").unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn accounts_and_orgless_tokens_are_refused() {
        let account = token(Grants::participant("standup")).with_kind(TokenKind::Account);
        assert_eq!(participant_grant(&account, Some("standup")).unwrap_err().code, ErrorCode::Forbidden);
        let mut orgless = token(Grants::participant("standup"));
        orgless.org = None;
        assert_eq!(participant_grant(&orgless, Some("standup")).unwrap_err().code, ErrorCode::Unauthorized);
    }
}
