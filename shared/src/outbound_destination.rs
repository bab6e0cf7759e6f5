//! Where outbound HTTP chosen by a customer or a configuration may go: webhook endpoints,
//! the OIDC issuer and the endpoints its discovery names, email and other providers.
//!
//! The rule: `https` only, to a host whose every address passes [`destination_policy`]
//! (no loopback, private, link-local, metadata, … address, in any embedded form); names that
//! only mean something inside a network (`localhost`, `*.localhost`, `*.local`, `*.internal`)
//! are refused without resolving them. The deployment names its exceptions in the variable
//! [`TRUSTED_HOSTS_VARIABLE`] (`outbound_trusted_hosts`): hosts (`host` or `host:port`) that may
//! be reached over plain `http` and at any address — a local receiver in a test, an internal
//! mail relay.
//!
//! [`check_url`] is the part of the rule that needs no resolver: the scheme, the local names,
//! and hosts written as IP addresses. It parses the URL as WHATWG URL parsers (browsers, the
//! Workers runtime, `reqwest`) do, so every spelling of an address (`2130706433`, `0x7f.1`,
//! `0177.0.0.1`, `[::ffff:127.0.0.1]`) is judged as the address it is. Hosts that resolve
//! names then judge every resolved address with [`check_resolved`] and connect only to them.
//!
//! [`destination_policy`]: crate::destination_policy

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::destination_policy::{self, DenyReason};

/// The deployment variable naming the trusted hosts, comma-separated `host` or `host:port`.
pub const TRUSTED_HOSTS_VARIABLE: &str = "outbound_trusted_hosts";

/// Hosts the deployment trusts: reachable over plain `http` and at any address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedHosts {
    entries: Vec<TrustedHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TrustedHost {
    host: Host<String>,
    /// `None`: every port.
    port: Option<u16>,
}

impl TrustedHosts {
    /// No trusted host: every destination follows the rule.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of `host` or `host:port` entries (IPv6 addresses in
    /// brackets, `[::1]:8080`); blanks around entries and empty entries are ignored.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut hosts = TrustedHosts::none();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            hosts.add(entry)?;
        }
        Ok(hosts)
    }

    /// Adds one `host` or `host:port` entry.
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        let bad = |why: &str| format!("{TRUSTED_HOSTS_VARIABLE}: bad entry {entry:?}: {why}");
        let entry = entry.trim();
        let (host_text, port_text) = if let Some(rest) = entry.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("missing ]"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("expected :port after ]"))?),
            };
            (format!("[{inside}]"), port)
        } else if entry.matches(':').count() > 1 {
            // A bare IPv6 address.
            (format!("[{entry}]"), None)
        } else {
            match entry.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (entry.to_owned(), None),
            }
        };
        if host_text.is_empty() || host_text.contains(['/', '@', '?', '#']) {
            return Err(bad("expected host or host:port"));
        }
        let host = normalized(Host::parse(&host_text).map_err(|e| bad(&e.to_string()))?);
        let port = match port_text {
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| bad("port out of range"))?)
            }
            Some(_) => return Err(bad("bad port")),
        };
        self.entries.push(TrustedHost { host, port });
        Ok(())
    }

    /// Whether `host` (as [`check_url`] found it) on `port` is trusted.
    pub fn trusts(&self, host: &DestinationHost, port: u16) -> bool {
        self.entries.iter().any(|e| {
            let same_host = match (&e.host, host) {
                (Host::Domain(d), DestinationHost::Name(n)) => d == n,
                (Host::Ipv4(a), DestinationHost::Ip(ip)) => IpAddr::V4(*a) == *ip,
                (Host::Ipv6(a), DestinationHost::Ip(ip)) => IpAddr::V6(*a) == *ip,
                _ => false,
            };
            same_host && e.port.is_none_or(|p| p == port)
        })
    }

    /// Whether no host is trusted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A destination's host: an address or a name still to resolve (lower case, IDNA-mapped,
/// without a trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DestinationHost {
    /// The URL names an address.
    Ip(IpAddr),
    /// The URL names a host to resolve.
    Name(String),
}

impl fmt::Display for DestinationHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationHost::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            DestinationHost::Ip(a) => write!(f, "{a}"),
            DestinationHost::Name(n) => f.write_str(n),
        }
    }
}

/// A URL that passed [`check_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The URL as the WHATWG parser wrote it: what a client following it requests.
    pub url: Url,
    /// Its host.
    pub host: DestinationHost,
    /// Its port (the scheme's default when the URL names none).
    pub port: u16,
    /// Whether the deployment trusts the host: then any address is allowed. Otherwise every
    /// address a name resolves to must pass [`check_resolved`].
    pub trusted: bool,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute URL with a host.
    InvalidUrl,
    /// A scheme other than `http` and `https`.
    Scheme(String),
    /// Plain `http` to a host the deployment does not trust.
    PlainHttp,
    /// A name that only means something inside a network (`localhost`, `*.local`, …).
    LocalName,
    /// The address (written in the URL, or one the name resolved to) is in a denied range.
    Address(DenyReason),
}

impl Refusal {
    /// A short snake_case name, for logs and metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::InvalidUrl => "invalid_url",
            Refusal::Scheme(_) => "scheme",
            Refusal::PlainHttp => "plain_http",
            Refusal::LocalName => "local_name",
            Refusal::Address(reason) => reason.as_str(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::InvalidUrl => f.write_str("the URL must be an absolute https URL with a host"),
            Refusal::Scheme(s) => write!(f, "the URL's scheme {s:?} is not allowed; use https"),
            Refusal::PlainHttp => f.write_str("the URL must use https (plain http is allowed only for trusted hosts)"),
            Refusal::LocalName => {
                f.write_str("the URL's host is a local name (localhost, *.local, *.internal), which is not reachable")
            }
            Refusal::Address(reason) => write!(f, "the URL's host is in a non-public address range ({reason})"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Judges `url` without resolving anything: the scheme, local names, and hosts written as
/// addresses. A name that passes must still have each resolved address judged by
/// [`check_resolved`] unless the destination is [`Destination::trusted`].
pub fn check_url(url: &str, trusted: &TrustedHosts) -> Result<Destination, Refusal> {
    // WHATWG parsers forgive what other parsers refuse or read differently (`https:///host`,
    // backslashes, tabs and newlines inside the URL): only URLs every parser reads alike pass.
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if url.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\')
        || after_scheme.is_empty()
        || after_scheme.starts_with('/')
    {
        return Err(Refusal::InvalidUrl);
    }
    let parsed = Url::parse(url).map_err(|_| Refusal::InvalidUrl)?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(Refusal::Scheme(scheme.to_owned()));
    }
    let host = match parsed.host() {
        Some(Host::Ipv4(a)) => DestinationHost::Ip(IpAddr::V4(a)),
        Some(Host::Ipv6(a)) => DestinationHost::Ip(IpAddr::V6(a)),
        Some(Host::Domain(d)) if !d.is_empty() => DestinationHost::Name(d.trim_end_matches('.').to_ascii_lowercase()),
        _ => return Err(Refusal::InvalidUrl),
    };
    if matches!(&host, DestinationHost::Name(n) if n.is_empty()) {
        return Err(Refusal::InvalidUrl);
    }
    let port = parsed.port_or_known_default().ok_or(Refusal::InvalidUrl)?;
    if trusted.trusts(&host, port) {
        return Ok(Destination { url: parsed, host, port, trusted: true });
    }
    if scheme != "https" {
        return Err(Refusal::PlainHttp);
    }
    match &host {
        DestinationHost::Ip(ip) => check_resolved([*ip])?,
        DestinationHost::Name(name) if is_local_name(name) => return Err(Refusal::LocalName),
        DestinationHost::Name(_) => {}
    }
    Ok(Destination { url: parsed, host, port, trusted: false })
}

/// `Ok` when every address passes the policy; else the first refusal. An empty list passes
/// (there is nothing to connect to).
pub fn check_resolved(addrs: impl IntoIterator<Item = IpAddr>) -> Result<(), Refusal> {
    for ip in addrs {
        if let Some(reason) = destination_policy::classify(ip) {
            return Err(Refusal::Address(reason));
        }
    }
    Ok(())
}

/// `localhost` and `*.localhost` (RFC 6761), `*.local` (mDNS, RFC 6762) and `*.internal`
/// (private use, ICANN 2024).
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    ["localhost", "local", "internal"]
        .iter()
        .any(|suffix| name == *suffix || name.strip_suffix(suffix).is_some_and(|rest| rest.ends_with('.')))
}

/// A trusted entry's host in the form [`check_url`] compares with.
fn normalized(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(d) => Host::Domain(d.trim_end_matches('.').to_ascii_lowercase()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> Refusal {
        match check_url(url, &TrustedHosts::none()) {
            Ok(d) => panic!("{url} passed as {d:?}"),
            Err(r) => r,
        }
    }

    #[test]
    fn https_to_public_names_and_addresses_passes() {
        for url in ["https://hooks.partner.test/in", "https://HOOKS.Partner.test./in?x=1", "https://8.8.8.8:8443/"] {
            let d = check_url(url, &TrustedHosts::none()).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(!d.trusted);
        }
        let d = check_url("https://HOOKS.Partner.test./in", &TrustedHosts::none()).unwrap();
        assert_eq!(d.host, DestinationHost::Name("hooks.partner.test".into()));
        assert_eq!(d.port, 443);
    }

    #[test]
    fn plain_http_and_other_schemes_refused() {
        assert_eq!(refused("http://hooks.partner.test/in"), Refusal::PlainHttp);
        assert_eq!(refused("ftp://hooks.partner.test/in"), Refusal::Scheme("ftp".into()));
        assert_eq!(refused("file://host/etc/passwd"), Refusal::Scheme("file".into()));
        assert_eq!(refused("file:///etc/passwd"), Refusal::InvalidUrl);
        assert_eq!(refused("gopher://x/"), Refusal::Scheme("gopher".into()));
        for bad in [
            "",
            "/relative",
            "hooks.partner.test/in",
            "https://",
            "https:///x",
            "https://[::1",
            "https:/x.test/",
            "https:\\\\x.test/",
            "https://x.test\\@127.0.0.1/",
            "https://x.te\tst/",
            " https://x.test/",
        ] {
            assert!(check_url(bad, &TrustedHosts::none()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_spelling_of_a_denied_address_refused() {
        use DenyReason::*;
        let cases = [
            ("https://127.0.0.1/", Loopback),
            ("https://127.0.0.1.:8443/", Loopback),
            ("https://2130706433/", Loopback),
            ("https://0x7f000001/", Loopback),
            ("https://0x7f.1/", Loopback),
            ("https://0177.0.0.1/", Loopback),
            ("https://127.1/", Loopback),
            ("https://0/", Unspecified),
            ("https://0.0.0.0/", Unspecified),
            ("https://[::1]/", Loopback),
            ("https://[::]/", Unspecified),
            ("https://[::ffff:127.0.0.1]/", Loopback),
            ("https://[::ffff:7f00:1]/", Loopback),
            ("https://[0:0:0:0:0:ffff:169.254.169.254]/", CloudMetadata),
            ("https://[64:ff9b::a9fe:a9fe]/", CloudMetadata),
            ("https://[2002:a00:1::]/", Private),
            ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", Loopback),
            ("https://10.0.0.1/", Private),
            ("https://012.0.0.1/", Private),
            ("https://192.168.1.1/", Private),
            ("https://172.16.0.1/", Private),
            ("https://169.254.169.254/latest/meta-data/", CloudMetadata),
            ("https://2852039166/", CloudMetadata),
            ("https://100.64.0.1/", Cgnat),
            ("https://[fd00::1]/", Private),
            ("https://[fe80::1]/", LinkLocal),
            ("https://224.0.0.1/", Multicast),
            ("https://[ff02::1]/", Multicast),
            ("https://192.0.2.1/", Documentation),
            ("https://[2001:db8::1]/", Documentation),
            ("https://%31%32%37.0.0.1/", Loopback),
        ];
        for (url, reason) in cases {
            assert_eq!(refused(url), Refusal::Address(reason), "{url}");
        }
    }

    #[test]
    fn local_names_refused() {
        for url in [
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://origo.internal/internal/v1/rooms",
        ] {
            assert_eq!(refused(url), Refusal::LocalName, "{url}");
        }
        for url in ["https://notlocalhost.test/", "https://internal.example.com/", "https://local.example/"] {
            assert!(check_url(url, &TrustedHosts::none()).is_ok(), "{url}");
        }
    }

    #[test]
    fn trusted_hosts_allow_http_and_any_address() {
        let trusted = TrustedHosts::parse(" 127.0.0.1 , localhost:9000,[::1]:8080, Mail.Relay.internal ,,").unwrap();
        for url in [
            "http://127.0.0.1:1234/hook",
            "http://2130706433:1234/hook",
            "https://127.0.0.1/",
            "http://localhost:9000/",
            "http://[::1]:8080/",
            "http://mail.relay.internal/send",
            "http://MAIL.relay.internal.:25/send",
        ] {
            let d = check_url(url, &trusted).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(d.trusted, "{url}");
        }
        // Only the port named, and only the host named.
        assert_eq!(check_url("http://localhost:9001/", &trusted), Err(Refusal::PlainHttp));
        assert_eq!(check_url("https://localhost:9001/", &trusted), Err(Refusal::LocalName));
        assert_eq!(check_url("http://[::1]:8081/", &trusted), Err(Refusal::PlainHttp));
        assert_eq!(check_url("https://127.0.0.2/", &trusted), Err(Refusal::Address(DenyReason::Loopback)));
        assert_eq!(check_url("https://[::ffff:127.0.0.1]/", &trusted), Err(Refusal::Address(DenyReason::Loopback)));
        // Still http(s) only.
        assert_eq!(check_url("ftp://127.0.0.1/", &trusted), Err(Refusal::Scheme("ftp".into())));
    }

    #[test]
    fn trusted_hosts_parse_errors() {
        for bad in ["a:b", "[::1", "[::1]x", "host:", "host:70000", "http://x", "a/b", "u@h", "[zz]"] {
            assert!(TrustedHosts::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TrustedHosts::parse("").unwrap().is_empty());
        assert!(TrustedHosts::parse(" , ").unwrap().is_empty());
        let bare_v6 = TrustedHosts::parse("::1").unwrap();
        assert!(bare_v6.trusts(&DestinationHost::Ip("::1".parse().unwrap()), 80));
    }

    #[test]
    fn resolved_addresses_all_judged() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(check_resolved([ip("8.8.8.8"), ip("2606:4700:4700::1111")]), Ok(()));
        assert_eq!(check_resolved([ip("8.8.8.8"), ip("10.0.0.1")]), Err(Refusal::Address(DenyReason::Private)));
        assert_eq!(check_resolved([ip("::ffff:169.254.169.254")]), Err(Refusal::Address(DenyReason::CloudMetadata)));
        assert_eq!(check_resolved([]), Ok(()));
    }

    #[test]
    fn refusals_name_themselves() {
        assert_eq!(Refusal::Address(DenyReason::Loopback).as_str(), "loopback");
        assert_eq!(Refusal::PlainHttp.as_str(), "plain_http");
        assert!(Refusal::Address(DenyReason::Private).to_string().contains("private"));
        assert!(Refusal::PlainHttp.to_string().contains("https"));
    }
}
