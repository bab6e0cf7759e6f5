//! A node's graceful stop, in two steps the heartbeat announces:
//!
//! 1. **draining** (on SIGTERM): no new sessions (503), the calls running go on; the edge
//!    places nobody here, and a room here moves whole only when it would otherwise have to
//!    put a new participant elsewhere;
//! 2. **leaving**, once every session has ended or the drain deadline passed: the rooms'
//!    coordinators move the participants still here to another node; the node exits once
//!    they have gone, or after [`LEAVE_GRACE`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::session_capacity::SessionCapacity;

/// How long a leaving node waits for its participants to move before it exits.
pub const LEAVE_GRACE: Duration = Duration::from_secs(10);
/// How often the sessions are counted meanwhile.
const POLL: Duration = Duration::from_millis(250);

/// The node's stop state, shared by the control API, the heartbeat and the stop.
#[derive(Clone, Default)]
pub struct Drain {
    draining: Arc<AtomicBool>,
    leaving: Arc<AtomicBool>,
}

impl Drain {
    /// True once the node takes no new sessions.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// True once the node asks for its participants to be moved.
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::Relaxed)
    }

    /// Drains until the sessions of `sessions` end or `deadline` passes, then leaves until
    /// they are gone or [`LEAVE_GRACE`] passes. `heartbeat` is woken at each step, so the edge
    /// hears of it at once.
    pub async fn run(&self, sessions: &SessionCapacity, heartbeat: &Notify, deadline: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        heartbeat.notify_one();
        tracing::info!(sessions = sessions.load(), deadline_secs = deadline.as_secs(), "draining: no new sessions");
        let ended = wait_until_empty(sessions, deadline).await;
        self.leaving.store(true, Ordering::Relaxed);
        heartbeat.notify_one();
        if ended {
            tracing::info!("drained: every session ended");
            return;
        }
        tracing::info!(sessions = sessions.load(), "drain deadline passed: asking for the participants to be moved");
        if !wait_until_empty(sessions, LEAVE_GRACE).await {
            tracing::warn!(sessions = sessions.load(), "stopping with sessions still open");
        }
    }
}

/// True when `sessions` reached zero within `within`.
async fn wait_until_empty(sessions: &SessionCapacity, within: Duration) -> bool {
    let end = tokio::time::Instant::now() + within;
    loop {
        if sessions.load() == 0 {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
