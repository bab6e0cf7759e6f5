//! A component's `allowed_outbound_hosts`: which `scheme://host:port` it may call. Entries
//! are written as Spin writes them: `https://api.example.com`, `http://127.0.0.1:*`,
//! `https://*.example.com:8443`, `*://*:*`.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain (not the apex).
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    /// `None` for `*://`.
    scheme: Option<String>,
    host: Pattern,
    /// `None` for `:*`.
    port: Option<u16>,
}

/// A component's `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<Allowed>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses entries such as `https://api.example.com`, `http://127.0.0.1:*`,
    /// `https://*.example.com:8443`, `*://*:*`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for e in entries {
            let (scheme, rest) = e.split_once("://").ok_or_else(|| format!("allowed host {e:?} needs a scheme"))?;
            let scheme = match scheme {
                "*" => None,
                "http" | "https" => Some(scheme.to_owned()),
                other => {
                    return Err(format!("allowed host {e:?}: scheme {other} is not supported"));
                }
            };
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                return Err(format!("allowed host {e:?} must not have a path"));
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, "*")) => (h, None),
                Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| format!("allowed host {e:?}: bad port"))?)),
                None => {
                    let port = match &scheme {
                        Some(s) => default_port(s),
                        None => {
                            return Err(format!("allowed host {e:?}: `*://` needs an explicit port or `:*`"));
                        }
                    };
                    (rest, port)
                }
            };
            let host = match host {
                "" => return Err(format!("allowed host {e:?} has no host")),
                "*" => Pattern::Any,
                h if h.starts_with("*.") && h.len() > 2 => Pattern::Suffix(h[1..].to_ascii_lowercase()),
                h if h.contains('*') => {
                    return Err(format!("allowed host {e:?}: '*' only as a whole label prefix"));
                }
                h => Pattern::Exact(h.to_ascii_lowercase()),
            };
            out.push(Allowed { scheme, host, port });
        }
        Ok(AllowedHosts { entries: out })
    }

    /// True when a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return false;
        };
        self.entries.iter().any(|a| {
            a.scheme.as_deref().is_none_or(|s| s == scheme)
                && a.port.is_none_or(|p| p == port)
                && match &a.host {
                    Pattern::Any => true,
                    Pattern::Exact(h) => *h == host,
                    Pattern::Suffix(s) => host.ends_with(s.as_str()),
                }
        })
    }

    /// These entries and `more`'s.
    pub fn with(mut self, more: AllowedHosts) -> Self {
        self.entries.extend(more.entries);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn matching() {
        let a = hosts(&[
            "https://api.example.com",
            "http://127.0.0.1:*",
            "https://*.partner.test:8443",
            "http://origo.internal",
        ]);
        assert!(a.allows("https", "api.example.com", None));
        assert!(a.allows("https", "API.example.com", Some(443)));
        assert!(!a.allows("https", "api.example.com", Some(8443)));
        assert!(!a.allows("http", "api.example.com", None));
        assert!(a.allows("http", "127.0.0.1", Some(9999)));
        assert!(!a.allows("https", "127.0.0.1", Some(9999)));
        assert!(a.allows("https", "hooks.partner.test", Some(8443)));
        assert!(!a.allows("https", "partner.test", Some(8443)));
        assert!(!a.allows("https", "evilpartner.test", Some(8443)));
        assert!(a.allows("http", "origo.internal", None));
        assert!(!AllowedHosts::default().allows("https", "example.com", None));
        let any = hosts(&["*://*:*"]);
        assert!(any.allows("http", "x", Some(1)));
        assert!(!any.allows("gopher", "x", None), "unknown scheme without port");
    }

    #[test]
    fn entries_added_to_a_list() {
        let both = hosts(&["https://*:*"]).with(hosts(&["http://127.0.0.1:*"]));
        assert!(both.allows("https", "example.com", None));
        assert!(both.allows("http", "127.0.0.1", Some(4000)));
        assert!(!both.allows("http", "example.com", None));
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https://exa*mple.com",
            "https://example.com/path",
            "https://example.com:99999",
            "*://example.com",
        ] {
            assert!(AllowedHosts::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
