//! SDP negotiation. The SFU renegotiates subscriptions itself: subscribing adds send-only
//! m-lines and produces an offer the client answers (HTTP `PATCH`, or the data channel);
//! unsubscribing stops them. A client may also offer (it added or removed tracks of its own).
//! One SFU offer waits for its answer at a time.

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid};

use std::collections::HashMap;

use super::error::SfuError;
use super::publication::track_id;
use super::{SessionId, Sfu};

impl Sfu {
    /// Adds send-only m-lines for subscriptions not yet negotiated; the offer, if any.
    pub(super) fn negotiate(&mut self, id: SessionId) -> Option<SdpOffer> {
        let kinds: HashMap<(SessionId, Mid), (MediaKind, String)> = self
            .sessions
            .iter()
            .flat_map(|(sid, s)| {
                s.tracks_in.iter().map(move |(mid, t)| ((*sid, *mid), (t.kind, t.owner_or(&s.identity).to_owned())))
            })
            .collect();
        let s = self.sessions.get_mut(&id)?;
        if s.pending.is_some() {
            return None;
        }
        let mut api = s.rtc.sdp_api();
        let mut added = false;
        for t in s.tracks_out.iter_mut().filter(|t| t.mid.is_none()) {
            let Some((kind, stream)) = kinds.get(&t.source) else { continue };
            // msid: the publisher's identity as the stream and `{identity}:{mid}/{session}` as
            // the track, so a client knows whose camera, microphone or screen it receives (the
            // session keeps names unique when a publisher reconnects).
            let track = format!("{}/{}", track_id(stream, t.source.1), t.source.0);
            // Over a link, a simulcast track's layers are streams of their own (`relay_layers`).
            let simulcast = t.layers.as_ref().map(|l| l.simulcast());
            t.mid = Some(api.add_media(*kind, Direction::SendOnly, Some(stream.clone()), Some(track), simulcast));
            added = true;
        }
        if !added {
            return None;
        }
        let (offer, pending) = api.apply()?;
        s.pending = Some(pending);
        Some(offer)
    }

    /// Stops the session's send m-lines `mids`; the offer saying so.
    pub(super) fn stop_media(&mut self, id: SessionId, mids: &[Mid]) -> Option<SdpOffer> {
        let s = self.sessions.get_mut(&id)?;
        let mut api = s.rtc.sdp_api();
        for mid in mids {
            api.stop_media(*mid);
        }
        api.apply().map(|(offer, pending)| {
            s.pending = Some(pending);
            offer
        })
    }

    /// The client's answer to the SFU's pending offer: the m-lines it negotiated are open.
    pub(super) fn apply_answer(&mut self, id: SessionId, answer: SdpAnswer) -> Result<(), SfuError> {
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        let pending = s.pending.take().ok_or(SfuError::NoPendingOffer)?;
        s.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        for t in s.tracks_out.iter_mut().filter(|t| t.mid.is_some()) {
            t.open = true;
        }
        Ok(())
    }

    /// A client's offer, answered. A pending SFU offer is superseded; its tracks are offered
    /// again later.
    pub(super) fn answer_offer(&mut self, id: SessionId, offer: SdpOffer) -> Result<SdpAnswer, SfuError> {
        let s = self.sessions.get_mut(&id).ok_or(SfuError::NoSession)?;
        s.pending = None;
        for t in s.tracks_out.iter_mut().filter(|t| !t.open) {
            t.mid = None;
        }
        let answer = s.rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        // New ICE credentials in the offer restart ICE (the client found another path, through
        // another TURN server): the answer carries new local ones, which its checks now name.
        let ufrag = s.rtc.direct_api().local_ice_credentials().ufrag;
        if ufrag != s.ufrag {
            let old = std::mem::replace(&mut s.ufrag, ufrag.clone());
            self.routes.replace_ufrag(&old, ufrag, id);
        }
        Ok(answer)
    }
}
