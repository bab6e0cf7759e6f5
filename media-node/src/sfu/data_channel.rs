//! Signalling over the client's data channel: the SFU pushes offers for new subscriptions
//! (`{"type":"offer","sdp"}`) and takes, in JSON: answers to them, client offers (answered on
//! the channel) and quality preferences `{"type":"quality","track","quality":"low"}`.

use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};

use super::quality::Quality;
use super::{SessionId, Sfu};

/// `{"type":"quality","track":…,"quality":…}`.
#[derive(serde::Deserialize)]
struct QualityMessage {
    r#type: String,
    track: String,
    quality: Quality,
}

impl Sfu {
    /// Pushes an offer for subscriptions not negotiated yet over the client's data channel.
    pub(super) fn offer_over_channel(&mut self, id: SessionId, now: Instant) {
        let ready = self.sessions.get(&id).is_some_and(|s| s.channel.is_some() && s.pending.is_none());
        if !ready {
            return;
        }
        let Some(offer) = self.negotiate(id) else { return };
        let Ok(json) = serde_json::to_string(&offer) else { return };
        // A link names the publishers of the m-lines first (see `relay`).
        self.send_origins(id);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.send_message(json.as_bytes());
        }
        self.drain(id, now);
    }

    /// A message on a client's data channel. (An empty message is the channel opening: offer
    /// what is waiting.)
    pub(super) fn signal(&mut self, id: SessionId, data: &[u8], now: Instant) {
        if data.is_empty() {
            self.offer_over_channel(id, now);
            return;
        }
        if self.take_origins(id, data) || self.take_demand(id, data, now) {
            return;
        }
        if let Ok(answer) = serde_json::from_slice::<SdpAnswer>(data) {
            if let Err(e) = self.accept_answer(id, answer, now) {
                tracing::debug!(session = id, "answer over the data channel refused: {e}");
            }
            self.offer_over_channel(id, now);
        } else if let Ok(offer) = serde_json::from_slice::<SdpOffer>(data) {
            // Both ends of a link offering at once: the side that did not open it keeps its own
            // offer (the opener answers it, then offers again).
            let keeps_own = self
                .sessions
                .get(&id)
                .is_some_and(|s| s.pending.is_some() && s.relay.as_ref().is_some_and(|r| !r.opener));
            if keeps_own {
                tracing::debug!(session = id, "a link's offer crossed ours; ours stands");
                return;
            }
            match self.accept_offer(id, offer, now) {
                Ok(answer) => {
                    if let Ok(json) = serde_json::to_string(&answer)
                        && let Some(s) = self.sessions.get_mut(&id)
                    {
                        s.send_message(json.as_bytes());
                    }
                    self.drain(id, now);
                    // A link then offers what it holds back (its own tracks).
                    if self.sessions.get(&id).is_some_and(|s| s.is_relay()) {
                        self.offer_over_channel(id, now);
                    }
                }
                Err(e) => tracing::debug!(session = id, "offer over the data channel refused: {e}"),
            }
        } else if let Ok(q) = serde_json::from_slice::<QualityMessage>(data)
            && q.r#type == "quality"
        {
            if let Err(e) = self.set_quality(id, &q.track, q.quality, now) {
                tracing::debug!(session = id, "quality change refused: {e}");
            }
        } else {
            tracing::debug!(session = id, "unknown data channel message");
        }
    }
}
