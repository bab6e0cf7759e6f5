//! Relay usage on its way to billing. The shell files what the core relayed per organisation
//! and day ([`DatedRelayUsage`]); every few seconds, and once more when the node stops, it is
//! handed to the journal and reporter every Origo node shares
//! ([`origo_registry_agent::usage_journal`], [`origo_registry_agent::usage_reporter`]): kept in
//! `usage-journal.json` under `--data-dir` and sent to the registry's `POST /v1/nodes/usage`
//! until acknowledged.

use std::path::Path;
use std::sync::{Arc, Mutex};

use origo_registry_agent::usage_journal::{Journal, NodeUsage};
use origo_registry_agent::usage_reporter::{self, Flush, Registry};
use tokio::sync::mpsc;

use crate::relay_usage::DatedRelayUsage;

/// The journal's file name in the data directory.
pub const JOURNAL_FILE: &str = "usage-journal.json";

/// The journal in `data_dir`.
pub fn open_journal(data_dir: &Path) -> std::io::Result<Journal> {
    Journal::open(Some(&data_dir.join(JOURNAL_FILE)))
}

/// Takes the filed relay usage every [`usage_reporter::INTERVAL`] (and on a flush, answered
/// once the reports were tried), journals it and, with a registry, reports it. Ends when the
/// flush channel closes.
pub async fn report(
    node_id: String,
    registry: Option<Registry>,
    journal: Journal,
    relayed: Arc<Mutex<DatedRelayUsage>>,
    flushes: mpsc::Receiver<Flush>,
) {
    let take = move || {
        let entries = relayed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take_entries();
        std::future::ready(Some(NodeUsage { entries: Vec::new(), relayed: entries }))
    };
    usage_reporter::run(node_id, registry, journal, take, flushes).await;
}
