//! The nodes `origo dev` runs in-process so the whole platform works on one machine: a TURN
//! server and a media node, each configured through its crate's typed options.

pub mod media;
pub mod turn;
