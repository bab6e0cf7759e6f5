//! `usage.threshold`: an organisation's webhooks hear when its participant time this month
//! passes 80 % and 100 % of its plan's `participant_minutes_per_month`, once per threshold and
//! month. Checked where usage grows — each join and each media node's usage report — and sent
//! by the first caller that finds the threshold passed (a counter per organisation, month and
//! threshold makes it once, whoever checks at the same time).

use origo_shared::usage::month_of;
use origo_shared::{ApiError, WebhookEvent};

use crate::plan::Plan;
use crate::platform::Platform;
use crate::store::usage_total::usage_of;
use crate::webhook_delivery::DispatchCommand;

/// The thresholds, in percent of the plan's monthly participant minutes.
pub const THRESHOLDS: [u64; 2] = [80, 100];

/// How long the once-per-month guard lives (longer than any month).
const GUARD_TTL_MS: u64 = 40 * 24 * 3_600_000;

/// The thresholds `used` minutes have passed of a `limit` (none when there is no limit).
pub fn passed(used_minutes: u64, limit_minutes: u64) -> impl Iterator<Item = u64> {
    THRESHOLDS
        .into_iter()
        .filter(move |pct| limit_minutes > 0 && used_minutes.saturating_mul(100) >= pct * limit_minutes)
}

/// Sends `usage.threshold` for every threshold `org` passed this month and was not told of.
pub async fn check(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    let plan = Plan::from_platform(p);
    let month = month_of(p.now_ms());
    let usage = usage_of(p, org, &month).await?;
    let used = usage.participant_seconds / 60;
    for pct in passed(used, plan.participant_minutes_per_month) {
        let guard = format!("usage_threshold:{org}:{month}:{pct}");
        if p.counter_add(&guard, 1, GUARD_TTL_MS).await.map_err(crate::reply::unavailable)? != 1 {
            continue;
        }
        let data = serde_json::json!({
            "month": month,
            "percent": pct,
            "participant_minutes": used,
            "plan": plan.name,
            "plan_participant_minutes": plan.participant_minutes_per_month,
        });
        p.dispatcher_send(org, &DispatchCommand::Emit { event: WebhookEvent::UsageThreshold, data })
            .await
            .map_err(crate::reply::unavailable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_pass_at_80_and_100_percent() {
        assert_eq!(passed(79, 100).count(), 0);
        assert_eq!(passed(80, 100).collect::<Vec<_>>(), [80]);
        assert_eq!(passed(100, 100).collect::<Vec<_>>(), [80, 100]);
        assert_eq!(passed(5_000, 0).count(), 0, "no limit, no threshold");
    }
}
