//! Spin's HTTP route patterns: `/exact/path`, `/prefix/...` (the prefix itself and anything
//! below it) and `:name` segments. When several patterns match, the most specific one wins:
//! more literal segments first, then a pattern without a trailing wildcard, then fewer
//! parameters.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

/// One route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl RoutePattern {
    pub fn parse(route: &str) -> Result<Self, String> {
        if !route.starts_with('/') {
            return Err(format!("route {route:?} must start with '/'"));
        }
        let (body, wildcard) = match route.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None if route == "/..." => ("", true),
            None => (route, false),
        };
        let mut segments = Vec::new();
        for s in body.split('/').filter(|s| !s.is_empty()) {
            if s == "..." || s.contains('*') {
                return Err(format!("route {route:?}: '...' may only end a route"));
            }
            match s.strip_prefix(':') {
                Some("") => return Err(format!("route {route:?}: empty parameter name")),
                Some(_) => segments.push(Segment::Param),
                None => segments.push(Segment::Literal(s.to_owned())),
            }
        }
        Ok(RoutePattern { raw: route.to_owned(), segments, wildcard })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True when `path` (no query string) matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        for seg in &self.segments {
            match (seg, parts.next()) {
                (Segment::Literal(l), Some(p)) if l == p => {}
                (Segment::Param, Some(_)) => {}
                _ => return false,
            }
        }
        self.wildcard || parts.next().is_none()
    }

    fn specificity(&self) -> (usize, bool, usize) {
        let literals = self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        let params = self.segments.len() - literals;
        (literals, !self.wildcard, usize::MAX - params)
    }
}

/// Routes to component ids.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(RoutePattern, String)>,
}

impl RouteTable {
    pub fn new(routes: Vec<(RoutePattern, String)>) -> Self {
        RouteTable { routes }
    }

    /// The component serving `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<&str> {
        self.routes
            .iter()
            .filter(|(p, _)| p.matches(path))
            .max_by_key(|(p, _)| p.specificity())
            .map(|(_, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        RouteTable::new(routes.iter().map(|(r, c)| (RoutePattern::parse(r).unwrap(), (*c).to_owned())).collect())
    }

    #[test]
    fn exact_wildcard_and_params() {
        let t = table(&[
            ("/v1/auth/...", "auth"),
            ("/v1/rooms", "room"),
            ("/v1/rooms/:room", "room"),
            ("/v1/rooms/:room/messages", "chat"),
            ("/v1/rooms/lobby/messages", "lobby"),
            ("/...", "fallback"),
        ]);
        assert_eq!(t.lookup("/v1/auth/guest"), Some("auth"));
        assert_eq!(t.lookup("/v1/auth"), Some("auth"));
        assert_eq!(t.lookup("/v1/authx"), Some("fallback"));
        assert_eq!(t.lookup("/v1/rooms"), Some("room"));
        assert_eq!(t.lookup("/v1/rooms/"), Some("room"));
        assert_eq!(t.lookup("/v1/rooms/standup"), Some("room"));
        assert_eq!(t.lookup("/v1/rooms/standup/messages"), Some("chat"));
        assert_eq!(t.lookup("/v1/rooms/lobby/messages"), Some("lobby"));
        assert_eq!(t.lookup("/v1/rooms/standup/join"), Some("fallback"));
        assert_eq!(t.lookup("/"), Some("fallback"));
        let no_fallback = table(&[("/v1/rooms/:room", "room")]);
        assert_eq!(no_fallback.lookup("/v1/rooms/a/b"), None);
        assert_eq!(no_fallback.lookup("/v1/rooms"), None);
    }

    #[test]
    fn bad_patterns() {
        for bad in ["", "v1", "/a/.../b", "/a/*", "/a/:"] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
