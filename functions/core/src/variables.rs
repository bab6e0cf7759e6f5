//! The deployment's variables as the functions read them: trimmed, empty meaning unset, and
//! the settings they hold — the token configuration (parsed by
//! `origo_shared::token::TokenConfig`), the guests' organisation, the node selector's.

use origo_shared::ApiError;
use origo_shared::node::SelectorConfig;
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

/// The organisation guests act in (`guest_org`, default `public`).
pub fn guest_org(p: &impl Platform) -> String {
    var(p, "guest_org").unwrap_or_else(|| "public".into())
}

/// When a node counts as stale (`node_stale_after_ms`).
pub fn selector_config(p: &impl Platform) -> SelectorConfig {
    SelectorConfig { stale_after_ms: num_var(p, "node_stale_after_ms", SelectorConfig::default().stale_after_ms) }
}
