//! Measurement helpers shared by Origo's load generators.

pub mod counting_start;
pub mod delay_line;
pub mod latency;
pub mod link_plan;
