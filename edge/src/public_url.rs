//! The deployment's public base URL (the `public_url` variable), from which the functions build
//! every URL they hand out: verification links, the OIDC redirect URI, the coordinator URL of a
//! join. `origo` never takes it from a request's `Host` header, which any client sets: `origo
//! edge` requires `public_url` when the manifest declares it, and `origo dev` defaults it to
//! the address it listens on. The URL `origo` gives the functions as the request's
//! (`spin-full-url`) is built on the same base.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::config::Mode;
use origo_manifest::Manifest;

/// The variable's name in the manifest.
pub const VARIABLE: &str = "public_url";

/// What `spin-full-url` is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBase {
    /// This base (`https://meet.example.com`, no trailing `/`).
    Fixed(String),
    /// `origo dev` listening on every interface with no `public_url`: the `Host` header, so a
    /// phone on the developer's network reaches it (never in `origo edge`).
    DevHost,
}

/// Checks or fills `public_url` in the resolved `values` and says what request URLs are built
/// on. `bound` is the address `origo` listens on.
pub fn settle(
    mode: Mode,
    manifest: &Manifest,
    values: &mut HashMap<String, String>,
    bound: SocketAddr,
) -> Result<RequestBase, String> {
    let own = format!("http://{bound}");
    if !manifest.variables.contains_key(VARIABLE) {
        return Ok(RequestBase::Fixed(own));
    }
    let given = values.get(VARIABLE).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match (given, mode) {
        (Some(url), _) => {
            let url = check(&url)?;
            values.insert(VARIABLE.into(), url.clone());
            Ok(RequestBase::Fixed(url))
        }
        (None, Mode::Dev) if bound.ip().is_unspecified() => Ok(RequestBase::DevHost),
        (None, Mode::Dev) => {
            values.insert(VARIABLE.into(), own.clone());
            Ok(RequestBase::Fixed(own))
        }
        (None, _) => Err(format!(
            "variable {VARIABLE} is required by origo edge: the deployment's public base URL, such as \
             https://meet.example.com (--var {VARIABLE}=URL or ORIGO_VAR_PUBLIC_URL); links, OIDC redirects \
             and coordinator URLs are built from it, never from a request's Host header"
        )),
    }
}

/// `url` as a base: http(s), a host, no query or fragment, no trailing `/`.
fn check(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("variable {VARIABLE} {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("variable {VARIABLE} {url:?}: an http:// or https:// URL with a host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("variable {VARIABLE} {url:?}: a base URL, without query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_is_http_with_a_host() {
        assert_eq!(check("https://meet.example.com/").unwrap(), "https://meet.example.com");
        assert_eq!(check("http://10.0.0.5:8080/origo").unwrap(), "http://10.0.0.5:8080/origo");
        for bad in
            ["meet.example.com", "ftp://meet.example.com", "https://meet.example.com/?a=1", "https://x/#f", "http://"]
        {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
