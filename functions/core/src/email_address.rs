//! Email addresses as accounts know them: trimmed, lower-cased, and shaped like an address
//! (`local@domain.tld`, at most 254 bytes, no spaces or control characters).

use origo_shared::ApiError;

/// Longest address, in bytes.
pub const MAX_BYTES: usize = 254;

/// Lower-cased, trimmed email, or a 400.
pub fn normalize(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let bad = || ApiError::bad_request("email is not a valid address");
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains('@')
        || email.len() > MAX_BYTES
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(email)
}
