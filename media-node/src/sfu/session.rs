//! One participant's session: its str0m `Rtc` (ICE-lite, RTP mode, bandwidth estimation on)
//! behind the shard's shared UDP address, what its token lets it do, what it publishes and
//! receives, its data channel, and the state of the link towards it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::change::SdpPendingOffer;
use str0m::channel::ChannelId;
use str0m::media::Mid;
use str0m::rtp::Ssrc;
use str0m::{Candidate, IceCreds, Rtc};

use super::RoomKey;
use super::bandwidth_allocation::{INITIAL_ESTIMATE_BPS, LossHold};
use super::error::SfuError;
use super::forwarder::Layer;
use super::moderation::Mute;
use super::publication::TrackIn;
use super::relay_peer::Relay;
use super::standby::Standby;
use super::subscription::TrackOut;

pub(super) struct Session {
    pub room: RoomKey,
    pub identity: String,
    pub may_publish: bool,
    pub may_subscribe: bool,
    pub rtc: Rtc,
    pub ufrag: String,
    pub tracks_in: HashMap<Mid, TrackIn>,
    pub tracks_out: Vec<TrackOut>,
    /// Incoming SSRC → (mid, layer), learnt from str0m's receive streams.
    pub ssrcs: HashMap<Ssrc, (Mid, Layer)>,
    pub pending: Option<SdpPendingOffer>,
    pub subscribe_all: bool,
    pub connected: bool,
    /// The client's data channel: the SFU pushes offers for new tracks over it (JSON
    /// `{"type":"offer","sdp":…}`) and takes answers (and client offers) from it.
    pub channel: Option<ChannelId>,
    /// The latest egress bandwidth estimate (TWCC).
    pub estimate: Option<Bitrate>,
    /// Loss towards the client (receiver reports), smoothed.
    pub loss: f32,
    /// After loss forced a step down: no stepping up past `cap` until `until`; the hold
    /// doubles each time it happens again soon after.
    pub hold: Option<LossHold>,
    /// When the estimate was last raised to what non-adaptable media needs.
    pub raised_at: Option<Instant>,
    /// Packets were written since the session was last polled (it is in `Sfu::written`).
    pub written: bool,
    /// Cumulative NACKs received per send mid, from str0m's stats.
    pub nacks: HashMap<Mid, u64>,
    /// Usage is counted from when media connects; up to here it is accounted for.
    pub accounted_at: Option<Instant>,
    /// What a moderator muted of this participant (dropped before fan-out).
    pub muted: Mute,
    /// Set when the session is a link to another media node, not a participant.
    pub relay: Option<Relay>,
    /// Set while the session stands by (see `standby`): the grants it gets when it takes over.
    pub standby: Option<Standby>,
}

/// An ICE-lite `Rtc` in RTP mode (packets are forwarded, not depacketised), reached at
/// `local`, with the SFU's side of the ICE credentials (str0m generates its DTLS certificate).
pub(super) fn ice_lite_rtc(local: SocketAddr, creds: IceCreds, now: Instant) -> Result<Rtc, SfuError> {
    sfu_rtc(local, creds, true, now)
}

/// The `Rtc` of a link this node opens to another node: a full ICE agent (it offers, so it
/// controls; the other node is ICE-lite), otherwise as [`ice_lite_rtc`].
pub(super) fn relay_rtc(local: SocketAddr, creds: IceCreds, now: Instant) -> Result<Rtc, SfuError> {
    sfu_rtc(local, creds, false, now)
}

fn sfu_rtc(local: SocketAddr, creds: IceCreds, ice_lite: bool, now: Instant) -> Result<Rtc, SfuError> {
    let mut rtc = Rtc::builder()
        .set_ice_lite(ice_lite)
        .set_rtp_mode(true)
        .enable_bwe(Some(Bitrate::bps(INITIAL_ESTIMATE_BPS)))
        .set_stats_interval(Some(Duration::from_secs(1)))
        .set_local_ice_credentials(creds)
        .build(now);
    let candidate = Candidate::host(local, "udp").map_err(|e| SfuError::BadSdp(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    Ok(rtc)
}

impl Session {
    pub fn new(
        room: RoomKey,
        identity: String,
        may_publish: bool,
        may_subscribe: bool,
        rtc: Rtc,
        ufrag: String,
    ) -> Self {
        Session {
            room,
            identity,
            may_publish,
            may_subscribe,
            rtc,
            ufrag,
            tracks_in: HashMap::new(),
            tracks_out: Vec::new(),
            ssrcs: HashMap::new(),
            pending: None,
            subscribe_all: false,
            connected: false,
            channel: None,
            estimate: None,
            loss: 0.0,
            hold: None,
            raised_at: None,
            written: false,
            nacks: HashMap::new(),
            accounted_at: None,
            muted: Mute::default(),
            relay: None,
            standby: None,
        }
    }

    /// Writes a message on the client's data channel, if it opened one.
    pub fn send_message(&mut self, msg: &[u8]) {
        if let Some(cid) = self.channel
            && let Some(mut ch) = self.rtc.channel(cid)
        {
            let _ = ch.write(false, msg);
        }
    }

    /// A link to another node (not a participant).
    pub fn is_relay(&self) -> bool {
        self.relay.is_some()
    }

    /// Restarts str0m's bandwidth estimate, and ours, at `bps`.
    pub fn reset_estimate(&mut self, bps: u64) {
        self.rtc.bwe().reset(Bitrate::bps(bps));
        self.estimate = Some(Bitrate::bps(bps));
    }
}
