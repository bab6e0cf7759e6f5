//! The organisations' webhook dispatchers in `origo`: one task per organisation with work,
//! the only one that carries out that organisation's deliveries
//! (`origo_functions::webhook_delivery`). Room coordinators wake it after a commit that wrote
//! events to their outbox; the partner API's commands reach it through
//! `POST /internal/v1/webhooks/{org}/commands` ([`crate::webhook_commands`]). At start the
//! store is read once for organisations with waiting events or pending deliveries, so a
//! process that was killed picks up where it stopped. A task ends after a minute with nothing
//! pending and nothing asked.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use origo_functions::webhook_delivery::{self, DispatchCommand, DispatchOutcome};
use origo_shared::{ApiError, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use crate::native_platform::NativePlatform;

/// Batches of deliveries one turn of a dispatcher sends before it looks at its mail again.
const BATCHES_PER_TURN: usize = 4;
/// How long a dispatcher with nothing to do stays.
const IDLE: Duration = Duration::from_secs(60);
/// Wait after a failed turn (the store is unavailable).
const BACKOFF: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<DispatchOutcome, ApiError>>;

enum Mail {
    Intake(String),
    Command(DispatchCommand, Reply),
}

pub struct WebhookDispatchers {
    platform: NativePlatform,
    running: Mutex<HashMap<String, mpsc::UnboundedSender<Mail>>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl WebhookDispatchers {
    pub fn new(platform: NativePlatform) -> Arc<Self> {
        Arc::new(WebhookDispatchers { platform, running: Mutex::new(HashMap::new()) })
    }

    /// Hands `mail` to the dispatcher of `org`, started if it has none.
    fn post(self: &Arc<Self>, org: &str, mail: Mail) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mail = match running.get(org) {
            Some(tx) => match tx.send(mail) {
                Ok(()) => return,
                Err(mpsc::error::SendError(mail)) => mail,
            },
            None => mail,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(mail);
        running.insert(org.to_owned(), tx);
        tokio::spawn(run(Arc::downgrade(self), self.platform.clone(), org.to_owned(), rx));
    }

    /// `room` of `org` wrote events to its outbox.
    pub fn wake(self: &Arc<Self>, org: &str, room: &str) {
        self.post(org, Mail::Intake(room.to_owned()));
    }

    /// Carries out `command` in the dispatcher of `org`.
    pub async fn command(self: &Arc<Self>, org: &str, command: DispatchCommand) -> Result<DispatchOutcome, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.post(org, Mail::Command(command, tx));
        rx.await.unwrap_or_else(|_| Err(ApiError::new(ErrorCode::Unavailable, "the webhook dispatcher stopped; try again")))
    }

    /// Starts a dispatcher for every organisation the store shows work for: events left in a
    /// room's outbox, or deliveries pending.
    pub async fn resume(self: &Arc<Self>) {
        use origo_functions::Platform;
        let outboxes = self.platform.kv_keys("outbox_index:").await.unwrap_or_default();
        for key in &outboxes {
            if let Some((org, room)) = key.strip_prefix("outbox_index:").and_then(|r| r.split_once(':')) {
                self.wake(org, room);
            }
        }
        let pending = self.platform.kv_keys("webhook_pending:").await.unwrap_or_default();
        for key in &pending {
            if let Some(org) = key.strip_prefix("webhook_pending:") {
                self.post(org, Mail::Command(DispatchCommand::Run, oneshot::channel().0));
            }
        }
        if !outboxes.is_empty() || !pending.is_empty() {
            tracing::info!(outboxes = outboxes.len(), organisations = pending.len(), "webhook delivery resumed");
        }
    }

    /// Ends the dispatcher of `org` if nothing was posted to it; false when something was.
    fn retire(&self, org: &str, rx: &mut mpsc::UnboundedReceiver<Mail>) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if !rx.is_empty() {
            return false;
        }
        running.remove(org);
        rx.close();
        true
    }
}

/// One organisation's dispatcher.
async fn run(hub: Weak<WebhookDispatchers>, p: NativePlatform, org: String, mut rx: mpsc::UnboundedReceiver<Mail>) {
    let mut rooms = BTreeSet::new();
    let mut commands: Vec<(DispatchCommand, Reply)> = Vec::new();
    let mut next_due: Option<u64> = Some(0);
    loop {
        while let Ok(mail) = rx.try_recv() {
            match mail {
                Mail::Intake(room) => {
                    rooms.insert(room);
                }
                Mail::Command(c, reply) => commands.push((c, reply)),
            }
        }
        let mut failed = false;
        if !rooms.is_empty() {
            let cmd = DispatchCommand::Intake { rooms: std::mem::take(&mut rooms).into_iter().collect() };
            if let Err(e) = webhook_delivery::handle(&p, &org, &cmd).await {
                tracing::warn!(%org, "webhook intake failed: {}", e.message);
                if let DispatchCommand::Intake { rooms: back } = cmd {
                    rooms.extend(back);
                }
                failed = true;
            }
        }
        for (cmd, reply) in commands.drain(..) {
            let outcome = webhook_delivery::handle(&p, &org, &cmd).await;
            if let Err(e) = &outcome {
                tracing::warn!(%org, "webhook command failed: {}", e.message);
            }
            let _ = reply.send(outcome);
        }
        match webhook_delivery::deliver_due(&p, &org, BATCHES_PER_TURN).await {
            Ok(report) => {
                if report.delivered + report.retried + report.failed > 0 {
                    tracing::debug!(%org, delivered = report.delivered, retried = report.retried, failed = report.failed, pending = report.pending, "webhook deliveries");
                }
                for endpoint in &report.disabled {
                    tracing::warn!(%org, %endpoint, "webhook endpoint disabled");
                }
                next_due = report.next_due_ms;
            }
            Err(e) => {
                tracing::warn!(%org, "webhook delivery failed: {}", e.message);
                failed = true;
            }
        }
        let now = now_ms();
        let wait = if failed {
            BACKOFF
        } else {
            match next_due {
                Some(at) if at <= now => continue,
                Some(at) => Duration::from_millis(at - now).min(IDLE),
                None => IDLE,
            }
        };
        tokio::select! {
            mail = rx.recv() => match mail {
                Some(Mail::Intake(room)) => { rooms.insert(room); }
                Some(Mail::Command(c, reply)) => commands.push((c, reply)),
                None => return,
            },
            () = tokio::time::sleep(wait) => {
                let idle = next_due.is_none() && !failed && rooms.is_empty();
                if idle {
                    let Some(hub) = hub.upgrade() else { return };
                    if hub.retire(&org, &mut rx) {
                        return;
                    }
                }
            }
        }
    }
}
