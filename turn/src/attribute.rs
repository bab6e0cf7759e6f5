//! STUN/TURN attribute types (RFC 8489 §18.3, RFC 8656 §18) and the value encodings that need
//! more than bytes: XOR'd addresses and ERROR-CODE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::header::MAGIC_COOKIE;

// Comprehension-required (0x0000-0x7FFF).
pub const MAPPED_ADDRESS: u16 = 0x0001;
pub const USERNAME: u16 = 0x0006;
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
pub const ERROR_CODE: u16 = 0x0009;
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
pub const CHANNEL_NUMBER: u16 = 0x000C;
pub const LIFETIME: u16 = 0x000D;
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
pub const DATA: u16 = 0x0013;
pub const REALM: u16 = 0x0014;
pub const NONCE: u16 = 0x0015;
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
pub const EVEN_PORT: u16 = 0x0018;
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
pub const DONT_FRAGMENT: u16 = 0x001A;
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
pub const PASSWORD_ALGORITHM: u16 = 0x001D;
pub const USERHASH: u16 = 0x001E;
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub const RESERVATION_TOKEN: u16 = 0x0022;
pub const PRIORITY: u16 = 0x0024;
pub const USE_CANDIDATE: u16 = 0x0025;
// Comprehension-optional (0x8000-0xFFFF).
pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
pub const ADDRESS_ERROR_CODE: u16 = 0x8001;
pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
pub const ALTERNATE_DOMAIN: u16 = 0x8003;
pub const ICMP: u16 = 0x8004;
pub const SOFTWARE: u16 = 0x8022;
pub const ALTERNATE_SERVER: u16 = 0x8023;
pub const FINGERPRINT: u16 = 0x8028;
pub const ICE_CONTROLLED: u16 = 0x8029;
pub const ICE_CONTROLLING: u16 = 0x802A;

/// The comprehension-required attributes this server understands; any other one in a request
/// gets a 420 (Unknown Attribute) answer listing it. DONT-FRAGMENT is deliberately absent: the
/// relay cannot set the DF bit, and RFC 8656 §7.2 says to answer 420 then.
pub const KNOWN_REQUIRED: &[u16] = &[
    MAPPED_ADDRESS,
    USERNAME,
    MESSAGE_INTEGRITY,
    ERROR_CODE,
    UNKNOWN_ATTRIBUTES,
    CHANNEL_NUMBER,
    LIFETIME,
    XOR_PEER_ADDRESS,
    DATA,
    REALM,
    NONCE,
    XOR_RELAYED_ADDRESS,
    REQUESTED_ADDRESS_FAMILY,
    EVEN_PORT,
    REQUESTED_TRANSPORT,
    MESSAGE_INTEGRITY_SHA256,
    PASSWORD_ALGORITHM,
    USERHASH,
    XOR_MAPPED_ADDRESS,
    RESERVATION_TOKEN,
    PRIORITY,
    USE_CANDIDATE,
];

/// True for attribute types a receiver must understand (RFC 8489 §14).
pub fn comprehension_required(typ: u16) -> bool {
    typ < 0x8000
}

/// Address families on the wire.
pub const FAMILY_IPV4: u8 = 0x01;
pub const FAMILY_IPV6: u8 = 0x02;

/// Encodes `addr` XOR'd with the magic cookie (and the transaction id for IPv6).
pub fn encode_xor_address(addr: SocketAddr, tid: &[u8; 12]) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut out = Vec::with_capacity(20);
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.extend_from_slice(&[0, FAMILY_IPV4]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            out.extend_from_slice(&[0, FAMILY_IPV6]);
            out.extend_from_slice(&port.to_be_bytes());
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(tid);
            let octets = ip.octets();
            out.extend(octets.iter().zip(key.iter()).map(|(a, k)| a ^ k));
        }
    }
    out
}

/// Decodes an XOR'd address value.
pub fn decode_xor_address(value: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    if value.len() < 4 {
        return None;
    }
    let port = u16::from_be_bytes([value[2], value[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    match (value[1], value.len()) {
        (FAMILY_IPV4, 8) => {
            let raw = u32::from_be_bytes([value[4], value[5], value[6], value[7]]) ^ MAGIC_COOKIE;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(raw)), port))
        }
        (FAMILY_IPV6, 20) => {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(tid);
            let mut octets = [0u8; 16];
            for (i, o) in octets.iter_mut().enumerate() {
                *o = value[4 + i] ^ key[i];
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        _ => None,
    }
}

/// Encodes an ERROR-CODE value: class and number, then a UTF-8 reason phrase.
pub fn encode_error_code(code: u16, reason: &str) -> Vec<u8> {
    let mut out = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
    // Reason phrases are at most 128 characters (RFC 8489 §14.8).
    out.extend(reason.chars().take(128).collect::<String>().as_bytes());
    out
}

/// Decodes an ERROR-CODE value into (code, reason).
pub fn decode_error_code(value: &[u8]) -> Option<(u16, String)> {
    if value.len() < 4 {
        return None;
    }
    let class = u16::from(value[2] & 0x07);
    let number = u16::from(value[3]);
    if !(3..=6).contains(&class) || number > 99 {
        return None;
    }
    Some((class * 100 + number, String::from_utf8_lossy(&value[4..]).into_owned()))
}

/// The standard reason phrases of the error codes this server sends.
pub fn reason(code: u16) -> &'static str {
    match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_address_round_trips_both_families() {
        let tid = [7u8; 12];
        for addr in ["192.0.2.1:32853", "[2001:db8:1234:5678:11:2233:4455:6677]:32853", "0.0.0.0:0"] {
            let a: SocketAddr = addr.parse().unwrap();
            assert_eq!(decode_xor_address(&encode_xor_address(a, &tid), &tid), Some(a));
        }
        assert_eq!(decode_xor_address(&[0, 1, 0], &tid), None);
        assert_eq!(decode_xor_address(&[0, 3, 0, 0, 0, 0, 0, 0], &tid), None);
        assert_eq!(decode_xor_address(&[0, 1, 0, 0, 0, 0, 0, 0, 0], &tid), None, "v4 with a v6-ish length");
    }

    #[test]
    fn error_code_round_trips() {
        let v = encode_error_code(438, "Stale Nonce");
        assert_eq!(&v[..4], &[0, 0, 4, 38]);
        assert_eq!(decode_error_code(&v), Some((438, "Stale Nonce".into())));
        assert_eq!(decode_error_code(&[0, 0, 9, 0]), None);
        assert_eq!(decode_error_code(&[0, 0, 4]), None);
    }
}
