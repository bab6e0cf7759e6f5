//! The plan the operator assigned an organisation (`org_plan:{org}`), with the assignments
//! before it, so a statement of an earlier month bills the plan that was in force then. An
//! organisation without this record is on the plans document's default plan.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{keys, record};
use crate::platform::Platform;

/// Earlier assignments kept (two years of monthly changes).
pub const HISTORY_MAX: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgPlan {
    /// The plan's id in the plans document.
    pub plan: String,
    /// Since when (Unix milliseconds).
    pub since_ms: u64,
    /// The assignments before this one, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Assignment>,
}

/// An earlier assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub plan: String,
    pub since_ms: u64,
}

impl OrgPlan {
    /// The plan in force at `at_ms`; `None` before the first assignment (the default plan).
    pub fn plan_at(&self, at_ms: u64) -> Option<&str> {
        if self.since_ms <= at_ms {
            return Some(&self.plan);
        }
        self.history.iter().rev().find(|a| a.since_ms <= at_ms).map(|a| a.plan.as_str())
    }

    /// This record with `plan` in force from `now_ms`.
    pub fn reassigned(current: Option<OrgPlan>, plan: &str, now_ms: u64) -> OrgPlan {
        let mut history = Vec::new();
        if let Some(c) = current {
            history = c.history;
            history.push(Assignment { plan: c.plan, since_ms: c.since_ms });
            let excess = history.len().saturating_sub(HISTORY_MAX);
            history.drain(..excess);
        }
        OrgPlan { plan: plan.to_owned(), since_ms: now_ms, history }
    }
}

pub async fn get(p: &impl Platform, org: &str) -> Result<Option<OrgPlan>, ApiError> {
    record::get(p, &keys::org_plan(org)).await
}

pub async fn put(p: &impl Platform, org: &str, value: &OrgPlan) -> Result<(), ApiError> {
    record::put(p, &keys::org_plan(org), value).await
}

pub async fn delete(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::org_plan(org)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_in_force_at_a_time_comes_from_the_history() {
        let a = OrgPlan::reassigned(None, "pro", 100);
        let b = OrgPlan::reassigned(Some(a), "enterprise", 200);
        assert_eq!((b.plan_at(50), b.plan_at(150), b.plan_at(250)), (None, Some("pro"), Some("enterprise")));
        let mut c = b;
        for i in 0..30 {
            c = OrgPlan::reassigned(Some(c), "free", 300 + i);
        }
        assert_eq!(c.history.len(), HISTORY_MAX);
    }
}
