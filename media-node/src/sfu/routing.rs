//! Which session a datagram belongs to, in O(1). Every session shares the shard's UDP address,
//! so a datagram is known by its source address; a new address is only accepted from a STUN
//! binding request whose USERNAME names a session's ufrag (str0m's `Rtc::accepts` then checks
//! its MESSAGE-INTEGRITY), and the address is remembered once the session took the datagram.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::SessionId;

/// Addresses and ufrags of the open sessions.
#[derive(Debug, Default)]
pub(super) struct Routes {
    by_addr: HashMap<SocketAddr, SessionId>,
    by_ufrag: HashMap<String, SessionId>,
}

impl Routes {
    /// The session a datagram from `source` may belong to (still to be accepted by it).
    pub fn lookup(&self, source: SocketAddr, data: &[u8]) -> Option<SessionId> {
        match self.by_addr.get(&source) {
            Some(id) => Some(*id),
            None => stun_ufrag(data).and_then(|u| self.by_ufrag.get(&u).copied()),
        }
    }

    /// A new session's ICE ufrag.
    pub fn add_ufrag(&mut self, ufrag: String, id: SessionId) {
        self.by_ufrag.insert(ufrag, id);
    }

    /// The session took a datagram from `source`: later ones from there go to it (the first
    /// session to take an address keeps it).
    pub fn learn(&mut self, source: SocketAddr, id: SessionId) {
        self.by_addr.entry(source).or_insert(id);
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
        let mut r = Routes::default();
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:1000".parse().unwrap(), "127.0.0.1:2000".parse().unwrap());
        r.add_ufrag("u1".into(), 1);
        r.add_ufrag("u2".into(), 2);
        assert_eq!(r.lookup(a, b"not stun"), None, "an unknown address needs STUN");
        assert_eq!(r.lookup(a, &binding_request("u1:x")), Some(1));
        assert_eq!(r.lookup(a, &binding_request("nobody:x")), None);
        r.learn(a, 1);
        r.learn(a, 2);
        assert_eq!(r.lookup(a, b"media"), Some(1), "the first session keeps an address");
        r.learn(b, 2);
        r.forget(1, "u1");
        assert_eq!(r.lookup(a, b"media"), None);
        assert_eq!(r.lookup(a, &binding_request("u1:x")), None);
        assert_eq!(r.lookup(b, b"media"), Some(2));
    }
}
