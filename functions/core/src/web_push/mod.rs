//! Web push to browsers (RFC 8030) with encrypted payloads (RFC 8291) and VAPID (RFC 8292),
//! built from pure-Rust cryptography so it runs in every host, WASM components included.
//!
//! * [`encryption`]: the `aes128gcm` body for one subscription;
//! * [`vapid`]: the deployment's signing key and the `Authorization` header;
//! * [`request`]: the HTTP request a push service receives, and what its answer means.

pub mod encryption;
pub mod request;
pub mod vapid;
