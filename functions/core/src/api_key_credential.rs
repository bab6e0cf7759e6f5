//! The partner API key as a credential: `osk_<id>_<secret>`, where `id` is 16 lowercase hex
//! digits (the key record's id) and `secret` 32–128 characters (only its digest is stored).

/// Every API key starts with this.
pub const PREFIX: &str = "osk_";

/// True for key ids: 16 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Splits `osk_<id>_<secret>` into id and secret.
pub fn split(raw: &str) -> Option<(&str, &str)> {
    let rest = raw.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (valid_id(id) && (32..=128).contains(&secret.len())).then_some((id, secret))
}

/// The credential of key `id` with `secret`.
pub fn compose(id: &str, secret: &str) -> String {
    format!("{PREFIX}{id}_{secret}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let secret = "s".repeat(43);
        let raw = compose("0123456789abcdef", &secret);
        assert_eq!(split(&raw), Some(("0123456789abcdef", secret.as_str())));
        assert_eq!(split("osk_0123456789ABCDEF_ssssssssssssssssssssssssssssssssssss"), None);
        assert_eq!(split("osk_0123456789abcdef_short"), None);
        assert_eq!(split("0123456789abcdef_ssssssssssssssssssssssssssssssss"), None);
    }
}
