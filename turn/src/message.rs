//! The STUN message codec (RFC 8489): header, attributes, MESSAGE-INTEGRITY (HMAC-SHA1),
//! MESSAGE-INTEGRITY-SHA256 and FINGERPRINT. Parsing borrows the datagram; nothing is copied
//! until a value is used.

use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::attribute::{self, FINGERPRINT, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256};
pub use crate::header::{HEADER_LEN, MAGIC_COOKIE};

const FINGERPRINT_XOR: u32 = 0x5354_554E;
/// Largest message this codec accepts (a UDP datagram).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// STUN methods Origo serves.
pub mod method {
    pub const BINDING: u16 = 0x001;
    pub const ALLOCATE: u16 = 0x003;
    pub const REFRESH: u16 = 0x004;
    pub const SEND: u16 = 0x006;
    pub const DATA: u16 = 0x007;
    pub const CREATE_PERMISSION: u16 = 0x008;
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// The class bits of the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }
}

/// Packs a method and class into the 14-bit message type.
pub fn message_type(method: u16, class: Class) -> u16 {
    let c = class.bits();
    (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

/// Why bytes are not a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("shorter than a STUN header")]
    TooShort,
    #[error("not a STUN message (first bits or magic cookie)")]
    NotStun,
    #[error("length field does not match the datagram")]
    BadLength,
    #[error("attribute runs past the end of the message")]
    TruncatedAttribute,
    #[error("attribute after FINGERPRINT or a non-integrity attribute after MESSAGE-INTEGRITY")]
    AttributeAfterIntegrity,
}

/// Where an attribute's value sits in the message.
#[derive(Debug, Clone, Copy)]
struct RawAttr {
    typ: u16,
    /// Offset of the attribute header.
    offset: usize,
    len: usize,
}

/// A parsed STUN message borrowing its bytes.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub method: u16,
    pub class: Class,
    pub transaction_id: [u8; 12],
    bytes: &'a [u8],
    attrs: Vec<RawAttr>,
}

/// The outcome of checking message integrity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// No MESSAGE-INTEGRITY(-SHA256) attribute.
    Absent,
    Valid,
    Invalid,
}

/// True when `bytes` starts like a STUN message (quick demultiplexing check).
pub fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN && bytes[0] & 0xC0 == 0 && bytes[4..8] == MAGIC_COOKIE.to_be_bytes()
}

impl<'a> Message<'a> {
    /// Parses exactly one message occupying all of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        if !looks_like_stun(bytes) {
            return Err(ParseError::NotStun);
        }
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if len % 4 != 0 || HEADER_LEN + len != bytes.len() {
            return Err(ParseError::BadLength);
        }
        let (method, class) = split_type(u16::from_be_bytes([bytes[0], bytes[1]]));
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&bytes[8..20]);
        let mut attrs = Vec::new();
        let mut pos = HEADER_LEN;
        let (mut seen_integrity, mut seen_fingerprint) = (false, false);
        while pos < bytes.len() {
            if pos + 4 > bytes.len() {
                return Err(ParseError::TruncatedAttribute);
            }
            let typ = u16::from_be_bytes([bytes[pos], bytes[pos + 1]]);
            let alen = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
            let padded = (alen + 3) & !3;
            if pos + 4 + padded > bytes.len() {
                return Err(ParseError::TruncatedAttribute);
            }
            if seen_fingerprint
                || (seen_integrity && typ != MESSAGE_INTEGRITY_SHA256 && typ != FINGERPRINT && typ != MESSAGE_INTEGRITY)
            {
                return Err(ParseError::AttributeAfterIntegrity);
            }
            match typ {
                MESSAGE_INTEGRITY | MESSAGE_INTEGRITY_SHA256 => seen_integrity = true,
                FINGERPRINT => seen_fingerprint = true,
                _ => {}
            }
            attrs.push(RawAttr { typ, offset: pos, len: alen });
            pos += 4 + padded;
        }
        Ok(Message { method, class, transaction_id, bytes, attrs })
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The value of the first attribute of type `typ`.
    pub fn get(&self, typ: u16) -> Option<&'a [u8]> {
        self.attrs.iter().find(|a| a.typ == typ).map(|a| &self.bytes[a.offset + 4..a.offset + 4 + a.len])
    }

    /// Every attribute type, in order.
    pub fn attribute_types(&self) -> impl Iterator<Item = u16> + '_ {
        self.attrs.iter().map(|a| a.typ)
    }

    /// A UTF-8 attribute value (USERNAME, REALM, NONCE, SOFTWARE).
    pub fn get_str(&self, typ: u16) -> Option<&'a str> {
        self.get(typ).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A 32-bit attribute value (LIFETIME, ...).
    pub fn get_u32(&self, typ: u16) -> Option<u32> {
        self.get(typ).and_then(|v| v.try_into().ok()).map(u32::from_be_bytes)
    }

    /// An XOR'd address attribute.
    pub fn get_xor_address(&self, typ: u16) -> Option<SocketAddr> {
        self.get(typ).and_then(|v| attribute::decode_xor_address(v, &self.transaction_id))
    }

    /// Every XOR'd address attribute of type `typ` (CreatePermission may carry several).
    pub fn get_all_xor_addresses(&self, typ: u16) -> Vec<Option<SocketAddr>> {
        self.attrs
            .iter()
            .filter(|a| a.typ == typ)
            .map(|a| {
                attribute::decode_xor_address(&self.bytes[a.offset + 4..a.offset + 4 + a.len], &self.transaction_id)
            })
            .collect()
    }

    /// Comprehension-required attributes not in `known`.
    pub fn unknown_required(&self, known: &[u16]) -> Vec<u16> {
        let mut out: Vec<u16> = self
            .attrs
            .iter()
            .map(|a| a.typ)
            .filter(|t| attribute::comprehension_required(*t) && !known.contains(t))
            .collect();
        out.dedup();
        out
    }

    /// The message as it was when the attribute at `offset` was appended: the bytes before it,
    /// with the header length covering up to the end of that attribute.
    fn prefix_with_length(&self, offset: usize, attr_total: usize) -> (Vec<u8>, &'a [u8]) {
        let mut header = self.bytes[..HEADER_LEN].to_vec();
        let covered = (offset - HEADER_LEN + attr_total) as u16;
        header[2..4].copy_from_slice(&covered.to_be_bytes());
        (header, &self.bytes[HEADER_LEN..offset])
    }

    /// Checks FINGERPRINT; `None` when the message has none.
    pub fn fingerprint_ok(&self) -> Option<bool> {
        let a = self.attrs.iter().find(|a| a.typ == FINGERPRINT)?;
        if a.len != 4 {
            return Some(false);
        }
        let (header, body) = self.prefix_with_length(a.offset, 8);
        let mut h = crc32fast::Hasher::new();
        h.update(&header);
        h.update(body);
        let want = h.finalize() ^ FINGERPRINT_XOR;
        let got = u32::from_be_bytes(self.bytes[a.offset + 4..a.offset + 8].try_into().ok()?);
        Some(want == got)
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 when present, else MESSAGE-INTEGRITY, with `key`.
    /// Comparison is constant-time.
    pub fn check_integrity(&self, key: &[u8]) -> Integrity {
        if let Some(a) = self.attrs.iter().find(|a| a.typ == MESSAGE_INTEGRITY_SHA256) {
            // RFC 8489 §14.6: 16..=32 bytes, a multiple of 4.
            if !(16..=32).contains(&a.len) || a.len % 4 != 0 {
                return Integrity::Invalid;
            }
            let (header, body) = self.prefix_with_length(a.offset, 4 + a.len);
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
            mac.update(&header);
            mac.update(body);
            let full = mac.finalize().into_bytes();
            let got = &self.bytes[a.offset + 4..a.offset + 4 + a.len];
            return if bool::from(full[..a.len].ct_eq(got)) { Integrity::Valid } else { Integrity::Invalid };
        }
        if let Some(a) = self.attrs.iter().find(|a| a.typ == MESSAGE_INTEGRITY) {
            if a.len != 20 {
                return Integrity::Invalid;
            }
            let (header, body) = self.prefix_with_length(a.offset, 24);
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
            mac.update(&header);
            mac.update(body);
            let want = mac.finalize().into_bytes();
            let got = &self.bytes[a.offset + 4..a.offset + 24];
            return if bool::from(want[..].ct_eq(got)) { Integrity::Valid } else { Integrity::Invalid };
        }
        Integrity::Absent
    }

    /// True when the message carries MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
    pub fn has_integrity(&self) -> bool {
        self.attrs.iter().any(|a| a.typ == MESSAGE_INTEGRITY || a.typ == MESSAGE_INTEGRITY_SHA256)
    }

    /// True when the message carries MESSAGE-INTEGRITY-SHA256 (answer in kind).
    pub fn uses_sha256(&self) -> bool {
        self.attrs.iter().any(|a| a.typ == MESSAGE_INTEGRITY_SHA256)
    }
}

/// Builds one STUN message.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    tid: [u8; 12],
}

impl MessageBuilder {
    pub fn new(method: u16, class: Class, transaction_id: [u8; 12]) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&transaction_id);
        MessageBuilder { buf, tid: transaction_id }
    }

    fn set_len(&mut self) {
        let len = (self.buf.len() - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends an attribute (values longer than 65535 bytes are cut; callers keep them short).
    pub fn add(&mut self, typ: u16, value: &[u8]) -> &mut Self {
        let value = &value[..value.len().min(usize::from(u16::MAX))];
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        self.set_len();
        self
    }

    pub fn add_u32(&mut self, typ: u16, v: u32) -> &mut Self {
        self.add(typ, &v.to_be_bytes())
    }

    pub fn add_xor_address(&mut self, typ: u16, addr: SocketAddr) -> &mut Self {
        let v = attribute::encode_xor_address(addr, &self.tid);
        self.add(typ, &v)
    }

    pub fn add_error(&mut self, code: u16, reason: &str) -> &mut Self {
        let v = attribute::encode_error_code(code, reason);
        self.add(attribute::ERROR_CODE, &v)
    }

    /// Appends MESSAGE-INTEGRITY (HMAC-SHA1 over everything so far).
    pub fn add_integrity(&mut self, key: &[u8]) -> &mut Self {
        let covered = (self.buf.len() - HEADER_LEN + 24) as u16;
        self.buf[2..4].copy_from_slice(&covered.to_be_bytes());
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
        mac.update(&self.buf);
        let tag = mac.finalize().into_bytes();
        self.add(MESSAGE_INTEGRITY, &tag)
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 (full 32 bytes).
    pub fn add_integrity_sha256(&mut self, key: &[u8]) -> &mut Self {
        let covered = (self.buf.len() - HEADER_LEN + 36) as u16;
        self.buf[2..4].copy_from_slice(&covered.to_be_bytes());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
        mac.update(&self.buf);
        let tag = mac.finalize().into_bytes();
        self.add(MESSAGE_INTEGRITY_SHA256, &tag)
    }

    /// Appends FINGERPRINT.
    pub fn add_fingerprint(&mut self) -> &mut Self {
        let covered = (self.buf.len() - HEADER_LEN + 8) as u16;
        self.buf[2..4].copy_from_slice(&covered.to_be_bytes());
        let crc = crc32fast::hash(&self.buf) ^ FINGERPRINT_XOR;
        self.add(FINGERPRINT, &crc.to_be_bytes())
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

    // RFC 5769 §2.1: a Binding request with short-term credentials (key = password).
    fn sample_request() -> Vec<u8> {
        hex("00010058 2112a442 b7e7a701 bc34d686 fa87dfae
             80220010 5354554e 20746573 7420636c 69656e74
             00240004 6e0001ff
             80290008 932ff9b1 51263b36
             00060009 6576746a 3a683676 59202020
             00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
             80280004 e57a3bcf")
    }

    #[test]
    fn rfc5769_sample_request() {
        let bytes = sample_request();
        let m = Message::parse(&bytes).unwrap();
        assert_eq!((m.method, m.class), (method::BINDING, Class::Request));
        assert_eq!(m.get_str(SOFTWARE), Some("STUN test client"));
        assert_eq!(m.get_str(USERNAME), Some("evtj:h6vY"));
        assert_eq!(m.fingerprint_ok(), Some(true));
        assert_eq!(m.check_integrity(PASSWORD.as_bytes()), Integrity::Valid);
        assert_eq!(m.check_integrity(b"wrong"), Integrity::Invalid);
        // One flipped bit anywhere before the MAC breaks both checks.
        let mut tampered = bytes.clone();
        tampered[30] ^= 1;
        let t = Message::parse(&tampered).unwrap();
        assert_eq!(t.check_integrity(PASSWORD.as_bytes()), Integrity::Invalid);
        assert_eq!(t.fingerprint_ok(), Some(false));
    }

    #[test]
    fn rfc5769_sample_ipv4_and_ipv6_responses() {
        let v4 = hex("01010 03c 2112a442 b7e7a701 bc34d686 fa87dfae
                      8022000b 74657374 20766563 746f7220
                      00200008 0001a147 e112a643
                      00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
                      80280004 c07d4c96");
        let m = Message::parse(&v4).unwrap();
        assert_eq!((m.method, m.class), (method::BINDING, Class::Success));
        assert_eq!(m.get_xor_address(XOR_MAPPED_ADDRESS), Some("192.0.2.1:32853".parse().unwrap()));
        assert_eq!(m.get_str(SOFTWARE), Some("test vector"));
        assert_eq!(m.check_integrity(PASSWORD.as_bytes()), Integrity::Valid);
        assert_eq!(m.fingerprint_ok(), Some(true));

        let v6 = hex("01010048 2112a442 b7e7a701 bc34d686 fa87dfae
                      8022000b 74657374 20766563 746f7220
                      00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
                      00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
                      80280004 c8fb0b4c");
        let m = Message::parse(&v6).unwrap();
        assert_eq!(
            m.get_xor_address(XOR_MAPPED_ADDRESS),
            Some("[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap())
        );
        assert_eq!(m.check_integrity(PASSWORD.as_bytes()), Integrity::Valid);
        assert_eq!(m.fingerprint_ok(), Some(true));
    }

    #[test]
    fn rfc5769_long_term_request() {
        // Username マトリックス, password TheMatrIX after SASLprep, realm example.org.
        let bytes = hex("00010060 2112a442 78ad3433 c6ad72c0 29da412e
                         00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
                         0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
                         0014000b 6578616d 706c652e 6f726700
                         00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666");
        let m = Message::parse(&bytes).unwrap();
        let username = m.get_str(USERNAME).unwrap();
        assert_eq!(username, "マトリックス");
        assert_eq!(m.get_str(NONCE), Some("f//499k954d6OL34oL9FSTvy64sA"));
        assert_eq!(m.get_str(REALM), Some("example.org"));
        let key = crate::credentials::long_term_key(username, "example.org", "TheMatrIX");
        assert_eq!(m.check_integrity(&key), Integrity::Valid);
        assert_eq!(m.fingerprint_ok(), None);
    }

    #[test]
    fn builder_output_parses_and_verifies() {
        let tid = [9u8; 12];
        for sha256 in [false, true] {
            let mut b = MessageBuilder::new(method::ALLOCATE, Class::Success, tid);
            b.add_xor_address(XOR_RELAYED_ADDRESS, "203.0.113.9:50000".parse().unwrap())
                .add_u32(LIFETIME, 600)
                .add(SOFTWARE, b"origo");
            if sha256 {
                b.add_integrity_sha256(b"key");
            } else {
                b.add_integrity(b"key");
            }
            let bytes = b.add_fingerprint().finish();
            let m = Message::parse(&bytes).unwrap();
            assert_eq!((m.method, m.class), (method::ALLOCATE, Class::Success));
            assert_eq!(m.get_u32(LIFETIME), Some(600));
            assert_eq!(m.get_xor_address(XOR_RELAYED_ADDRESS), Some("203.0.113.9:50000".parse().unwrap()));
            assert_eq!(m.check_integrity(b"key"), Integrity::Valid);
            assert_eq!(m.uses_sha256(), sha256);
            assert_eq!(m.fingerprint_ok(), Some(true));
        }
    }

    #[test]
    fn message_types_round_trip() {
        for method in [
            method::BINDING,
            method::ALLOCATE,
            method::REFRESH,
            method::SEND,
            method::DATA,
            method::CREATE_PERMISSION,
            method::CHANNEL_BIND,
            0xFFF,
        ] {
            for class in [Class::Request, Class::Indication, Class::Success, Class::Error] {
                assert_eq!(split_type(message_type(method, class)), (method, class));
            }
        }
        assert_eq!(message_type(method::BINDING, Class::Success), 0x0101);
        assert_eq!(message_type(method::ALLOCATE, Class::Error), 0x0113);
        assert_eq!(message_type(method::DATA, Class::Indication), 0x0017);
    }

    #[test]
    fn refuses_malformed_messages() {
        let good = sample_request();
        assert_eq!(Message::parse(&good[..19]).unwrap_err(), ParseError::TooShort);
        let mut bad_cookie = good.clone();
        bad_cookie[4] = 0;
        assert_eq!(Message::parse(&bad_cookie).unwrap_err(), ParseError::NotStun);
        let mut top_bits = good.clone();
        top_bits[0] = 0x40;
        assert_eq!(Message::parse(&top_bits).unwrap_err(), ParseError::NotStun);
        assert_eq!(Message::parse(&good[..good.len() - 4]).unwrap_err(), ParseError::BadLength);
        let mut long_attr = good.clone();
        long_attr[22] = 0x7f; // SOFTWARE length 0x7f10
        assert_eq!(Message::parse(&long_attr).unwrap_err(), ParseError::TruncatedAttribute);
        // An attribute after FINGERPRINT.
        let mut after = good.clone();
        after.extend_from_slice(&[0x80, 0x22, 0, 0]);
        let len = (after.len() - HEADER_LEN) as u16;
        after[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(Message::parse(&after).unwrap_err(), ParseError::AttributeAfterIntegrity);
    }

    #[test]
    fn unknown_comprehension_required_attributes_are_reported() {
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, [1; 12]);
        b.add(0x7777, b"?").add(0x8777, b"optional").add_u32(REQUESTED_TRANSPORT, 17 << 24);
        let bytes = b.finish();
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.unknown_required(KNOWN_REQUIRED), vec![0x7777]);
    }
}
