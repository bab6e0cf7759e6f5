//! TLS for Origo's TCP listeners, with rustls: certificate and key files
//! ([`certificate_files`]), the DNS names a certificate holds ([`dns_names`]), and
//! [`TlsListener`], an [`axum::serve::Listener`] whose handshakes run beside the accept loop,
//! each with a deadline, so that a client that never finishes its handshake holds up nobody.

mod certificate_files;
mod tls_listener;

pub use certificate_files::{CertificateFiles, acceptor, dns_names};
pub use tls_listener::{HANDSHAKE_TIMEOUT, MAX_HANDSHAKES, TlsListener};
