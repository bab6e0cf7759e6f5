//! Usage as media nodes report it to the edge for billing, and the month it is billed in.

use serde::{Deserialize, Serialize};

use crate::node::valid_node_id;

/// What a media node sends in `POST /v1/nodes/usage`: participant time with media connected,
/// per room, since its previous report. `seq` increases with every report a node makes; the
/// registry applies each (node, seq) once, so a node resends until acknowledged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// The reporting media node's id (see [`valid_node_id`]).
    pub node: String,
    /// This report's number, starting at 1 and increasing with each new report of the node;
    /// a resent report keeps its number.
    pub seq: u64,
    /// Participant time per room and month; at most [`UsageReport::MAX_ENTRIES`].
    pub entries: Vec<UsageEntry>,
}

/// One room's media participant time in a report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageEntry {
    /// The id of the organisation that owns the room (1-128 characters, no `:`).
    pub org: String,
    /// The room's name within the organisation (1-128 characters, no `:`).
    pub room: String,
    /// `YYYY-MM` (UTC) the time was used in.
    pub month: String,
    /// Milliseconds of media connected, summed over the room's participants on the node.
    pub participant_ms: u64,
}

impl UsageReport {
    /// At most this many entries per report.
    pub const MAX_ENTRIES: usize = 1000;

    /// Checks a report from the network.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_node_id(&self.node) {
            return Err("node id must be 1-64 characters of a-z, 0-9, '-', '_' or '.'".into());
        }
        if self.entries.len() > Self::MAX_ENTRIES {
            return Err(format!("at most {} entries per report", Self::MAX_ENTRIES));
        }
        let name_ok = |s: &str| !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_control() || c == ':');
        for e in &self.entries {
            if !name_ok(&e.org) || !name_ok(&e.room) {
                return Err("org and room must be 1-128 characters without ':'".into());
            }
            let m = e.month.as_bytes();
            let month_ok = m.len() == 7
                && m[4] == b'-'
                && m.iter().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit())
                && (1..=12).contains(&e.month[5..].parse::<u32>().unwrap_or(0));
            if !month_ok {
                return Err("month must be YYYY-MM".into());
            }
            // More than a month of one participant's time per report is not real.
            if e.participant_ms > 32 * 86_400_000 * 10_000 {
                return Err("participant_ms is out of range".into());
            }
        }
        Ok(())
    }
}

/// `YYYY-MM` of a Unix time in milliseconds (proleptic Gregorian, UTC): the month usage is
/// billed in.
pub fn month_of(ms: u64) -> String {
    // Days since 0000-03-01, then the civil date (the usual era/day-of-era computation).
    let days = (ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

/// The day of the month (1-31, UTC) of a Unix time in milliseconds.
pub fn day_of(ms: u64) -> u32 {
    let days = (ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    (doy - (153 * mp + 2) / 5 + 1) as u32
}

#[cfg(test)]
mod tests {
    use super::{day_of, month_of};

    #[test]
    fn days() {
        assert_eq!(day_of(0), 1);
        assert_eq!(day_of(951_782_400_000), 29); // 2000-02-29
        assert_eq!(day_of(1_798_761_599_000), 31); // 2026-12-31T23:59:59Z
        assert_eq!(day_of(1_798_761_600_000), 1);
    }

    #[test]
    fn months() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(month_of(951_782_400_000), "2000-02"); // 2000-02-29
        assert_eq!(month_of(1_798_761_599_000), "2026-12"); // 2026-12-31T23:59:59Z
        assert_eq!(month_of(1_798_761_600_000), "2027-01");
    }
}
