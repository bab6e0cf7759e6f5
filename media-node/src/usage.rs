//! Media usage (participant time per room) on its way to billing, kept on disk until the
//! registry acknowledges it.
//!
//! Every few seconds the node takes what its sessions used, appends it to the journal as a
//! numbered report and writes the journal (to a temporary file, synced, renamed over the old
//! one, and the directory synced, so the new journal survives a power loss), and only then
//! sends it. A report leaves the journal when the registry answers
//! 2xx; the registry applies each (node, seq) once, so resending after a lost answer or a
//! restart counts nothing twice. A crash loses at most the time since the last write.
//!
//! [`Journal`] is the file; [`report`] the loop that fills it from the shards and sends it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use origo_shared::RoomKey;
use origo_shared::usage::{UsageEntry, UsageReport};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::command::Shards;

/// How often usage is journaled and reported.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Reports not yet acknowledged, and the next sequence number.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Journal {
    pub next_seq: u64,
    pub pending: Vec<UsageReport>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

/// Reports kept while the registry is unreachable; beyond this the oldest are merged.
const MAX_PENDING: usize = 1000;

impl Journal {
    /// The journal in `path` (created when first written); `None`: memory only.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Journal> {
        let mut j = match path {
            Some(p) if p.exists() => {
                let bytes = std::fs::read(p)?;
                serde_json::from_slice::<Journal>(&bytes)
                    .map_err(|e| anyhow::anyhow!("usage journal {} is damaged: {e}", p.display()))?
            }
            _ => Journal::default(),
        };
        j.next_seq = j.next_seq.max(j.pending.iter().map(|r| r.seq + 1).max().unwrap_or(1)).max(1);
        j.path = path.map(Path::to_path_buf);
        Ok(j)
    }

    /// Appends a report of `entries` (nothing if empty) and writes the journal.
    pub fn record(&mut self, node: &str, entries: Vec<UsageEntry>) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        for chunk in entries.chunks(UsageReport::MAX_ENTRIES) {
            self.pending.push(UsageReport { node: node.to_owned(), seq: self.next_seq, entries: chunk.to_vec() });
            self.next_seq += 1;
        }
        if self.pending.len() > MAX_PENDING {
            // Fold the two oldest into one (same numbers; the later seq covers both).
            let first = self.pending.remove(0);
            if let Some(second) = self.pending.first_mut() {
                let mut merged = first.entries;
                merged.extend(std::mem::take(&mut second.entries));
                second.entries = merge(merged);
            }
        }
        self.save()
    }

    /// The registry took report `seq`.
    pub fn acknowledge(&mut self, seq: u64) -> anyhow::Result<()> {
        self.pending.retain(|r| r.seq != seq);
        self.save()
    }

    fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        replace_durably(path, &serde_json::to_vec(self)?)
    }
}

/// Replaces the file at `path` with `bytes` so that, once this returns, a crash or a power
/// loss leaves the new contents there, and at no moment anything but the old or the new: the
/// bytes go to a temporary file beside it, which is synced, renamed over `path`, and then the
/// directory is synced, which makes the rename itself durable.
fn replace_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        // The new directory's own entry, on the node's first start.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Flushes a directory's entries (a rename in it) to disk.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Directories cannot be opened as files here; the rename is as durable as the platform makes it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Takes the shards' usage every [`INTERVAL`] (and on a flush, which is acknowledged once the
/// reports were tried), journals it, and sends the journal's reports in order to
/// `{edge}/v1/nodes/usage` until one is refused. Ends when the shards or the flush channel do.
pub async fn report(
    shards: Shards,
    node_id: String,
    registry: Option<(String, String)>,
    mut journal: Journal,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        let done = tokio::select! {
            _ = tick.tick() => None,
            f = flushes.recv() => Some(f),
        };
        let Ok(taken) = shards.take_usage().await else { return };
        let month = origo_shared::usage::month_of(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        );
        let entries: Vec<UsageEntry> = taken
            .into_iter()
            .map(|(RoomKey { org, room }, ms)| UsageEntry { org, room, month: month.clone(), participant_ms: ms })
            .collect();
        if let Err(e) = journal.record(&node_id, entries) {
            tracing::error!("cannot write the usage journal: {e}");
        }
        if let Some((edge, secret)) = &registry {
            let url = format!("{}/v1/nodes/usage", edge.trim_end_matches('/'));
            for report in journal.pending.clone() {
                match http.post(&url).bearer_auth(secret).json(&report).send().await {
                    Ok(r) if r.status().is_success() => {
                        if let Err(e) = journal.acknowledge(report.seq) {
                            tracing::error!("cannot write the usage journal: {e}");
                        }
                    }
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), seq = report.seq, "usage report refused; kept for later");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(seq = report.seq, "usage report not delivered: {e}; kept for later");
                        break;
                    }
                }
            }
        }
        match done {
            Some(Some(ack)) => {
                let _ = ack.send(());
            }
            Some(None) => return,
            None => {}
        }
    }
}

/// Sums entries of the same (org, room, month).
fn merge(entries: Vec<UsageEntry>) -> Vec<UsageEntry> {
    let mut out: Vec<UsageEntry> = Vec::new();
    for e in entries {
        match out.iter_mut().find(|o| o.org == e.org && o.room == e.room && o.month == e.month) {
            Some(o) => o.participant_ms += e.participant_ms,
            None => out.push(e),
        }
    }
    if out.len() > UsageReport::MAX_ENTRIES {
        out.truncate(UsageReport::MAX_ENTRIES);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(room: &str, ms: u64) -> UsageEntry {
        UsageEntry { org: "acme".into(), room: room.into(), month: "2027-01".into(), participant_ms: ms }
    }

    #[test]
    fn unacknowledged_reports_survive_a_restart_and_keep_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let mut j = Journal::open(Some(&path)).unwrap();
        j.record("m1", vec![entry("a", 1000)]).unwrap();
        j.record("m1", vec![]).unwrap();
        j.record("m1", vec![entry("b", 2000)]).unwrap();
        assert_eq!(j.pending.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2]);
        j.acknowledge(1).unwrap();
        drop(j);
        let mut j = Journal::open(Some(&path)).unwrap();
        assert_eq!(j.pending.len(), 1);
        assert_eq!(j.pending[0].seq, 2);
        assert_eq!(j.pending[0].entries, vec![entry("b", 2000)]);
        j.record("m1", vec![entry("c", 5)]).unwrap();
        assert_eq!(j.pending[1].seq, 3, "numbers never repeat");
        j.acknowledge(2).unwrap();
        j.acknowledge(3).unwrap();
        let j = Journal::open(Some(&path)).unwrap();
        assert!(j.pending.is_empty());
        assert_eq!(j.next_seq, 4, "the counter survives an empty journal");
    }

    #[test]
    fn a_journal_written_into_a_new_directory_reopens_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory the journal creates itself, as on a node's first start.
        let path = dir.path().join("state").join("usage.json");
        let mut j = Journal::open(Some(&path)).unwrap();
        j.record("m1", vec![entry("a", 1000), entry("b", 20)]).unwrap();
        j.record("m1", vec![entry("a", 5)]).unwrap();
        let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["usage.json".to_owned()], "no temporary file is left behind");
        let again = Journal::open(Some(&path)).unwrap();
        assert_eq!(again.pending, j.pending);
        assert_eq!(again.next_seq, 3);
    }

    #[test]
    fn a_damaged_journal_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Journal::open(Some(&path)).is_err());
    }

    #[test]
    fn a_long_outage_folds_old_reports_without_losing_time() {
        let mut j = Journal::open(None).unwrap();
        for _ in 0..MAX_PENDING + 5 {
            j.record("m1", vec![entry("a", 10)]).unwrap();
        }
        assert!(j.pending.len() <= MAX_PENDING);
        let total: u64 = j.pending.iter().flat_map(|r| &r.entries).map(|e| e.participant_ms).sum();
        assert_eq!(total, 10 * (MAX_PENDING as u64 + 5));
    }
}
