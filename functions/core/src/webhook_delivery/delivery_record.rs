//! One message to one endpoint (`webhook_delivery:{org}:{endpoint}:{message}`): the signed
//! body exactly as it is sent on every attempt, where it stands, and its attempts — what the
//! partner's delivery log shows. The dispatcher alone writes it.

use serde::{Deserialize, Serialize};

/// Attempts kept per delivery (the newest).
pub const MAX_ATTEMPTS_KEPT: usize = 20;
/// Bytes of an endpoint's answer kept with an attempt.
pub const RESPONSE_PREFIX_BYTES: usize = 256;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// The retry schedule is spent, or the endpoint was disabled.
    Failed,
}

/// Why an attempt was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The first attempt or one of the schedule's retries.
    Scheduled,
    /// A partner asked for this message again.
    Manual,
    /// A partner recovered failed messages since a time.
    Recovery,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// When it was made (Unix ms).
    pub at_ms: u64,
    /// The HTTP status answered (none: no answer).
    pub status: Option<u16>,
    /// How long the endpoint took to answer.
    pub latency_ms: u64,
    /// The first bytes of the answer's body, as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response: String,
    /// Why there was no usable answer (refused, timed out, unreachable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub trigger: Trigger,
}

/// A message to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDelivery {
    /// The message id, `webhook-id` on every attempt.
    pub id: String,
    pub endpoint: String,
    /// The room the event happened in (`""` for the organisation's own events).
    pub room: String,
    /// The room's event sequence number.
    pub seq: u64,
    /// The event's wire name.
    pub event: String,
    pub created_at_ms: u64,
    /// The JSON body, as sent.
    pub body: String,
    pub status: DeliveryStatus,
    /// When the next attempt is due (while pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<u64>,
    /// The first attempt of the current run of the schedule (a manual redelivery starts a
    /// new run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_started_ms: Option<u64>,
    /// Attempts in the current run.
    #[serde(default)]
    pub run_attempts: usize,
    /// What the current run was started by.
    #[serde(default = "scheduled")]
    pub run_trigger: Trigger,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

fn scheduled() -> Trigger {
    Trigger::Scheduled
}

impl StoredDelivery {
    /// Keeps `attempt` (and at most [`MAX_ATTEMPTS_KEPT`]).
    pub fn record(&mut self, attempt: Attempt) {
        self.run_attempts += 1;
        self.run_started_ms.get_or_insert(attempt.at_ms);
        self.attempts.push(attempt);
        if self.attempts.len() > MAX_ATTEMPTS_KEPT {
            let extra = self.attempts.len() - MAX_ATTEMPTS_KEPT;
            self.attempts.drain(..extra);
        }
    }

    /// Starts a new run of the schedule, due at `now_ms`.
    pub fn requeue(&mut self, now_ms: u64, trigger: Trigger) {
        self.status = DeliveryStatus::Pending;
        self.next_attempt_ms = Some(now_ms);
        self.run_started_ms = None;
        self.run_attempts = 0;
        self.run_trigger = trigger;
        self.failure = None;
    }
}

/// The first [`RESPONSE_PREFIX_BYTES`] of `body` as text (cut at a character boundary).
pub fn response_prefix(body: &[u8]) -> String {
    let head = &body[..body.len().min(RESPONSE_PREFIX_BYTES)];
    let text = String::from_utf8_lossy(head);
    text.trim_end_matches('\u{FFFD}').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_bounded_and_runs_restart() {
        let mut d = StoredDelivery {
            id: "msg_1".into(),
            endpoint: "wh_a".into(),
            room: "r".into(),
            seq: 1,
            event: "room.started".into(),
            created_at_ms: 0,
            body: "{}".into(),
            status: DeliveryStatus::Pending,
            next_attempt_ms: Some(0),
            run_started_ms: None,
            run_attempts: 0,
            run_trigger: Trigger::Scheduled,
            attempts: Vec::new(),
            failure: None,
        };
        for at in 0..30 {
            d.record(Attempt {
                at_ms: at,
                status: Some(500),
                latency_ms: 1,
                response: String::new(),
                error: None,
                trigger: Trigger::Scheduled,
            });
        }
        assert_eq!(d.attempts.len(), MAX_ATTEMPTS_KEPT);
        assert_eq!(d.attempts[0].at_ms, 10);
        assert_eq!((d.run_attempts, d.run_started_ms), (30, Some(0)));
        d.requeue(99, Trigger::Manual);
        assert_eq!((d.run_attempts, d.run_started_ms, d.next_attempt_ms), (0, None, Some(99)));
    }

    #[test]
    fn the_response_prefix_is_short_text() {
        assert_eq!(response_prefix(b"ok"), "ok");
        let long = "é".repeat(500);
        let p = response_prefix(long.as_bytes());
        assert!(p.len() <= RESPONSE_PREFIX_BYTES && p.chars().all(|c| c == 'é'));
    }
}
