//! The routes of an application: which component serves a path. When several patterns
//! match, the most specific one wins: more literal segments first, then a pattern without a
//! trailing wildcard, then fewer parameters.

use crate::route_pattern::RoutePattern;

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
}
