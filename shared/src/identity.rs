//! Participant identities: the one length limit every part of Origo applies to them — the
//! identities partners mint (`POST /v1/tokens`), the room's participants, the ids an admin
//! kicks or mutes over the room socket, the commands to a room's coordinator, the user part of
//! TURN credentials — so that any identity that can be minted can also be named everywhere.

/// Longest participant identity, in bytes.
pub const MAX_IDENTITY_BYTES: usize = 128;

/// True for an identity of 1 to [`MAX_IDENTITY_BYTES`] bytes without control characters.
pub fn fits(identity: &str) -> bool {
    !identity.is_empty() && identity.len() <= MAX_IDENTITY_BYTES && !identity.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_in_bytes() {
        assert!(fits(&"a".repeat(MAX_IDENTITY_BYTES)));
        assert!(!fits(&"a".repeat(MAX_IDENTITY_BYTES + 1)));
        assert!(!fits(&"é".repeat(MAX_IDENTITY_BYTES / 2 + 1)));
        assert!(!fits(""));
        assert!(!fits("a\u{7}b"));
    }
}
