//! The quotas of an organisation's plan, checked where usage grows: a join, a meeting that
//! starts, a room that fills. Over a quota is a 402 `payment_required` whose body names the
//! limit, the plan, what is used and what to do ([`origo_shared::LimitDetail`]); rates are
//! 429s ([`crate::rate_limit`]).

use origo_shared::{ApiError, LimitDetail};

use crate::plan::Plan;
use crate::store::usage::Usage;

/// Bytes in one of the plans' gigabytes (10⁹, as TURN traffic is priced).
pub const GIGABYTE: u64 = 1_000_000_000;

/// What to do when a quota of the plan is used up.
pub fn action(renews: bool) -> String {
    let upgrade = "ask your Origo operator to move the organisation to a larger plan";
    if renews {
        format!("{upgrade}, or wait for the next month (quotas renew on the 1st, UTC)")
    } else {
        upgrade.into()
    }
}

/// The 402 for `limit` of `plan` (`allowed` of `unit`, `used` now).
pub fn refusal(plan: &Plan, name: &str, allowed: u64, used: u64, what: &str) -> ApiError {
    let renews = matches!(name, "participant_minutes" | "turn_gigabytes");
    let action = action(renews);
    let message = format!("the {} plan allows {what}; {action}", plan.name);
    ApiError::quota(LimitDetail { name: name.to_owned(), plan: Some(plan.id.clone()), allowed, used, action }, message)
}

/// The monthly quota `usage` has used up, if any: participant-minutes, then TURN gigabytes.
pub fn monthly(plan: &Plan, usage: &Usage) -> Option<ApiError> {
    let minutes = usage.participant_ms / 60_000;
    if let Some(allowed) = plan.limits.participant_minutes
        && minutes >= allowed
    {
        let what = format!("{allowed} participant-minutes a month and {minutes} are used");
        return Some(refusal(plan, "participant_minutes", allowed, minutes, &what));
    }
    let gigabytes = usage.relayed_bytes / GIGABYTE;
    if let Some(allowed) = plan.limits.turn_gigabytes
        && usage.relayed_bytes >= allowed.saturating_mul(GIGABYTE)
    {
        let what = format!("{allowed} GB of TURN relay a month and {gigabytes} GB are used");
        return Some(refusal(plan, "turn_gigabytes", allowed, gigabytes, &what));
    }
    None
}

/// The participant milliseconds `usage` may still use this month under `plan` (`None`: no limit).
pub fn minutes_left_ms(plan: &Plan, usage: &Usage) -> Option<u64> {
    plan.limits.participant_minutes.map(|m| m.saturating_mul(60_000).saturating_sub(usage.participant_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BUILT_IN, PlanBook};

    #[test]
    fn a_used_up_month_is_a_402_naming_the_limit_and_the_plan() {
        let book = PlanBook::parse(BUILT_IN).unwrap();
        let free = book.get("free").unwrap();
        let mut usage = Usage::default();
        usage.add_participant_ms("01", 9_999 * 60_000);
        assert!(monthly(free, &usage).is_none());
        assert_eq!(minutes_left_ms(free, &usage), Some(60_000));
        usage.add_participant_ms("02", 60_000);
        let e = monthly(free, &usage).unwrap();
        assert_eq!(e.status(), 402);
        let limit = e.limit.as_deref().unwrap();
        assert_eq!(
            (limit.name.as_str(), limit.plan.as_deref(), limit.allowed, limit.used),
            ("participant_minutes", Some("free"), 10_000, 10_000)
        );
        assert!(e.message.contains("Free plan") && e.message.contains("operator"), "{}", e.message);

        let mut relayed = Usage::default();
        relayed.add_relayed("01", 5 * GIGABYTE, 0);
        assert_eq!(monthly(free, &relayed).unwrap().limit.unwrap().name, "turn_gigabytes");
        assert!(monthly(book.get("enterprise").unwrap(), &usage).is_none(), "no limit");
    }
}
