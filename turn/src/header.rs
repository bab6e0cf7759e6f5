//! The fixed fields of the 20-byte STUN header (RFC 8489 §5) that more than the message codec
//! needs: its length and the magic cookie (which also keys the XOR'd address attributes).

/// The magic cookie, bytes 4..8 of every STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the STUN header; the message length field counts what follows it.
pub const HEADER_LEN: usize = 20;
