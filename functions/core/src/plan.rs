//! Plans: what an organisation may use and what it pays, from one document an operator edits
//! — the `plans` variable (a JSON document), or, when it is empty, the one built in
//! (`functions/core/plans/plans.json`: free, pro, enterprise and the meeting links' plan).
//!
//! Each plan has limits (participants per room, meetings at once, participant-minutes and
//! TURN gigabytes per month, minutes per meeting; absent means no limit) and prices (a
//! monthly fee, a price per participant-minute, per media-minute, per relayed gigabyte). An
//! organisation is on the plan the operator assigned it ([`crate::store::org_plan`]), else
//! on the document's `default_plan`; the meeting links' organisation (`guest_org`) is on its
//! `guest_plan`. Organisation admins read their plan; only the operator assigns one
//! ([`crate::operator`]).

use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::platform::Platform;
use crate::store::org_plan;
use crate::variables::{guest_org, var};

/// The built-in plans document.
pub const BUILT_IN: &str = include_str!("../plans/plans.json");

/// Most plans a document may define.
pub const MAX_PLANS: usize = 64;

/// The plans document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanBook {
    /// The ISO 4217 code every price is in (`USD`).
    pub currency: String,
    /// The plan of an organisation the operator assigned none.
    pub default_plan: String,
    /// The plan of the meeting links' organisation.
    pub guest_plan: String,
    /// How long a meeting may go on once its organisation's monthly participant-minutes are
    /// used up: its participants are warned at once and disconnected after this.
    #[serde(default = "default_grace")]
    pub usage_grace_secs: u64,
    pub plans: Vec<Plan>,
}

fn default_grace() -> u64 {
    120
}

/// One plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// `a-z 0-9 - _`, 1 to 32 characters.
    pub id: String,
    /// The name people see (`Pro`).
    pub name: String,
    /// Charged once a month (a decimal string, `"15"`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub monthly_fee: Money,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub prices: Prices,
}

/// What a plan allows; an absent limit is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants_per_room: Option<u32>,
    /// Meetings running at once in the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_rooms: Option<u32>,
    /// Participant-minutes per calendar month (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_minutes: Option<u64>,
    /// Gigabytes (10⁹ bytes) the TURN nodes may relay per calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_gigabytes: Option<u64>,
    /// Minutes one meeting may last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_minutes: Option<u64>,
}

/// Prices per unit (decimal strings in the document's currency).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Per minute one participant spends in a meeting.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub participant_minute: Money,
    /// Per minute of one participant's media connected to a media node.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub media_minute: Money,
    /// Per gigabyte relayed by the TURN nodes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub turn_gigabyte: Money,
}

impl PlanBook {
    /// Parses and checks a plans document.
    pub fn parse(text: &str) -> Result<PlanBook, String> {
        let book: PlanBook = serde_json::from_str(text).map_err(|e| e.to_string())?;
        book.check()?;
        Ok(book)
    }

    fn check(&self) -> Result<(), String> {
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= 32
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("currency must be an ISO 4217 code (USD)".into());
        }
        if self.plans.is_empty() || self.plans.len() > MAX_PLANS {
            return Err(format!("a document defines 1 to {MAX_PLANS} plans"));
        }
        for (i, plan) in self.plans.iter().enumerate() {
            if !id_ok(&plan.id) {
                return Err(format!("plan id {:?} must be 1-32 of a-z 0-9 - _", plan.id));
            }
            if plan.name.trim().is_empty() || plan.name.chars().count() > 64 {
                return Err(format!("plan {} needs a name of 1-64 characters", plan.id));
            }
            if self.plans[..i].iter().any(|p| p.id == plan.id) {
                return Err(format!("plan {} is defined twice", plan.id));
            }
        }
        for (what, id) in [("default_plan", &self.default_plan), ("guest_plan", &self.guest_plan)] {
            if self.get(id).is_none() {
                return Err(format!("{what} {id:?} is not one of the plans"));
            }
        }
        Ok(())
    }

    /// The plan `id`.
    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The ids, for messages.
    pub fn ids(&self) -> Vec<&str> {
        self.plans.iter().map(|p| p.id.as_str()).collect()
    }

    /// The deployment's plans document: the `plans` variable, or the built-in one.
    pub fn of(p: &impl Platform) -> Result<PlanBook, ApiError> {
        let custom = var(p, "plans").filter(|t| !t.trim().is_empty());
        let text = custom.as_deref().unwrap_or(BUILT_IN);
        PlanBook::parse(text).map_err(|e| {
            ApiError::new(ErrorCode::Unavailable, format!("the deployment's plans document is invalid: {e}"))
        })
    }

    /// The plan of `id` from `assigned` (the operator's choice), else the default one.
    fn chosen(&self, assigned: Option<&str>, guest: bool) -> &Plan {
        let fallback = if guest { &self.guest_plan } else { &self.default_plan };
        // `check` made sure the fallback exists; an assigned plan the document no longer has
        // falls back to it.
        assigned.and_then(|id| self.get(id)).or_else(|| self.get(fallback)).unwrap_or(&self.plans[0])
    }
}

/// The plan `org` is on now, with the document it comes from.
pub async fn plan_of(p: &impl Platform, org: &str) -> Result<(PlanBook, Plan), ApiError> {
    plan_at(p, org, p.now_ms()).await
}

/// The plan `org` was on at `at_ms` (a statement bills a month on the plan in force at its end).
pub async fn plan_at(p: &impl Platform, org: &str, at_ms: u64) -> Result<(PlanBook, Plan), ApiError> {
    let book = PlanBook::of(p)?;
    let guest = org == guest_org(p);
    let assigned = if guest { None } else { org_plan::get(p, org).await? };
    let plan = book.chosen(assigned.as_ref().and_then(|a| a.plan_at(at_ms)), guest).clone();
    Ok((book, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_document_is_valid_and_has_the_documented_plans() {
        let book = PlanBook::parse(BUILT_IN).unwrap();
        assert_eq!(book.ids(), ["free", "pro", "enterprise", "guest"]);
        assert_eq!(book.get("pro").unwrap().prices.participant_minute, Money(2_000));
        assert_eq!(book.get("enterprise").unwrap().limits.participant_minutes, None, "no limit");
        assert_eq!(book.chosen(None, true).id, "guest");
        assert_eq!(book.chosen(Some("gone"), false).id, "free");
    }

    #[test]
    fn a_broken_document_says_what_is_wrong() {
        let doc = |plans: &str, default: &str| {
            format!(r#"{{"currency":"USD","default_plan":"{default}","guest_plan":"a","plans":{plans}}}"#)
        };
        let a = r#"{"id":"a","name":"A","monthly_fee":"0"}"#;
        assert!(PlanBook::parse(&doc(&format!("[{a}]"), "a")).is_ok());
        assert!(PlanBook::parse(&doc(&format!("[{a},{a}]"), "a")).unwrap_err().contains("twice"));
        assert!(PlanBook::parse(&doc(&format!("[{a}]"), "b")).unwrap_err().contains("default_plan"));
        assert!(PlanBook::parse(&doc(r#"[{"id":"A","name":"A","monthly_fee":"0"}]"#, "A")).is_err());
        assert!(PlanBook::parse(&doc(r#"[{"id":"a","name":"A","monthly_fee":"-1"}]"#, "a")).is_err());
        assert!(PlanBook::parse(&doc(r#"[{"id":"a","name":"A","monthly_fee":"0","extra":1}]"#, "a")).is_err());
    }
}
