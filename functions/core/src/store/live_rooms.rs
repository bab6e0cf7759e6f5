//! The rooms of an organisation with a meeting running (`live_rooms:{org}`: name → when it
//! was admitted), which the plan's `concurrent_rooms` limits. A room is live while its
//! coordinator keeps its state ([`room::meeting_running`]); the index only says which rooms
//! to ask, so it holds at most about the plan's limit and a join reads that many records at
//! most — the first join of a meeting, when the room is not listed yet.

use origo_shared::ApiError;

use super::{index, keys, room};
use crate::plan::Plan;
use crate::platform::Platform;

/// Lets a join into `name` go ahead: at once while its meeting runs, else when `org` has
/// fewer than the plan's meetings running.
pub async fn admit(p: &impl Platform, org: &str, name: &str, plan: &Plan) -> Result<(), ApiError> {
    let index_key = keys::live_rooms(org);
    let listed = index::load(p, &index_key).await?;
    if listed.contains(name) && room::meeting_running(p, org, name).await? {
        return Ok(());
    }
    let mut live = 0usize;
    let mut ended = Vec::new();
    for other in listed.entries.keys().filter(|other| *other != name) {
        if room::meeting_running(p, org, other).await? {
            live += 1;
        } else {
            ended.push(other.clone());
        }
    }
    index::remove_all(p, &index_key, &ended).await?;
    if let Some(max) = plan.limits.concurrent_rooms
        && live >= max as usize
    {
        let what = format!("{max} meetings at once and {live} are running (end one, or wait until its room is empty)");
        return Err(crate::quota::refusal(plan, "concurrent_rooms", u64::from(max), live as u64, &what));
    }
    index::add(p, &index_key, name, p.now_ms()).await
}
