//! The deployment's variables as the functions read them: trimmed, empty meaning unset, and
//! the token configuration they hold (parsed by `origo_shared::token::TokenConfig`).

use origo_shared::ApiError;
use origo_shared::token::TokenConfig;

use crate::platform::Platform;

/// A non-empty variable.
pub(crate) fn var(p: &impl Platform, name: &str) -> Option<String> {
    p.variable(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A numeric variable, or `default` when unset or unparsable.
pub(crate) fn num_var<T: std::str::FromStr>(p: &impl Platform, name: &str, default: T) -> T {
    var(p, name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The signing keys and token lifetimes (`token_signing_keys`, `token_secret`, `*_ttl_secs`).
pub fn token_config(p: &impl Platform) -> Result<TokenConfig, ApiError> {
    TokenConfig::from_variables(|name| p.variable(name))
}
