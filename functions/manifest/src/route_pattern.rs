//! Spin's HTTP route patterns: `/exact/path`, `/prefix/...` (the prefix itself and anything
//! below it) and `:name` segments, and how specific each one is.

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

    pub(crate) fn specificity(&self) -> (usize, bool, usize) {
        let literals = self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        let params = self.segments.len() - literals;
        (literals, !self.wildcard, usize::MAX - params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_patterns() {
        for bad in ["", "v1", "/a/.../b", "/a/*", "/a/:"] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let p = RoutePattern::parse("/v1/rooms/:room/messages").unwrap();
        assert!(p.matches("/v1/rooms/a/messages"));
        assert!(!p.matches("/v1/rooms/a/messages/b"));
        assert!(!p.matches("/v1/rooms/messages"));
        let w = RoutePattern::parse("/v1/auth/...").unwrap();
        assert!(w.matches("/v1/auth") && w.matches("/v1/auth/guest/x"));
        assert!(!w.matches("/v1/authx"));
    }
}
