//! What `origo` checks and needs of the Redis it is given: a warning when that Redis does not
//! persist writes, a note when it cannot tell; TLS with a password (`rediss://user:pass@…`)
//! and a private CA, as managed Redis services require; and clear start-up errors, not a
//! hang, for a wrong password, an untrusted certificate or a CA file without TLS.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Origo, Redis, probe_manifest, rt};

const NOT_PERSISTED: &str = "Redis does not persist writes (appendonly no)";
const PERSISTED: &str = "Redis persists writes (appendonly yes)";
const UNCHECKED: &str = "Redis persistence could not be checked";

fn edge_args(dir: &Path, redis: &[&str]) -> Vec<String> {
    let manifest = probe_manifest(dir, &[]);
    let mut args: Vec<String> = ["edge", "--listen", "127.0.0.1:0", "--data-dir"].map(String::from).to_vec();
    args.push(dir.join("data").display().to_string());
    args.push("--manifest".into());
    args.push(manifest.display().to_string());
    args.extend(["--var", "secret_word=swordfish"].map(String::from));
    args.extend(redis.iter().map(|s| s.to_string()));
    args
}

fn start_edge(dir: &Path, redis: &[&str]) -> Origo {
    let args = edge_args(dir, redis);
    Origo::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

/// Runs `origo edge` expecting it not to start: its exit status, stderr and how long it took.
fn refused(dir: &Path, redis: &[&str]) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_origo"))
        .args(edge_args(dir, redis))
        .env("ORIGO_CACHE_DIR", std::env::temp_dir().join("origo-test-component-cache"))
        .output()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned(), started.elapsed())
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn a_redis_that_does_not_persist_writes_is_warned_about_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start_with(&["--save", "", "--appendonly", "no"]);
    let o = start_edge(dir.path(), &["--redis", &redis.url]);
    let log = o.log();
    let warnings = lines_with(&log, NOT_PERSISTED);
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    let addr = redis.url.trim_start_matches("redis://").trim_end_matches("/0");
    assert!(warnings[0].contains(addr), "names the Redis: {}", warnings[0]);
    assert!(lines_with(&log, PERSISTED).is_empty());

    let redis = Redis::start_with(&["--save", "", "--appendonly", "yes", "--appendfsync", "always"]);
    let o = start_edge(dir.path(), &["--redis", &redis.url]);
    let log = o.log();
    assert!(lines_with(&log, NOT_PERSISTED).is_empty(), "{log}");
    let persisted = lines_with(&log, PERSISTED);
    assert_eq!(persisted.len(), 1, "{log}");
    assert!(persisted[0].contains("INFO") && persisted[0].contains("always"), "{}", persisted[0]);
}

#[test]
fn a_redis_that_refuses_config_is_noted_not_warned_about() {
    // Managed services disable CONFIG (or rename it); origo cannot tell and says so.
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start_with(&["--save", "", "--appendonly", "no", "--rename-command", "CONFIG", ""]);
    let o = start_edge(dir.path(), &["--redis", &redis.url]);
    let log = o.log();
    let noted = lines_with(&log, UNCHECKED);
    assert_eq!(noted.len(), 1, "{log}");
    assert!(noted[0].contains("INFO"), "{}", noted[0]);
    assert!(lines_with(&log, NOT_PERSISTED).is_empty(), "{log}");
}

#[test]
fn a_redis_that_is_still_starting_is_waited_for() {
    // As when origo and Redis are started together: nothing listens for the first second.
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let redis_dir = dir.path().join("redis");
    std::fs::create_dir(&redis_dir).unwrap();
    /// The Redis started late, stopped however the test ends.
    struct Later(Option<std::thread::JoinHandle<std::process::Child>>);
    impl Drop for Later {
        fn drop(&mut self) {
            if let Some(Ok(mut redis)) = self.0.take().map(|t| t.join()) {
                let _ = redis.kill();
                let _ = redis.wait();
            }
        }
    }
    let _redis = Later(Some(std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(&redis_dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    })));
    let started = Instant::now();
    let o = start_edge(dir.path(), &["--redis", &format!("redis://127.0.0.1:{port}/0")]);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(lines_with(&o.log(), PERSISTED).len(), 1, "{}", o.log());
}

/// PEM of one DER item.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let body: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", body.join("\n"))
}

/// A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost, in `dir`:
/// (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Origo test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&paths.0, pem("CERTIFICATE", ca_cert.der())).unwrap();
    std::fs::write(&paths.1, pem("CERTIFICATE", server_cert.der())).unwrap();
    std::fs::write(&paths.2, pem("PRIVATE KEY", &server_key.serialize_der())).unwrap();
    (paths.0, paths.1, paths.2)
}

/// A Redis speaking only TLS, with a password for the default user and a user `ada`.
fn tls_redis(ca: &Path, cert: &Path, key: &Path) -> Redis {
    let (ca, cert, key) = (ca.to_str().unwrap(), cert.to_str().unwrap(), key.to_str().unwrap());
    let redis = Redis::start_tls(&[
        "--tls-cert-file",
        cert,
        "--tls-key-file",
        key,
        "--tls-ca-cert-file",
        ca,
        "--tls-auth-clients",
        "no",
        "--requirepass",
        "default-secret",
        "--user",
        "ada",
        "on",
        ">ada-secret",
        "~*",
        "&*",
        "+@all",
        "--save",
        "",
        "--appendonly",
        "yes",
    ]);
    // The server accepts connections once it listens; wait until it answers over TLS.
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = with_credentials(&redis.url, ":default-secret");
    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(ca).unwrap()) },
    )
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    rt().block_on(async {
        loop {
            match client.get_multiplexed_async_connection().await {
                Ok(mut c) => {
                    let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
                    assert_eq!(pong, "PONG");
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "TLS Redis did not answer: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    redis
}

/// `rediss://127.0.0.1:P/0` with `user:password` put in.
fn with_credentials(url: &str, credentials: &str) -> String {
    url.replacen("rediss://", &format!("rediss://{credentials}@"), 1)
}

async fn get(o: &Origo, path: &str) -> (u16, String) {
    let res = reqwest::get(o.url(path)).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[test]
fn redis_over_tls_with_a_password_and_a_private_ca_serves_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let redis = tls_redis(&ca, &cert, &key);
    let ca_arg = ca.to_str().unwrap();
    let client = reqwest::Client::new();
    for credentials in ["ada:ada-secret", ":default-secret"] {
        let url = with_credentials(&redis.url, credentials);
        let o = start_edge(dir.path(), &["--redis", &url, "--redis-ca-file", ca_arg]);
        assert!(
            !o.log().contains("ada-secret") && !o.log().contains("default-secret"),
            "no password in the log: {}",
            o.log()
        );
        assert_eq!(lines_with(&o.log(), PERSISTED).len(), 1, "{}", o.log());
        rt().block_on(async {
            let res = client.put(o.url("/probe/kv/greeting")).body(credentials).send().await.unwrap();
            assert_eq!(res.status(), 204);
            assert_eq!(get(&o, "/probe/kv/greeting").await, (200, credentials.to_owned()));
            let health: serde_json::Value = serde_json::from_str(&get(&o, "/health").await.1).unwrap();
            assert_eq!(
                (health["checks"]["kv"].as_bool(), health["checks"]["kv_backend"].as_str()),
                (Some(true), Some("redis"))
            );
        });
        assert!(o.terminate().success());
    }
    // A new process reads what the last one wrote, and the record is in that Redis.
    let url = with_credentials(&redis.url, "ada:ada-secret");
    let o = start_edge(dir.path(), &["--redis", &url, "--redis-ca-file", ca_arg]);
    rt().block_on(async {
        assert_eq!(get(&o, "/probe/kv/greeting").await, (200, ":default-secret".to_owned()));
        let c = redis::Client::build_with_tls(
            url.as_str(),
            redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(&ca).unwrap()) },
        )
        .unwrap();
        let mut c = c.get_multiplexed_async_connection().await.unwrap();
        let raw: Option<String> = redis::cmd("GET").arg("origo:kv:default:greeting").query_async(&mut c).await.unwrap();
        assert_eq!(raw.as_deref(), Some(":default-secret"));
    });
}

#[test]
fn wrong_credentials_or_an_untrusted_certificate_stop_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let redis = tls_redis(&ca, &cert, &key);
    let ca_arg = ca.to_str().unwrap();
    let addr = redis.url.trim_start_matches("rediss://").trim_end_matches("/0").to_owned();

    for credentials in ["ada:not-the-password", ":not-the-password"] {
        let url = with_credentials(&redis.url, credentials);
        let (status, stderr, took) = refused(dir.path(), &["--redis", &url, "--redis-ca-file", ca_arg]);
        assert!(!status.success());
        assert!(took < Duration::from_secs(8), "no retrying a refused password: {took:?}");
        assert!(stderr.contains(&format!("cannot connect to Redis at {addr}")), "{stderr}");
        assert!(stderr.contains("authentication failed"), "{stderr}");
        assert!(!stderr.contains("not-the-password"), "no password in the error: {stderr}");
    }
    // No password at all, where one is required.
    let (status, stderr, _) = refused(dir.path(), &["--redis", &redis.url, "--redis-ca-file", ca_arg]);
    assert!(!status.success());
    assert!(stderr.contains("NOAUTH") || stderr.contains("Authentication required"), "{stderr}");

    // Without the CA file the public roots do not know this server's certificate.
    let url = with_credentials(&redis.url, "ada:ada-secret");
    let (status, stderr, took) = refused(dir.path(), &["--redis", &url]);
    assert!(!status.success());
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(stderr.contains(&format!("cannot connect to Redis at {addr}")), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate") || stderr.contains("UnknownIssuer"), "{stderr}");

    // A CA file is for TLS; a file that is not PEM is named.
    let plain = Redis::start();
    let (status, stderr, _) = refused(dir.path(), &["--redis", &plain.url, "--redis-ca-file", ca_arg]);
    assert!(!status.success());
    assert!(stderr.contains("rediss://"), "{stderr}");
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let (status, stderr, _) = refused(dir.path(), &["--redis", &url, "--redis-ca-file", not_pem.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains("no PEM certificate"), "{stderr}");
}
