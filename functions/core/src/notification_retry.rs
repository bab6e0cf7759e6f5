//! Notifications through providers are tried again the way webhook deliveries are: a message
//! a provider could not take now (429, 5xx, no answer) is kept
//! ([`notification_queue`](crate::store::notification_queue)) and tried again on the
//! Standard Webhooks schedule ([`retry_schedule`](crate::retry_schedule): 5 s, 5 min, 30 min,
//! 2 h, 5 h, 10 h, 10 h, ±10 %, never sooner than a `Retry-After`) by the maintenance sweep,
//! so a retry is as punctual as `sweep_interval_secs` (60 s by default). A refusal for good
//! (another 4xx, a browser that unsubscribed, a deployment that cannot send) is not retried;
//! neither is a message past its `until` (a reset link that expired, a meeting that ended).
//! At least once: a message the provider took but whose answer was lost is sent again.

use origo_shared::{ApiError, ErrorCode};
use serde::Serialize;

use crate::outgoing::{self, Outgoing};
use crate::platform::{Platform, PlatformExt};
use crate::provider_answer::Answer;
use crate::retry_schedule;
use crate::store::due_index::BUCKET_MS;
use crate::store::notification_queue::{self as queue, LIFETIME_MS, Queued};

/// Most retries one sweep pass makes (the rest wait for the next pass).
pub const RETRIES_PER_PASS: usize = 200;

/// How one message fared at its first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The provider took it.
    Sent,
    /// Not now; it is kept and tried again.
    Queued { reason: String },
    /// It will not go out.
    Failed { reason: String },
}

/// Sends `message` now, and keeps it for another try when the provider cannot take it now.
/// `purpose` names it in reports; `until_ms` is when it stops meaning anything.
pub async fn send_or_queue(p: &impl Platform, purpose: &str, message: Outgoing, until_ms: Option<u64>) -> Fate {
    let (reason, retry_after_ms) = match outgoing::attempt(p, &message).await {
        Answer::Accepted => return Fate::Sent,
        Answer::Later { reason, retry_after_ms } => (reason, retry_after_ms),
        Answer::Refused { reason } | Answer::Unavailable { reason } => return Fate::Failed { reason },
    };
    let now = p.now_ms();
    let Some(next_at_ms) = next_attempt(p, 1, now, now, retry_after_ms, until_ms) else {
        return Fate::Failed { reason };
    };
    let mut q = Queued {
        id: p.random_hex(12),
        message,
        purpose: purpose.to_owned(),
        attempts: 1,
        first_at_ms: now,
        next_at_ms,
        until_ms,
        last_error: reason.clone(),
    };
    match queue::put(p, &mut q).await {
        Ok(()) => Fate::Queued { reason },
        Err(e) => Fate::Failed { reason: format!("{reason} (not kept for another try: {})", e.message) },
    }
}

/// When attempt `attempts_made + 1` is due, or `None` when there is none: the schedule is
/// spent, or it would come after `until_ms` or the queue's lifetime.
fn next_attempt(
    p: &impl Platform,
    attempts_made: u32,
    first_at_ms: u64,
    now: u64,
    retry_after_ms: Option<u64>,
    until_ms: Option<u64>,
) -> Option<u64> {
    let mut jitter = [0u8; 4];
    p.random(&mut jitter);
    let at = retry_schedule::retry_at(attempts_made as usize, now, u32::from_le_bytes(jitter), retry_after_ms)?;
    let last = until_ms.unwrap_or(u64::MAX).min(first_at_ms.saturating_add(LIFETIME_MS - 3_600_000));
    (at <= last).then_some(at)
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetryReport {
    /// Minutes of the due index read.
    pub buckets: u64,
    /// Messages the provider took this time.
    pub sent: u64,
    /// Messages kept for a later try.
    pub waiting: u64,
    /// Messages given up: refused for good, out of tries or past their time.
    pub given_up: u64,
}

/// Tries again what is due by now (at most [`RETRIES_PER_PASS`]).
pub async fn run(p: &impl Platform) -> Result<RetryReport, ApiError> {
    let now = p.now_ms();
    let due = queue::due(p, now, RETRIES_PER_PASS).await?;
    let mut report = RetryReport { buckets: due.buckets, ..RetryReport::default() };
    for (_, id, _) in &due.entries {
        if let Some(q) = queue::get(p, id).await? {
            retry(p, q, now, &mut report).await?;
        }
    }
    queue::finish(p, &due).await?;
    Ok(report)
}

/// One more attempt at `q`.
async fn retry(p: &impl Platform, mut q: Queued, now: u64, report: &mut RetryReport) -> Result<(), ApiError> {
    if q.until_ms.is_some_and(|until| now > until) {
        report.given_up += 1;
        return queue::delete(p, &q.id).await;
    }
    q.attempts += 1;
    let (reason, retry_after_ms) = match outgoing::attempt(p, &q.message).await {
        Answer::Accepted => {
            report.sent += 1;
            return queue::delete(p, &q.id).await;
        }
        Answer::Later { reason, retry_after_ms } => (reason, retry_after_ms),
        Answer::Refused { .. } | Answer::Unavailable { .. } => {
            report.given_up += 1;
            return queue::delete(p, &q.id).await;
        }
    };
    match next_attempt(p, q.attempts, q.first_at_ms, now, retry_after_ms, q.until_ms) {
        Some(at) => {
            // Never into the minute this pass is finishing: its entries are taken out after.
            q.next_at_ms = at.max((now / BUCKET_MS + 1) * BUCKET_MS);
            q.last_error = reason;
            match queue::put(p, &mut q).await {
                Ok(()) => report.waiting += 1,
                // A flood of failures: `put` dropped it.
                Err(e) if e.code == ErrorCode::LimitExceeded => report.given_up += 1,
                Err(e) => return Err(e),
            }
            Ok(())
        }
        None => {
            report.given_up += 1;
            queue::delete(p, &q.id).await
        }
    }
}
