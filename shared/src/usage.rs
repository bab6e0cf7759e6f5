//! Usage as media and TURN nodes report it to the edge for billing, the month and day it is
//! billed in, and the rule by which the registry takes each report once.

use serde::{Deserialize, Serialize};

use crate::node::valid_node_id;

/// What a node sends in `POST /v1/nodes/usage`: participant time with media connected, per
/// room (media nodes), and bytes relayed, per organisation (TURN nodes), since its previous
/// report.
///
/// A report is named by `(epoch, seq)`. `seq` increases with every report a node makes and a
/// resent report keeps it; `epoch` names the node's journal, chosen at random when the journal
/// is created. A node that lost its state directory starts a new journal, so its new reports
/// (seq 1, 2, …) carry a new epoch and are not mistaken for reports already taken. The registry
/// applies a report to a record once ([`AppliedReports`]), so a node resends until acknowledged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// The reporting node's id (see [`valid_node_id`]).
    pub node: String,
    /// The node's journal: 0-64 characters of `A-Z`, `a-z`, `0-9`, `-`, `_`. Empty for
    /// journals from before epochs existed.
    #[serde(default)]
    pub epoch: String,
    /// This report's number within the epoch, starting at 1 and increasing with each new
    /// report; a resent report keeps its number.
    pub seq: u64,
    /// Participant time per room, month and day (media nodes).
    pub entries: Vec<UsageEntry>,
    /// Bytes relayed per organisation, month and day (TURN nodes). `entries` and `relayed`
    /// together hold at most [`UsageReport::MAX_ENTRIES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relayed: Vec<RelayEntry>,
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
    /// The day of `month` (1-31, UTC, the node's clock) the time was used on; 0: unknown
    /// (the registry takes the day the report arrives).
    #[serde(default)]
    pub day: u32,
    /// Milliseconds of media connected, summed over the room's participants on the node.
    pub participant_ms: u64,
}

/// What a TURN node relayed for one organisation on one day.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayEntry {
    /// The organisation named by the allocations' TURN usernames (1-128 characters, no `:`).
    pub org: String,
    /// `YYYY-MM` (UTC) the bytes were relayed in.
    pub month: String,
    /// The day of `month` (1-31, UTC, the node's clock); 0: unknown.
    #[serde(default)]
    pub day: u32,
    /// Application bytes relayed both ways: the UDP payloads the relay sockets sent to peers
    /// and received from them.
    pub relayed_bytes: u64,
    /// TURN's framing on the client side of those bytes (Send/Data indication headers and
    /// attributes, ChannelData headers and padding): what the client side carried beyond
    /// `relayed_bytes`.
    pub framing_bytes: u64,
}

impl UsageReport {
    /// At most this many entries (`entries` and `relayed` together) per report.
    pub const MAX_ENTRIES: usize = 1000;
    /// At most this many bytes in one figure of a report (a petabyte; far beyond what one
    /// node relays between two reports, even after a long outage folded many together).
    pub const MAX_BYTES: u64 = 1_000_000_000_000_000;
    /// At most this many participant milliseconds in one entry.
    pub const MAX_PARTICIPANT_MS: u64 = 32 * 86_400_000 * 10_000;

    /// Checks a report from the network.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_node_id(&self.node) {
            return Err("node id must be 1-64 characters of a-z, 0-9, '-', '_' or '.'".into());
        }
        if !valid_epoch(&self.epoch) {
            return Err("epoch must be 0-64 characters of A-Z, a-z, 0-9, '-' or '_'".into());
        }
        if self.entries.len().saturating_add(self.relayed.len()) > Self::MAX_ENTRIES {
            return Err(format!("at most {} entries per report", Self::MAX_ENTRIES));
        }
        for e in &self.entries {
            if !valid_name(&e.org) || !valid_name(&e.room) {
                return Err("org and room must be 1-128 characters without ':'".into());
            }
            check_date(&e.month, e.day)?;
            // More than a month of ten thousand participants' time per report is not real.
            if e.participant_ms > Self::MAX_PARTICIPANT_MS {
                return Err("participant_ms is out of range".into());
            }
        }
        for r in &self.relayed {
            if !valid_name(&r.org) {
                return Err("org must be 1-128 characters without ':'".into());
            }
            check_date(&r.month, r.day)?;
            if r.relayed_bytes > Self::MAX_BYTES || r.framing_bytes > Self::MAX_BYTES {
                return Err("relayed_bytes and framing_bytes must be at most 10^15".into());
            }
        }
        Ok(())
    }
}

/// An organisation or room name in a report: 1-128 characters, no `:`, no control characters.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_control() || c == ':')
}

/// A journal's epoch: 0-64 characters of `A-Z`, `a-z`, `0-9`, `-`, `_`.
pub fn valid_epoch(s: &str) -> bool {
    s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `YYYY-MM` with a month of 1-12, and a day of 0 (unknown) to 31.
fn check_date(month: &str, day: u32) -> Result<(), String> {
    let m = month.as_bytes();
    let month_ok = m.len() == 7
        && m[4] == b'-'
        && m.iter().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit())
        && (1..=12).contains(&month[5..].parse::<u32>().unwrap_or(0));
    if !month_ok {
        return Err("month must be YYYY-MM".into());
    }
    if day > 31 {
        return Err("day must be 0 (unknown) to 31".into());
    }
    Ok(())
}

/// Which reports of one node a usage record has taken: the epoch and seq of the last one, and
/// the last seq of up to [`AppliedReports::EARLIER_EPOCHS`] epochs before it.
///
/// A report `(epoch, seq)` is taken when `seq` is above the last seq the record took in that
/// epoch (0 for an epoch it never saw). So:
/// * nothing counts twice: within an epoch the node numbers its reports upwards and resends a
///   report with its number, so a replayed or duplicated report finds its seq taken;
/// * nothing is lost after a node lost its state directory: its new journal has a new epoch, in
///   which every seq is new, so its reports from seq 1 on count. Its reports of the old epoch
///   that the registry had not acknowledged were lost with the directory (at most the few
///   seconds before the loss): the registry cannot take what it never received.
///
/// Remembering earlier epochs keeps the rule exact when an old epoch comes back (a state
/// directory restored from a backup, two processes started with one node id): their resent
/// reports are recognised as taken instead of counting again. Beyond the bound the oldest epoch
/// is forgotten.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedReports {
    /// The epoch of the last report taken (empty: before epochs, or none yet).
    #[serde(default)]
    pub report_epoch: String,
    /// The seq of the last report taken, in `report_epoch`.
    #[serde(default)]
    pub report_seq: u64,
    /// Earlier epochs and the last seq taken in each, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_epochs: Vec<(String, u64)>,
}

impl AppliedReports {
    /// Earlier epochs remembered at most.
    pub const EARLIER_EPOCHS: usize = 8;

    /// The last seq taken in `epoch` (0: none).
    fn last_seq(&self, epoch: &str) -> u64 {
        if epoch == self.report_epoch {
            return self.report_seq;
        }
        self.earlier_epochs.iter().find(|(e, _)| e == epoch).map_or(0, |(_, s)| *s)
    }

    /// True when report `(epoch, seq)` was not taken yet.
    pub fn is_new(&self, epoch: &str, seq: u64) -> bool {
        seq > self.last_seq(epoch)
    }

    /// Notes report `(epoch, seq)` as taken (call after applying it, when [`Self::is_new`]).
    pub fn take(&mut self, epoch: &str, seq: u64) {
        if epoch != self.report_epoch {
            let previous = (std::mem::take(&mut self.report_epoch), self.report_seq);
            self.earlier_epochs.retain(|(e, _)| e != epoch && *e != previous.0);
            if previous.1 > 0 || !previous.0.is_empty() {
                self.earlier_epochs.push(previous);
            }
            if self.earlier_epochs.len() > Self::EARLIER_EPOCHS {
                let excess = self.earlier_epochs.len() - Self::EARLIER_EPOCHS;
                self.earlier_epochs.drain(..excess);
            }
            self.report_epoch = epoch.to_owned();
            self.report_seq = seq;
        } else {
            self.report_seq = self.report_seq.max(seq);
        }
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
    use super::*;

    fn report() -> UsageReport {
        UsageReport {
            node: "turn-1".into(),
            epoch: "00ff00ff00ff00ff".into(),
            seq: 1,
            entries: vec![],
            relayed: vec![RelayEntry {
                org: "acme".into(),
                month: "2027-01".into(),
                day: 31,
                relayed_bytes: 1200,
                framing_bytes: 40,
            }],
        }
    }

    #[test]
    fn reports_are_checked() {
        assert_eq!(report().validate(), Ok(()));
        let bad: Vec<fn(&mut UsageReport)> = vec![
            |r| r.epoch = "a".repeat(65),
            |r| r.epoch = "not hex!".into(),
            |r| r.relayed[0].day = 32,
            |r| r.relayed[0].month = "2027-13".into(),
            |r| r.relayed[0].org = "a:b".into(),
            |r| r.relayed[0].org = String::new(),
            |r| r.relayed[0].relayed_bytes = UsageReport::MAX_BYTES + 1,
            |r| r.relayed[0].framing_bytes = u64::MAX,
            |r| r.relayed = vec![r.relayed[0].clone(); UsageReport::MAX_ENTRIES + 1],
            |r| {
                r.relayed = vec![r.relayed[0].clone(); UsageReport::MAX_ENTRIES];
                r.entries = vec![UsageEntry {
                    org: "acme".into(),
                    room: "r".into(),
                    month: "2027-01".into(),
                    day: 1,
                    participant_ms: 1,
                }];
            },
        ];
        for (i, spoil) in bad.into_iter().enumerate() {
            let mut r = report();
            spoil(&mut r);
            assert!(r.validate().is_err(), "case {i} is refused");
        }
    }

    #[test]
    fn old_reports_without_epoch_relayed_or_day_still_parse_and_unknown_fields_do_not() {
        let r: UsageReport = serde_json::from_str(
            r#"{"node":"m1","seq":3,"entries":[{"org":"o","room":"r","month":"2027-01","participant_ms":5}]}"#,
        )
        .unwrap();
        assert_eq!((r.epoch.as_str(), r.entries[0].day, r.relayed.len()), ("", 0, 0));
        assert!(serde_json::from_str::<UsageReport>(r#"{"node":"m1","seq":3,"entries":[],"extra":1}"#).is_err());
        let text = serde_json::to_string(&UsageReport { relayed: vec![], ..report() }).unwrap();
        assert!(!text.contains("relayed"), "{text}");
    }

    #[test]
    fn a_report_is_taken_once_per_epoch_and_seq() {
        let mut a = AppliedReports::default();
        assert!(a.is_new("e1", 1));
        a.take("e1", 1);
        assert!(!a.is_new("e1", 1), "a replay");
        assert!(a.is_new("e1", 2));
        a.take("e1", 2);
        // The node lost its state directory: a new epoch starts at 1 again.
        assert!(a.is_new("e2", 1));
        a.take("e2", 1);
        assert!(!a.is_new("e2", 1));
        // The old epoch comes back (a restored backup): what it resends was taken.
        assert!(!a.is_new("e1", 2));
        assert!(a.is_new("e1", 3));
        a.take("e1", 3);
        assert!(!a.is_new("e2", 1), "and the epoch it replaced is remembered too");
        assert_eq!(a.earlier_epochs, vec![("e2".to_owned(), 1)]);
        for i in 0..20 {
            a.take(&format!("x{i}"), 1);
        }
        assert_eq!(a.earlier_epochs.len(), AppliedReports::EARLIER_EPOCHS);
    }

    #[test]
    fn records_from_before_epochs_continue_their_numbering() {
        // A record kept before epochs existed: {"report_seq": 7}.
        let a: AppliedReports = serde_json::from_str(r#"{"report_seq":7}"#).unwrap();
        assert!(!a.is_new("", 7));
        assert!(a.is_new("", 8));
        assert!(a.is_new("0123456789abcdef", 1));
    }

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
