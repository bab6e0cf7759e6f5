//! The organisations' webhook dispatchers in `origo`: one task per organisation with work,
//! the only one that carries out that organisation's deliveries
//! (`origo_functions::webhook_delivery`). Room coordinators wake it after a commit that wrote
//! events to their outbox; the partner API's commands reach it through
//! `POST /internal/v1/webhooks/{org}/commands` ([`crate::webhook_commands`]). At start the
//! store is read once for organisations with waiting events or pending deliveries, so a
//! process that was killed picks up where it stopped. A task ends after a minute with nothing
//! pending and nothing asked.
//!
//! With Redis, several processes share the store, and an organisation's dispatcher runs in
//! the one holding its lease (`lease:{org}:~webhooks`, the same table and renewal as a room's,
//! [`crate::room_lease`]); the others forward what they are told to it over
//! `POST /internal/v1/webhooks/{org}/commands`, with the node secret. A dispatcher checks its
//! lease before every write and stops as soon as it is lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use origo_functions::webhook_delivery::{self, DispatchCommand, DispatchOutcome};
use origo_shared::{ApiError, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use origo_shared::RoomKey;

use crate::metrics::{Metrics, OutcomeLabel};
use crate::native_platform::NativePlatform;
use crate::room_lease::{Lease, LeaseOutcome, Tenure};

/// Batches of deliveries one turn of a dispatcher sends before it looks at its mail again.
const BATCHES_PER_TURN: usize = 4;
/// How long a dispatcher with nothing to do stays.
const IDLE: Duration = Duration::from_secs(60);
/// Wait after a failed turn (the store is unavailable).
const BACKOFF: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<DispatchOutcome, ApiError>>;

enum Mail {
    Intake(String),
    /// A command, and whether another process forwarded it here (it is not forwarded again).
    Command(DispatchCommand, Reply, bool),
}

/// The name under which an organisation's dispatcher holds its lease (not a valid room name,
/// so never a room's).
const LEASE_NAME: &str = "~webhooks";
/// Marks a command another process forwarded.
pub const FORWARDED_HEADER: &str = "x-origo-forwarded";

pub struct WebhookDispatchers {
    platform: NativePlatform,
    running: Mutex<HashMap<String, mpsc::UnboundedSender<Mail>>>,
    /// With Redis: who runs which organisation's dispatcher.
    lease: Option<Lease>,
    node_secret: Option<String>,
    forward: reqwest::Client,
    metrics: Arc<Metrics>,
    /// Each organisation's pending deliveries, summed into the gauge.
    pending: Mutex<HashMap<String, usize>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl WebhookDispatchers {
    pub fn new(
        platform: NativePlatform,
        lease: Option<Lease>,
        node_secret: Option<String>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let forward = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        Arc::new(WebhookDispatchers {
            platform,
            running: Mutex::new(HashMap::new()),
            lease,
            node_secret,
            forward,
            metrics,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Counts what one turn of `org`'s dispatcher did.
    fn account(&self, org: &str, report: &webhook_delivery::Report) {
        for (outcome, n) in [("delivered", report.delivered), ("retried", report.retried), ("failed", report.failed)] {
            if n > 0 {
                self.metrics.webhook_attempts.get_or_create(&OutcomeLabel { outcome }).inc_by(n as u64);
            }
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if report.pending == 0 {
            pending.remove(org);
        } else {
            pending.insert(org.to_owned(), report.pending);
        }
        self.metrics.webhook_pending.set(pending.values().sum::<usize>() as i64);
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

    /// Carries out `command` in the dispatcher of `org` (`forwarded`: another process sent it).
    pub async fn command(
        self: &Arc<Self>,
        org: &str,
        command: DispatchCommand,
        forwarded: bool,
    ) -> Result<DispatchOutcome, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.post(org, Mail::Command(command, tx, forwarded));
        rx.await
            .unwrap_or_else(|_| Err(ApiError::new(ErrorCode::Unavailable, "the webhook dispatcher stopped; try again")))
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
                self.post(org, Mail::Command(DispatchCommand::Run, oneshot::channel().0, false));
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

/// Where an organisation's dispatcher runs, as far as this process is concerned.
enum Owner {
    /// Here (with Redis, under this tenure of the lease).
    Here(Option<Tenure>),
    /// In the process at this URL.
    There(String),
}

/// Takes the lease of `org`'s dispatcher, or finds who holds it (retried while Redis fails).
async fn owner(hub: &Weak<WebhookDispatchers>, org: &str) -> Option<Owner> {
    loop {
        let hub = hub.upgrade()?;
        let Some(lease) = &hub.lease else { return Some(Owner::Here(None)) };
        match lease.acquire(&RoomKey::new(org, LEASE_NAME)).await {
            Ok(LeaseOutcome::Mine(t)) => return Some(Owner::Here(Some(t))),
            Ok(LeaseOutcome::Held { by_url, .. }) if !by_url.is_empty() && by_url != lease.url() => {
                return Some(Owner::There(by_url));
            }
            Ok(LeaseOutcome::Held { .. }) => tracing::debug!(%org, "the webhook dispatcher's lease is still held here"),
            Err(e) => tracing::warn!(%org, "cannot take the webhook dispatcher's lease: {e}"),
        }
        drop(hub);
        tokio::time::sleep(BACKOFF).await;
    }
}

/// Hands what `rx` holds to the dispatcher in the process at `url`, then ends.
async fn forward_all(hub: &WebhookDispatchers, org: &str, url: &str, rx: &mut mpsc::UnboundedReceiver<Mail>) {
    let base = url.trim_end_matches('/');
    let target = format!("{base}{}", origo_functions::webhook_delivery::command::path(org));
    while let Ok(mail) = rx.try_recv() {
        let (cmd, reply) = match mail {
            Mail::Intake(room) => (DispatchCommand::Intake { rooms: vec![room] }, None),
            Mail::Command(_, reply, true) => {
                let why = "the organisation's webhook dispatcher is moving between processes; try again";
                let _ = reply.send(Err(ApiError::new(ErrorCode::Unavailable, why)));
                continue;
            }
            Mail::Command(cmd, reply, false) => (cmd, Some(reply)),
        };
        let mut req = hub.forward.post(&target).header(FORWARDED_HEADER, "1").json(&cmd);
        if let Some(secret) = &hub.node_secret {
            req = req.bearer_auth(secret);
        }
        let outcome = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let body = res.bytes().await.unwrap_or_default();
                origo_functions::platform::dispatcher_answer(status, &body)
                    .map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))
            }
            Err(e) => Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("the webhook dispatcher's process: {}", e.without_url()),
            )),
        };
        if let Err(e) = &outcome {
            tracing::warn!(%org, "forwarding to the webhook dispatcher failed: {}", e.message);
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

/// One organisation's dispatcher.
async fn run(hub: Weak<WebhookDispatchers>, p: NativePlatform, org: String, mut rx: mpsc::UnboundedReceiver<Mail>) {
    let tenure = match owner(&hub, &org).await {
        None => return,
        Some(Owner::Here(t)) => t,
        Some(Owner::There(url)) => {
            let Some(h) = hub.upgrade() else { return };
            // Retire first, so what arrives from now on starts a new task.
            {
                let mut running = h.running.lock().unwrap_or_else(|e| e.into_inner());
                running.remove(&org);
            }
            forward_all(&h, &org, &url, &mut rx).await;
            rx.close();
            forward_all(&h, &org, &url, &mut rx).await;
            return;
        }
    };
    dispatch(&hub, &p, &org, &mut rx, tenure.as_ref()).await;
    if let (Some(h), Some(t)) = (hub.upgrade(), &tenure)
        && let Some(lease) = &h.lease
    {
        lease.release(t).await;
    }
}

/// True while this process may write the organisation's deliveries.
fn still_mine(tenure: Option<&Tenure>) -> bool {
    tenure.is_none_or(Tenure::is_valid)
}

async fn dispatch(
    hub: &Weak<WebhookDispatchers>,
    p: &NativePlatform,
    org: &str,
    rx: &mut mpsc::UnboundedReceiver<Mail>,
    tenure: Option<&Tenure>,
) {
    let org = org.to_owned();
    let mut rooms = BTreeSet::new();
    let mut commands: Vec<(DispatchCommand, Reply)> = Vec::new();
    let mut next_due: Option<u64> = Some(0);
    loop {
        while let Ok(mail) = rx.try_recv() {
            match mail {
                Mail::Intake(room) => {
                    rooms.insert(room);
                }
                Mail::Command(c, reply, _) => commands.push((c, reply)),
            }
        }
        if !still_mine(tenure) {
            tracing::warn!(%org, "the webhook dispatcher's lease was lost; another process takes over");
            if let Some(h) = hub.upgrade() {
                let mut running = h.running.lock().unwrap_or_else(|e| e.into_inner());
                running.remove(&org);
            }
            for (_, reply) in commands.drain(..) {
                let _ =
                    reply.send(Err(ApiError::new(ErrorCode::Unavailable, "the webhook dispatcher moved; try again")));
            }
            return;
        }
        let mut failed = false;
        if !rooms.is_empty() {
            let cmd = DispatchCommand::Intake { rooms: std::mem::take(&mut rooms).into_iter().collect() };
            if let Err(e) = webhook_delivery::handle(p, &org, &cmd).await {
                tracing::warn!(%org, "webhook intake failed: {}", e.message);
                if let DispatchCommand::Intake { rooms: back } = cmd {
                    rooms.extend(back);
                }
                failed = true;
            }
        }
        for (cmd, reply) in commands.drain(..) {
            let outcome = webhook_delivery::handle(p, &org, &cmd).await;
            if let Err(e) = &outcome {
                tracing::warn!(%org, "webhook command failed: {}", e.message);
            }
            let _ = reply.send(outcome);
        }
        match webhook_delivery::deliver_due(p, &org, BATCHES_PER_TURN).await {
            Ok(report) => {
                if let Some(h) = hub.upgrade() {
                    h.account(&org, &report);
                }
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
                Some(Mail::Command(c, reply, _)) => commands.push((c, reply)),
                None => return,
            },
            () = tokio::time::sleep(wait) => {
                let idle = next_due.is_none() && !failed && rooms.is_empty();
                if idle {
                    let Some(hub) = hub.upgrade() else { return };
                    if hub.retire(&org, rx) {
                        return;
                    }
                }
            }
        }
    }
}
