//! `usage.threshold`: an organisation hears when its usage this month passes 80 % and 100 %
//! of a monthly quota of its plan — participant-minutes and TURN gigabytes — once per quota,
//! threshold and month: its webhooks get the event, and its owners and admins a
//! [`NotificationKind::UsageThreshold`] through their notification channels. Checked where
//! usage grows — each join and each usage report of a media or TURN node — and sent by the
//! first caller that finds the threshold passed (a counter per organisation, month, quota and
//! threshold makes it once, whoever checks at the same time).

use origo_shared::usage::month_of;
use origo_shared::{ApiError, WebhookEvent};

use crate::notification_kind::NotificationKind;
use crate::notify_user::{Message, notify_user};
use crate::plan::plan_of;
use crate::platform::Platform;
use crate::quota::GIGABYTE;
use crate::rbac::Role;
use crate::store::org as orgs;
use crate::store::usage_total::usage_of;
use crate::variables::var;
use crate::webhook_delivery::DispatchCommand;

/// The thresholds, in percent of a quota.
pub const THRESHOLDS: [u64; 2] = [80, 100];

/// How long the once-per-month guard lives (longer than any month).
const GUARD_TTL_MS: u64 = 40 * 24 * 3_600_000;

/// The thresholds `used` has passed of a `limit` (none when there is no limit).
pub fn passed(used: u64, limit: u64) -> impl Iterator<Item = u64> {
    THRESHOLDS.into_iter().filter(move |pct| limit > 0 && used.saturating_mul(100) >= pct * limit)
}

/// Sends `usage.threshold` for every threshold `org` passed this month and was not told of.
pub async fn check(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    let (_, plan) = plan_of(p, org).await?;
    let month = month_of(p.now_ms());
    let usage = usage_of(p, org, &month).await?;
    let minutes = usage.participant_ms / 60_000;
    // In the quota's own unit, and in the finest one for the comparison.
    let quotas = [
        (
            "participant_minutes",
            "participant-minutes",
            minutes,
            plan.limits.participant_minutes,
            usage.participant_ms,
            60_000,
        ),
        (
            "turn_gigabytes",
            "GB of TURN relay",
            usage.relayed_bytes / GIGABYTE,
            plan.limits.turn_gigabytes,
            usage.relayed_bytes,
            GIGABYTE,
        ),
    ];
    for (quota, unit, used, limit, exact, per) in quotas {
        let Some(limit) = limit else { continue };
        for pct in passed(exact, limit.saturating_mul(per)) {
            let guard = format!("usage_threshold:{org}:{month}:{quota}:{pct}");
            if p.counter_add(&guard, 1, GUARD_TTL_MS).await.map_err(crate::reply::unavailable)? != 1 {
                continue;
            }
            let mut data = serde_json::json!({
                "month": month,
                "quota": quota,
                "percent": pct,
                "used": used,
                "limit": limit,
                "plan": plan.id,
            });
            if quota == "participant_minutes" {
                data["participant_minutes"] = minutes.into();
                data["plan_participant_minutes"] = limit.into();
            }
            p.dispatcher_send(org, &DispatchCommand::Emit { event: WebhookEvent::UsageThreshold, data })
                .await
                .map_err(crate::reply::unavailable)?;
            let what = if pct >= 100 { "used up" } else { "80 % used" };
            let message = Message {
                title: format!("Your organisation's {unit} for {month} are {what}"),
                text: format!(
                    "Your organisation has used {used} of the {limit} {unit} its {} plan includes for {month} ({pct} %).\n\n{}\n",
                    plan.name,
                    if pct >= 100 {
                        "New meetings are refused and running ones end after a short warning until the month ends or the organisation moves to a larger plan; ask your Origo operator."
                    } else {
                        "When they are used up, new meetings are refused until the month ends or the organisation moves to a larger plan."
                    }
                ),
                url: var(p, "public_url"),
                until_ms: None,
            };
            for m in orgs::members(p, org).await? {
                if m.role.at_least(Role::Admin) {
                    let _ = notify_user(p, &m.account, NotificationKind::UsageThreshold, &message).await;
                }
            }
        }
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
