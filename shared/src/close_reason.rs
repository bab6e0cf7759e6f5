//! WebSocket close reasons that fit the frame: a close frame's payload is at most 125 bytes
//! (RFC 6455, section 5.5), two of them the status code, so the UTF-8 reason has at most 123.
//! Every place that closes a room socket with a reason passes it through [`fit`].

/// The longest close reason a WebSocket close frame carries, in bytes.
pub const MAX_BYTES: usize = 123;

/// `reason` cut to at most [`MAX_BYTES`] bytes, at a character boundary (never inside a
/// multi-byte character).
pub fn fit(reason: &str) -> &str {
    &reason[..reason.floor_char_boundary(MAX_BYTES)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reasons_are_kept_whole() {
        assert_eq!(fit(""), "");
        assert_eq!(fit("left"), "left");
        let exact = "a".repeat(MAX_BYTES);
        assert_eq!(fit(&exact), exact);
    }

    #[test]
    fn long_ascii_reasons_are_cut_at_the_limit() {
        let long = "x".repeat(500);
        assert_eq!(fit(&long).len(), MAX_BYTES);
    }

    #[test]
    fn multi_byte_reasons_are_cut_at_a_character_boundary() {
        // 'é' is 2 bytes, '€' 3, '🎉' 4: none of them may be split.
        for ch in ["é", "€", "🎉"] {
            for prefix in 0..4 {
                let reason = format!("{}{}", "a".repeat(prefix), ch.repeat(100));
                let cut = fit(&reason);
                assert!(cut.len() <= MAX_BYTES, "{} bytes", cut.len());
                assert!(cut.len() > MAX_BYTES - ch.len(), "cut {} bytes short", MAX_BYTES - cut.len());
                assert!(reason.starts_with(cut));
                assert_eq!(cut.chars().skip(prefix).filter(|c| c.to_string() != ch).count(), 0);
            }
        }
        // 100 characters that are 4 bytes each: a character count of 100 would be 400 bytes.
        let emoji = "🎉".repeat(100);
        assert_eq!(fit(&emoji).chars().count(), MAX_BYTES / 4);
    }
}
