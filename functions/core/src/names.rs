//! The names Origo accepts: room names, organisation ids, participant identities, and the
//! length limits of display names. One definition each, used by the handlers that check them
//! and by the OpenAPI document that describes them (the `*_PATTERN` regular expressions say
//! exactly what the `valid_*` functions accept).

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest organisation or API key name, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// Longest participant identity, in bytes: the one limit of every crate.
pub use origo_shared::identity::MAX_IDENTITY_BYTES;

/// Longest room name, in bytes.
pub const MAX_ROOM_NAME_BYTES: usize = 64;
/// What [`valid_room_name`] accepts.
pub const ROOM_NAME_PATTERN: &str = "^[a-z0-9_-]{1,64}$";

/// Longest organisation id, in bytes.
pub const MAX_ORG_ID_BYTES: usize = 64;
/// What [`valid_org_id`] accepts.
pub const ORG_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// True for room names made of 1–64 of `a-z 0-9 - _`.
pub fn valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROOM_NAME_BYTES
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// True for organisation ids made of 1–64 of `A-Z a-z 0-9 - _`.
pub fn valid_org_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ORG_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(valid_room_name("standup-2_a"));
        assert!(valid_room_name(&"a".repeat(MAX_ROOM_NAME_BYTES)));
        for bad in ["", "Standup", "a b", "a/b", "é", &"a".repeat(MAX_ROOM_NAME_BYTES + 1)] {
            assert!(!valid_room_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn org_ids() {
        assert!(valid_org_id("org_0123abcd"));
        assert!(valid_org_id("Public-1"));
        for bad in ["", "a b", "a:b", &"a".repeat(MAX_ORG_ID_BYTES + 1)] {
            assert!(!valid_org_id(bad), "{bad:?}");
        }
    }
}
