//! The outbound destination rule where a function takes a destination from a caller (a
//! webhook endpoint at registration) or runs on a host that cannot resolve names (Workers):
//! [`origo_shared::outbound_destination::check_url`] with the deployment's
//! `outbound_trusted_hosts`. Hosts that resolve names also judge every address they connect
//! to (`origo`, `origo-lambda`: `origo-guarded-client`).

use origo_shared::ApiError;
use origo_shared::outbound_destination::{Destination, TRUSTED_HOSTS_VARIABLE, TrustedHosts, check_url};

use crate::platform::Platform;
use crate::variables::var;

/// The hosts the deployment trusts (plain `http`, any address).
pub fn trusted_hosts(p: &impl Platform) -> Result<TrustedHosts, ApiError> {
    TrustedHosts::parse(&var(p, TRUSTED_HOSTS_VARIABLE).unwrap_or_default()).map_err(ApiError::internal)
}

/// `url` if the rule allows it as a destination; else a `400 bad_request` saying why.
pub fn check(p: &impl Platform, what: &str, url: &str) -> Result<Destination, ApiError> {
    check_url(url, &trusted_hosts(p)?).map_err(|refusal| ApiError::bad_request(format!("{what} is refused: {refusal}")))
}
