//! What the function fuzz targets share: a whole deployment in memory
//! ([`memory_platform::MemoryPlatform`]) and the callers set up on it once
//! ([`callers::Callers`]).

pub mod callers;
pub mod memory_platform;

pub use origo_functions::{Request, Response};
