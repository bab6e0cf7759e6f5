//! What the SFU counts for `/metrics`: datagrams and bytes, forwarded packets, keyframe
//! requests, layer switches, dynacast and speaker announcements. Shards' counters add up.

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    pub unroutable: u64,
    pub packets_in: u64,
    pub packets_forwarded: u64,
    pub keyframe_requests: u64,
    pub layer_switches: u64,
    pub speaker_changes: u64,
    /// NACKs and PLI/FIRs subscribers sent us.
    pub nacks_received: u64,
    pub keyframe_requests_received: u64,
    pub dynacast_updates: u64,
    /// Sessions closed because they did not connect in time.
    pub sessions_reaped: u64,
    /// Sessions closed by a moderator (kicks).
    pub sessions_kicked: u64,
    /// RTP packets of muted participants, dropped before fan-out.
    pub packets_muted: u64,
    /// Standby sessions that took over (a participant's relay lost).
    pub standby_takeovers: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        let Counters {
            datagrams_in,
            bytes_in,
            datagrams_out,
            bytes_out,
            unroutable,
            packets_in,
            packets_forwarded,
            keyframe_requests,
            layer_switches,
            speaker_changes,
            nacks_received,
            keyframe_requests_received,
            dynacast_updates,
            sessions_reaped,
            sessions_kicked,
            packets_muted,
            standby_takeovers,
        } = o;
        self.datagrams_in += datagrams_in;
        self.bytes_in += bytes_in;
        self.datagrams_out += datagrams_out;
        self.bytes_out += bytes_out;
        self.unroutable += unroutable;
        self.packets_in += packets_in;
        self.packets_forwarded += packets_forwarded;
        self.keyframe_requests += keyframe_requests;
        self.layer_switches += layer_switches;
        self.speaker_changes += speaker_changes;
        self.nacks_received += nacks_received;
        self.keyframe_requests_received += keyframe_requests_received;
        self.dynacast_updates += dynacast_updates;
        self.sessions_reaped += sessions_reaped;
        self.sessions_kicked += sessions_kicked;
        self.packets_muted += packets_muted;
        self.standby_takeovers += standby_takeovers;
    }
}
