//! Media usage (participant time per room) on its way to billing: what the shards measured is
//! taken every few seconds, stamped with the month and day of the node's clock, and handed to
//! the journal and reporter every Origo node shares
//! ([`origo_registry_agent::usage_journal`], [`origo_registry_agent::usage_reporter`]), which
//! keep it on disk until the registry acknowledges it.

use origo_registry_agent::usage_journal::{Journal, NodeUsage};
use origo_registry_agent::usage_reporter::{self, Flush, Registry};
use origo_shared::RoomKey;
use origo_shared::usage::{UsageEntry, day_of, month_of};
use tokio::sync::mpsc;

use crate::command::Shards;

/// Takes the shards' usage every [`usage_reporter::INTERVAL`] (and on a flush, answered once
/// the reports were tried), journals it and sends it to `{edge}/v1/nodes/usage` until
/// acknowledged. Ends when the shards or the flush channel do.
pub async fn report(
    shards: Shards,
    node_id: String,
    registry: Option<(String, String)>,
    journal: Journal,
    flushes: mpsc::Receiver<Flush>,
) {
    let registry = registry.map(|(url, secret)| Registry { url, secret });
    let take = move || {
        let shards = shards.clone();
        async move {
            let taken = shards.take_usage().await.ok()?;
            Some(entries(taken, unix_ms()))
        }
    };
    usage_reporter::run(node_id, registry, journal, take, flushes).await;
}

/// The shards' participant time per room as report entries, dated `now_ms`.
fn entries(taken: Vec<(RoomKey, u64)>, now_ms: u64) -> NodeUsage {
    let (month, day) = (month_of(now_ms), day_of(now_ms));
    let entries = taken
        .into_iter()
        .map(|(RoomKey { org, room }, ms)| UsageEntry { org, room, month: month.clone(), day, participant_ms: ms })
        .collect();
    NodeUsage { entries, relayed: Vec::new() }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_the_month_and_day_of_the_node_clock() {
        let key = RoomKey { org: "acme".into(), room: "standup".into() };
        // 2026-12-31T23:59:59Z
        let usage = entries(vec![(key, 1500)], 1_798_761_599_000);
        assert_eq!(usage.entries.len(), 1);
        let e = &usage.entries[0];
        assert_eq!(
            (e.org.as_str(), e.room.as_str(), e.month.as_str(), e.day, e.participant_ms),
            ("acme", "standup", "2026-12", 31, 1500)
        );
    }
}
