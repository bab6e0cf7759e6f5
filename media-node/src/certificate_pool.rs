//! DTLS certificates made ahead of time, off the shards' tasks: a thread generates them
//! (an ECDSA key pair and a self-signed certificate each) into a bounded queue, and a session
//! create takes one before its command reaches the shard, so no shard stops forwarding media
//! to make one. When the queue runs dry, creates wait for the next certificate.

use std::sync::Arc;
use std::time::Duration;

use str0m::config::DtlsCert;
use tokio::sync::{Mutex, mpsc};

/// Certificates kept ready.
pub const POOL_SIZE: usize = 32;

/// The queue of ready certificates.
#[derive(Clone)]
pub struct CertificatePool {
    ready: Arc<Mutex<mpsc::Receiver<DtlsCert>>>,
}

impl CertificatePool {
    /// Starts the generating thread; it stops when the pool is dropped.
    pub fn start(size: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(size.max(1));
        std::thread::Builder::new().name("origo-dtls-certs".into()).spawn(move || {
            let provider = str0m::crypto::from_feature_flags();
            loop {
                match provider.dtls_provider.generate_certificate() {
                    Some(cert) => {
                        if tx.blocking_send(cert).is_err() {
                            return;
                        }
                    }
                    None => {
                        tracing::error!("cannot generate a DTLS certificate; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })?;
        Ok(CertificatePool { ready: Arc::new(Mutex::new(rx)) })
    }

    /// The next certificate (`None` if the generating thread is gone: the SFU then makes one).
    pub async fn take(&self) -> Option<DtlsCert> {
        self.ready.lock().await.recv().await
    }
}
