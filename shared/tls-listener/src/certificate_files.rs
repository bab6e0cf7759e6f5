//! A PEM certificate chain and private key, as an operator gives them (`--tls-cert`,
//! `--tls-key`), read once at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_rustls::TlsAcceptor;

/// Where a server's certificate chain and private key are (PEM files).
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertificateFiles {
    /// Both paths, or neither: one without the other is a mistake worth stopping for.
    pub fn from_options(cert: Option<PathBuf>, key: Option<PathBuf>) -> anyhow::Result<Option<Self>> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!("--tls-cert needs --tls-key"),
            (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert"),
        }
    }

    /// An acceptor for HTTPS: HTTP/2 and HTTP/1.1 offered by ALPN.
    pub fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        acceptor(&self.cert, &self.key, HTTP_ALPN)
    }

    /// The DNS names of the chain's first certificate (see [`dns_names`]).
    pub fn dns_names(&self) -> anyhow::Result<Vec<String>> {
        dns_names(&self.cert)
    }
}

fn chain(cert: &Path) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let file = std::fs::File::open(cert).with_context(|| format!("cannot open {}", cert.display()))?;
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", cert.display());
    Ok(certs)
}

/// What an HTTPS server offers by ALPN.
const HTTP_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// An acceptor from a PEM certificate chain and private key: TLS 1.2 and 1.3, no client
/// certificates, offering `alpn` (none: the handshake carries no ALPN answer, as TURN over TLS
/// clients offering `stun.turn` expect of a server that does not check it).
pub fn acceptor(cert: &Path, key: &Path, alpn: &[&[u8]]) -> anyhow::Result<TlsAcceptor> {
    let certs = chain(cert)?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("cannot open {}", key.display()))?,
    ))
    .with_context(|| format!("{} is not a PEM private key", key.display()))?
    .ok_or_else(|| anyhow::anyhow!("{} holds no private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The DNS names (subject alternative names, wildcards left out) of the first certificate in
/// the PEM chain at `cert`, in the certificate's order: the names a browser accepts the
/// server under.
pub fn dns_names(cert: &Path) -> anyhow::Result<Vec<String>> {
    let certs = chain(cert)?;
    let (_, parsed) = x509_parser::parse_x509_certificate(certs[0].as_ref())
        .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", cert.display()))?;
    let Some(san) = parsed
        .subject_alternative_name()
        .map_err(|e| anyhow::anyhow!("{}: bad subject alternative names: {e}", cert.display()))?
    else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) if !d.contains('*') => Some(d.to_ascii_lowercase()),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, names: &[&str]) -> CertificateFiles {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let c = rcgen::generate_simple_self_signed(names).unwrap();
        let files = CertificateFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        std::fs::write(&files.cert, c.cert.pem()).unwrap();
        std::fs::write(&files.key, c.signing_key.serialize_pem()).unwrap();
        files
    }

    #[test]
    fn the_names_a_certificate_holds_come_in_order_without_wildcards() {
        let dir = tempfile::tempdir().unwrap();
        let files = write(dir.path(), &["*.media.example", "Fra-1.media.example", "127.0.0.1", "fra.example"]);
        assert_eq!(files.dns_names().unwrap(), ["fra-1.media.example", "fra.example"]);
        files.acceptor().unwrap();
    }

    #[test]
    fn a_key_that_is_not_the_certificates_or_a_missing_file_is_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), &["a.example"]);
        let other = tempfile::tempdir().unwrap();
        let b = write(other.path(), &["b.example"]);
        let err = acceptor(&a.cert, &b.key, &[]).err().unwrap().to_string();
        assert!(err.contains("do not match"), "{err}");
        let err = acceptor(&dir.path().join("nope.pem"), &a.key, &[]).err().unwrap().to_string();
        assert!(err.contains("cannot open"), "{err}");
        std::fs::write(&a.cert, "not pem").unwrap();
        assert!(dns_names(&a.cert).unwrap_err().to_string().contains("holds no certificate"));
        assert!(CertificateFiles::from_options(Some("c".into()), None).is_err());
        assert!(CertificateFiles::from_options(None, None).unwrap().is_none());
    }
}
