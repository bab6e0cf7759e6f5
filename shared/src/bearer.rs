//! The credential of an `Authorization: Bearer <credential>` header (RFC 6750 §2.1; the scheme
//! name is case-insensitive), parsed one way by every Origo server.

use crate::error::ApiError;

/// The credential in an `Authorization` header's raw value, or a 401 that says what is wrong.
pub fn bearer(header: Option<&[u8]>) -> Result<&str, ApiError> {
    let value = header.ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credential)| credential.trim())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_credential() {
        assert_eq!(bearer(Some(b"Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(Some(b"bearer  abc ")).unwrap(), "abc");
        assert_eq!(bearer(Some(b"BEARER abc")).unwrap(), "abc");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [&b"Basic abc"[..], b"Bearer", b"Bearer   ", b"Bearerabc", b"\xff\xfe abc", b""] {
            assert!(bearer(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(bearer(None).is_err());
    }
}
