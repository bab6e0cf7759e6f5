//! Which session a datagram belongs to, in O(1). Participants share the shard's UDP address
//! and links this node opens have a socket each, so a datagram is known by its source address
//! and the local address it came in on; a new pair is only accepted from a STUN binding request
//! whose USERNAME names a session's ufrag (str0m's `Rtc::accepts` then checks its
//! MESSAGE-INTEGRITY), and the pair is remembered once the session took the datagram.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::SessionId;

/// Addresses and ufrags of the open sessions.
#[derive(Debug, Default)]
pub(super) struct Routes {
    /// (remote, local) → session.
    by_addr: HashMap<(SocketAddr, SocketAddr), SessionId>,
    by_ufrag: HashMap<String, SessionId>,
}

impl Routes {
    /// The session a datagram from `source` to `local` may belong to (still to be accepted by
    /// it).
    pub fn lookup(&self, source: SocketAddr, local: SocketAddr, data: &[u8]) -> Option<SessionId> {
        match self.by_addr.get(&(source, local)) {
            Some(id) => Some(*id),
            None => stun_ufrag(data).and_then(|u| self.by_ufrag.get(&u).copied()),
        }
    }

    /// A new session's ICE ufrag.
    pub fn add_ufrag(&mut self, ufrag: String, id: SessionId) {
        self.by_ufrag.insert(ufrag, id);
    }

    /// A session's ICE restarted under a new ufrag: checks naming the old one are not its any
    /// more.
    pub fn replace_ufrag(&mut self, old: &str, ufrag: String, id: SessionId) {
        if self.by_ufrag.get(old) == Some(&id) {
            self.by_ufrag.remove(old);
        }
        self.by_ufrag.insert(ufrag, id);
    }

    /// The session took a datagram from `source` to `local`: later ones between the two go to
    /// it (the first session to take a pair keeps it).
    pub fn learn(&mut self, source: SocketAddr, local: SocketAddr, id: SessionId) {
        self.by_addr.entry((source, local)).or_insert(id);
    }

    /// A closed session's ufrag and addresses.
    pub fn forget(&mut self, id: SessionId, ufrag: &str) {
        self.by_ufrag.remove(ufrag);
        self.by_addr.retain(|_, v| *v != id);
    }
}

/// The SFU-side ufrag of a STUN binding request (`USERNAME` = `server:client`).
pub fn stun_ufrag(data: &[u8]) -> Option<String> {
    // STUN: first two bits zero, magic cookie at 4..8, at least a header.
    if data.len() < 20 || data[0] >= 2 || data[4..8] != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    let msg = str0m::ice::StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    msg.split_username().map(|(server, _client)| server.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request as ICE sends it: USERNAME, PRIORITY and a MESSAGE-INTEGRITY
    /// (not a valid one: routing only reads the USERNAME; str0m checks the rest).
    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        let mut attr = |typ: u16, value: &[u8]| {
            attrs.extend_from_slice(&typ.to_be_bytes());
            attrs.extend_from_slice(&(value.len() as u16).to_be_bytes());
            attrs.extend_from_slice(value);
            while attrs.len() % 4 != 0 {
                attrs.push(0);
            }
        };
        attr(0x0006, username.as_bytes());
        attr(0x0024, &[0, 0, 0, 1]);
        attr(0x0008, &[0; 20]);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        m.extend_from_slice(&[9u8; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn the_server_half_of_the_username_is_the_ufrag() {
        assert_eq!(stun_ufrag(&binding_request("sfuufrag:client")).as_deref(), Some("sfuufrag"));
        assert_eq!(stun_ufrag(&[]), None);
        assert_eq!(stun_ufrag(&[0x80; 40]), None, "RTP, not STUN");
        let mut not_cookie = binding_request("a:b");
        not_cookie[4] = 0;
        assert_eq!(stun_ufrag(&not_cookie), None);
    }

    #[test]
    fn addresses_are_learnt_and_forgotten_with_their_session() {
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:1000".parse().unwrap(), "127.0.0.1:2000".parse().unwrap());
        let (here, link): (SocketAddr, SocketAddr) =
            ("127.0.0.1:5000".parse().unwrap(), "127.0.0.1:5001".parse().unwrap());
        let mut r = Routes::default();
        r.add_ufrag("u1".into(), 1);
        r.add_ufrag("u2".into(), 2);
        assert_eq!(r.lookup(a, here, b"not stun"), None, "an unknown address needs STUN");
        assert_eq!(r.lookup(a, here, &binding_request("u1:x")), Some(1));
        assert_eq!(r.lookup(a, here, &binding_request("nobody:x")), None);
        r.learn(a, here, 1);
        r.learn(a, here, 2);
        assert_eq!(r.lookup(a, here, b"media"), Some(1), "the first session keeps an address");
        assert_eq!(r.lookup(a, link, b"media"), None, "the same peer on another local socket is another pair");
        r.learn(a, link, 2);
        assert_eq!(r.lookup(a, link, b"media"), Some(2));
        r.learn(b, here, 2);
        r.forget(1, "u1");
        assert_eq!(r.lookup(a, here, b"media"), None);
        assert_eq!(r.lookup(a, here, &binding_request("u1:x")), None);
        assert_eq!(r.lookup(b, here, b"media"), Some(2));
        assert_eq!(r.lookup(a, link, b"media"), Some(2));
    }
}
