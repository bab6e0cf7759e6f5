//! What `/metrics` reports (every shard's [`Stats`], added up) and its OpenMetrics text,
//! through `prometheus-client`: gauges for what is open now, counters (`_total`) for what
//! happened since the start.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::sfu::Counters;

/// One shard's state, or the sum of all.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub sessions: usize,
    pub tracks: usize,
    pub paused_tracks: usize,
    /// Sessions standing by for a participant's session (counted in `sessions` too).
    pub standby_sessions: usize,
    /// Every subscriber's bandwidth estimate (bit/s).
    pub estimates: Vec<u64>,
    pub counters: Counters,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.sessions += o.sessions;
        self.tracks += o.tracks;
        self.paused_tracks += o.paused_tracks;
        self.standby_sessions += o.standby_sessions;
        self.estimates.extend(o.estimates);
        self.counters += o.counters;
    }
}

/// The OpenMetrics text exposition of `st` (names `origo_media_*`).
pub fn encode(st: &Stats) -> String {
    let c = &st.counters;
    let mut registry = Registry::with_prefix("origo_media");
    // (prometheus-client ends every help text with a full stop.)
    let mut gauge = |name: &str, help: &str, v: u64| registry.register(name, help, ConstGauge::new(v));
    gauge("sessions", "WebRTC sessions open", st.sessions as u64);
    gauge("tracks", "Tracks published", st.tracks as u64);
    gauge("paused_tracks", "Video tracks nobody receives (paused)", st.paused_tracks as u64);
    gauge("standby_sessions", "Standby sessions (counted in sessions too)", st.standby_sessions as u64);
    let counters = [
        ("datagrams_in", "UDP datagrams received", c.datagrams_in),
        ("bytes_in", "UDP bytes received", c.bytes_in),
        ("datagrams_out", "UDP datagrams sent", c.datagrams_out),
        ("bytes_out", "UDP bytes sent", c.bytes_out),
        ("unroutable", "Datagrams that matched no session", c.unroutable),
        ("packets_in", "RTP packets received from publishers", c.packets_in),
        ("packets_forwarded", "RTP packets sent to subscribers", c.packets_forwarded),
        ("nacks", "NACKs received from subscribers", c.nacks_received),
        ("plis", "Keyframe requests (PLI/FIR) received from subscribers", c.keyframe_requests_received),
        ("keyframe_requests", "Keyframe requests sent to publishers", c.keyframe_requests),
        ("layer_switches", "Simulcast layer switches (and stream starts)", c.layer_switches),
        ("dynacast_updates", "Layer/pause announcements sent to publishers", c.dynacast_updates),
        ("speaker_changes", "Active-speaker changes announced", c.speaker_changes),
        ("sessions_reaped", "Sessions closed because they did not connect in time", c.sessions_reaped),
        ("sessions_kicked", "Sessions closed by the room (kicks)", c.sessions_kicked),
        ("packets_muted", "RTP packets of muted participants dropped", c.packets_muted),
        ("standby_takeovers", "Standby sessions that took over from a participant's session", c.standby_takeovers),
    ];
    // (The encoder adds `_total` to a counter's samples.)
    for (name, help, v) in counters {
        registry.register(name, help, ConstCounter::new(v));
    }
    let mut gauge = |name: &str, help: &str, v: u64| registry.register(name, help, ConstGauge::new(v));
    gauge("bwe_subscribers", "Sessions with a bandwidth estimate", st.estimates.len() as u64);
    gauge(
        "bwe_min_bps",
        "Lowest subscriber bandwidth estimate (bit/s)",
        st.estimates.iter().copied().min().unwrap_or(0),
    );
    gauge("bwe_sum_bps", "Sum of subscriber bandwidth estimates (bit/s)", st.estimates.iter().sum());
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_kinds_and_values_are_the_documented_ones() {
        let mut st = Stats { sessions: 3, estimates: vec![2_000, 500], ..Stats::default() };
        st.counters.packets_forwarded = 42;
        st += Stats { sessions: 1, estimates: vec![700], ..Stats::default() };
        let text = encode(&st);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let names: Vec<&str> = samples.iter().filter_map(|l| l.split(' ').next()).collect();
        let counters = [
            "datagrams_in",
            "bytes_in",
            "datagrams_out",
            "bytes_out",
            "unroutable",
            "packets_in",
            "packets_forwarded",
            "nacks",
            "plis",
            "keyframe_requests",
            "layer_switches",
            "dynacast_updates",
            "speaker_changes",
            "sessions_reaped",
            "sessions_kicked",
            "packets_muted",
            "standby_takeovers",
        ];
        let mut expected: Vec<String> =
            ["sessions", "tracks", "paused_tracks", "standby_sessions"].map(String::from).to_vec();
        expected.extend(counters.iter().map(|c| format!("{c}_total")));
        expected.extend(["bwe_subscribers", "bwe_min_bps", "bwe_sum_bps"].map(String::from));
        let expected: Vec<String> = expected.iter().map(|n| format!("origo_media_{n}")).collect();
        assert_eq!(names, expected);
        for c in counters {
            assert!(text.contains(&format!("# TYPE origo_media_{c} counter\n")), "{c}: {text}");
        }
        for line in ["origo_media_sessions 4", "origo_media_packets_forwarded_total 42", "origo_media_bwe_min_bps 500"]
        {
            assert!(samples.contains(&line), "{line}: {text}");
        }
        assert!(samples.contains(&"origo_media_bwe_sum_bps 3200"), "{text}");
        assert!(text.contains("# HELP origo_media_sessions WebRTC sessions open.\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
