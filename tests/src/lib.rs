//! Measurement helpers shared by Origo's load generators.

pub mod latency;
