//! An organisation's webhook dispatcher: the one owner of its deliveries, as a room's
//! coordinator is the one owner of the room. The host guarantees that one dispatcher runs per
//! organisation at a time (a task per organisation in `origo`, a Durable Object on Workers)
//! and calls [`handle`] with each command and [`deliver_due`] whenever something may be due.
//!
//! Intake reads a room's outbox (the coordinator's records, never rewritten here): each event
//! becomes one delivery record per endpoint that wants it, the deliveries are added to the
//! pending index, and only then is the outbox record deleted — a crash in between takes the
//! event in again under the same message id. The room's cursor (`webhook_cursor:{org}:{room}`)
//! remembers the last event taken, so the outbox index's stale entries are not read again.

use bytes::Bytes;
use http::header;
use origo_shared::webhook::{self, WebhookSecret};
use origo_shared::{ApiError, WebhookEvent};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::command::{DispatchCommand, DispatchOutcome};
use super::delivery_record::{Attempt, DeliveryStatus, StoredDelivery, Trigger, response_prefix};
use super::endpoint_health::EndpointHealth;
use super::event_payload::{self, message_id};
use super::pending::{self, HOLD_MS};
use crate::platform::{Platform, PlatformError};
use crate::rbac::Role;
use crate::retry_schedule::{self, Verdict};
use crate::store::index::{self, Index};
use crate::store::webhook::{self as stored, StoredWebhook};
use crate::store::{account, keys, org, record};

/// Deliveries sent at once by one dispatcher.
pub const CONCURRENCY: usize = 64;
/// Messages kept in an endpoint's delivery log (the oldest go first), and their age limit.
pub const LOG_MAX: usize = index::MAX_ENTRIES;
pub const LOG_RETENTION_MS: u64 = 7 * 24 * 3_600_000;
/// Most deliveries pending in one organisation by default (variable `webhook_pending_max`);
/// beyond it the oldest fail.
pub const PENDING_MAX: usize = 50_000;

fn pending_max(p: &impl Platform) -> usize {
    p.variable("webhook_pending_max").and_then(|v| v.trim().parse().ok()).filter(|n| *n > 0).unwrap_or(PENDING_MAX)
}
/// Whole-attempt limit an endpoint has to answer.
pub const ATTEMPT_TIMEOUT_MS: u64 = 15_000;

/// An event in a room's outbox.
#[derive(Deserialize)]
struct OutboxRecord {
    #[serde(rename = "type")]
    kind: WebhookEvent,
    timestamp: u64,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    data: serde_json::Value,
}

/// The sequence number an outbox entry's name gives (`{seq:020}`, or the older
/// `{ms:016}-{random}`, counted as `ms × 1000`).
fn outbox_seq(name: &str) -> u64 {
    match name.split_once('-') {
        Some((ms, _)) => ms.parse::<u64>().unwrap_or(0).saturating_mul(1000),
        None => name.parse().unwrap_or(0),
    }
}

/// What one call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    /// Deliveries still pending, and when the next is due.
    pub pending: usize,
    pub next_due_ms: Option<u64>,
    /// Endpoints disabled by this call.
    pub disabled: Vec<String>,
}

/// The state of one organisation's dispatcher while it works: loaded once per call, written
/// back at the end of each step.
struct Dispatch<'a, P: Platform> {
    p: &'a P,
    org: &'a str,
    pending: Index,
    /// The pending index as last read or written, so unchanged state is not written again.
    pending_stored: Index,
    hooks: BTreeMap<String, StoredWebhook>,
    health: HashMap<String, EndpointHealth>,
    logs: HashMap<String, Index>,
    dirty_logs: HashSet<String>,
    dirty_health: HashSet<String>,
    report: Report,
}

impl<'a, P: Platform> Dispatch<'a, P> {
    async fn load(p: &'a P, org: &'a str) -> Result<Self, ApiError> {
        let pending = index::load(p, &keys::webhook_pending(org)).await?;
        let hooks = stored::of_org(p, org).await?.into_iter().map(|h| (h.id.clone(), h)).collect();
        Ok(Dispatch {
            p,
            org,
            pending_stored: pending.clone(),
            pending,
            hooks,
            health: HashMap::new(),
            logs: HashMap::new(),
            dirty_logs: HashSet::new(),
            dirty_health: HashSet::new(),
            report: Report::default(),
        })
    }

    async fn health(&mut self, endpoint: &str) -> Result<&mut EndpointHealth, ApiError> {
        if !self.health.contains_key(endpoint) {
            let h = record::get(self.p, &keys::webhook_health(self.org, endpoint)).await?.unwrap_or_default();
            self.health.insert(endpoint.to_owned(), h);
        }
        Ok(self.health.entry(endpoint.to_owned()).or_default())
    }

    async fn log(&mut self, endpoint: &str) -> Result<&mut Index, ApiError> {
        if !self.logs.contains_key(endpoint) {
            let ix = index::load(self.p, &keys::webhook_log(self.org, endpoint)).await?;
            self.logs.insert(endpoint.to_owned(), ix);
        }
        Ok(self.logs.entry(endpoint.to_owned()).or_default())
    }

    async fn save(&mut self) -> Result<(), ApiError> {
        let store = crate::reply::unavailable;
        for endpoint in std::mem::take(&mut self.dirty_health) {
            if let Some(h) = self.health.get(&endpoint) {
                record::put(self.p, &keys::webhook_health(self.org, &endpoint), h).await?;
            }
        }
        for endpoint in std::mem::take(&mut self.dirty_logs) {
            if let Some(ix) = self.logs.get(&endpoint) {
                self.p.kv_set(&keys::webhook_log(self.org, &endpoint), &ix.encode()).await.map_err(store)?;
            }
        }
        if self.pending != self.pending_stored {
            let key = keys::webhook_pending(self.org);
            if self.pending.is_empty() {
                self.p.kv_delete(&key).await.map_err(store)?;
            } else {
                self.p.kv_set(&key, &self.pending.encode()).await.map_err(store)?;
            }
            self.pending_stored = self.pending.clone();
        }
        self.report.pending = self.pending.len();
        self.report.next_due_ms = pending::next_due(&self.pending);
        Ok(())
    }

    async fn delivery(&self, endpoint: &str, message: &str) -> Result<Option<StoredDelivery>, ApiError> {
        record::get(self.p, &keys::webhook_delivery(self.org, endpoint, message)).await
    }

    async fn put_delivery(&self, d: &StoredDelivery) -> Result<(), ApiError> {
        record::put(self.p, &keys::webhook_delivery(self.org, &d.endpoint, &d.id), d).await
    }

    /// Queues one new message for every endpoint that wants `event`.
    async fn enqueue(
        &mut self,
        event: WebhookEvent,
        room: &str,
        seq: u64,
        timestamp_secs: u64,
        data: &serde_json::Value,
    ) -> Result<usize, ApiError> {
        let now = self.p.now_ms();
        let id = message_id(self.org, room, seq);
        let body = event_payload::body(event, &id, timestamp_secs, self.org, room, seq, data);
        let wanted: Vec<String> = self.hooks.values().filter(|h| subscribed(h, event)).map(|h| h.id.clone()).collect();
        let mut queued = 0;
        for endpoint in wanted {
            if self.health(&endpoint).await?.disabled.is_some() {
                continue;
            }
            let d = StoredDelivery {
                id: id.clone(),
                endpoint: endpoint.clone(),
                room: room.to_owned(),
                seq,
                event: event.as_str().to_owned(),
                created_at_ms: now,
                body: body.clone(),
                status: DeliveryStatus::Pending,
                next_attempt_ms: Some(now),
                run_started_ms: None,
                run_attempts: 0,
                run_trigger: Trigger::Scheduled,
                attempts: Vec::new(),
                failure: None,
            };
            self.put_delivery(&d).await?;
            self.pending.entries.insert(pending::name(&endpoint, room, seq, &id), pending::value(now, false));
            self.keep_in_log(&endpoint, &id, seq, now).await?;
            queued += 1;
        }
        self.cap_pending().await?;
        Ok(queued)
    }

    /// Lists the message in the endpoint's log; what falls out of the log is deleted.
    async fn keep_in_log(&mut self, endpoint: &str, id: &str, seq: u64, now: u64) -> Result<(), ApiError> {
        let log = self.log(endpoint).await?;
        let mut gone = log.insert_capped(&format!("{seq:020}:{id}"), now, LOG_MAX);
        let old: Vec<String> =
            log.entries.iter().filter(|(_, at)| **at + LOG_RETENTION_MS < now).map(|(n, _)| n.clone()).collect();
        for n in &old {
            log.entries.remove(n);
        }
        gone.extend(old);
        self.dirty_logs.insert(endpoint.to_owned());
        for name in gone {
            if let Some((_, message)) = name.split_once(':') {
                self.p
                    .kv_delete(&keys::webhook_delivery(self.org, endpoint, message))
                    .await
                    .map_err(crate::reply::unavailable)?;
            }
        }
        Ok(())
    }

    /// Fails the oldest pending deliveries beyond [`pending_max`].
    async fn cap_pending(&mut self) -> Result<(), ApiError> {
        let max = pending_max(self.p);
        while self.pending.len() > max {
            let oldest = self
                .pending
                .entries
                .iter()
                .filter_map(|(n, &v)| pending::parse(n, v).map(|d| (d.seq, n.clone())))
                .min()
                .map(|(_, n)| n);
            let Some(name) = oldest else { break };
            self.pending.entries.remove(&name);
            if let Some(d) = pending::parse(&name, 0) {
                let (endpoint, message) = (d.endpoint.to_owned(), d.message.to_owned());
                if let Some(mut rec) = self.delivery(&endpoint, &message).await? {
                    rec.status = DeliveryStatus::Failed;
                    rec.next_attempt_ms = None;
                    rec.failure = Some("too many deliveries were pending for the organisation".into());
                    self.put_delivery(&rec).await?;
                    self.report.failed += 1;
                }
            }
        }
        Ok(())
    }

    /// Takes in the events waiting in `room`'s outbox.
    async fn intake(&mut self, room: &str) -> Result<usize, ApiError> {
        let cursor_key = keys::webhook_cursor(self.org, room);
        let cursor: u64 = record::get(self.p, &cursor_key).await?.unwrap_or(0);
        let outbox = index::load(self.p, &keys::outbox_index(self.org, room)).await?;
        let mut names: Vec<(u64, &String)> =
            outbox.entries.keys().map(|n| (outbox_seq(n), n)).filter(|(s, _)| *s > cursor || *s == 0).collect();
        names.sort();
        let mut taken = Vec::new();
        let mut mentions = Vec::new();
        let mut queued = 0;
        let mut last = cursor;
        for (hint, name) in names {
            let key = keys::webhook_outbox(self.org, room, name);
            let Some(raw) = self.p.kv_get(&key).await.map_err(crate::reply::unavailable)? else { continue };
            taken.push(key);
            let Ok(ev) = serde_json::from_slice::<OutboxRecord>(&raw) else { continue };
            let seq = ev.seq.unwrap_or(hint);
            last = last.max(seq);
            queued += self.enqueue(ev.kind, room, seq, ev.timestamp, &ev.data).await?;
            if ev.kind == WebhookEvent::ChatMessage
                && ev.data["mentioned_absent"].as_array().is_some_and(|a| !a.is_empty())
            {
                mentions.push(ev.data);
            }
        }
        if taken.is_empty() {
            return Ok(0);
        }
        // Durable first, then the outbox forgets.
        self.save().await?;
        for key in taken {
            self.p.kv_delete(&key).await.map_err(crate::reply::unavailable)?;
        }
        record::put(self.p, &cursor_key, &last).await?;
        // Taken in for good: the people mentioned who were away hear of it once.
        for data in &mentions {
            crate::mention_notifications::notify(self.p, self.org, room, data).await;
        }
        Ok(queued)
    }

    /// Sends one batch of what is due; false when nothing was.
    async fn send_batch(&mut self) -> Result<bool, ApiError> {
        let now = self.p.now_ms();
        let hooks = &self.hooks;
        let chosen = pending::choose(&self.pending, now, CONCURRENCY, |e| !hooks.contains_key(e));
        // Deliveries of endpoints that were removed go, with their logs.
        let gone: Vec<String> = self
            .pending
            .entries
            .keys()
            .filter_map(|n| pending::parse(n, 0).map(|d| d.endpoint.to_owned()))
            .filter(|e| !self.hooks.contains_key(e))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for endpoint in gone {
            self.forget(&endpoint).await?;
        }
        if chosen.is_empty() {
            return Ok(false);
        }
        let mut work = Vec::new();
        for name in &chosen {
            let Some(d) = pending::parse(name, 0) else { continue };
            let (endpoint, message) = (d.endpoint.to_owned(), d.message.to_owned());
            match self.delivery(&endpoint, &message).await? {
                Some(rec) if rec.status == DeliveryStatus::Pending => work.push((name.clone(), rec)),
                _ => {
                    self.pending.entries.remove(name);
                }
            }
        }
        let p = self.p;
        let sends = work.iter().map(|(_, rec)| {
            let hook = self.hooks.get(&rec.endpoint).cloned();
            async move {
                match hook {
                    Some(hook) => attempt(p, &hook, rec).await,
                    None => (
                        Attempt {
                            at_ms: p.now_ms(),
                            status: None,
                            latency_ms: 0,
                            response: String::new(),
                            error: Some("endpoint removed".into()),
                            trigger: rec.run_trigger,
                        },
                        None,
                    ),
                }
            }
        });
        let results = futures_util::future::join_all(sends).await;
        for ((name, rec), (attempt, retry_after)) in work.into_iter().zip(results) {
            self.settle(name, rec, attempt, retry_after).await?;
        }
        self.save().await?;
        Ok(true)
    }

    /// Records an attempt's outcome.
    async fn settle(
        &mut self,
        name: String,
        mut rec: StoredDelivery,
        attempt: Attempt,
        retry_after: Option<String>,
    ) -> Result<(), ApiError> {
        let now = attempt.at_ms.saturating_add(attempt.latency_ms);
        let status = attempt.status;
        rec.record(attempt);
        let mut jitter = [0u8; 4];
        self.p.random(&mut jitter);
        let verdict =
            retry_schedule::judge(status, retry_after.as_deref(), rec.run_attempts, now, u32::from_le_bytes(jitter));
        let endpoint = rec.endpoint.clone();
        self.pending.entries.remove(&name);
        match verdict {
            Verdict::Delivered => {
                rec.status = DeliveryStatus::Delivered;
                rec.next_attempt_ms = None;
                self.report.delivered += 1;
                if self.health(&endpoint).await?.succeeded(now) {
                    pending::unpark(&mut self.pending, &endpoint, now);
                }
                self.dirty_health.insert(endpoint);
            }
            Verdict::Retry { at_ms } => {
                rec.next_attempt_ms = Some(at_ms);
                let parked = now.saturating_sub(rec.run_started_ms.unwrap_or(now)) >= HOLD_MS;
                self.pending.entries.insert(name, pending::value(at_ms, parked));
                self.report.retried += 1;
                self.put_delivery(&rec).await?;
                if self.health(&endpoint).await?.failed(now) {
                    self.disable(&endpoint, "every delivery failed for 5 days").await?;
                }
                self.dirty_health.insert(endpoint);
                return Ok(());
            }
            Verdict::GiveUp => {
                rec.status = DeliveryStatus::Failed;
                rec.next_attempt_ms = None;
                rec.failure = Some("every attempt of the retry schedule failed".into());
                self.report.failed += 1;
                let over = self.health(&endpoint).await?.failed(now);
                self.dirty_health.insert(endpoint.clone());
                if over {
                    self.put_delivery(&rec).await?;
                    return self.disable(&endpoint, "every delivery failed for 5 days").await;
                }
            }
            Verdict::Disable => {
                rec.status = DeliveryStatus::Failed;
                rec.next_attempt_ms = None;
                rec.failure = Some("the endpoint answered 410 Gone".into());
                self.report.failed += 1;
                self.put_delivery(&rec).await?;
                return self.disable(&endpoint, "the endpoint answered 410 Gone").await;
            }
        }
        self.put_delivery(&rec).await
    }

    /// Disables `endpoint`: its pending deliveries fail, the organisation's other endpoints get
    /// `endpoint.disabled`, and its owners and admins an email.
    async fn disable(&mut self, endpoint: &str, reason: &str) -> Result<(), ApiError> {
        let now = self.p.now_ms();
        let health = self.health(endpoint).await?;
        if health.disabled.is_some() {
            return Ok(());
        }
        health.disable(now, reason);
        self.dirty_health.insert(endpoint.to_owned());
        self.report.disabled.push(endpoint.to_owned());
        for name in pending::remove_endpoint(&mut self.pending, endpoint) {
            let Some(d) = pending::parse(&name, 0) else { continue };
            let message = d.message.to_owned();
            if let Some(mut rec) = self.delivery(endpoint, &message).await? {
                rec.status = DeliveryStatus::Failed;
                rec.next_attempt_ms = None;
                rec.failure = Some(format!("the endpoint was disabled: {reason}"));
                self.put_delivery(&rec).await?;
                self.report.failed += 1;
            }
        }
        let url = self.hooks.get(endpoint).map(|h| h.url.clone()).unwrap_or_default();
        let data = serde_json::json!({ "endpoint": endpoint, "url": url, "reason": reason, "disabled_at_ms": now });
        self.emit(WebhookEvent::EndpointDisabled, &data).await?;
        self.tell_admins(endpoint, &url, reason).await;
        Ok(())
    }

    /// Queues an event of the organisation itself, in its own line (room `""`).
    async fn emit(&mut self, event: WebhookEvent, data: &serde_json::Value) -> Result<usize, ApiError> {
        let now = self.p.now_ms();
        let key = keys::webhook_cursor(self.org, "");
        let last: u64 = record::get(self.p, &key).await?.unwrap_or(0);
        let seq = last.saturating_add(1).max(now.saturating_mul(1000));
        record::put(self.p, &key, &seq).await?;
        self.enqueue(event, "", seq, now / 1000, data).await
    }

    /// Emails the organisation's owners and admins that `endpoint` was disabled (what the
    /// provider cannot take now is tried again; the event is already queued for the
    /// organisation's other endpoints).
    async fn tell_admins(&self, endpoint: &str, url: &str, reason: &str) {
        if !crate::email::configured(self.p) {
            return;
        }
        let Ok(members) = org::members(self.p, self.org).await else { return };
        let subject = format!("Origo: webhook endpoint {endpoint} was disabled");
        let text = format!(
            "The webhook endpoint {endpoint} ({url}) of organisation {} was disabled: {reason}.\n\
             Nothing is sent to it until it is enabled again (PATCH /v1/webhooks/{endpoint} with \
             {{\"enabled\": true}}); failed messages can then be recovered \
             (POST /v1/webhooks/{endpoint}/recover).\n",
            self.org
        );
        for m in members.iter().filter(|m| matches!(m.role, Role::Owner | Role::Admin)) {
            if let Ok(Some(a)) = account::load(self.p, &m.account).await {
                let email = crate::email::Email::new(&a.email, &subject, &text);
                let message = crate::outgoing::Outgoing::Email(email);
                crate::notification_retry::send_or_queue(self.p, "endpoint_disabled", message, None).await;
            }
        }
    }

    /// Drops everything of an endpoint that is gone.
    async fn forget(&mut self, endpoint: &str) -> Result<(), ApiError> {
        let store = crate::reply::unavailable;
        pending::remove_endpoint(&mut self.pending, endpoint);
        let log = self.log(endpoint).await?.clone();
        for name in log.entries.keys() {
            if let Some((_, message)) = name.split_once(':') {
                self.p.kv_delete(&keys::webhook_delivery(self.org, endpoint, message)).await.map_err(store)?;
            }
        }
        self.logs.remove(endpoint);
        self.dirty_logs.remove(endpoint);
        self.health.remove(endpoint);
        self.dirty_health.remove(endpoint);
        self.p.kv_delete(&keys::webhook_log(self.org, endpoint)).await.map_err(store)?;
        self.p.kv_delete(&keys::webhook_health(self.org, endpoint)).await.map_err(store)?;
        Ok(())
    }

    /// Puts a delivery back in line, due now.
    async fn requeue(&mut self, mut rec: StoredDelivery, trigger: Trigger) -> Result<(), ApiError> {
        let now = self.p.now_ms();
        rec.requeue(now, trigger);
        self.put_delivery(&rec).await?;
        self.pending
            .entries
            .insert(pending::name(&rec.endpoint, &rec.room, rec.seq, &rec.id), pending::value(now, false));
        Ok(())
    }
}

/// True when `hook` receives `event`: it names it, or names no events and the event is not
/// one that must be asked for.
fn subscribed(hook: &StoredWebhook, event: WebhookEvent) -> bool {
    if hook.events.is_empty() {
        return !event.opt_in();
    }
    hook.events.iter().any(|e| e == event.as_str())
}

/// One signed attempt of `rec` to `hook`; the attempt, and the `Retry-After` answered.
async fn attempt(p: &impl Platform, hook: &StoredWebhook, rec: &StoredDelivery) -> (Attempt, Option<String>) {
    let started = p.now_ms();
    let mut attempt = Attempt {
        at_ms: started,
        status: None,
        latency_ms: 0,
        response: String::new(),
        error: None,
        trigger: rec.run_trigger,
    };
    let secrets: Vec<WebhookSecret> =
        hook.signing_secrets(started).iter().filter_map(|s| WebhookSecret::parse(s).ok()).collect();
    let signed = webhook::sign(&secrets, &rec.id, started / 1000, rec.body.as_bytes());
    let mut builder = http::Request::post(&hook.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "Origo-Webhooks/1");
    for (name, value) in signed.pairs() {
        builder = builder.header(name, value);
    }
    let req = match builder.body(Bytes::from(rec.body.clone())) {
        Ok(r) => r,
        Err(e) => {
            attempt.error = Some(format!("the endpoint's URL cannot be used: {e}"));
            return (attempt, None);
        }
    };
    let answer = p.http_send(req).await;
    attempt.latency_ms = p.now_ms().saturating_sub(started);
    match answer {
        Ok(res) => {
            attempt.status = Some(res.status().as_u16());
            attempt.response = response_prefix(res.body());
            let retry_after = res.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
            (attempt, retry_after)
        }
        Err(PlatformError::HostNotAllowed) => {
            attempt.error = Some("this deployment does not allow requests to the endpoint's host".into());
            (attempt, None)
        }
        Err(e) => {
            attempt.error = Some(e.to_string().chars().take(200).collect());
            (attempt, None)
        }
    }
}

/// Carries out `cmd` for `org`.
pub async fn handle(p: &impl Platform, org: &str, cmd: &DispatchCommand) -> Result<DispatchOutcome, ApiError> {
    let mut d = Dispatch::load(p, org).await?;
    let queued = match cmd {
        DispatchCommand::Intake { rooms } => {
            let mut n = 0;
            for room in rooms {
                n += d.intake(room).await?;
            }
            n
        }
        DispatchCommand::Run => 0,
        DispatchCommand::Redeliver { endpoint, message } => {
            let Some(rec) = d.delivery(endpoint, message).await? else { return Ok(DispatchOutcome::NotFound) };
            if !d.hooks.contains_key(endpoint) {
                return Ok(DispatchOutcome::NotFound);
            }
            d.requeue(rec, Trigger::Manual).await?;
            1
        }
        DispatchCommand::Recover { endpoint, since_ms } => {
            if !d.hooks.contains_key(endpoint) {
                return Ok(DispatchOutcome::NotFound);
            }
            let log = d.log(endpoint).await?.clone();
            let mut n = 0;
            for (name, &at) in &log.entries {
                let Some((_, message)) = name.split_once(':') else { continue };
                if at < *since_ms {
                    continue;
                }
                if let Some(rec) = d.delivery(endpoint, message).await?
                    && rec.status == DeliveryStatus::Failed
                {
                    d.requeue(rec, Trigger::Recovery).await?;
                    n += 1;
                }
            }
            n
        }
        DispatchCommand::Enable { endpoint } => {
            if !d.hooks.contains_key(endpoint) {
                return Ok(DispatchOutcome::NotFound);
            }
            d.health(endpoint).await?.enable();
            d.dirty_health.insert(endpoint.clone());
            0
        }
        DispatchCommand::Forget { endpoint } => {
            d.forget(endpoint).await?;
            0
        }
        DispatchCommand::Emit { event, data } => d.emit(*event, data).await?,
    };
    d.save().await?;
    Ok(DispatchOutcome::Done { queued })
}

/// Sends what is due for `org`, at most `batches` batches of [`CONCURRENCY`].
pub async fn deliver_due(p: &impl Platform, org: &str, batches: usize) -> Result<Report, ApiError> {
    let mut d = Dispatch::load(p, org).await?;
    for _ in 0..batches {
        if !d.send_batch().await? {
            break;
        }
    }
    d.save().await?;
    Ok(d.report)
}
