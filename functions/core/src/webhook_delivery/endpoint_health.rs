//! How an endpoint has been answering (`webhook_health:{org}:{endpoint}`), written by the
//! dispatcher alone: since when it has failed every delivery, and whether it was disabled.

use serde::{Deserialize, Serialize};

use crate::retry_schedule::DISABLE_AFTER_MS;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointHealth {
    /// The first failure since the last success (none: the last attempt succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_ms: Option<u64>,
    /// When and why it was disabled; nothing is sent to it until it is enabled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disabled {
    pub at_ms: u64,
    pub reason: String,
}

impl EndpointHealth {
    /// A success at `now_ms`; true when the endpoint was failing until now.
    pub fn succeeded(&mut self, now_ms: u64) -> bool {
        self.last_success_ms = Some(now_ms);
        self.failing_since_ms.take().is_some()
    }

    /// A failure at `now_ms`; true when the endpoint has now failed for [`DISABLE_AFTER_MS`].
    pub fn failed(&mut self, now_ms: u64) -> bool {
        let since = *self.failing_since_ms.get_or_insert(now_ms);
        now_ms.saturating_sub(since) >= DISABLE_AFTER_MS
    }

    pub fn disable(&mut self, now_ms: u64, reason: impl Into<String>) {
        self.disabled = Some(Disabled { at_ms: now_ms, reason: reason.into() });
    }

    pub fn enable(&mut self) {
        self.disabled = None;
        self.failing_since_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_days_of_failures_and_nothing_else_disables() {
        let mut h = EndpointHealth::default();
        assert!(!h.failed(0));
        assert!(!h.failed(DISABLE_AFTER_MS - 1));
        assert!(h.succeeded(DISABLE_AFTER_MS - 1));
        assert!(!h.failed(DISABLE_AFTER_MS));
        assert!(h.failed(2 * DISABLE_AFTER_MS));
    }
}
