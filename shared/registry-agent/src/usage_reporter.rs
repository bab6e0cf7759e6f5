//! The loop that fills a node's usage journal and sends it to the registry
//! (`POST {registry}/v1/nodes/usage`, bearer node secret) until each report is acknowledged:
//! the same for media and TURN nodes, which differ only in what they take.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::usage_journal::{Journal, NodeUsage};

/// How often usage is journaled and reported.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// A flush: journal and report what was used so far now, then answer.
pub type Flush = oneshot::Sender<()>;

/// Where reports go: the registry's base URL and the node secret.
#[derive(Debug, Clone)]
pub struct Registry {
    pub url: String,
    pub secret: String,
}

/// Every [`INTERVAL`], and on each flush (answered once the reports were tried), takes the
/// node's usage with `take`, journals it and sends the journal's reports in order until one is
/// not acknowledged (the rest wait for the next round, in order, so only the oldest pending
/// report can have reached the registry unacknowledged). Without a registry the usage is only
/// journaled. Ends when `take` answers `None` or the flush channel closes.
pub async fn run<F, Fut>(
    node_id: String,
    registry: Option<Registry>,
    mut journal: Journal,
    mut take: F,
    mut flushes: mpsc::Receiver<Flush>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<NodeUsage>>,
{
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let done = tokio::select! {
            _ = tick.tick() => None,
            f = flushes.recv() => Some(f),
        };
        let Some(usage) = take().await else { return };
        if let Err(e) = journal.record(&node_id, usage) {
            tracing::error!("cannot write the usage journal: {e}");
        }
        if let Some(registry) = &registry {
            send_pending(&http, registry, &mut journal).await;
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

/// Sends the journal's reports in order, each acknowledged one leaving it, until one is not.
/// Returns how many were acknowledged.
pub async fn send_pending(http: &reqwest::Client, registry: &Registry, journal: &mut Journal) -> usize {
    let url = format!("{}/v1/nodes/usage", registry.url.trim_end_matches('/'));
    let mut acknowledged = 0;
    while let Some(report) = journal.pending().first().cloned() {
        match http.post(&url).bearer_auth(&registry.secret).json(&report).send().await {
            Ok(r) if r.status().is_success() => {
                acknowledged += 1;
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
    acknowledged
}
