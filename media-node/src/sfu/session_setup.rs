//! Setting a session up before it enters an SFU: the offer checked against the limits, the
//! ICE credentials drawn, the str0m `Rtc` built (its DTLS certificate generated) and the offer
//! answered. None of it touches the SFU's state, so the node does it off the shard's task —
//! building an `Rtc` is the costly part of opening a session, and a shard doing it would stop
//! forwarding media meanwhile. [`Sfu::admit`](super::Sfu::admit) then only checks the room's
//! rules and inserts the session.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::{IceCreds, Rtc};

use super::error::SfuError;
use super::limits::Limits;
use super::media_sections;
use super::randomness::{self, Randomness};
use super::session;

/// A session's transport, ready to enter the SFU that listens at the `local` it was made for.
pub struct PreparedSession {
    pub(super) local: SocketAddr,
    pub(super) rtc: Rtc,
    pub(super) ufrag: String,
    pub(super) answer: SdpAnswer,
}

/// Checks the client's offer, builds the session's `Rtc` reached at `local` and answers the
/// offer.
pub fn prepare_session(
    local: SocketAddr,
    limits: &Limits,
    offer: SdpOffer,
    rng: &mut dyn Randomness,
    now: Instant,
) -> Result<PreparedSession, SfuError> {
    check_offer(limits, &offer, 0)?;
    let ufrag = randomness::token(rng, 12);
    let creds = IceCreds { ufrag: ufrag.clone(), pass: randomness::token(rng, 24) };
    let mut rtc = session::ice_lite_rtc(local, creds, now)?;
    let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
    Ok(PreparedSession { local, rtc, ufrag, answer })
}

/// Refuses a client offer with more m-lines than [`Limits::max_offer_mids`] beyond the
/// `subscribed` ones the SFU added, or more published tracks than
/// [`Limits::max_published_tracks`].
pub(super) fn check_offer(limits: &Limits, offer: &SdpOffer, subscribed: usize) -> Result<(), SfuError> {
    let counted = media_sections::count(&offer.to_sdp_string());
    let max_mids = limits.max_offer_mids.saturating_add(subscribed);
    if counted.mids > max_mids {
        return Err(SfuError::TooManyTracks(format!(
            "the offer has {} m-lines; at most {max_mids} are accepted",
            counted.mids
        )));
    }
    if counted.sending > limits.max_published_tracks {
        return Err(SfuError::TooManyTracks(format!(
            "the offer publishes {} tracks; a session may publish at most {}",
            counted.sending, limits.max_published_tracks
        )));
    }
    Ok(())
}
