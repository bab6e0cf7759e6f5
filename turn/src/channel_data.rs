//! ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
//! application data, padded to a multiple of four bytes over TCP and TLS.

/// Channel numbers clients may bind. RFC 8656 narrowed the range to 0x4000–0x4FFF, but RFC 5766
/// clients (coturn's own among them) still pick from 0x4000–0x7FFF; every number in that range
/// is unambiguous on the wire (first bits `01`), so all of it is accepted.
pub const CHANNEL_MIN: u16 = 0x4000;
pub const CHANNEL_MAX: u16 = 0x7FFF;

/// True when `bytes` starts like ChannelData (first two bits `01`).
pub fn looks_like_channel_data(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[0] & 0xC0 == 0x40
}

/// Splits a ChannelData message into (channel, data). Over UDP the datagram may carry padding
/// after the data; it is ignored.
pub fn parse(bytes: &[u8]) -> Option<(u16, &[u8])> {
    if !looks_like_channel_data(bytes) {
        return None;
    }
    let channel = u16::from_be_bytes([bytes[0], bytes[1]]);
    let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    let data = bytes.get(4..4 + len)?;
    Some((channel, data))
}

/// The full length on a stream transport of the ChannelData message starting `bytes`, once
/// its header is there.
pub fn stream_frame_len(header: &[u8]) -> Option<usize> {
    if header.len() < 4 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    Some(4 + ((len + 3) & !3))
}

/// Writes a ChannelData message into `out` (cleared first); `pad` for stream transports.
pub fn write(out: &mut Vec<u8>, channel: u16, data: &[u8], pad: bool) {
    out.clear();
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    if pad {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let mut buf = Vec::new();
        write(&mut buf, 0x4001, b"hello", false);
        assert_eq!(buf.len(), 9);
        assert_eq!(parse(&buf), Some((0x4001, &b"hello"[..])));
        write(&mut buf, 0x4001, b"hello", true);
        assert_eq!(buf.len(), 12);
        assert_eq!(stream_frame_len(&buf), Some(12));
        assert_eq!(parse(&buf), Some((0x4001, &b"hello"[..])));
        assert_eq!(parse(&[0x40, 0x01, 0x00, 0x09, 1, 2]), None, "length past the end");
        assert_eq!(parse(&[0x00, 0x01, 0x00, 0x00]), None, "STUN, not ChannelData");
    }
}
