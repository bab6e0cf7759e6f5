//! How far a room's WebSocket or command may be forwarded between `origo` processes.
//!
//! A process that does not own a room forwards the room's sockets and commands to the owner the
//! lease names. Ownership can move while a request is on its way, so the receiving process may
//! forward it again; each forward carries [`HOPS_HEADER`], the number of times the request has
//! been forwarded, and a request that arrives having been forwarded [`MAX_HOPS`] times is not
//! forwarded again but refused (503, `unavailable`: the caller retries, by when the lease has
//! settled). A process never forwards to itself: the lease names another instance
//! ([`crate::room_lease`]), and `origo` refuses to start with an advertised URL that would
//! reach whichever process dials it ([`crate::config::RoomOptions::check_advertise`]).

use axum::http::HeaderMap;
use origo_shared::{ApiError, ErrorCode, RoomKey};

/// The number of times a request has been forwarded so far.
pub const HOPS_HEADER: &str = "x-origo-hops";
/// A request forwarded this many times is not forwarded again.
pub const MAX_HOPS: u32 = 2;

/// How many times the request was forwarded before it reached this process: 0 from a client; an
/// unreadable count is taken as the limit.
pub fn hops(headers: &HeaderMap) -> u32 {
    match headers.get(HOPS_HEADER) {
        None => 0,
        Some(v) => v.to_str().ok().and_then(|v| v.trim().parse().ok()).unwrap_or(MAX_HOPS),
    }
}

/// The hop count to send on with the request, or the refusal when it has gone far enough.
pub fn next_hop(headers: &HeaderMap, key: &RoomKey, owner: &str, what: &str) -> Result<u32, ApiError> {
    let hops = hops(headers);
    if hops >= MAX_HOPS {
        tracing::warn!(org = %key.org, room = %key.room, %owner, hops, "not forwarding a room's {what} again: it was forwarded too many times");
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("the room's owner is changing (forwarded {hops} times); retry"),
        ));
    }
    Ok(hops + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOPS_HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn a_request_is_forwarded_at_most_twice() {
        let key = RoomKey::new("o", "r");
        assert_eq!(next_hop(&HeaderMap::new(), &key, "http://b", "socket").unwrap(), 1);
        assert_eq!(next_hop(&with("1"), &key, "http://b", "socket").unwrap(), 2);
        let refused = next_hop(&with("2"), &key, "http://b", "socket").unwrap_err();
        assert_eq!((refused.status(), refused.code), (503, ErrorCode::Unavailable));
        assert!(next_hop(&with("many"), &key, "http://b", "command").is_err());
    }
}
