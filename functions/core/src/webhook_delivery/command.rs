//! What the partner API and the room coordinators ask of an organisation's dispatcher, and
//! its answers (JSON on the hosts that carry them over HTTP).

use origo_shared::WebhookEvent;
use serde::{Deserialize, Serialize};

/// Where a host that carries commands over HTTP serves the dispatcher of `org` (under the
/// coordinators' base URL).
pub fn path(org: &str) -> String {
    format!("/internal/v1/webhooks/{org}/commands")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DispatchCommand {
    /// These rooms wrote events to their outboxes: take them in and deliver.
    Intake { rooms: Vec<String> },
    /// Deliver what is due.
    Run,
    /// Send one message to one endpoint again, now.
    Redeliver { endpoint: String, message: String },
    /// Send every message that failed to `endpoint` since `since_ms` again.
    Recover { endpoint: String, since_ms: u64 },
    /// Deliver to a disabled endpoint again.
    Enable { endpoint: String },
    /// Drop what is pending for an endpoint that was removed, and its log.
    Forget { endpoint: String },
    /// An event of the organisation itself (not of a room).
    Emit { event: WebhookEvent, data: serde_json::Value },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DispatchOutcome {
    /// Done; `queued` deliveries were (re)queued by it.
    Done { queued: usize },
    /// No such message or endpoint.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_travel_as_json() {
        let c = DispatchCommand::Recover { endpoint: "wh_a".into(), since_ms: 5 };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"op":"recover","endpoint":"wh_a","since_ms":5}"#);
        assert_eq!(serde_json::from_str::<DispatchCommand>(&text).unwrap(), c);
        assert!(serde_json::from_str::<DispatchCommand>(r#"{"op":"explode"}"#).is_err());
    }
}
