//! A subscriber's quality preference for one video track: the most of it wanted (a small tile
//! needs no full-HD layer), or nothing at all.

/// The most a subscriber wants of a video track (a small tile needs no full-HD layer);
/// `Off` pauses it. Ordered from nothing to the most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Off,
    Low,
    Medium,
    #[default]
    High,
}

impl Quality {
    /// The highest simulcast layer allowed, counted from the lowest bitrate.
    pub fn max_index(self) -> usize {
        match self {
            Quality::Off | Quality::Low => 0,
            Quality::Medium => 1,
            Quality::High => usize::MAX,
        }
    }

    /// Whether changing from `old` to this allows more than before (then the bandwidth
    /// estimate is restarted so the better layer is tried).
    pub fn raises(self, old: Quality) -> bool {
        self.max_index() > old.max_index() || old == Quality::Off && self != Quality::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_higher_cap_or_leaving_off_raises() {
        assert!(Quality::High.raises(Quality::Low));
        assert!(Quality::Medium.raises(Quality::Low));
        assert!(Quality::Low.raises(Quality::Off), "off and low share a cap, but off sent nothing");
        assert!(!Quality::Low.raises(Quality::High));
        assert!(!Quality::Off.raises(Quality::Low));
        assert!(!Quality::High.raises(Quality::High));
    }
}
