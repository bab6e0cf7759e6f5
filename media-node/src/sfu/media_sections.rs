//! The media sections of a client offer, counted before the offer is accepted: every m-line
//! (a mid), and those the client sends media on (a track it publishes). str0m has parsed and
//! validated the offer already; this only reads its m-lines and direction attributes.

/// What an offer's m-lines amount to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct MediaSections {
    /// Every m-line, data channels and rejected ones included.
    pub mids: usize,
    /// Audio and video m-lines the client sends on (`sendrecv`, the default, or `sendonly`),
    /// not rejected (port 0).
    pub sending: usize,
}

/// Counts the m-lines of an SDP.
pub(super) fn count(sdp: &str) -> MediaSections {
    let mut out = MediaSections::default();
    // (kind is audio/video and the port is not 0, sends)
    let mut current: Option<(bool, bool)> = None;
    let close = |section: Option<(bool, bool)>, out: &mut MediaSections| {
        if let Some((media, sends)) = section
            && media
            && sends
        {
            out.sending += 1;
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            close(current.take(), &mut out);
            out.mids += 1;
            let mut fields = m.split(' ');
            let kind = fields.next().unwrap_or("");
            let port = fields.next().unwrap_or("0");
            current = Some((matches!(kind, "audio" | "video") && port != "0", true));
        } else if let Some((_, sends)) = current.as_mut() {
            match line {
                "a=recvonly" | "a=inactive" => *sends = false,
                "a=sendrecv" | "a=sendonly" => *sends = true,
                _ => {}
            }
        }
    }
    close(current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mids_and_the_tracks_a_client_sends_are_counted() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\n\
            m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\na=sendrecv\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:4\r\na=inactive\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:5\r\n";
        // 0 sends, 1 sends by default, 2 and 4 do not, 3 is rejected, 5 is data.
        assert_eq!(count(sdp), MediaSections { mids: 6, sending: 2 });
        assert_eq!(count(""), MediaSections::default());
    }
}
