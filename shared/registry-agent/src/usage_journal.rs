//! A node's usage on its way to billing, kept on disk until the registry acknowledges it: the
//! same journal for media nodes (participant time per room) and TURN nodes (bytes relayed per
//! organisation).
//!
//! Every few seconds the node records what it used as a numbered report and the journal is
//! written ([`durable_file::replace`]) before the report is sent; a report leaves the journal
//! when the registry answers 2xx. Reports are named by `(epoch, seq)`: `seq` counts up within
//! the journal and a resent report keeps it, and `epoch` is chosen at random when the journal is
//! created. The registry takes each `(epoch, seq)` once per record
//! ([`origo_shared::usage::AppliedReports`]), so resending after a lost answer or a restart
//! counts nothing twice, and a node whose state directory was lost starts a new epoch whose
//! reports count although their numbers start at 1 again. A crash loses at most the usage since
//! the last write.

use std::path::{Path, PathBuf};

use origo_shared::usage::{RelayEntry, UsageEntry, UsageReport};
use serde::{Deserialize, Serialize};

use crate::durable_file;

/// Usage a node took from its work since it last did: participant time (media nodes), bytes
/// relayed (TURN nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUsage {
    pub entries: Vec<UsageEntry>,
    pub relayed: Vec<RelayEntry>,
}

impl NodeUsage {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.relayed.is_empty()
    }
}

/// Reports kept while the registry is unreachable; beyond this, later reports are folded
/// together.
pub const MAX_PENDING: usize = 1000;

/// A report's JSON stays below this many bytes: the registry takes bodies of up to 64 KiB, and
/// a report it refuses as too large would hold back every report after it.
pub const MAX_REPORT_BYTES: usize = 48 * 1024;

/// What a report's JSON costs beyond its entries (node id, epoch, number, field names).
const REPORT_OVERHEAD: usize = 256;

/// The journal: its epoch, the reports not yet acknowledged, and the next report's number.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Journal {
    /// Empty in a journal written before epochs existed: it keeps numbering as it did, and the
    /// registry's records know that numbering as the empty epoch.
    #[serde(default)]
    epoch: String,
    next_seq: u64,
    pending: Vec<UsageReport>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

impl Journal {
    /// The journal in `path` (written when first needed); `None`: memory only. A journal that
    /// does not exist yet starts with a new random epoch; one that exists but cannot be read
    /// back is an error, not a silent reset.
    pub fn open(path: Option<&Path>) -> std::io::Result<Journal> {
        let existing = match path {
            Some(p) => match std::fs::read(p) {
                Ok(bytes) => Some(serde_json::from_slice::<Journal>(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("usage journal {} is damaged: {e}", p.display()),
                    )
                })?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut j = match existing {
            Some(j) => j,
            None => Journal { epoch: new_epoch()?, ..Journal::default() },
        };
        j.next_seq = j.next_seq.max(j.pending.iter().map(|r| r.seq.saturating_add(1)).max().unwrap_or(1)).max(1);
        j.path = path.map(Path::to_path_buf);
        Ok(j)
    }

    /// This journal's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The reports not yet acknowledged, oldest first.
    pub fn pending(&self) -> &[UsageReport] {
        &self.pending
    }

    /// The number the next report gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends `usage` as one or more reports of `node` (nothing if empty) and writes the
    /// journal. Entries the registry would refuse are dropped here, with a log line: a refused
    /// report would otherwise hold back every report after it.
    pub fn record(&mut self, node: &str, usage: NodeUsage) -> std::io::Result<()> {
        let usage = self.acceptable(node, usage);
        if usage.is_empty() {
            return Ok(());
        }
        for chunk in chunks(usage.entries) {
            self.push(node, chunk, Vec::new());
        }
        for chunk in chunks(usage.relayed) {
            self.push(node, Vec::new(), chunk);
        }
        while self.pending.len() > MAX_PENDING && self.fold() {}
        self.save()
    }

    /// The registry took report `seq`.
    pub fn acknowledge(&mut self, seq: u64) -> std::io::Result<()> {
        self.pending.retain(|r| r.seq != seq);
        self.save()
    }

    fn push(&mut self, node: &str, entries: Vec<UsageEntry>, relayed: Vec<RelayEntry>) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.pending.push(UsageReport { node: node.to_owned(), epoch: self.epoch.clone(), seq, entries, relayed });
    }

    /// `usage` without the entries a report of `node` could not carry.
    fn acceptable(&self, node: &str, usage: NodeUsage) -> NodeUsage {
        let alone = |entries: Vec<UsageEntry>, relayed: Vec<RelayEntry>| UsageReport {
            node: node.to_owned(),
            epoch: self.epoch.clone(),
            seq: self.next_seq,
            entries,
            relayed,
        };
        if let Err(e) = alone(vec![], vec![]).validate() {
            tracing::error!(node, "usage cannot be reported: {e}");
            return NodeUsage::default();
        }
        let before = usage.entries.len() + usage.relayed.len();
        let entries: Vec<UsageEntry> =
            usage.entries.into_iter().filter(|e| alone(vec![e.clone()], vec![]).validate().is_ok()).collect();
        let relayed: Vec<RelayEntry> =
            usage.relayed.into_iter().filter(|r| alone(vec![], vec![r.clone()]).validate().is_ok()).collect();
        let dropped = before - entries.len() - relayed.len();
        if dropped > 0 {
            tracing::warn!(dropped, "usage entries the registry would refuse were dropped");
        }
        NodeUsage { entries, relayed }
    }

    /// Folds two adjacent reports into the later one (its number then covers both); false
    /// when no two fit in one report.
    ///
    /// The oldest report is never folded: it alone may have reached the registry with its
    /// answer lost (reports are sent in order, each only after the one before was
    /// acknowledged), and folding it into a later number would count it again. The reports
    /// after it were never sent.
    fn fold(&mut self) -> bool {
        for i in 1..self.pending.len().saturating_sub(1) {
            let (a, b) = (&self.pending[i], &self.pending[i + 1]);
            if a.epoch != b.epoch {
                continue;
            }
            let entries = merge_entries(a.entries.iter().chain(&b.entries));
            let relayed = merge_relayed(a.relayed.iter().chain(&b.relayed));
            if entries.len() + relayed.len() > UsageReport::MAX_ENTRIES
                || REPORT_OVERHEAD + json_len(&entries) + json_len(&relayed) > MAX_REPORT_BYTES
            {
                continue;
            }
            let later = &mut self.pending[i + 1];
            later.entries = entries;
            later.relayed = relayed;
            self.pending.remove(i);
            return true;
        }
        false
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        durable_file::replace(path, &serde_json::to_vec(self)?)
    }
}

/// `items` in consecutive runs that each fit in one report: at most
/// [`UsageReport::MAX_ENTRIES`] entries and [`MAX_REPORT_BYTES`] of JSON.
fn chunks<T: Serialize>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut bytes = REPORT_OVERHEAD;
    for item in items {
        let size = json_len(std::slice::from_ref(&item));
        if !current.is_empty() && (current.len() == UsageReport::MAX_ENTRIES || bytes + size > MAX_REPORT_BYTES) {
            out.push(std::mem::take(&mut current));
            bytes = REPORT_OVERHEAD;
        }
        bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The length of `items` as JSON (a list: its brackets and commas included).
fn json_len<T: Serialize>(items: &[T]) -> usize {
    serde_json::to_vec(items).map_or(usize::MAX / 4, |v| v.len())
}

/// A new journal's epoch: 16 hex digits from the operating system's random source.
fn new_epoch() -> std::io::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom03::fill(&mut bytes).map_err(|e| std::io::Error::other(format!("no OS random source: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Sums entries of the same (org, room, month, day).
fn merge_entries<'a>(entries: impl Iterator<Item = &'a UsageEntry>) -> Vec<UsageEntry> {
    let mut out: Vec<UsageEntry> = Vec::new();
    for e in entries {
        match out.iter_mut().find(|o| o.org == e.org && o.room == e.room && o.month == e.month && o.day == e.day) {
            Some(o) => o.participant_ms = o.participant_ms.saturating_add(e.participant_ms),
            None => out.push(e.clone()),
        }
    }
    out
}

/// Sums relay entries of the same (org, month, day).
fn merge_relayed<'a>(entries: impl Iterator<Item = &'a RelayEntry>) -> Vec<RelayEntry> {
    let mut out: Vec<RelayEntry> = Vec::new();
    for e in entries {
        match out.iter_mut().find(|o| o.org == e.org && o.month == e.month && o.day == e.day) {
            Some(o) => {
                o.relayed_bytes = o.relayed_bytes.saturating_add(e.relayed_bytes);
                o.framing_bytes = o.framing_bytes.saturating_add(e.framing_bytes);
            }
            None => out.push(e.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use origo_shared::usage::AppliedReports;

    use super::*;

    fn entry(room: &str, ms: u64) -> NodeUsage {
        let e =
            UsageEntry { org: "acme".into(), room: room.into(), month: "2027-01".into(), day: 3, participant_ms: ms };
        NodeUsage { entries: vec![e], relayed: vec![] }
    }

    fn relayed(org: &str, bytes: u64) -> NodeUsage {
        let r = RelayEntry { org: org.into(), month: "2027-01".into(), day: 3, relayed_bytes: bytes, framing_bytes: 4 };
        NodeUsage { entries: vec![], relayed: vec![r] }
    }

    /// A registry record as the edge keeps it: the reports it took, and what they added.
    #[derive(Default)]
    struct Record {
        applied: AppliedReports,
        bytes: u64,
    }

    impl Record {
        fn take(&mut self, r: &UsageReport) {
            if self.applied.is_new(&r.epoch, r.seq) {
                self.bytes += r.relayed.iter().map(|e| e.relayed_bytes).sum::<u64>();
                self.applied.take(&r.epoch, r.seq);
            }
        }
    }

    #[test]
    fn unacknowledged_reports_survive_a_restart_and_keep_their_numbers_and_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let mut j = Journal::open(Some(&path)).unwrap();
        let epoch = j.epoch().to_owned();
        assert_eq!(epoch.len(), 16);
        assert!(epoch.bytes().all(|b| b.is_ascii_hexdigit()), "{epoch}");
        j.record("m1", entry("a", 1000)).unwrap();
        j.record("m1", NodeUsage::default()).unwrap();
        j.record("m1", entry("b", 2000)).unwrap();
        assert_eq!(j.pending().iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert!(j.pending().iter().all(|r| r.epoch == epoch));
        j.acknowledge(1).unwrap();
        drop(j);
        let mut j = Journal::open(Some(&path)).unwrap();
        assert_eq!(j.epoch(), epoch, "the epoch persists across a reopen");
        assert_eq!(j.pending().len(), 1);
        assert_eq!((j.pending()[0].seq, &j.pending()[0].entries), (2, &entry("b", 2000).entries));
        j.record("m1", entry("c", 5)).unwrap();
        assert_eq!(j.pending()[1].seq, 3, "numbers never repeat");
        j.acknowledge(2).unwrap();
        j.acknowledge(3).unwrap();
        let j = Journal::open(Some(&path)).unwrap();
        assert!(j.pending().is_empty());
        assert_eq!((j.next_seq(), j.epoch()), (4, epoch.as_str()), "the counter survives an empty journal");
    }

    #[test]
    fn a_fresh_journal_gets_a_new_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let first = Journal::open(Some(&dir.path().join("a.json"))).unwrap();
        let second = Journal::open(Some(&dir.path().join("b.json"))).unwrap();
        let memory = Journal::open(None).unwrap();
        assert_ne!(first.epoch(), second.epoch());
        assert_ne!(first.epoch(), memory.epoch());
        assert_eq!(second.next_seq(), 1);
    }

    #[test]
    fn a_journal_from_before_epochs_keeps_its_numbering_under_the_empty_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        std::fs::write(
            &path,
            br#"{"next_seq":8,"pending":[{"node":"m1","seq":7,"entries":[{"org":"o","room":"r","month":"2027-01","participant_ms":5}]}]}"#,
        )
        .unwrap();
        let mut j = Journal::open(Some(&path)).unwrap();
        assert_eq!((j.epoch(), j.pending()[0].epoch.as_str(), j.next_seq()), ("", "", 8));
        j.record("m1", entry("a", 1)).unwrap();
        assert_eq!((j.pending()[1].seq, j.pending()[1].epoch.as_str()), (8, ""));
    }

    #[test]
    fn resending_is_idempotent_and_a_lost_state_directory_loses_nothing_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let mut record = Record::default();
        let mut j = Journal::open(Some(&path)).unwrap();
        j.record("t1", relayed("acme", 100)).unwrap();
        j.record("t1", relayed("acme", 20)).unwrap();
        // Both reach the registry; the answer to the second is lost, and the node restarts.
        record.take(&j.pending()[0].clone());
        let second = j.pending()[1].clone();
        record.take(&second);
        j.acknowledge(1).unwrap();
        drop(j);
        let j = Journal::open(Some(&path)).unwrap();
        assert_eq!(j.pending(), std::slice::from_ref(&second), "resent as it was");
        for r in j.pending() {
            record.take(r);
            record.take(r);
        }
        assert_eq!(record.bytes, 120, "the resent report counts once");
        // The state directory is lost: a fresh journal numbers from 1 again, in a new epoch.
        drop(j);
        std::fs::remove_file(&path).unwrap();
        let mut j = Journal::open(Some(&path)).unwrap();
        j.record("t1", relayed("acme", 7)).unwrap();
        assert_eq!(j.pending()[0].seq, 1);
        record.take(&j.pending()[0].clone());
        record.take(&j.pending()[0].clone());
        assert_eq!(record.bytes, 127, "the new epoch's first report counts, once");
    }

    #[test]
    fn a_damaged_journal_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Journal::open(Some(&path)).is_err());
    }

    #[test]
    fn a_long_outage_folds_reports_without_losing_usage_and_keeps_the_oldest_whole() {
        let mut j = Journal::open(None).unwrap();
        for _ in 0..MAX_PENDING + 5 {
            j.record("m1", entry("a", 10)).unwrap();
            j.record("m1", relayed("acme", 3)).unwrap();
        }
        assert!(j.pending().len() <= MAX_PENDING);
        let ms: u64 = j.pending().iter().flat_map(|r| &r.entries).map(|e| e.participant_ms).sum();
        let bytes: u64 = j.pending().iter().flat_map(|r| &r.relayed).map(|e| e.relayed_bytes).sum();
        assert_eq!((ms, bytes), (10 * (MAX_PENDING as u64 + 5), 3 * (MAX_PENDING as u64 + 5)));
        assert_eq!(j.pending()[0].seq, 1, "the oldest report, perhaps taken already, stays as it was sent");
        assert_eq!(j.pending()[0].entries, entry("a", 10).entries);
        assert!(j.pending().iter().all(|r| r.validate().is_ok()));
    }

    #[test]
    fn entries_the_registry_would_refuse_are_dropped_before_they_block_the_journal() {
        let mut j = Journal::open(None).unwrap();
        let mut usage = relayed("acme", 5);
        usage.relayed.push(RelayEntry { org: "a:b".into(), ..usage.relayed[0].clone() });
        j.record("t1", usage).unwrap();
        assert_eq!(j.pending().len(), 1);
        assert_eq!(j.pending()[0].relayed.len(), 1);
        j.record("NOT A NODE ID", relayed("acme", 5)).unwrap();
        assert_eq!(j.pending().len(), 1);
    }

    #[test]
    fn large_usage_is_split_into_reports_of_bounded_size() {
        let mut j = Journal::open(None).unwrap();
        let mut usage = NodeUsage::default();
        for i in 0..UsageReport::MAX_ENTRIES + 1 {
            usage.relayed.push(relayed(&format!("org{i}"), 1).relayed.remove(0));
        }
        j.record("t1", usage).unwrap();
        assert!(j.pending().len() >= 2);
        for r in j.pending() {
            assert!(r.validate().is_ok());
            assert!(serde_json::to_vec(r).unwrap().len() <= MAX_REPORT_BYTES);
        }
        let orgs: usize = j.pending().iter().map(|r| r.relayed.len()).sum();
        assert_eq!(orgs, UsageReport::MAX_ENTRIES + 1);
        // Long names: fewer entries fit.
        let mut j = Journal::open(None).unwrap();
        let long = NodeUsage {
            entries: (0..400).map(|i| entry(&format!("{i}{}", "r".repeat(120)), 1).entries.remove(0)).collect(),
            relayed: vec![],
        };
        j.record("m1", long).unwrap();
        assert!(j.pending().len() >= 2);
        assert!(j.pending().iter().all(|r| serde_json::to_vec(r).unwrap().len() <= MAX_REPORT_BYTES));
    }
}
