//! Bandwidth allocation: which simulcast layer of each video track a subscriber gets, from its
//! bandwidth estimate (TWCC, per subscriber), its quality preferences and the loss towards it,
//! and what str0m's estimator is told to probe for.
//!
//! The choice is [`allocate`], a pure function over plain inputs (a [`Link`] and one
//! [`Demand`] per track received); `Sfu::allocate` gathers them from the sessions and applies
//! the [`Allocation`]: forwarder targets, estimator bounds, keyframe requests for switches.

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::media::{KeyframeRequestKind, MediaKind};

use super::forwarder::Layer;
use super::quality::Quality;
use super::relay_demand;
use super::{SessionId, Sfu};

/// The bandwidth estimate a subscriber starts with, before TWCC feedback.
pub const INITIAL_ESTIMATE_BPS: u64 = 1_000_000;
/// What an audio track is assumed to need when sharing out a subscriber's bandwidth.
const AUDIO_BPS: u64 = 64_000;
/// Layers are re-chosen, and dynacast re-announced, this often.
pub const ALLOCATE_INTERVAL: Duration = Duration::from_millis(500);
/// Loss above this (fraction of packets) means the subscriber gets more than its link carries.
const LOSS_STEP_DOWN: f32 = 0.10;
/// The first hold after a loss step-down; it doubles up to [`LOSS_HOLD_MAX`].
const LOSS_HOLD: Duration = Duration::from_secs(4);
const LOSS_HOLD_MAX: Duration = Duration::from_secs(64);
/// The estimate is raised to what non-adaptable media needs at most this often.
const RAISE_INTERVAL: Duration = Duration::from_secs(2);

/// Layers sending now and their bitrates.
pub type LayerRates = Vec<(Layer, u64)>;

/// A subscriber's budget held down after heavy loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossHold {
    pub until: Instant,
    pub cap: u64,
    pub backoff: Duration,
}

/// What is known of the link towards one subscriber.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The latest egress estimate (bits per second), if TWCC gave one.
    pub estimate: Option<u64>,
    /// Loss towards the subscriber (receiver reports), smoothed.
    pub loss: f32,
    /// After loss forced a step down: no stepping up past `cap` until `until`; the hold
    /// doubles each time it happens again soon after.
    pub hold: Option<LossHold>,
    /// When the estimate was last raised to what non-adaptable media needs.
    pub raised_at: Option<Instant>,
}

/// One track the subscriber receives.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    pub audio: bool,
    /// The publisher's layers sending now, with their bitrates.
    pub layers: &'a [(Layer, u64)],
    /// The layer being forwarded now.
    pub current: Option<Layer>,
    pub quality: Quality,
}

/// What a track's forwarder should aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing (the subscriber turned it off).
    Pause,
    Layer(Layer),
    /// Nothing sending yet: decided when a layer shows up.
    Undecided,
}

/// The outcome for one subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// One per [`Demand`], in order.
    pub targets: Vec<Target>,
    /// The loss hold from now on.
    pub hold: Option<LossHold>,
    /// `(minimum, desired)` bits per second for str0m's estimator (padding keeps it at the
    /// minimum, probing reaches for the desired), when anything is desired.
    pub bwe: Option<(u64, u64)>,
    /// Restart the estimate at this: what cannot be sent lower exceeds an estimate that only
    /// lags (a clean link, just joined), and the pacer would queue it for seconds.
    pub raise: Option<u64>,
}

/// The layer a subscriber should get of a track: the best whose bitrate fits `budget_bps`,
/// never above `max_index` (the subscriber's quality preference); the lowest when none fits.
/// `layers` are (layer, measured bits per second), in any order; layers not sending are absent.
pub fn choose_layer(layers: &[(Layer, u64)], budget_bps: u64, max_index: usize) -> Option<Layer> {
    let mut sorted: Vec<(Layer, u64)> = layers.to_vec();
    sorted.sort_by_key(|(_, bps)| *bps);
    let allowed = &sorted[..sorted.len().min(max_index.saturating_add(1))];
    allowed.iter().rev().find(|(_, bps)| *bps <= budget_bps).or(allowed.first()).map(|(l, _)| *l)
}

/// Shares the subscriber's estimate, less what audio needs, equally between its video tracks,
/// each capped by its preference; holds the budget down after heavy loss; says what it would
/// take to get everything at the best quality wanted, so the estimator probes for it.
pub fn allocate(link: &Link, tracks: &[Demand], now: Instant) -> Allocation {
    let rate =
        |layers: &[(Layer, u64)], l: Option<Layer>| l.and_then(|l| layers.iter().find(|x| x.0 == l)).map_or(0, |x| x.1);
    let mut budget = link.estimate.unwrap_or(INITIAL_ESTIMATE_BPS);
    let sending: u64 = tracks.iter().map(|t| rate(t.layers, t.current)).sum();
    // The estimate can lag behind a lossy link: heavy loss means what is sent now does not
    // fit, so the budget drops below it and stays there for a while (longer each time).
    let mut hold = link.hold.filter(|h| now < h.until + h.backoff * 4);
    if link.loss > LOSS_STEP_DOWN && sending > 0 && hold.is_none_or(|h| now >= h.until || h.cap > sending) {
        let cap = (sending as f32 * (1.0 - link.loss)) as u64;
        let backoff = hold.map_or(LOSS_HOLD, |h| (h.backoff * 2).min(LOSS_HOLD_MAX));
        hold = Some(LossHold { until: now + backoff, cap, backoff });
    }
    let held = hold.is_some_and(|h| now < h.until);
    if let Some(h) = hold
        && held
    {
        budget = budget.min(h.cap);
    }
    let audio = tracks.iter().filter(|t| t.audio).count() as u64;
    let video = tracks.len() as u64 - audio;
    let share = budget.saturating_sub(audio * AUDIO_BPS) / video.max(1);
    let mut desired = audio * AUDIO_BPS;
    let mut minimum = 0;
    // What cannot be sent lower (audio, the lowest layer of each video track): the pacer
    // must not hold it back.
    let mut required = 0;
    let mut targets = Vec::with_capacity(tracks.len());
    for t in tracks {
        let layers = t.layers;
        let target = if t.quality == Quality::Off {
            Target::Pause
        } else if t.audio {
            required += layers.first().map_or(0, |l| l.1);
            Target::Layer(layers.first().and_then(|l| l.0))
        } else {
            let best = rate(layers, choose_layer(layers, u64::MAX, t.quality.max_index()));
            let chosen = choose_layer(layers, share, t.quality.max_index());
            // Keep the estimate at the next layer up (padding fills the gap) so it can be
            // taken as soon as it fits, and probe for the best.
            let next = layers.iter().map(|l| l.1).filter(|b| *b > rate(layers, chosen) && *b <= best).min();
            minimum += next.unwrap_or(rate(layers, chosen));
            desired += best;
            // Only the lowest layer is beyond adapting.
            required += rate(layers, choose_layer(layers, 0, 0));
            chosen.map_or(Target::Undecided, Target::Layer)
        };
        targets.push(target);
    }
    if held {
        // A lossy link: no padding towards better layers, no probing.
        minimum = 0;
        desired = sending;
    }
    let bwe = (desired > 0).then_some((minimum, desired.max(minimum)));
    // Loss brings a raised estimate down again (and holds the budget).
    let clean = link.loss < LOSS_STEP_DOWN / 5.0 && !held;
    let estimate = link.estimate.unwrap_or(INITIAL_ESTIMATE_BPS);
    let raise = (clean
        && required > estimate
        && link.raised_at.is_none_or(|at| now.saturating_duration_since(at) >= RAISE_INTERVAL))
    .then_some(required + required / 4);
    Allocation { targets, hold, bwe, raise }
}

/// Where a subscriber's estimate restarts when it asks for more than before: the estimate
/// followed the lower rate down, so it starts again at least at the initial one and the better
/// layer is tried (it comes down again if it does not fit).
pub fn restarted_estimate(estimate: Option<u64>) -> u64 {
    estimate.map_or(INITIAL_ESTIMATE_BPS, |b| b.max(INITIAL_ESTIMATE_BPS))
}

impl Sfu {
    /// Chooses the layer of every video track the session receives ([`allocate`]) and applies
    /// it: forwarder targets, the estimator's bounds, keyframe requests for what switches.
    pub(super) fn allocate(&mut self, id: SessionId, now: Instant) {
        let Some(s) = self.sessions.get(&id) else { return };
        let mut received = Vec::new();
        let mut relayed = Vec::new();
        for (i, t) in s.tracks_out.iter().enumerate().filter(|(_, t)| t.open) {
            let Some(src) = self.sessions.get(&t.source.0).and_then(|p| p.tracks_in.get(&t.source.1)) else { continue };
            if t.layers.is_some() {
                // A link's simulcast track: the other node chooses among the layers it gets.
                relayed.push((i, src.layer_names()));
            } else {
                received.push((i, src.kind == MediaKind::Audio, src.active_layers(now)));
            }
        }
        let demands: Vec<Demand> = received
            .iter()
            .map(|(i, audio, layers)| Demand {
                audio: *audio,
                layers,
                current: s.tracks_out[*i].fwd.current(),
                quality: relay_demand::link_quality(s.relay.as_ref(), s.tracks_out[*i].mid, s.tracks_out[*i].quality),
            })
            .collect();
        let link =
            Link { estimate: s.estimate.map(|b| b.as_u64()), loss: s.loss, hold: s.hold, raised_at: s.raised_at };
        let plan = allocate(&link, &demands, now);
        let Some(s) = self.sessions.get_mut(&id) else { return };
        s.hold = plan.hold;
        let mut keyframes = Vec::new();
        for (i, by_bitrate) in &relayed {
            let quality = relay_demand::link_quality(s.relay.as_ref(), s.tracks_out[*i].mid, s.tracks_out[*i].quality);
            let t = &mut s.tracks_out[*i];
            let Some(layers) = t.layers.as_mut() else { continue };
            layers.allow(by_bitrate, quality);
            // Layers starting, or still waiting for their first keyframe (throttled).
            keyframes.extend(layers.waiting().map(|rid| (t.source, Some(rid))));
        }
        for ((i, _, _), target) in received.iter().zip(plan.targets) {
            let t = &mut s.tracks_out[*i];
            let switched = match target {
                Target::Pause => {
                    t.fwd.set_target(None);
                    continue;
                }
                Target::Layer(layer) => t.fwd.set_target(Some(layer)).then_some(layer),
                Target::Undecided => None,
            };
            if let Some(layer) = switched {
                keyframes.push((t.source, layer));
            } else if let Some(layer) = t.fwd.target()
                && t.fwd.waiting()
            {
                // Still waiting for the keyframe: ask again (throttled).
                keyframes.push((t.source, layer));
            }
        }
        if let Some((minimum, desired)) = plan.bwe {
            s.rtc.bwe().set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
        }
        if let Some(raised) = plan.raise {
            s.reset_estimate(raised);
            s.raised_at = Some(now);
        }
        self.drain(id, now);
        for (source, layer) in keyframes {
            self.request_keyframe(source, layer, KeyframeRequestKind::Pli, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KBPS: u64 = 1000;

    fn simulcast() -> LayerRates {
        vec![(Some("h".into()), 600 * KBPS), (Some("l".into()), 150 * KBPS), (Some("m".into()), 300 * KBPS)]
    }

    fn video<'a>(layers: &'a [(Layer, u64)], current: Option<&str>, quality: Quality) -> Demand<'a> {
        Demand { audio: false, layers, current: current.map(|c| Some(c.into())), quality }
    }

    fn link(estimate: u64, loss: f32) -> Link {
        Link { estimate: Some(estimate), loss, hold: None, raised_at: None }
    }

    fn layer(rid: &str) -> Target {
        Target::Layer(Some(rid.into()))
    }

    #[test]
    fn the_best_layer_that_fits_is_chosen() {
        let layers = [(Some("h".into()), 2_500_000), (Some("q".into()), 150_000), (Some("m".into()), 600_000)];
        assert_eq!(choose_layer(&layers, 3_000_000, 2), Some(Some("h".into())));
        assert_eq!(choose_layer(&layers, 1_000_000, 2), Some(Some("m".into())));
        assert_eq!(choose_layer(&layers, 10_000, 2), Some(Some("q".into())), "the lowest when nothing fits");
        assert_eq!(choose_layer(&layers, 3_000_000, 0), Some(Some("q".into())), "the preference caps it");
        assert_eq!(choose_layer(&[], 3_000_000, 2), None);
    }

    #[test]
    fn the_estimate_is_shared_equally_between_video_tracks_after_audio() {
        let t0 = Instant::now();
        let (a, b) = (simulcast(), simulcast());
        let audio = [(None, 40 * KBPS)];
        let audio = Demand { audio: true, layers: &audio, current: None, quality: Quality::High };
        // 1.264 Mbit/s: 64 kbit/s for audio, 600 kbit/s for each video track.
        let both = [audio, video(&a, None, Quality::High), video(&b, None, Quality::High)];
        let plan = allocate(&link(1_264 * KBPS, 0.0), &both, t0);
        assert_eq!(plan.targets, vec![Target::Layer(None), layer("h"), layer("h")]);
        // A little less: both step down to the medium layer, and the estimator keeps at least
        // the next layer up (high) and probes for the best (high) of each.
        let plan = allocate(&link(1_200 * KBPS, 0.0), &both, t0);
        assert_eq!(plan.targets, vec![Target::Layer(None), layer("m"), layer("m")]);
        assert_eq!(plan.bwe, Some((1_200 * KBPS, 64 * KBPS + 1_200 * KBPS)));
        assert_eq!(plan.hold, None);
    }

    #[test]
    fn preferences_cap_pause_and_wait_for_layers() {
        let t0 = Instant::now();
        let (a, b, none) = (simulcast(), simulcast(), Vec::new());
        let tracks = [video(&a, None, Quality::Low), video(&b, None, Quality::Off), video(&none, None, Quality::High)];
        let plan = allocate(&link(10_000 * KBPS, 0.0), &tracks, t0);
        assert_eq!(plan.targets, vec![layer("l"), Target::Pause, Target::Undecided]);
        assert_eq!(plan.bwe, Some((150 * KBPS, 150 * KBPS)), "the low layer is the best wanted");
        let medium = [video(&a, None, Quality::Medium)];
        assert_eq!(allocate(&link(10_000 * KBPS, 0.0), &medium, t0).targets, vec![layer("m")]);
    }

    #[test]
    fn heavy_loss_holds_the_budget_below_what_is_sent_and_the_hold_doubles() {
        let t0 = Instant::now();
        let a = simulcast();
        let high = [video(&a, Some("h"), Quality::High)];
        let plan = allocate(&link(5_000 * KBPS, 0.25), &high, t0);
        let hold = plan.hold.expect("a hold");
        assert_eq!((hold.until, hold.cap, hold.backoff), (t0 + LOSS_HOLD, 450 * KBPS, LOSS_HOLD));
        assert_eq!(plan.targets, vec![layer("m")], "the best under 450 kbit/s");
        assert_eq!(plan.bwe, Some((0, 600 * KBPS)), "no padding or probing while held");
        assert_eq!(plan.raise, None);
        // Clean again within the hold: still capped.
        let medium = [video(&a, Some("m"), Quality::High)];
        let during = Link { hold: plan.hold, ..link(5_000 * KBPS, 0.0) };
        let plan = allocate(&during, &medium, t0 + Duration::from_secs(1));
        assert_eq!(plan.targets, vec![layer("m")]);
        assert_eq!(plan.hold, Some(hold));
        // After it: the best again; loss soon after holds twice as long.
        let after = t0 + LOSS_HOLD + Duration::from_secs(1);
        let plan = allocate(&during, &medium, after);
        assert_eq!(plan.targets, vec![layer("h")]);
        let again = Link { hold: plan.hold, ..link(5_000 * KBPS, 0.25) };
        let plan = allocate(&again, &high, after);
        assert_eq!(plan.hold.map(|h| h.backoff), Some(LOSS_HOLD * 2));
        // Long after, the hold is forgotten and starts small again.
        let much_later = after + LOSS_HOLD * 20;
        let plan = allocate(&Link { hold: plan.hold, ..link(5_000 * KBPS, 0.25) }, &high, much_later);
        assert_eq!(plan.hold.map(|h| h.backoff), Some(LOSS_HOLD));
    }

    #[test]
    fn media_that_cannot_go_lower_raises_a_lagging_estimate_on_a_clean_link() {
        let t0 = Instant::now();
        let single = [(None, 3_000 * KBPS)];
        let tracks = [Demand { audio: false, layers: &single, current: None, quality: Quality::High }];
        let plan = allocate(&link(INITIAL_ESTIMATE_BPS, 0.0), &tracks, t0);
        assert_eq!(plan.targets, vec![Target::Layer(None)]);
        assert_eq!(plan.raise, Some(3_750 * KBPS));
        let recently = Link { raised_at: Some(t0), ..link(INITIAL_ESTIMATE_BPS, 0.0) };
        assert_eq!(allocate(&recently, &tracks, t0 + Duration::from_secs(1)).raise, None, "at most every 2 s");
        assert_eq!(allocate(&link(INITIAL_ESTIMATE_BPS, 0.05), &tracks, t0).raise, None, "not on a lossy link");
        assert_eq!(allocate(&link(4_000 * KBPS, 0.0), &tracks, t0).raise, None, "the estimate suffices");
    }

    #[test]
    fn a_restart_never_goes_below_the_initial_estimate() {
        assert_eq!(restarted_estimate(None), INITIAL_ESTIMATE_BPS);
        assert_eq!(restarted_estimate(Some(200 * KBPS)), INITIAL_ESTIMATE_BPS);
        assert_eq!(restarted_estimate(Some(3_000 * KBPS)), 3_000 * KBPS);
    }
}
