//! The plan in force: the limits a deployment sets with its variables — `plan_name` (default
//! `free`), `plan_max_participants` (per room, default 100), `plan_max_rooms` (default 10),
//! `plan_participant_minutes` (per month, default 10000).

use serde::{Deserialize, Serialize};

use crate::platform::Platform;
use crate::variables::num_var;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub name: String,
    pub max_participants_per_room: u32,
    pub max_rooms: u32,
    pub participant_minutes_per_month: u64,
}

impl Plan {
    pub fn from_platform(p: &impl Platform) -> Plan {
        Plan {
            name: p.variable("plan_name").unwrap_or_else(|| "free".into()),
            max_participants_per_room: num_var(p, "plan_max_participants", 100),
            max_rooms: num_var(p, "plan_max_rooms", 10),
            participant_minutes_per_month: num_var(p, "plan_participant_minutes", 10_000),
        }
    }
}
